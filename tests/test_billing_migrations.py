"""Upgrading a billing database that holds money: nothing is paid twice."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from alembic import command

from common.migrate import alembic_config

OWNER = 77


@pytest.fixture
async def previous_release(database_url: str) -> AsyncIterator[str]:
    """A database of its own at the first billing revision."""
    base, _, name = database_url.rpartition("/")
    url = f"{base}/{name}_upgrade"
    admin = await asyncpg.connect(database_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}_upgrade"')
        await admin.execute(f'CREATE DATABASE "{name}_upgrade"')
        await asyncio.to_thread(command.upgrade, alembic_config(url, "billing_svc"), "0001")
        yield url
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}_upgrade" WITH (FORCE)')
        await admin.close()


async def test_allowances_paid_before_the_upgrade_are_not_paid_again(previous_release, base_env):
    from billing_svc.payments import Payments
    from billing_svc.settings import BillingSettings
    from tests.conftest import make_settings

    conn = await asyncpg.connect(previous_release)
    try:
        # An annual subscriber 65 days in: the previous release's sweeper paid the
        # windows that began on days 30 and 60, keyed by account and window start.
        bought = datetime.now(UTC) - timedelta(days=65)
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
    finally:
        await conn.close()

    config = alembic_config(previous_release, "billing_svc")
    await asyncio.to_thread(command.upgrade, config, "head")

    pool = await asyncpg.create_pool(previous_release, min_size=1, max_size=2)
    try:
        keys = await pool.fetch(
            "SELECT idempotency_key FROM billing.ledger WHERE idempotency_key LIKE 'allowance:%' "
            "ORDER BY id"
        )
        assert [k[0] for k in keys] == ["allowance:year-1:1", "allowance:year-1:2"]
        payments = Payments(pool, make_settings(BillingSettings, base_env))
        assert await payments.grant_allowances() == 0  # the window of day 90 has not begun
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
