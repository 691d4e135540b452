"""Alembic entry point of the jobs schema."""

from common.migrate import run_env

run_env()
