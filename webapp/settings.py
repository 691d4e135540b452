"""The web app's settings: the client layer plus Telegram, sessions and the legal pages."""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator

from common.settings import ClientSettings


class WebSettings(ClientSettings):
    """Everything `python -m webapp` reads from the environment."""

    #: Where the web app listens.
    WEBAPP_ADDR: str = "127.0.0.1:8080"
    #: The address people reach it at (https in production): links, cookies' Secure flag, CSRF.
    WEBAPP_BASE_URL: str = "http://127.0.0.1:8080"
    #: The bot's token: checks the Mini App's initData and makes invoice links (required).
    BOT_TOKEN: SecretStr
    #: The bot's @username without the @, for referral links.
    BOT_USERNAME: str = ""
    #: The Bot API server: the cloud one, a local telegram-bot-api, a test one.
    TELEGRAM_API_URL: str = "https://api.telegram.org"
    #: Telegram's Mini App script; `make up` points it at the local Telegram's stand-in.
    TELEGRAM_WEBAPP_JS_URL: str = "https://telegram.org/js/telegram-web-app.js"
    #: Largest result the app re-sends to a chat (50 MB on the cloud Bot API).
    TELEGRAM_UPLOAD_LIMIT_MB: int = Field(default=50, ge=1, le=2000)
    #: How long a login lasts.
    SESSION_TTL_SECONDS: int = Field(default=86400, ge=60, le=30 * 86400)
    #: The oldest Mini App initData (its auth_date) that still logs in.
    INIT_DATA_MAX_AGE_SECONDS: int = Field(default=3600, ge=10, le=7 * 86400)
    #: Login attempts one address may make per minute.
    LOGIN_ATTEMPTS_PER_MINUTE: int = Field(default=20, ge=1, le=100_000)
    #: `/auth/dev/{telegram_id}` logs anyone in without Telegram: development machines only.
    WEBAPP_DEV_AUTH: bool = False
    #: Proxies whose X-Forwarded-For / -Proto are believed (comma separated, or "*").
    FORWARDED_ALLOW_IPS: str = "127.0.0.1"
    #: Deadline of each call to a service.
    SERVICE_DEADLINE_SECONDS: float = Field(default=10.0, gt=0, le=120)
    #: The legal pages: the service's name, its operator, how to reach them, whose law applies.
    LEGAL_SERVICE_NAME: str = "mediabot"
    LEGAL_OPERATOR: str = ""
    LEGAL_CONTACT: str = ""
    LEGAL_JURISDICTION: str = ""
    #: The date the legal texts took effect.
    LEGAL_EFFECTIVE_DATE: str = "2026-12-01"

    @field_validator("WEBAPP_BASE_URL", "TELEGRAM_API_URL", "TELEGRAM_WEBAPP_JS_URL")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an http(s) URL")
        return value.rstrip("/")

    @field_validator("WEBAPP_ADDR")
    @classmethod
    def _address(cls, value: str) -> str:
        host, _, port = value.rpartition(":")
        if not host or not port.isdigit() or not 0 <= int(port) < 65536:
            raise ValueError("must be host:port")
        return value

    @property
    def secure_cookies(self) -> bool:
        """Behind HTTPS: cookies are Secure (and may cross into Telegram's web clients)."""
        return self.WEBAPP_BASE_URL.startswith("https://")

    @property
    def base_origin(self) -> str:
        parts = urlsplit(self.WEBAPP_BASE_URL)
        return f"{parts.scheme}://{parts.netloc}"
