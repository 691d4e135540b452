"""What a service process adds to the common settings: its database and Redis."""

from __future__ import annotations

from pydantic import Field

from common.settings import CommonSettings


class ServiceSettings(CommonSettings):
    """Settings of billing_svc, job_svc and the workers."""

    #: Postgres the services keep their schemas in (asyncpg URL).
    DATABASE_URL: str = "postgresql://postgres@127.0.0.1:5432/mediabot"
    #: Connections each service process keeps open to Postgres.
    DB_POOL_SIZE: int = Field(default=20, ge=1, le=500)
    #: Redis for the job queue, status events and limits.
    REDIS_URL: str = "redis://127.0.0.1:6379/0"
