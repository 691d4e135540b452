"""Alembic entry point of the billing schema."""

from common.migrate import run_env

run_env()
