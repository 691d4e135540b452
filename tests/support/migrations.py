"""Databases of their own at an older schema revision, for migration tests."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import asyncpg
from alembic import command

from common.server.migrate import alembic_config


@contextlib.asynccontextmanager
async def database_at(
    database_url: str, suffix: str, migrations: str, revision: str
) -> AsyncIterator[str]:
    """A new database beside `database_url`, migrated by `migrations` up to `revision`;
    dropped on leaving."""
    address, _, query = database_url.partition("?")  # embedded: ?host=<socket folder>
    base, _, name = address.rpartition("/")
    url = f"{base}/{name}_{suffix}" + (f"?{query}" if query else "")
    admin = await asyncpg.connect(database_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}_{suffix}"')
        await admin.execute(f'CREATE DATABASE "{name}_{suffix}"')
        await asyncio.to_thread(command.upgrade, alembic_config(url, migrations), revision)
        yield url
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}_{suffix}" WITH (FORCE)')
        await admin.close()
