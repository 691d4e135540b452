"""Migrations of the billing schema (Alembic)."""

#: The Postgres schema these migrations own.
SCHEMA = "billing"
