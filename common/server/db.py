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


def redacted(url: str) -> str:
    """The URL without its password, fit for logs and screens."""
    scheme, sep, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    if not at or ":" not in credentials:
        return url
    return f"{scheme}{sep}{credentials.split(':', 1)[0]}:***@{host}"


async def create_pool(url: str, size: int) -> asyncpg.Pool:
    """A pool whose connections read and write timestamps in UTC.

    A database that cannot be reached at start stops the process with one line.
    """
    try:
        pool = await asyncpg.create_pool(
            asyncpg_dsn(url),
            min_size=1,
            max_size=size,
            server_settings={"timezone": "UTC", "application_name": "mediabot"},
            command_timeout=30,
            reset=_keep_session,
        )
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, ValueError) as exc:
        message = f"startup error: DATABASE_URL: cannot connect to {redacted(url)}: {exc}"
        raise SystemExit(message) from None
    assert pool is not None
    return pool
