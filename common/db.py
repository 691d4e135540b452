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


async def create_pool(url: str, size: int) -> asyncpg.Pool:
    """A pool whose connections read and write timestamps in UTC."""
    pool = await asyncpg.create_pool(
        asyncpg_dsn(url),
        min_size=1,
        max_size=size,
        server_settings={"timezone": "UTC", "application_name": "mediabot"},
        command_timeout=30,
    )
    assert pool is not None
    return pool
