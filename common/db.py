"""Postgres connection pools (asyncpg) and URL helpers."""

from __future__ import annotations

import asyncpg


def asyncpg_dsn(url: str) -> str:
    """Accept SQLAlchemy-style URLs (`postgresql+asyncpg://`) as plain ones."""
    scheme, sep, rest = url.partition("://")
    return f"{scheme.split('+')[0]}{sep}{rest}"


def sqlalchemy_url(url: str) -> str:
    """The same database as a SQLAlchemy asyncpg URL, for Alembic."""
    return "postgresql+asyncpg://" + url.partition("://")[2]


async def _keep_session(connection: asyncpg.Connection) -> None:
    """Skip asyncpg's reset query on every release: our code leaves no session
    state behind (no SET, LISTEN or session advisory locks; transactions close),
    and the query would cost one more round trip per use of the pool."""


async def create_pool(url: str, size: int) -> asyncpg.Pool:
    """A pool whose connections read and write timestamps in UTC."""
    pool = await asyncpg.create_pool(
        asyncpg_dsn(url),
        min_size=1,
        max_size=size,
        server_settings={"timezone": "UTC", "application_name": "mediabot"},
        command_timeout=30,
        reset=_keep_session,
    )
    assert pool is not None
    return pool
