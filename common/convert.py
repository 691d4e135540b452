"""Small conversions between Python values and protobuf messages."""

from __future__ import annotations

from datetime import datetime

from google.protobuf.timestamp_pb2 import Timestamp


def timestamp(value: datetime | None) -> Timestamp | None:
    """A protobuf Timestamp, or None (the field stays unset) for no time."""
    if value is None:
        return None
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


def next_token(rows: list[object], size: int, cursor: object) -> str:
    """The page token after a full page (the last row's cursor), else empty."""
    return str(cursor) if len(rows) == size and rows else ""
