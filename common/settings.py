"""Settings read from the environment (and `.env`), validated once at start.

In layers: what every process has (`CommonSettings`), what a client process adds
(`ClientSettings`: the bot and the web app), and what a service adds
(`common.server.settings.ServiceSettings`: database, pool, Redis). A client
has no database setting at all.
"""

from __future__ import annotations

import sys
from typing import Annotated, TypeVar

from pydantic import AfterValidator, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

S = TypeVar("S", bound="CommonSettings")


def _long_enough(value: SecretStr) -> SecretStr:
    if len(value.get_secret_value()) < 16:
        raise ValueError("must be at least 16 characters (use a random secret)")
    return value


#: A required secret: at least 16 characters, never printed.
Secret = Annotated[SecretStr, AfterValidator(_long_enough)]


class CommonSettings(BaseSettings):
    """What every mediabot process needs: where the services are and the credentials."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=True)

    #: Where billing_svc listens and where its clients call it.
    BILLING_GRPC_ADDR: str = "127.0.0.1:50051"
    #: Where job_svc listens and where its clients call it.
    JOBS_GRPC_ADDR: str = "127.0.0.1:50052"
    #: Credential every service-to-service call carries (required).
    SERVICE_TOKEN: Secret
    #: Credential of the admin RPCs (required).
    ADMIN_API_TOKEN: Secret
    #: DEBUG, INFO, WARNING or ERROR.
    LOG_LEVEL: str = Field(default="INFO", pattern="^(DEBUG|INFO|WARNING|ERROR)$")


class ClientSettings(CommonSettings):
    """What the bot and the web app add: their own Redis state, the admins, the
    secret of the cabinet's signed links."""

    #: Redis for the bot's dialogs and the web app's sessions.
    REDIS_URL: str = "redis://127.0.0.1:6379/0"
    #: Telegram ids of the admins, comma separated.
    ADMIN_IDS: Annotated[list[int], NoDecode] = []
    #: Signs the cabinet links the bot hands out (required, shared by bot and web app).
    WEBAPP_SECRET: Secret

    @field_validator("ADMIN_IDS", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            return [part for part in value.replace(" ", "").split(",") if part]
        return value


def load_settings(cls: type[S]) -> S:
    """Build settings or stop the process with one line per wrong variable."""
    try:
        return cls()  # type: ignore[call-arg]  # values come from the environment
    except ValidationError as exc:
        for error in exc.errors():
            name = ".".join(str(part) for part in error["loc"]) or "settings"
            message = error["msg"].removeprefix("Value error, ")
            print(f"config error: {name}: {message}", file=sys.stderr)
        raise SystemExit(2) from None
