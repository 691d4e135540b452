"""Users and their accounts: creation with free credits, settings, bans, grants."""

from __future__ import annotations

import secrets

import asyncpg

from billing_svc.store import apply_entry, audit
from common import validate
from common.errors import Conflict, IdempotencyKeyReused, InvalidArgument, UserNotFound

LANGUAGES = ("en", "ru")

#: subscription_product_id is that of the period running now, else of the last one
#: that ran (refunded ones do not count); periods bought ahead (a month bought
#: during a year) do not change it before they begin.
ACCOUNT_COLUMNS = """
    a.telegram_id, a.username, a.language, a.balance, a.banned, a.referral_code,
    a.referrer_id, a.created_at, a.pro_until,
    coalesce((SELECT p.product_id FROM billing.subscription_periods p
              JOIN billing.payments pay ON pay.charge_id = p.charge_id
              WHERE p.telegram_id = a.telegram_id AND pay.refunded_at IS NULL
                AND p.starts_at <= now()
              ORDER BY p.starts_at DESC LIMIT 1), '') AS subscription_product_id,
    (a.pro_until IS NOT NULL AND a.pro_until > now()) AS is_pro,
    (SELECT count(*) FROM billing.referrals r WHERE r.referrer_id = a.telegram_id)
        AS referral_count,
    coalesce((SELECT pay.charge_id FROM billing.subscription_periods p
              JOIN billing.payments pay ON pay.charge_id = p.charge_id
              WHERE p.telegram_id = a.telegram_id AND pay.refunded_at IS NULL
                AND pay.product_id = 'sub_monthly' AND p.ends_at > now()
              ORDER BY p.starts_at DESC LIMIT 1), '') AS monthly_charge_id
"""


def language_from_code(code: str) -> str:
    """Telegram's language_code to one of ours: Russian speakers get ru."""
    return "ru" if code.lower().startswith(("ru", "uk", "be", "kk")) else "en"


