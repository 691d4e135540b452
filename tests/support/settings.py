"""Credentials and settings of the services under test (importable by any test)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import TypeVar

SERVICE_TOKEN = "test-service-token-0123456789"
ADMIN_TOKEN = "test-admin-token-0123456789"
INVOICE_SECRET = "test-invoice-secret-0123456789"
ROOT = Path(__file__).resolve().parent.parent.parent
T = TypeVar("T")


def make_settings(cls: type[T], env: dict[str, str], **overrides: object) -> T:
    """Settings of `cls` from `env` plus overrides, ignoring the process environment."""
    return cls(**{**env, **overrides})


def new_key() -> str:
    return uuid.uuid4().hex
