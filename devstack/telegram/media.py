"""Files the local Bot API server keeps: ids, download paths, photo sizes and video facts."""

from __future__ import annotations

import contextlib
import io
import itertools
import mimetypes
import secrets
from dataclasses import dataclass
from typing import Any

import av
from PIL import Image, ImageOps

#: Sides of the sizes Telegram makes of a photo ('s', 'm', 'x', 'y', 'w').
PHOTO_SIDES = (90, 320, 800, 1280, 2560)
#: Like Telegram's file_id prefixes, so the ids look like the real ones to a person.
_ID_PREFIX = {
    "photo": "AgACAgIAAxkBAAI",
    "video": "BAACAgIAAxkBAAI",
    "document": "BQACAgIAAxkBAAI",
    "animation": "CgACAgIAAxkBAAI",
    "thumbnail": "AAMCAgADGQEAAi",
}
_FOLDER = {
    "photo": "photos",
    "video": "videos",
    "document": "documents",
    "animation": "animations",
    "thumbnail": "thumbnails",
}


class NotAPhoto(ValueError):
    """Bytes Pillow cannot decode as an image."""


class BadDimensions(ValueError):
    """A photo wider or taller than Telegram accepts."""


@dataclass
class StoredFile:
    """One file: its ids, where it downloads from, its bytes and what is known of it."""

    file_id: str
    file_unique_id: str
    file_path: str
    data: bytes
    kind: str
    mime_type: str = ""
    file_name: str = ""
    width: int = 0
    height: int = 0
    duration: int = 0
    #: The file_id of a video's or animation's thumbnail.
    thumbnail_id: str = ""

    @property
    def size(self) -> int:
        return len(self.data)

    def file_json(self) -> dict[str, Any]:
        """The Bot API `File` object (what getFile answers)."""
        return {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": self.size,
            "file_path": self.file_path,
        }

    def photo_size_json(self) -> dict[str, Any]:
        return {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": self.size,
            "width": self.width,
            "height": self.height,
        }


class Files:
    """Every stored file by file_id and by download path."""

    def __init__(self) -> None:
        self.by_id: dict[str, StoredFile] = {}
        self.by_path: dict[str, StoredFile] = {}
        #: The sizes of a photo (PhotoSize objects), under the file_id of each size.
        self.photos: dict[str, list[dict[str, Any]]] = {}
        self._counter = itertools.count()

    def add(self, data: bytes, kind: str, extension: str, **facts: Any) -> StoredFile:
        number = next(self._counter)
        stored = StoredFile(
            file_id=_ID_PREFIX[kind] + secrets.token_urlsafe(48),
            file_unique_id="AQAD" + secrets.token_urlsafe(12),
            file_path=f"{_FOLDER[kind]}/file_{number}.{extension}",
            data=data,
            kind=kind,
            **facts,
        )
        self.by_id[stored.file_id] = stored
        self.by_path[stored.file_path] = stored
        return stored

    def get(self, file_id: str) -> StoredFile | None:
        return self.by_id.get(file_id)


def _jpeg(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


def photo_sizes(data: bytes) -> list[tuple[bytes, int, int]]:
    """JPEG sizes of a photo as Telegram makes them, smallest first: one per side in
    PHOTO_SIDES below the photo's own, then the photo itself (at most 2560 px a side)."""
    try:
        with Image.open(io.BytesIO(data)) as opened:
            opened.load()
            image = ImageOps.exif_transpose(opened).convert("RGB")
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise NotAPhoto(str(exc)) from None
    width, height = image.size
    if width + height > 10000 or max(width, height) > 20 * min(width, height):
        raise BadDimensions(f"{width}x{height}")
    sizes: list[tuple[bytes, int, int]] = []
    for side in PHOTO_SIDES:
        if max(width, height) > side:
            scaled = image.copy()
            scaled.thumbnail((side, side))
            sizes.append((_jpeg(scaled), *scaled.size))
    if max(width, height) <= PHOTO_SIDES[-1]:
        sizes.append((_jpeg(image), width, height))
    return sizes


@dataclass(frozen=True)
class VideoFacts:
    width: int
    height: int
    duration: int
    #: A JPEG of the first frame, with its width and height.
    thumbnail: tuple[bytes, int, int] | None


def probe_video(data: bytes) -> VideoFacts | None:
    """Width, height, whole seconds and a JPEG of the first frame, or None for bytes that
    are not a video PyAV can read."""
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            if not container.streams.video:
                return None
            stream = container.streams.video[0]
            width, height = stream.codec_context.width, stream.codec_context.height
            seconds = 0.0
            if container.duration:
                seconds = container.duration / 1_000_000
            elif stream.duration and stream.time_base:
                seconds = float(stream.duration * stream.time_base)
            thumbnail = None
            with contextlib.suppress(av.error.FFmpegError, StopIteration):
                frame = next(container.decode(stream))
                image = frame.to_image()
                image.thumbnail((320, 320))
                thumbnail = (_jpeg(image.convert("RGB")), *image.size)
            return VideoFacts(width, height, round(seconds), thumbnail)
    except (av.error.FFmpegError, OSError, ValueError):
        return None


def guess_mime(filename: str, fallback: str = "application/octet-stream") -> str:
    return mimetypes.guess_type(filename)[0] or fallback


def extension(filename: str, mime_type: str, default: str) -> str:
    if "." in filename:
        return filename.rsplit(".", 1)[1].lower()[:8] or default
    guessed = mimetypes.guess_extension(mime_type or "")
    return guessed.lstrip(".") if guessed else default
