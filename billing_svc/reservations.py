"""Holds on credits for jobs: reserve, capture, release (each exactly once), expiry."""

from __future__ import annotations

import logging
import uuid
from enum import StrEnum

import asyncpg

from billing_svc.store import SYSTEM, apply_entry, audit
from common import validate
from common.errors import (
    AccountBlocked,
    HoldCaptured,
    HoldReleased,
    IdempotencyKeyReused,
    ReservationNotFound,
    UserNotFound,
)

log = logging.getLogger(__name__)

MAX_AMOUNT = 1_000_000
DEFAULT_TTL = 3600
MIN_TTL, MAX_TTL = 60, 7 * 24 * 3600


class HoldStatus(StrEnum):
    """Where a hold (a reservation) is in its life."""

    #: Debited from the balance, waiting for its job to end.
    HELD = "held"
    #: Made final: the job succeeded.
    CAPTURED = "captured"
    #: Given back: the job failed, was cancelled, or the hold expired.
    RELEASED = "released"


COLUMNS = "id, telegram_id, amount, status, idempotency_key, purpose, expires_at, created_at"

_INSERT = f"""
INSERT INTO billing.reservations (id, telegram_id, amount, idempotency_key, purpose, expires_at)
SELECT $1, $2, $3, $4, $5, now() + make_interval(secs => $6)
WHERE NOT EXISTS (SELECT 1 FROM billing.accounts WHERE telegram_id = $2 AND banned)
ON CONFLICT (idempotency_key) DO NOTHING
RETURNING {COLUMNS}, (SELECT coalesce(pro_until > now(), false) FROM billing.accounts
                      WHERE telegram_id = $2) AS pro
"""


#: The hold becomes final and the audit log says so, in one statement.
_CAPTURE = f"""
WITH captured AS (
    UPDATE billing.reservations SET status = 'captured', finished_at = now()
    WHERE id = $1 AND status = 'held' RETURNING {COLUMNS}
), logged AS (
    INSERT INTO billing.audit_log (actor, action, telegram_id, details)
    SELECT $2, 'reservation_captured', telegram_id,
           jsonb_build_object('reservation_id', id, 'amount', amount, 'purpose', purpose)
    FROM captured
)
SELECT * FROM captured
"""


