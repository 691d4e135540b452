"""Alembic entry point of the jobs schema."""

from common.server.migrate import run_env

run_env()
