"""Mini App launch data signed as Telegram signs it, so a web app can be opened from the web chat.

Telegram passes `initData` (a query string) to a Mini App; its `hash` is
HMAC-SHA256(key=HMAC-SHA256(key="WebAppData", msg=bot_token), msg=data_check_string), where the
data-check-string is every other field as `key=value`, sorted by key, joined by newlines.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.parse
from typing import Any

WEB_APP_VERSION = "9.0"


def data_check_string(fields: dict[str, str]) -> str:
    return "\n".join(f"{k}={v}" for k, v in sorted(fields.items()) if k != "hash")


def init_data_hash(bot_token: str, fields: dict[str, str]) -> str:
    secret = hmac.new(b"WebAppData", bot_token.encode(), hashlib.sha256).digest()
    return hmac.new(secret, data_check_string(fields).encode(), hashlib.sha256).hexdigest()


def sign_init_data(
    bot_token: str,
    user: dict[str, Any],
    *,
    auth_date: int | None = None,
    chat_type: str = "",
    chat_instance: str = "",
    start_param: str = "",
    query_id: str = "",
) -> str:
    """The `initData` string a Mini App receives, with its hash."""
    fields = {
        "user": json.dumps(user, ensure_ascii=False, separators=(",", ":")),
        "auth_date": str(auth_date if auth_date is not None else int(time.time())),
    }
    optional = {
        "chat_type": chat_type,
        "chat_instance": chat_instance,
        "start_param": start_param,
        "query_id": query_id,
    }
    fields |= {k: v for k, v in optional.items() if v}
    fields["hash"] = init_data_hash(bot_token, fields)
    return urllib.parse.urlencode(fields, quote_via=urllib.parse.quote)


def launch_url(url: str, init_data: str, platform: str = "web") -> str:
    """`url` with the fragment Telegram clients add when they open a Mini App."""
    fragment = urllib.parse.urlencode(
        {
            "tgWebAppData": init_data,
            "tgWebAppVersion": WEB_APP_VERSION,
            "tgWebAppPlatform": platform,
            "tgWebAppThemeParams": json.dumps(
                {"bg_color": "#ffffff", "text_color": "#000000", "button_color": "#2481cc"},
                separators=(",", ":"),
            ),
        },
        quote_via=urllib.parse.quote,
    )
    return url.split("#", 1)[0] + "#" + fragment
