"""Alembic, driven from code: one migration history and schema per service."""

from __future__ import annotations

import asyncio
import importlib
from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import pool, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from common.db import sqlalchemy_url

#: Services in the order their migrations apply.
SERVICES = ("billing_svc", "job_svc")


def alembic_config(database_url: str, service: str) -> Config:
    """Alembic settings for `service` (its migrations live in `<service>/migrations`)."""
    config = Config()
    package = importlib.import_module(service)
    config.set_main_option(
        "script_location", str(Path(package.__file__ or "").parent / "migrations")
    )
    config.set_main_option("sqlalchemy.url", sqlalchemy_url(database_url))
    config.set_main_option("schema", service.removesuffix("_svc").replace("job", "jobs"))
    return config


def upgrade(database_url: str, services: tuple[str, ...] = SERVICES) -> None:
    """Apply every pending migration of `services` (blocking)."""
    for service in services:
        command.upgrade(alembic_config(database_url, service), "head")


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
