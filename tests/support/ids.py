"""Telegram ids as the suite uses them: real ones no longer fit in 32 bits (they
take up to 52), so every test user's id is above 2³² and any int4 left in a
query or a message fails the suite."""

from __future__ import annotations

#: Every test id is this plus a small number the test chooses.
BASE = 7_000_000_000


def tg(n: int) -> int:
    """The realistic Telegram id a test calls user `n`."""
    return BASE + n
