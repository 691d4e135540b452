"""Upgrading a billing database that holds money: nothing is paid twice."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from alembic import command

from common.server.migrate import alembic_config
from tests.support.ids import tg
from tests.support.migrations import database_at

OWNER = tg(77)


@pytest.fixture
async def previous_release(database_url: str) -> AsyncIterator[str]:
    """A database of its own at the first billing revision."""
    async with database_at(database_url, "upgrade", "billing_svc.migrations", "0001") as url:
        yield url


async def test_allowances_paid_before_the_upgrade_are_not_paid_again(previous_release, base_env):
    from billing_svc.payments import Payments
    from billing_svc.settings import BillingSettings
    from tests.support.settings import make_settings

    conn = await asyncpg.connect(previous_release)
    try:
        # An annual subscriber 65 days in: the previous release's sweeper paid the
        # windows that began on days 30 and 60, keyed by account and window start.
        now = datetime.now(UTC)
        bought = now - timedelta(days=65)
        windows = [bought + timedelta(days=30 * n) for n in (1, 2)]
        await conn.execute(
            "INSERT INTO billing.accounts (telegram_id, referral_code, balance, pro_until, "
            "subscription_product_id, allowance_period_start) VALUES ($1, 'r77', 900, $2, "
            "'sub_annual', $3)",
            OWNER, bought + timedelta(days=365), windows[-1],
        )  # fmt: skip
        await conn.execute(
            "INSERT INTO billing.payments (charge_id, telegram_id, product_id, amount, "
            "credits_granted) VALUES ('year-1', $1, 'sub_annual', 1000, 300)",
            OWNER,
        )
        await conn.execute(
            "INSERT INTO billing.subscription_periods (telegram_id, product_id, charge_id, "
            "starts_at, ends_at) VALUES ($1, 'sub_annual', 'year-1', $2, $3)",
            OWNER, bought, bought + timedelta(days=365),
        )  # fmt: skip
        entries = [(300, "payment:year-1", bought)] + [
            (300, f"allowance:{OWNER}:{start.isoformat()}", start) for start in windows
        ]
        balance = 0
        for amount, key, at in entries:
            balance += amount
            await conn.execute(
                "INSERT INTO billing.ledger (telegram_id, amount, kind, balance_after, "
                "idempotency_key, created_at) VALUES ($1, $2, 'subscription', $3, $4, $5)",
                OWNER, amount, balance, key, at,
            )  # fmt: skip
        # Another subscriber refunded a year (its period row stays) and bought a new
        # one 100 days ago: the old windows fall in both periods, and belong to the new.
        await _annual(conn, OWNER + 1, "refunded", now - timedelta(days=200), refunded=True)
        renewed = now - timedelta(days=100)
        await _annual(conn, OWNER + 1, "year-2", renewed)
        for n in (1, 2, 3):
            start = renewed + timedelta(days=30 * n)
            await conn.execute(
                "INSERT INTO billing.ledger (telegram_id, amount, kind, balance_after, "
                "idempotency_key) VALUES ($1, 300, 'subscription', 300, $2)",
                OWNER + 1, f"allowance:{OWNER + 1}:{start.isoformat()}",
            )  # fmt: skip
    finally:
        await conn.close()

    config = alembic_config(previous_release, "billing_svc.migrations")
    await asyncio.to_thread(command.upgrade, config, "head")

    pool = await asyncpg.create_pool(previous_release, min_size=1, max_size=2)
    try:
        keys = await pool.fetch(
            "SELECT idempotency_key FROM billing.ledger WHERE idempotency_key LIKE 'allowance:%' "
            "ORDER BY id"
        )
        assert [k[0] for k in keys] == ["allowance:year-1:1", "allowance:year-1:2"] + [
            f"allowance:year-2:{n}" for n in (1, 2, 3)
        ]
        payments = Payments(pool, make_settings(BillingSettings, base_env))
        assert await payments.grant_allowances() == 0  # the windows of days 90, 120 not begun
        assert (
            await pool.fetchval(
                "SELECT balance FROM billing.accounts WHERE telegram_id = $1", OWNER
            )
            == 900
        )
        # The previous release's sweeper, still running somewhere, finds nothing due.
        assert (
            await pool.fetchval(
                "SELECT count(*) FROM billing.accounts WHERE allowance_period_start + "
                "interval '30 days' <= now()"
            )
            == 0
        )
    finally:
        await pool.close()


async def _annual(
    conn: asyncpg.Connection, owner: int, charge: str, bought: datetime, refunded: bool = False
) -> None:
    """An annual purchase as the previous release stored it."""
    await conn.execute(
        "INSERT INTO billing.accounts (telegram_id, referral_code, balance) "
        "VALUES ($1, $2, 900) ON CONFLICT DO NOTHING",
        owner, f"r{owner}",
    )  # fmt: skip
    await conn.execute(
        "INSERT INTO billing.payments (charge_id, telegram_id, product_id, amount, "
        "credits_granted, refunded_at) VALUES ($1, $2, 'sub_annual', 1000, 300, $3)",
        charge, owner, bought + timedelta(days=1) if refunded else None,
    )  # fmt: skip
    await conn.execute(
        "INSERT INTO billing.subscription_periods (telegram_id, product_id, charge_id, "
        "starts_at, ends_at) VALUES ($1, 'sub_annual', $2, $3, $4)",
        owner, charge, bought, bought + timedelta(days=365),
    )  # fmt: skip
