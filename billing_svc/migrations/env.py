"""Alembic entry point of the billing schema."""

from common.server.migrate import run_env

run_env()
