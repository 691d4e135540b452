"""Migrations of the jobs schema (Alembic)."""

#: The Postgres schema these migrations own.
SCHEMA = "jobs"
