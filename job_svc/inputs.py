"""Validation of what a client asks for: prompt, input image and options."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image

from common import validate
from common.errors import InvalidArgument, InvalidImage, InvalidOption
from job_svc.providers import Provider, option_refusal

MAX_PROMPT = 2000
MAX_IMAGE_BYTES = 10 * 1024 * 1024
MAX_IMAGE_SIDE = 4096
IMAGE_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}


@dataclass(frozen=True)
class InputImage:
    """An input image that really decodes."""

    data: bytes
    mime_type: str
    width: int
    height: int


def prompt(text: str) -> str:
    """1 to 2,000 characters after trimming; newlines and tabs allowed, no other control."""
    return validate.text(text, "prompt", max_len=MAX_PROMPT, required=True)


def image(data: bytes) -> InputImage:
    """A JPEG, PNG or WebP of at most 10 MB and 4096 px a side, fully decoded once."""
    if len(data) > MAX_IMAGE_BYTES:
        raise InvalidImage(
            f"the image is {len(data) / 1e6:.1f} MB; send at most {MAX_IMAGE_BYTES // 2**20} MB",
            max_bytes=MAX_IMAGE_BYTES,
            max_side=MAX_IMAGE_SIDE,
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as picture:
                kind = picture.format or ""
                width, height = picture.size
                if kind not in IMAGE_FORMATS:
                    raise InvalidImage(
                        "the image must be a JPEG, PNG or WebP",
                        max_bytes=MAX_IMAGE_BYTES,
                        max_side=MAX_IMAGE_SIDE,
                    )
                if max(width, height) > MAX_IMAGE_SIDE:
                    raise InvalidImage(
                        f"the image is {width}×{height}; at most {MAX_IMAGE_SIDE} px a side",
                        max_bytes=MAX_IMAGE_BYTES,
                        max_side=MAX_IMAGE_SIDE,
                    )
                picture.load()  # decodes every pixel: truncated files fail here
    except InvalidImage:
        raise
    except Exception:
        raise InvalidImage(
            "the input is not a readable JPEG, PNG or WebP image",
            max_bytes=MAX_IMAGE_BYTES,
            max_side=MAX_IMAGE_SIDE,
        ) from None
    return InputImage(data, IMAGE_FORMATS[kind], width, height)


def options(
    provider: Provider, kind: str, aspect_ratio: str, duration_seconds: int
) -> tuple[str, int]:
    """The aspect ratio and duration the provider will use for `kind` (its defaults when unset).

    Only what the provider declares for the kind passes: Veo, for one, renders no square video.
    """
    if kind != "video" and duration_seconds:
        raise InvalidArgument(
            "duration_seconds applies to videos only", field="options.duration_seconds"
        )
    accepted = provider.aspect_ratios.get(kind) or ("",)
    ratio = aspect_ratio or accepted[0]
    seconds = (duration_seconds or provider.video_durations[0]) if kind == "video" else None
    reason = option_refusal(provider, kind, ratio, seconds)
    if reason is None:
        return ratio, seconds or 0
    ratios = provider.aspect_ratios.get(kind, ())
    if ratio not in ratios:
        raise InvalidOption(reason, field="options.aspect_ratio", accepted=",".join(ratios))
    durations = ",".join(str(d) for d in sorted(provider.video_durations))
    raise InvalidOption(reason, field="options.duration_seconds", accepted=durations)
