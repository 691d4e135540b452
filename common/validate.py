"""Checks of request fields that every service applies the same way."""

from __future__ import annotations

import re
import uuid

from common.errors import InvalidArgument

MAX_ID = 2**53  # Telegram ids fit in 52 bits


def telegram_id(value: int, field: str = "telegram_id") -> int:
    """A positive Telegram id."""
    if not 0 < value < MAX_ID:
        raise InvalidArgument(f"{field} must be a positive Telegram id", field=field)
    return value


#: C0 control characters (U+0000 to U+001F): Postgres refuses NUL in text outright,
#: and none of the others belongs in a name, an id or a code.
_CONTROL = re.compile(r"[\x00-\x1f]")
#: The same but for tab and newline, which free text (a reason) may hold.
_CONTROL_IN_FREE_TEXT = re.compile(r"[\x00-\x08\x0b-\x1f]")


def text(
    value: str, field: str, *, max_len: int, required: bool = False, single_line: bool = False
) -> str:
    """A string trimmed of surrounding spaces, within a length limit, free of control characters.

    No C0 control character is accepted, except that free text (the default:
    reasons, purposes) may hold newlines and tabs; a CRLF in it counts as a
    newline. `single_line` fields (names, ids, codes, queries) accept neither.
    """
    if not single_line:
        value = value.replace("\r\n", "\n")
    value = value.strip()
    if required and not value:
        raise InvalidArgument(f"{field} must not be empty", field=field)
    if len(value) > max_len:
        raise InvalidArgument(f"{field} must be at most {max_len} characters", field=field)
    control = (_CONTROL if single_line else _CONTROL_IN_FREE_TEXT).search(value)
    if control is not None:
        allowed = "" if single_line else " other than newline and tab"
        raise InvalidArgument(
            f"{field} must not contain control characters{allowed} "
            f"(found U+{ord(control.group()):04X})",
            field=field,
        )
    return value


def key(value: str, field: str = "idempotency_key") -> str:
    """An idempotency key: 1 to 128 printable characters."""
    if not value or len(value) > 128 or not value.isprintable():
        raise InvalidArgument(f"{field} must be 1 to 128 printable characters", field=field)
    return value


def uuid_text(value: str, field: str) -> uuid.UUID:
    """A UUID given as text."""
    try:
        return uuid.UUID(value)
    except ValueError:
        raise InvalidArgument(f"{field} must be a UUID", field=field) from None


def int_range(value: int, field: str, low: int, high: int) -> int:
    """An integer within [low, high]."""
    if not low <= value <= high:
        raise InvalidArgument(f"{field} must be between {low:,} and {high:,}", field=field)
    return value


def page(size: int, token: str, *, default: int, maximum: int) -> tuple[int, int | None]:
    """A page size and the keyset cursor (an id) the token carries."""
    if size < 0 or size > maximum:
        raise InvalidArgument(f"page_size must be between 0 and {maximum}", field="page_size")
    if not token:
        return size or default, None
    if not token.isdigit() or len(token) > 19:
        raise InvalidArgument("page_token is not one this service gave out", field="page_token")
    return size or default, int(token)
