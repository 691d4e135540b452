"""Read-only views for admins: totals, payments and the audit log."""

from __future__ import annotations

import asyncpg

from common import validate


class Reports:
    """Queries behind GetStats, ListPayments and ListAuditLog."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def stats(self) -> asyncpg.Record:
        async with self._pool.acquire() as conn:
            return await conn.fetchrow(
                """
                SELECT
                  (SELECT count(*) FROM billing.accounts) AS users_total,
                  (SELECT count(*) FROM billing.accounts
                     WHERE created_at > now() - interval '24 hours') AS users_new_24h,
                  (SELECT count(*) FROM billing.accounts WHERE banned) AS users_banned,
                  (SELECT count(*) FROM billing.accounts WHERE pro_until > now()) AS pro_users,
                  (SELECT count(*) FROM billing.payments WHERE refunded_at IS NULL)
                    AS payments_total,
                  (SELECT coalesce(sum(amount), 0)::bigint FROM billing.payments
                     WHERE refunded_at IS NULL) AS stars_revenue,
                  (SELECT coalesce(sum(balance), 0)::bigint FROM billing.accounts)
                    AS credits_outstanding,
                  (SELECT coalesce(sum(amount), 0)::bigint FROM billing.reservations
                     WHERE status = 'held') AS credits_held,
                  (SELECT count(DISTINCT telegram_id) FROM billing.payments
                     WHERE refunded_at IS NULL) AS paying_users
                """
            )

    async def payments(
        self, telegram_id: int, size: int, before: int | None
    ) -> list[asyncpg.Record]:
        if telegram_id:
            validate.telegram_id(telegram_id)
        async with self._pool.acquire() as conn:
            return await conn.fetch(
                "SELECT * FROM billing.payments WHERE ($1::bigint = 0 OR telegram_id = $1) "
                "AND ($2::bigint IS NULL OR seq < $2) ORDER BY seq DESC LIMIT $3",
                telegram_id,
                before,
                size,
            )

    async def audit_log(
        self, telegram_id: int, size: int, before: int | None
    ) -> list[asyncpg.Record]:
        if telegram_id:
            validate.telegram_id(telegram_id)
        async with self._pool.acquire() as conn:
            return await conn.fetch(
                "SELECT id, actor, action, coalesce(telegram_id, 0) AS telegram_id, "
                "details::text AS details, created_at FROM billing.audit_log "
                "WHERE ($1::bigint = 0 OR telegram_id = $1) AND ($2::bigint IS NULL OR id < $2) "
                "ORDER BY id DESC LIMIT $3",
                telegram_id,
                before,
                size,
            )