class Reservations:
    """Reads and writes of billing.reservations and the ledger entries they make."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def reserve(
        self, telegram_id: int, amount: int, key: str, purpose: str, ttl_seconds: int, actor: str
    ) -> tuple[asyncpg.Record, int, bool]:
        """Debit `amount` into a hold; the same key returns the first hold.
        A banned user's credits cannot be held. Returns the hold, the balance
        after it and whether the user is PRO."""
        validate.telegram_id(telegram_id)
        validate.int_range(amount, "amount", 1, MAX_AMOUNT)
        validate.key(key)
        purpose = validate.text(purpose, "purpose", max_len=200)
        ttl = validate.int_range(ttl_seconds or DEFAULT_TTL, "ttl_seconds", MIN_TTL, MAX_TTL)
        async with self._pool.acquire() as conn:
            async with conn.transaction():
                try:
                    row = await conn.fetchrow(
                        _INSERT, uuid.uuid4(), telegram_id, amount, key, purpose, float(ttl)
                    )
                except asyncpg.ForeignKeyViolationError:
                    raise UserNotFound(
                        f"user {telegram_id} not found", telegram_id=telegram_id
                    ) from None
                if row is not None:
                    balance = await apply_entry(
                        conn,
                        telegram_id,
                        -amount,
                        "reserve",
                        str(row["id"]),
                        f"reserve:{key}",
                        actor,
                        note=purpose,
                    )
                    return row, balance, row["pro"]
            return await self._replay(conn, telegram_id, amount, key)

    @staticmethod
    async def _replay(
        conn: asyncpg.Connection, telegram_id: int, amount: int, key: str
    ) -> tuple[asyncpg.Record, int, bool]:
        row = await conn.fetchrow(
            f"SELECT {COLUMNS} FROM billing.reservations WHERE idempotency_key = $1", key
        )
        if row is None:  # nothing conflicted: the insert was refused
            raise AccountBlocked("this account is blocked; its credits cannot be spent")
        if (row["telegram_id"], row["amount"]) != (telegram_id, amount):
            raise IdempotencyKeyReused(
                "idempotency_key was already used for a different reservation",
                field="idempotency_key",
            )
        account = await conn.fetchrow(
            "SELECT balance, coalesce(pro_until > now(), false) AS pro FROM billing.accounts "
            "WHERE telegram_id = $1",
            telegram_id,
        )
        return row, int(account["balance"]), account["pro"]

    async def capture(self, reservation_id: str, actor: str) -> asyncpg.Record:
        """Make a hold final; capturing twice is harmless, capturing a released one is refused."""
        rid = validate.uuid_text(reservation_id, "reservation_id")
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(_CAPTURE, rid, actor)
            if row is not None:
                return row
            row = await self._fetch(conn, rid)
            if row["status"] == HoldStatus.RELEASED:
                raise HoldReleased("reservation was already released; it cannot be captured")
            return row

    async def release(
        self, reservation_id: str, reason: str, actor: str
    ) -> tuple[asyncpg.Record, int]:
        """Refund a hold exactly once; releasing a captured one is refused."""
        rid = validate.uuid_text(reservation_id, "reservation_id")
        reason = validate.text(reason, "reason", max_len=200)
        async with self._pool.acquire() as conn:
            async with conn.transaction():
                row = await conn.fetchrow(
                    f"UPDATE billing.reservations SET status = 'released', finished_at = now() "
                    f"WHERE id = $1 AND status = 'held' RETURNING {COLUMNS}",
                    rid,
                )
                if row is not None:
                    balance = await apply_entry(
                        conn,
                        row["telegram_id"],
                        row["amount"],
                        "release",
                        str(rid),
                        f"release:{rid}",
                        actor,
                        note=reason,
                    )
                    return row, balance
            row = await self._fetch(conn, rid)
            if row["status"] == HoldStatus.CAPTURED:
                raise HoldCaptured("reservation was already captured; it cannot be released")
            balance = await conn.fetchval(
                "SELECT balance FROM billing.accounts WHERE telegram_id = $1", row["telegram_id"]
            )
            return row, int(balance)

    async def extend(self, reservation_id: str, ttl_seconds: int) -> asyncpg.Record:
        """Move an open hold's expiry to now + ttl."""
        rid = validate.uuid_text(reservation_id, "reservation_id")
        ttl = validate.int_range(ttl_seconds, "ttl_seconds", MIN_TTL, MAX_TTL)
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(
                f"UPDATE billing.reservations SET expires_at = now() + make_interval(secs => $2) "
                f"WHERE id = $1 AND status = 'held' RETURNING {COLUMNS}",
                rid,
                float(ttl),
            )
            if row is not None:
                return row
            row = await self._fetch(conn, rid)
            settled = HoldCaptured if row["status"] == HoldStatus.CAPTURED else HoldReleased
            raise settled(f"reservation is already {row['status']}; it cannot be extended")

    @staticmethod
    async def _fetch(conn: asyncpg.Connection, rid: uuid.UUID) -> asyncpg.Record:
        row = await conn.fetchrow(f"SELECT {COLUMNS} FROM billing.reservations WHERE id = $1", rid)
        if row is None:
            raise ReservationNotFound(f"reservation {rid} not found", reservation_id=rid)
        return row

    async def sweep_expired(self, batch: int = 100) -> int:
        """Release holds past their expiry; safe to run on several replicas at once."""
        released = 0
        while True:
            async with self._pool.acquire() as conn, conn.transaction():
                rows = await conn.fetch(
                    "UPDATE billing.reservations SET status = 'released', finished_at = now() "
                    "WHERE id IN (SELECT id FROM billing.reservations "
                    "  WHERE status = 'held' AND expires_at < now() "
                    "  ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED) "
                    "RETURNING id, telegram_id, amount",
                    batch,
                )
                # Accounts in one order, so that two sweepers never wait on each other.
                for row in sorted(rows, key=lambda r: (r["telegram_id"], r["id"])):
                    await apply_entry(
                        conn,
                        row["telegram_id"],
                        row["amount"],
                        "release",
                        str(row["id"]),
                        f"release:{row['id']}",
                        SYSTEM,
                        note="expired",
                    )
                    await audit(
                        conn,
                        SYSTEM,
                        "reservation_expired",
                        row["telegram_id"],
                        reservation_id=row["id"],
                        amount=row["amount"],
                    )
            released += len(rows)
            if len(rows) < batch:
                if released:
                    log.info("released expired reservations", extra={"count": released})
                return released
