"""The provider interface: what every image and video backend implements."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

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
    """Safety blocks, bad input, quota or credentials: fail the job, do not retry."""


class Provider(Protocol):
    """A backend that makes images, edits and videos."""

    name: str
    #: Accepted aspect ratios; the first is the default.
    aspect_ratios: tuple[str, ...]
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


def check_choice(
    provider: Provider, aspect_ratio: str, duration_seconds: int | None = None
) -> None:
    """Refuse an aspect ratio or video length the provider does not accept."""
    if aspect_ratio not in provider.aspect_ratios:
        accepted = ", ".join(provider.aspect_ratios)
        raise PermanentProviderError(
            f"aspect ratio {aspect_ratio!r} is not supported (use one of {accepted})"
        )
    if duration_seconds is not None and duration_seconds not in provider.video_durations:
        accepted = ", ".join(str(d) for d in provider.video_durations)
        raise PermanentProviderError(
            f"a video of {duration_seconds} s is not supported (use {accepted} seconds)"
        )


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
