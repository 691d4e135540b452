"""The writes every money path shares: a ledger entry with its audit record, and
audit records of the actions around them."""

from __future__ import annotations

import json
from typing import Any

import asyncpg

from common.errors import InsufficientCredits, UserNotFound

#: The actor of what billing does on its own: sweeps, allowances, referral rewards.
SYSTEM = "system"

#: One statement (one round trip): the balance, its ledger entry and the audit
#: record of the movement (action `credits:<kind>`) change together or not at all.
_APPLY_ENTRY = """
WITH account AS (
    UPDATE billing.accounts SET balance = balance + $2, updated_at = now()
    WHERE telegram_id = $1 AND balance + $2 >= 0
    RETURNING balance
), entry AS (
    INSERT INTO billing.ledger (telegram_id, amount, kind, reference, balance_after,
                                idempotency_key, note)
    SELECT $1, $2, $3, $4, account.balance, $5, $7 FROM account
    RETURNING id, balance_after
), logged AS (
    INSERT INTO billing.audit_log (actor, action, telegram_id, details)
    SELECT $6, 'credits:' || $3, $1, jsonb_build_object(
        'entry', entry.id, 'amount', $2::bigint, 'balance_after', entry.balance_after,
        'reference', $4::text, 'note', $7::text)
    FROM entry
)
SELECT balance_after FROM entry
"""


async def apply_entry(
    conn: asyncpg.Connection,
    telegram_id: int,
    amount: int,
    kind: str,
    reference: str,
    key: str,
    actor: str,
    *,
    note: str = "",
) -> int:
    """Move `amount` credits on an account and record it in the ledger and the
    audit log (as done by `actor`); returns the new balance.

    `reference` is the id of what the entry belongs to (a reservation id, a
    payment's charge id, a grant's key, ...), `note` its free text (a reason).

    Must run inside the caller's transaction. The ledger's unique key makes a
    second write of the same movement fail instead of counting twice.
    """
    balance: int | None = await conn.fetchval(
        _APPLY_ENTRY, telegram_id, amount, kind, reference, key, actor, note
    )
    if balance is None:
        held = await conn.fetchval(
            "SELECT balance FROM billing.accounts WHERE telegram_id = $1", telegram_id
        )
        if held is None:
            raise UserNotFound(f"user {telegram_id} not found", telegram_id=telegram_id)
        raise InsufficientCredits(
            f"not enough credits: {held} left, {-amount} needed", balance=held, required=-amount
        )
    return balance


async def audit(
    conn: asyncpg.Connection,
    actor: str,
    action: str,
    telegram_id: int | None,
    **details: Any,
) -> None:
    """Append to the audit log (inside the caller's transaction)."""
    await conn.execute(
        "INSERT INTO billing.audit_log (actor, action, telegram_id, details) "
        "VALUES ($1, $2, $3, $4::jsonb)",
        actor,
        action,
        telegram_id,
        json.dumps(details, default=str),
    )
