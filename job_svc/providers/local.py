"""Local provider: real, deterministic images and videos made offline with Pillow and PyAV."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import io
import random
import re
import struct
import zlib
from collections.abc import Mapping
from fractions import Fraction
from types import MappingProxyType

import av
from PIL import Image, ImageChops, ImageDraw, ImageOps

from job_svc.model import Failure
from job_svc.providers.base import (
    KINDS,
    MediaResult,
    PermanentProviderError,
    Progress,
    TransientProviderError,
    check_choice,
    open_upright,
    parse_ratio,
)

ASPECT_RATIOS = ("1:1", "16:9", "9:16", "4:3", "3:4")
#: Images up to this many pixels are drawn on the event loop: a thread hop costs more.
_INLINE_PIXELS = 128 * 128
#: Inputs to edit up to this size are decoded on the event loop.
_INLINE_INPUT_BYTES = 32 * 1024
_FORBIDDEN = re.compile(r"\bforbidden\b", re.IGNORECASE)
_FLAKY = re.compile(r"\bflaky:(\d+)\b", re.IGNORECASE)
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _seed(*parts: str) -> bytes:
    """64 bytes that depend on every part; everything drawn is taken from them."""
    return hashlib.sha512("\x00".join(parts).encode()).digest()


def fit_size(aspect_ratio: str, long_side: int, *, even: bool = False) -> tuple[int, int]:
    """Width and height of `aspect_ratio` whose longer side is `long_side`."""
    rw, rh = parse_ratio(aspect_ratio)
    if rw >= rh:
        width, height = long_side, max(1, round(long_side * rh / rw))
    else:
        width, height = max(1, round(long_side * rw / rh)), long_side
    if even:  # yuv420p needs even sides
        width, height = max(2, width - width % 2), max(2, height - height % 2)
    return width, height


def render(seed: bytes, width: int, height: int, shapes: int) -> Image.Image:
    """A four-colour gradient with a few shapes, all chosen by `seed`."""
    # Bilinear upscaling of a 2×2 image gives a smooth gradient without a Python pixel loop.
    corners = Image.new("RGB", (2, 2))
    corners.putdata([(seed[i], seed[i + 1], seed[i + 2]) for i in (0, 3, 6, 9)])
    image = corners.resize((width, height), Image.Resampling.BILINEAR)
    draw = ImageDraw.Draw(image)
    for n in range(shapes):
        x, y, rx, ry, kind, r, g, b = seed[12 + 8 * n : 20 + 8 * n]
        cx, cy = x * width // 256, y * height // 256
        half_w, half_h = 2 + rx * width // 640, 2 + ry * height // 640
        box = (cx - half_w, cy - half_h, cx + half_w, cy + half_h)
        if kind % 3 == 0:
            draw.ellipse(box, fill=(r, g, b))
        elif kind % 3 == 1:
            draw.rectangle(box, fill=(r, g, b))
        else:
            draw.polygon(
                [(cx, cy - half_h), (cx + half_w, cy + half_h), (cx - half_w, cy + half_h)],
                fill=(r, g, b),
            )
    return image


def to_png(image: Image.Image) -> bytes:
    """PNG bytes of `image`, fast rather than small: these images are throwaway."""
    width, height = image.size
    if image.mode != "RGB" or width * height > _INLINE_PIXELS:
        out = io.BytesIO()
        image.save(out, "PNG", compress_level=1)
        return out.getvalue()
    # Written by hand: on tiny images Pillow's encoder setup costs ~3× the whole encoding.
    # Every row uses filter 0 (none), 8-bit truecolour, zlib level 1.
    raw, stride = image.tobytes(), width * 3
    rows = b"".join(b"\x00" + raw[i : i + stride] for i in range(0, len(raw), stride))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"".join(
        (_PNG_SIGNATURE, _chunk(b"IHDR", header), _chunk(b"IDAT", zlib.compress(rows, 1)), _IEND)
    )


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


_IEND = _chunk(b"IEND", b"")


def make_image(
    prompt: str, aspect_ratio: str, long_side: int, pro: bool
) -> tuple[bytes, int, int, str]:
    """PNG bytes, width, height and seed hex of the image for `prompt`."""
    seed = _seed("image", prompt, aspect_ratio, "pro" if pro else "standard")
    width, height = fit_size(aspect_ratio, long_side)
    image = render(seed, width, height, shapes=6 if pro else 3)
    return to_png(image), width, height, seed.hex()[:16]


def open_input(data: bytes, size: tuple[int, int]) -> Image.Image:
    """The input image decoded, upright, RGB and cropped to `size`."""
    return ImageOps.fit(open_upright(data, draft=size), size, Image.Resampling.BILINEAR)


def edit(
    data: bytes, prompt: str, aspect_ratio: str, long_side: int, pro: bool
) -> tuple[bytes, int, int, str]:
    """PNG bytes, width, height and seed hex of the input, tinted and reshaped by `prompt`."""
    seed = _seed("edit", prompt, "pro" if pro else "standard")
    size = fit_size(aspect_ratio, long_side)
    image = open_input(data, size)
    tint = Image.new("RGB", size, (seed[0], seed[1], seed[2]))
    image = Image.blend(image, tint, 0.3 + seed[3] / 1275)
    if seed[4] & 1:
        image = ImageOps.mirror(image)
    if seed[5] & 1 or pro:
        image = ImageOps.posterize(image, 2 + seed[6] % 3)
    return to_png(image), size[0], size[1], seed.hex()[:16]


@functools.cache
def video_codec() -> str:
    """H.264 when the PyAV build has an encoder for it, else MPEG-4 part 2."""
    try:
        av.codec.Codec("libx264", "w")
    except Exception:  # any failure means "not in this build"
        return "mpeg4"
    return "libx264"


def make_video(
    prompt: str,
    aspect_ratio: str,
    seconds: int,
    long_side: int,
    fps: int,
    image: bytes | None,
) -> tuple[bytes, int, int, str]:
    """MP4 bytes, width, height and seed hex of a scrolling picture for `prompt`."""
    seed = _seed("video", prompt, aspect_ratio)
    width, height = fit_size(aspect_ratio, long_side, even=True)
    base = open_input(image, (width, height)) if image else render(seed, width, height, shapes=4)
    # Each frame scrolls the picture a little: real motion, same frames for the same prompt.
    step_x, step_y = 1 + seed[60] % 6, seed[61] % 4
    codec = video_codec()
    out = io.BytesIO()
    with av.open(out, "w", format="mp4") as container:
        stream = container.add_stream(codec, rate=Fraction(fps))
        assert isinstance(stream, av.VideoStream)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        if codec == "libx264":
            stream.options = {"preset": "ultrafast", "threads": "1"}
        for n in range(seconds * fps):
            moved = ImageChops.offset(base, n * step_x, n * step_y)
            frame = av.VideoFrame.from_image(moved)  # type: ignore[no-untyped-call]
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return out.getvalue(), width, height, seed.hex()[:16]


class LocalProvider:
    """Needs no key or network; `forbidden` and `flaky:N` in a prompt script failures."""

    name: str = "local"
    aspect_ratios: Mapping[str, tuple[str, ...]] = MappingProxyType(
        dict.fromkeys(KINDS, ASPECT_RATIOS)
    )
    video_durations: tuple[int, ...] = (4, 6, 8)

    def __init__(
        self,
        *,
        latency_seconds: float = 0.0,
        failure_rate: float = 0.0,
        image_size: int = 512,
        video_size: int = 128,
        video_fps: int = 4,
        rng: random.Random | None = None,
    ) -> None:
        self.latency_seconds = latency_seconds
        self.failure_rate = failure_rate
        self.image_size = image_size
        self.video_size = video_size
        self.video_fps = video_fps
        self._rng = rng or random.Random()
        #: Failures served so far per prompt carrying `flaky:N`.
        self._flaky: dict[str, int] = {}

    async def generate_image(
        self, prompt: str, *, pro: bool, aspect_ratio: str, progress: Progress
    ) -> MediaResult:
        check_choice(self, "image", aspect_ratio)
        await self._wait_and_maybe_fail(prompt, progress)
        args = (prompt, aspect_ratio, self.image_size, pro)
        width, height = fit_size(aspect_ratio, self.image_size)
        if width * height <= _INLINE_PIXELS:
            data, width, height, seed = make_image(*args)
        else:
            data, width, height, seed = await asyncio.to_thread(make_image, *args)
        return MediaResult(data, "image/png", width, height, self._meta(pro, seed))

    async def edit_image(
        self, prompt: str, image: bytes, *, pro: bool, aspect_ratio: str, progress: Progress
    ) -> MediaResult:
        check_choice(self, "edit", aspect_ratio)
        await self._wait_and_maybe_fail(prompt, progress)
        args = (image, prompt, aspect_ratio, self.image_size, pro)
        width, height = fit_size(aspect_ratio, self.image_size)
        if width * height <= _INLINE_PIXELS and len(image) <= _INLINE_INPUT_BYTES:
            data, width, height, seed = edit(*args)
        else:
            data, width, height, seed = await asyncio.to_thread(edit, *args)
        return MediaResult(data, "image/png", width, height, self._meta(pro, seed))

    async def generate_video(
        self,
        prompt: str,
        *,
        pro: bool,
        aspect_ratio: str,
        duration_seconds: int,
        image: bytes | None,
        progress: Progress,
    ) -> MediaResult:
        check_choice(self, "video", aspect_ratio, duration_seconds)
        await self._wait_and_maybe_fail(prompt, progress)
        data, width, height, seed = await asyncio.to_thread(
            make_video,
            prompt,
            aspect_ratio,
            duration_seconds,
            self.video_size,
            self.video_fps,
            image,
        )
        meta = self._meta(pro, seed) | {
            "duration_seconds": str(duration_seconds),
            "fps": str(self.video_fps),
            "codec": video_codec(),
        }
        return MediaResult(data, "video/mp4", width, height, meta)

    async def close(self) -> None:
        """Nothing to release."""

    async def _wait_and_maybe_fail(self, prompt: str, progress: Progress) -> None:
        """Sleep the configured latency, reporting progress, then play scripted failures."""
        if self.latency_seconds > 0:
            steps = max(1, min(5, round(self.latency_seconds / 0.1)))
            for step in range(1, steps + 1):
                await asyncio.sleep(self.latency_seconds / steps)
                await progress(step * 90 // steps)
        if _FORBIDDEN.search(prompt):
            raise PermanentProviderError(
                "the request was blocked by the safety filter", Failure.SAFETY_BLOCK
            )
        flaky = _FLAKY.search(prompt)
        if flaky:
            served = self._flaky.get(prompt, 0)
            if served < int(flaky.group(1)):
                self._flaky[prompt] = served + 1
                raise TransientProviderError("the local provider failed on purpose")
        if self.failure_rate > 0 and self._rng.random() < self.failure_rate:
            raise TransientProviderError("the local provider failed on purpose")

    def _meta(self, pro: bool, seed: str) -> dict[str, str]:
        return {"provider": self.name, "quality": "pro" if pro else "standard", "seed": seed}
