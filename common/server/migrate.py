"""Alembic, driven from code: one migration history and schema per service.

A service's migrations are a package (`<service>/migrations`) that declares the
schema it owns as `SCHEMA`; which services a deployment migrates, and in which
order, is the caller's list.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Sequence
from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import pool, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from common.server.db import sqlalchemy_url


def alembic_config(database_url: str, migrations: str) -> Config:
    """Alembic settings of the migrations package `migrations` (e.g. "billing_svc.migrations")."""
    package = importlib.import_module(migrations)
    config = Config()
    config.set_main_option("script_location", str(Path(package.__file__ or "").parent))
    config.set_main_option("sqlalchemy.url", sqlalchemy_url(database_url))
    config.set_main_option("schema", package.SCHEMA)
    return config


def upgrade(database_url: str, migrations: Sequence[str]) -> None:
    """Apply every pending migration of each package in `migrations`, in order (blocking)."""
    for package in migrations:
        command.upgrade(alembic_config(database_url, package), "head")


def run_env() -> None:
    """Body of each service's `env.py`: migrate its schema online."""
    config = context.config
    schema = config.get_main_option("schema")
    assert schema

    def run(connection: Connection) -> None:
        connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        context.configure(
            connection=connection, version_table_schema=schema, transaction_per_migration=True
        )
        with context.begin_transaction():
            context.run_migrations()

    async def main() -> None:
        engine = create_async_engine(
            config.get_main_option("sqlalchemy.url", ""), poolclass=pool.NullPool
        )
        async with engine.begin() as connection:
            await connection.run_sync(run)
        await engine.dispose()

    asyncio.run(main())


def execute_script(sql: str) -> None:
    """Run a migration's SQL one statement at a time (asyncpg prepares each)."""
    from alembic import op

    for statement in sql.split(";\n"):
        if statement.strip():
            op.execute(statement)
