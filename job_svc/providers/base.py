"""The provider interface: what every image and video backend implements."""

from __future__ import annotations

import io
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from PIL import Image, ImageOps

from job_svc.model import Failure

#: Job kinds, each served by one provider.
KINDS = ("image", "edit", "video")
#: Reports progress of one call, 0..100.
Progress = Callable[[int], Awaitable[None]]


@dataclass(frozen=True)
class MediaResult:
    """One generated image or video and what is known about it."""

    data: bytes
    mime_type: str
    width: int = 0
    height: int = 0
    metadata: dict[str, str] = field(default_factory=dict)


class ProviderError(RuntimeError):
    """A provider call failed; the message is a reason a person can read."""


class TransientProviderError(ProviderError):
    """Timeouts, rate limits, 5xx and network trouble: retry with backoff."""


class PermanentProviderError(ProviderError):
    """Safety blocks, bad input, quota or credentials: fail the job, do not retry.
    `failure` says which, for clients to tell in people's languages."""

    def __init__(self, reason: str, failure: Failure = Failure.PROVIDER_REFUSED) -> None:
        super().__init__(reason)
        self.failure = failure


class Provider(Protocol):
    """A backend that makes images, edits and videos."""

    name: str
    #: Accepted aspect ratios of each kind ("image", "edit", "video"); the first is the default.
    aspect_ratios: Mapping[str, tuple[str, ...]]
    #: Accepted video lengths in seconds; the first is the default.
    video_durations: tuple[int, ...]

    async def generate_image(
        self, prompt: str, *, pro: bool, aspect_ratio: str, progress: Progress
    ) -> MediaResult: ...

    async def edit_image(
        self, prompt: str, image: bytes, *, pro: bool, aspect_ratio: str, progress: Progress
    ) -> MediaResult: ...

    async def generate_video(
        self,
        prompt: str,
        *,
        pro: bool,
        aspect_ratio: str,
        duration_seconds: int,
        image: bytes | None,
        progress: Progress,
    ) -> MediaResult: ...

    async def close(self) -> None: ...


async def no_progress(_percent: int) -> None:
    """A progress callback that ignores reports."""


def option_refusal(
    provider: Provider, kind: str, aspect_ratio: str, duration_seconds: int | None = None
) -> str | None:
    """Why `provider` cannot make a `kind` in this aspect ratio (and video length), or None.

    CreateJob refuses with this reason; the provider checks it again before calling out.
    """
    ratios = provider.aspect_ratios.get(kind, ())
    if not ratios:
        return f"{provider.name} does not make {kind} jobs"
    if aspect_ratio not in ratios:
        return (
            f"aspect_ratio {aspect_ratio} is not available for {kind} on {provider.name}; "
            f"choose {_either(ratios)}"
        )
    if duration_seconds is not None and duration_seconds not in provider.video_durations:
        return (
            f"duration_seconds {duration_seconds} is not available for {kind} on "
            f"{provider.name}; choose {_either(sorted(provider.video_durations))}"
        )
    return None


def check_choice(
    provider: Provider, kind: str, aspect_ratio: str, duration_seconds: int | None = None
) -> None:
    """Refuse an aspect ratio or video length the provider does not accept for `kind`."""
    reason = option_refusal(provider, kind, aspect_ratio, duration_seconds)
    if reason is not None:
        raise PermanentProviderError(reason, Failure.BAD_INPUT)


def _either(choices: Sequence[object]) -> str:
    """'a, b or c'."""
    words = [str(choice) for choice in choices]
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"


def parse_ratio(aspect_ratio: str) -> tuple[int, int]:
    """'16:9' → (16, 9)."""
    width, _, height = aspect_ratio.partition(":")
    return int(width), int(height)


def sniff_image_mime(data: bytes) -> str | None:
    """The MIME type of PNG, JPEG, WebP or GIF bytes, from their magic numbers."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    return None


#: The picture formats an input image may have.
INPUT_FORMATS = ("PNG", "JPEG", "WEBP")
#: What a person is told of an input image no provider can read (migration 0004 matches
#: these words to code old failures).
UNREADABLE_INPUT = "the input image could not be read (send a PNG, JPEG or WebP picture)"


def unreadable_input() -> PermanentProviderError:
    return PermanentProviderError(UNREADABLE_INPUT, Failure.BAD_INPUT)


def open_upright(data: bytes, draft: tuple[int, int] | None = None) -> Image.Image:
    """An input image decoded, turned as its EXIF says and in RGB; with `draft`, a JPEG
    decodes at the smallest scale still that large (much faster)."""
    try:
        with Image.open(io.BytesIO(data), formats=INPUT_FORMATS) as source:
            if draft is not None:
                source.draft("RGB", draft)
            return ImageOps.exif_transpose(source).convert("RGB")
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise unreadable_input() from exc


def image_size(data: bytes) -> tuple[int, int]:
    """Width and height from the image header; (0, 0) if unreadable: the bytes still count."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.size
    except (OSError, ValueError, Image.DecompressionBombError):
        return 0, 0
