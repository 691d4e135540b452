"""Who is logging in: the Mini App's initData, checked as Telegram specifies, and the
bot's signed cabinet link (`common.cabinet_token`, the one implementation both share).

initData is a query string; its `hash` is
HMAC-SHA256(key=HMAC-SHA256(key="WebAppData", msg=bot_token), msg=data_check_string),
hex, where the data-check-string is every other field as `key=value`, sorted by key and
joined by newlines (https://core.telegram.org/bots/webapps#validating-data-received-via-the-mini-app).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from urllib.parse import parse_qsl

from common import cabinet_token
from common.errors import Unauthenticated

#: Longer initData than this is not Telegram's.
MAX_INIT_DATA = 8192
#: How far in the future a clock may put auth_date before it is refused.
CLOCK_SKEW_SECONDS = 60


class InvalidInitData(Unauthenticated):
    """The initData is malformed, altered, signed for another bot, or too old."""


@dataclass(frozen=True)
class TelegramLogin:
    """The person the initData vouches for."""

    telegram_id: int
    username: str
    language_code: str
    first_name: str
    start_param: str
    auth_date: int


def _secret_key(bot_token: str) -> bytes:
    return hmac.new(b"WebAppData", bot_token.encode(), hashlib.sha256).digest()


def check_init_data(
    init_data: str, bot_token: str, max_age_seconds: int, now: float | None = None
) -> TelegramLogin:
    """The user of genuine, fresh initData; InvalidInitData otherwise."""
    if not init_data or len(init_data) > MAX_INIT_DATA:
        raise InvalidInitData("initData is missing or too long")
    try:
        pairs = parse_qsl(init_data, keep_blank_values=True, strict_parsing=True)
    except ValueError:
        raise InvalidInitData("initData is not a query string") from None
    fields = dict(pairs)
    if len(fields) != len(pairs):
        raise InvalidInitData("initData repeats a field")
    received = fields.pop("hash", "")
    if not received or "user" not in fields or "auth_date" not in fields:
        raise InvalidInitData("initData lacks hash, user or auth_date")
    check = "\n".join(f"{k}={v}" for k, v in sorted(fields.items()))
    expected = hmac.new(_secret_key(bot_token), check.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), received.lower().encode()):
        raise InvalidInitData("initData's hash does not match")
    try:
        auth_date = int(fields["auth_date"])
        user = json.loads(fields["user"])
        telegram_id = int(user["id"])
    except (ValueError, TypeError, KeyError):
        raise InvalidInitData("initData's user or auth_date is malformed") from None
    moment = time.time() if now is None else now
    if auth_date < moment - max_age_seconds:
        raise InvalidInitData("initData is too old: open the Mini App again")
    if auth_date > moment + CLOCK_SKEW_SECONDS:
        raise InvalidInitData("initData comes from the future")
    if not isinstance(user, dict) or telegram_id <= 0 or user.get("is_bot"):
        raise InvalidInitData("initData's user is not a person")
    return TelegramLogin(
        telegram_id=telegram_id,
        username=str(user.get("username") or "")[:64],
        language_code=str(user.get("language_code") or "")[:35],
        first_name=str(user.get("first_name") or "")[:64],
        start_param=fields.get("start_param", "")[:64],
        auth_date=auth_date,
    )


def check_cabinet_token(secret: str, token: str) -> int:
    """The Telegram id of a genuine, unexpired cabinet link; InvalidToken otherwise."""
    return cabinet_token.verify(secret, token)
