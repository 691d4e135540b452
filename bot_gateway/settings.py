"""The bot's settings: the client layer plus Telegram and the cabinet."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator

from common.settings import ClientSettings


class BotSettings(ClientSettings):
    """Everything `python -m bot_gateway` reads from the environment."""

    #: The token @BotFather gave (required).
    BOT_TOKEN: SecretStr
    #: The bot's @username without the @, for links (asked from Telegram when empty).
    BOT_USERNAME: str = ""
    #: The Bot API server: the cloud one, a local telegram-bot-api (files up to 2 GB), a test one.
    TELEGRAM_API_URL: str = "https://api.telegram.org"
    #: Largest file the Bot API server takes from the bot (50 MB on the cloud one).
    TELEGRAM_UPLOAD_LIMIT_MB: int = Field(default=50, ge=1, le=2000)
    #: Where the Mini App (cabinet) is served; its links carry a signed `auth` token.
    WEBAPP_BASE_URL: str = "http://127.0.0.1:8080"
    #: How long a cabinet link from the bot stays valid.
    CABINET_LINK_TTL_SECONDS: int = Field(default=600, ge=60, le=7 * 24 * 3600)
    #: Webhook mode (several replicas) when set: the public https URL Telegram posts to.
    BOT_WEBHOOK_URL: str = ""
    #: Checked on every webhook request (X-Telegram-Bot-Api-Secret-Token).
    BOT_WEBHOOK_SECRET: SecretStr = SecretStr("")
    #: Where the webhook server listens.
    BOT_WEBHOOK_ADDR: str = "127.0.0.1:8088"
    #: Updates handled at once by one process (polling; a webhook gets as many
    #: connections from Telegram): bounds memory and connections under a burst.
    BOT_CONCURRENT_UPDATES: int = Field(default=64, ge=1, le=10_000)
    #: Updates a user may send in THROTTLE_WINDOW_SECONDS before the rest are dropped.
    THROTTLE_UPDATES: int = Field(default=12, ge=1, le=1000)
    THROTTLE_WINDOW_SECONDS: float = Field(default=10, gt=0, le=3600)
    #: Outgoing messages per second in one chat and in all (Telegram's limits).
    SEND_PER_CHAT_PER_SECOND: float = Field(default=1.0, gt=0, le=100)
    SEND_PER_SECOND: float = Field(default=28.0, gt=0, le=1000)
    #: Messages a broadcast sends per second, under SEND_PER_SECOND so people's own
    #: answers keep flowing while it runs.
    BROADCAST_PER_SECOND: float = Field(default=20.0, gt=0, le=1000)
    #: Deadline of each call to a service, retries included (UNAVAILABLE is retried).
    SERVICE_DEADLINE_SECONDS: float = Field(default=15.0, gt=0, le=300)

    @field_validator("BOT_WEBHOOK_URL")
    @classmethod
    def _https(cls, value: str) -> str:
        if value and not value.startswith(("https://", "http://")):
            raise ValueError("must be an https:// URL")
        return value