class Accounts:
    """Reads and writes of billing.accounts."""

    def __init__(self, pool: asyncpg.Pool, free_credits: int) -> None:
        self._pool = pool
        self._free_credits = free_credits

    async def ensure(
        self,
        telegram_id: int,
        username: str,
        language_code: str,
        referral_code: str,
        actor: str,
    ) -> tuple[asyncpg.Record, bool]:
        """Create the user once (free credits, referrer), else refresh the username."""
        validate.telegram_id(telegram_id)
        username = validate.text(username, "username", max_len=64, single_line=True).lstrip("@")
        validate.text(language_code, "language_code", max_len=35, single_line=True)
        referral_code = validate.text(referral_code, "referral_code", max_len=64, single_line=True)
        async with self._pool.acquire() as conn, conn.transaction():
            existing = await conn.fetchrow(
                f"UPDATE billing.accounts a SET username = $2, updated_at = now() "
                f"WHERE telegram_id = $1 RETURNING {ACCOUNT_COLUMNS}",
                telegram_id,
                username,
            )
            if existing is not None:
                return existing, False
            referrer = None
            if referral_code:
                referrer = await conn.fetchval(
                    "SELECT telegram_id FROM billing.accounts WHERE referral_code = $1",
                    referral_code,
                )
            inserted = await conn.fetchval(
                "INSERT INTO billing.accounts (telegram_id, username, language, referral_code, "
                "referrer_id) VALUES ($1, $2, $3, $4, $5) "
                "ON CONFLICT (telegram_id) DO NOTHING RETURNING 1",
                telegram_id,
                username,
                language_from_code(language_code),
                secrets.token_urlsafe(6),
                referrer,
            )
            if not inserted:  # created by a concurrent call a moment ago
                return await self._get(conn, telegram_id), False
            if referrer is not None:
                await conn.execute(
                    "INSERT INTO billing.referrals (referred_id, referrer_id) VALUES ($1, $2)",
                    telegram_id,
                    referrer,
                )
            if self._free_credits:
                await apply_entry(
                    conn,
                    telegram_id,
                    self._free_credits,
                    "free",
                    str(telegram_id),
                    f"free:{telegram_id}",
                    actor,
                )
            return await self._get(conn, telegram_id), True

    async def get(self, telegram_id: int) -> asyncpg.Record:
        """One user, or NotFound."""
        validate.telegram_id(telegram_id)
        async with self._pool.acquire() as conn:
            return await self._get(conn, telegram_id)

    @staticmethod
    async def _get(conn: asyncpg.Connection, telegram_id: int) -> asyncpg.Record:
        row = await conn.fetchrow(
            f"SELECT {ACCOUNT_COLUMNS} FROM billing.accounts a WHERE telegram_id = $1",
            telegram_id,
        )
        if row is None:
            raise UserNotFound(f"user {telegram_id} not found", telegram_id=telegram_id)
        return row

    async def update(self, telegram_id: int, language: str) -> asyncpg.Record:
        """Change the interface language (empty keeps it)."""
        validate.telegram_id(telegram_id)
        if language and language not in LANGUAGES:
            raise InvalidArgument(
                f"language must be one of {', '.join(LANGUAGES)}", field="language"
            )
        async with self._pool.acquire() as conn:
            if language:
                await conn.execute(
                    "UPDATE billing.accounts SET language = $2, updated_at = now() "
                    "WHERE telegram_id = $1",
                    telegram_id,
                    language,
                )
            return await self._get(conn, telegram_id)

    async def ledger(
        self, telegram_id: int, size: int, before_id: int | None
    ) -> list[asyncpg.Record]:
        """A page of a user's ledger entries, newest first."""
        validate.telegram_id(telegram_id)
        async with self._pool.acquire() as conn:
            await self._get(conn, telegram_id)
            return await conn.fetch(
                "SELECT id, telegram_id, amount, kind, reference, note, balance_after, created_at "
                "FROM billing.ledger WHERE telegram_id = $1 AND ($2::bigint IS NULL OR id < $2) "
                "ORDER BY id DESC LIMIT $3",
                telegram_id,
                before_id,
                size,
            )

    async def find(self, query: str, size: int, before: int | None) -> list[asyncpg.Record]:
        """Users whose id is `query` or whose username starts with it, newest first."""
        query = validate.text(query, "query", max_len=64, single_line=True).lstrip("@").lower()
        # Telegram ids take up to 52 bits: 16 digits.
        exact_id = int(query) if query.isdigit() and len(query) <= 16 else None
        async with self._pool.acquire() as conn:
            return await conn.fetch(
                f"SELECT {ACCOUNT_COLUMNS} FROM billing.accounts a "
                "WHERE ($1 = '' OR a.telegram_id = $2 OR lower(a.username) LIKE $3 || '%') "
                "AND ($4::bigint IS NULL OR a.telegram_id < $4) "
                "ORDER BY a.telegram_id DESC LIMIT $5",
                query,
                exact_id,
                query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_"),
                before,
                size,
            )

    async def set_banned(
        self, telegram_id: int, banned: bool, reason: str, actor: str
    ) -> asyncpg.Record:
        """Ban or unban a user; recorded in the audit log."""
        validate.telegram_id(telegram_id)
        reason = validate.text(reason, "reason", max_len=200)
        async with self._pool.acquire() as conn, conn.transaction():
            updated = await conn.fetchval(
                "UPDATE billing.accounts SET banned = $2, updated_at = now() "
                "WHERE telegram_id = $1 RETURNING 1",
                telegram_id,
                banned,
            )
            if not updated:
                raise UserNotFound(f"user {telegram_id} not found", telegram_id=telegram_id)
            await audit(conn, actor, "ban" if banned else "unban", telegram_id, reason=reason)
            return await self._get(conn, telegram_id)

    async def grant(self, telegram_id: int, amount: int, reason: str, key: str, actor: str) -> int:
        """Add (or, when negative, remove) credits by hand; idempotent on `key`."""
        validate.telegram_id(telegram_id)
        if amount == 0:
            raise InvalidArgument("amount must not be zero", field="amount")
        validate.int_range(amount, "amount", -1_000_000, 1_000_000)
        reason = validate.text(reason, "reason", max_len=200, required=True)
        key = validate.key(key)
        ledger_key = f"grant:{key}"
        async with self._pool.acquire() as conn:
            for _ in range(2):
                earlier = await conn.fetchrow(
                    "SELECT telegram_id, amount FROM billing.ledger WHERE idempotency_key = $1",
                    ledger_key,
                )
                if earlier is not None:
                    if (earlier["telegram_id"], earlier["amount"]) != (telegram_id, amount):
                        raise IdempotencyKeyReused(
                            "idempotency_key was already used for a different grant",
                            field="idempotency_key",
                        )
                    return int(
                        await conn.fetchval(
                            "SELECT balance FROM billing.accounts WHERE telegram_id = $1",
                            telegram_id,
                        )
                    )
                try:
                    async with conn.transaction():
                        balance = await apply_entry(
                            conn, telegram_id, amount, "grant", key, ledger_key, actor, note=reason
                        )
                        await audit(conn, actor, "grant", telegram_id, amount=amount, reason=reason)
                        return balance
                except asyncpg.UniqueViolationError:
                    continue  # a concurrent call with the same key won; read its result
        raise Conflict("grant could not be applied; try again")
