"""The signed, expiring link token that lets a Telegram user into the cabinet.

The bot makes it (`GET /cabinet?auth=<token>` opens the Mini App as a plain
link), the web app checks it; both sign with WEBAPP_SECRET. Its form is
`<telegram id>.<expiry, Unix seconds>.<HMAC-SHA256, base64url>`: short enough
for a URL, readable in logs, and bound to one user and one moment.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

from common.errors import Unauthenticated

#: How long a link works when the caller does not say.
DEFAULT_TTL_SECONDS = 600
_PURPOSE = b"mediabot-cabinet-v1:"


class InvalidToken(Unauthenticated):
    """The token is malformed, altered, signed with another secret, or expired."""


def _mac(secret: str, body: str) -> str:
    digest = hmac.new(secret.encode(), _PURPOSE + body.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def sign(
    secret: str, telegram_id: int, ttl_seconds: int = DEFAULT_TTL_SECONDS, now: float | None = None
) -> str:
    """A token that opens `telegram_id`'s cabinet for `ttl_seconds`."""
    if telegram_id <= 0 or ttl_seconds <= 0:
        raise ValueError("telegram_id and ttl_seconds must be positive")
    expires = int((time.time() if now is None else now) + ttl_seconds)
    body = f"{telegram_id}.{expires}"
    return f"{body}.{_mac(secret, body)}"


def verify(secret: str, token: str, now: float | None = None) -> int:
    """The Telegram id a genuine, unexpired token names; InvalidToken otherwise."""
    parts = token.split(".")
    if len(token) > 200 or len(parts) != 3 or not (parts[0].isdigit() and parts[1].isdigit()):
        raise InvalidToken("the link is not valid")
    body = f"{parts[0]}.{parts[1]}"
    if not hmac.compare_digest(parts[2].encode(), _mac(secret, body).encode()):
        raise InvalidToken("the link is not valid")
    if int(parts[1]) < (time.time() if now is None else now):
        raise InvalidToken("the link has expired; open the cabinet from the bot again")
    return int(parts[0])
