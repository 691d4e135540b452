"""Stars payments: the catalogue, signed invoices, checkout, crediting, refunds,
subscriptions and referral rewards."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

import asyncpg

from billing_svc.settings import BillingSettings
from billing_svc.store import SYSTEM, apply_entry, audit
from common import validate
from common.errors import (
    AccountBlocked,
    ChargeForeign,
    InvalidArgument,
    InvoiceForeign,
    InvoiceInvalid,
    PaymentNotFound,
    PriceChanged,
    ProductNotFound,
    ProductWithdrawn,
    RefundCreditsSpent,
    UserNotFound,
    WrongCurrency,
    WrongPrice,
)

log = logging.getLogger(__name__)

CURRENCY = "XTR"
#: Telegram's only subscription period, in seconds (30 days).
SUBSCRIPTION_PERIOD = 30 * 24 * 3600
ALLOWANCE_PERIOD = timedelta(days=30)
#: How far from now a subscription_expiration_date may be (about 10 years).
MAX_EXPIRATION_DISTANCE = 3653 * 24 * 3600
#: A monthly period ends at Telegram's expiration date, at most this many days
#: after its 30 (renewals arrive a little early; clocks differ).
MONTHLY_SLACK_DAYS = 3


class ProductKind(StrEnum):
    """What a product is."""

    PACK = "pack"  #: a one-off purchase of credits
    MONTHLY = "monthly"  #: a Telegram 30-day Stars subscription
    ANNUAL = "annual"  #: a one-off 365-day PRO period


@dataclass(frozen=True)
class Product:
    """Something on sale, priced in Stars."""

    id: str
    kind: ProductKind
    title: str
    description: str
    price_stars: int
    credits: int
    period_days: int = 0


def catalogue(settings: BillingSettings) -> dict[str, Product]:
    """Every product on sale, from the PACK_* and SUB_* settings."""
    allowance = settings.SUB_MONTHLY_CREDITS
    products = [
        Product("pack_starter", ProductKind.PACK, "Starter pack",
                f"{settings.PACK_STARTER_CREDITS} credits for images, edits and videos",
                settings.PACK_STARTER_STARS, settings.PACK_STARTER_CREDITS),
        Product("pack_pro", ProductKind.PACK, "Pro pack",
                f"{settings.PACK_PRO_CREDITS} credits for images, edits and videos",
                settings.PACK_PRO_STARS, settings.PACK_PRO_CREDITS),
        Product("sub_monthly", ProductKind.MONTHLY, "PRO monthly",
                f"PRO for 30 days, renewed monthly: {allowance} credits a month, "
                "priority queue, more jobs at once",
                settings.SUB_MONTHLY_STARS, allowance, 30),
        Product("sub_annual", ProductKind.ANNUAL, "PRO annual",
                f"PRO for 365 days: {allowance} credits every 30 days, "
                "priority queue, more jobs at once",
                settings.SUB_ANNUAL_STARS, allowance, 365),
    ]  # fmt: skip
    return {p.id: p for p in products}


class InvoiceSigner:
    """Makes and checks invoice payloads `<user>:<product>:<stars>:<mac>`."""

    def __init__(self, secret: str) -> None:
        self._secret = secret.encode()

    def _mac(self, body: str) -> str:
        digest = hmac.new(self._secret, body.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest[:16]).decode().rstrip("=")

    def sign(self, telegram_id: int, product_id: str, stars: int) -> str:
        body = f"{telegram_id}:{product_id}:{stars}"
        return f"{body}:{self._mac(body)}"

    def verify(self, payload: str) -> tuple[int, str, int]:
        """The (user, product, stars) a genuine payload binds, else FailedPrecondition."""
        parts = payload.split(":")
        if len(payload) > 128 or len(parts) != 4 or not parts[0].isdigit():
            raise InvalidArgument("invoice payload is not one of ours", field="invoice_payload")
        body, mac = payload.rpartition(":")[::2]
        if not hmac.compare_digest(mac, self._mac(body)) or not parts[2].isdigit():
            raise InvoiceInvalid("invoice payload is not genuine")
        return int(parts[0]), parts[1], int(parts[2])


class Payments:
    """The payment flow against billing.payments and the accounts."""

    def __init__(self, pool: asyncpg.Pool, settings: BillingSettings) -> None:
        self._pool = pool
        self.products = catalogue(settings)
        self._signer = InvoiceSigner(settings.INVOICE_SECRET.get_secret_value())
        self._referral_reward = settings.REFERRAL_REWARD

    def product(self, product_id: str) -> Product:
        product = self.products.get(product_id)
        if product is None:
            raise ProductNotFound(
                f"product {product_id[:64]!r} is not on sale", product_id=product_id[:64]
            )
        return product

    async def invoice(self, telegram_id: int, product_id: str) -> tuple[Product, str]:
        """The product and the signed payload of an invoice for this user."""
        validate.telegram_id(telegram_id)
        product = self.product(product_id)
        await self._buyer(telegram_id)
        return product, self._signer.sign(telegram_id, product.id, product.price_stars)

    async def _buyer(self, telegram_id: int) -> None:
        async with self._pool.acquire() as conn:
            banned = await conn.fetchval(
                "SELECT banned FROM billing.accounts WHERE telegram_id = $1", telegram_id
            )
        if banned is None:
            raise UserNotFound(f"user {telegram_id} not found", telegram_id=telegram_id)
        if banned:
            raise AccountBlocked("this account is blocked and cannot make purchases")

    def _check_order(self, telegram_id: int, payload: str, currency: str, total: int) -> Product:
        validate.telegram_id(telegram_id)
        owner, product_id, stars = self._signer.verify(payload)
        if owner != telegram_id:
            raise InvoiceForeign("this invoice was issued to another user")
        if currency != CURRENCY:
            raise WrongCurrency(
                f"payments are accepted in Telegram Stars ({CURRENCY}) only", currency=CURRENCY
            )
        product = self.products.get(product_id)
        if product is None:
            raise ProductWithdrawn("this product is no longer on sale")
        if total != stars:
            raise WrongPrice(f"the price is {stars} Stars, not {total}", price=stars, paid=total)
        return product

    async def pre_checkout(
        self, telegram_id: int, payload: str, currency: str, total: int
    ) -> Product:
        """Accept a checkout only for a genuine, current order of a user who may buy."""
        product = self._check_order(telegram_id, payload, currency, total)
        if total != product.price_stars:
            raise PriceChanged("the price has changed; please open a new invoice")
        await self._buyer(telegram_id)
        return product

    async def complete(
        self,
        telegram_id: int,
        payload: str,
        currency: str,
        total: int,
        charge_id: str,
        provider_charge_id: str,
        subscription_expiration: int,
        is_recurring: bool,
        actor: str,
    ) -> tuple[asyncpg.Record, int, bool]:
        """Record a successful payment and credit it once per charge id.

        Returns the payment, the payer's balance and whether it was recorded before.
        """
        charge_id = validate.text(charge_id, "telegram_payment_charge_id", max_len=256,
                                  required=True, single_line=True)  # fmt: skip
        provider_charge_id = validate.text(provider_charge_id, "provider_payment_charge_id",
                                           max_len=256, single_line=True)  # fmt: skip
        expiration = _expiration(subscription_expiration)
        product = self._check_order(telegram_id, payload, currency, total)
        async with self._pool.acquire() as conn, conn.transaction():
            payment = await conn.fetchrow(
                "INSERT INTO billing.payments (charge_id, telegram_id, product_id, amount, "
                "credits_granted, provider_charge_id, is_recurring) "
                "VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (charge_id) DO NOTHING "
                "RETURNING *",
                charge_id, telegram_id, product.id, total, product.credits,
                provider_charge_id, is_recurring or product.kind is ProductKind.MONTHLY,
            )  # fmt: skip
            if payment is None:
                return await self._replayed(conn, charge_id, telegram_id)
            kind = "purchase" if product.kind is ProductKind.PACK else "subscription"
            balance = await apply_entry(
                conn, telegram_id, product.credits, kind, charge_id, f"payment:{charge_id}", actor
            )
            if product.kind is not ProductKind.PACK:
                await self._extend_subscription(conn, telegram_id, product, charge_id,
                                                expiration)  # fmt: skip
            await audit(conn, "telegram", "payment", telegram_id, charge_id=charge_id,
                        product_id=product.id, stars=total, credits=product.credits)  # fmt: skip
            await self._reward_referrer(conn, telegram_id, charge_id)
            return payment, balance, False

    @staticmethod
    async def _replayed(
        conn: asyncpg.Connection, charge_id: str, telegram_id: int
    ) -> tuple[asyncpg.Record, int, bool]:
        payment = await conn.fetchrow(
            "SELECT * FROM billing.payments WHERE charge_id = $1", charge_id
        )
        if payment["telegram_id"] != telegram_id:
            raise ChargeForeign("this charge id belongs to another user's payment")
        balance = await conn.fetchval(
            "SELECT balance FROM billing.accounts WHERE telegram_id = $1", telegram_id
        )
        return payment, int(balance), True

    @staticmethod
    async def _extend_subscription(
        conn: asyncpg.Connection,
        telegram_id: int,
        product: Product,
        charge_id: str,
        expiration: datetime | None,
    ) -> None:
        """Add the paid period after those already paid for: PRO lasts until its end.

        The periods are the record of what was bought; allowances follow them
        (see grant_allowances), so a month bought during a year, or a monthly
        renewal, leaves the annual period and its allowances as they are.
        """
        pro_until = await conn.fetchval(
            "SELECT pro_until FROM billing.accounts WHERE telegram_id = $1 FOR UPDATE",
            telegram_id,
        )
        now = datetime.now(UTC)
        starts = max(now, pro_until) if pro_until else now
        if product.kind is ProductKind.MONTHLY and expiration is not None:
            # Telegram's own period end, but one payment never buys much more than
            # its period, whatever the date says.
            ends = min(
                expiration, starts + timedelta(days=product.period_days + MONTHLY_SLACK_DAYS)
            )
        else:
            ends = starts + timedelta(days=product.period_days)
        if ends <= starts:
            ends = starts + timedelta(days=product.period_days)
        await conn.execute(
            "INSERT INTO billing.subscription_periods "
            "(telegram_id, product_id, charge_id, starts_at, ends_at) VALUES ($1, $2, $3, $4, $5)",
            telegram_id, product.id, charge_id, starts, ends,
        )  # fmt: skip
        await conn.execute(
            "UPDATE billing.accounts SET pro_until = $2, updated_at = now() WHERE telegram_id = $1",
            telegram_id, ends,
        )  # fmt: skip

    async def _reward_referrer(
        self, conn: asyncpg.Connection, telegram_id: int, charge_id: str
    ) -> None:
        """Pay the referrer of this user, on the first payment made while a reward is set.

        The reward entry is written in the payment's transaction, so it carries the
        payment's created_at: that is how a refund finds the payment that paid it.
        """
        if not self._referral_reward:
            return
        referrer = await conn.fetchval(
            "UPDATE billing.referrals SET rewarded_at = now() "
            "WHERE referred_id = $1 AND rewarded_at IS NULL RETURNING referrer_id",
            telegram_id,
        )
        if referrer is None:
            return
        await apply_entry(conn, referrer, self._referral_reward, "referral", str(telegram_id),
                          f"referral:{telegram_id}", SYSTEM)  # fmt: skip
        await audit(conn, SYSTEM, "referral_reward", referrer, referred_id=telegram_id,
                    charge_id=charge_id, credits=self._referral_reward)  # fmt: skip

    async def refund(self, charge_id: str, reason: str, actor: str) -> tuple[asyncpg.Record, int]:
        """Take back what a payment granted and mark it refunded, once.

        What it granted is its own credits and, for an annual period, the
        allowances paid for that period so far. Refused when those credits are
        spent. A subscription period loses what is
        left of it (see _drop_period); a referral reward the payment paid is taken
        back (see _take_back_referral). The caller then asks Telegram to return
        the Stars (refundStarPayment).
        """
        charge_id = validate.text(charge_id, "telegram_payment_charge_id", max_len=256,
                                  required=True, single_line=True)  # fmt: skip
        reason = validate.text(reason, "reason", max_len=200)
        async with self._pool.acquire() as conn, conn.transaction():
            payment = await conn.fetchrow(
                "SELECT * FROM billing.payments WHERE charge_id = $1 FOR UPDATE", charge_id
            )
            if payment is None:
                raise PaymentNotFound(
                    f"payment {charge_id[:64]!r} not found", charge_id=charge_id[:64]
                )
            if payment["refunded_at"] is not None:  # a retry: what the refund took back
                debited = await conn.fetchval(
                    "SELECT coalesce(-sum(amount), 0) FROM billing.ledger "
                    "WHERE idempotency_key = $1",
                    f"refund:{charge_id}",
                )
                return payment, int(debited)
            owner = payment["telegram_id"]
            # Lock order of every money path: payment, payer's account, referrer's account.
            balance = await conn.fetchval(
                "SELECT balance FROM billing.accounts WHERE telegram_id = $1 FOR UPDATE", owner
            )
            allowances = await conn.fetchval(
                "SELECT coalesce(sum(amount), 0) FROM billing.ledger WHERE telegram_id = $1 "
                "AND idempotency_key LIKE 'allowance:' || $2 || ':%'",
                owner, _like_literal(charge_id),
            )  # fmt: skip
            credits = payment["credits_granted"] + int(allowances)
            if credits:
                if balance < credits:
                    raise RefundCreditsSpent(
                        f"the {credits} credits of this payment are partly spent "
                        f"(balance {balance}); refund refused",
                        credits=credits,
                        balance=balance,
                    )
                await apply_entry(conn, owner, -credits, "refund", charge_id,
                                  f"refund:{charge_id}", actor, note=reason)  # fmt: skip
            await self._drop_period(conn, owner, charge_id)
            await self._take_back_referral(conn, payment, actor)
            refunded = await conn.fetchrow(
                "UPDATE billing.payments SET refunded_at = now(), refund_reason = $2 "
                "WHERE charge_id = $1 RETURNING *",
                charge_id,
                reason,
            )
            await audit(conn, actor, "refund", owner, charge_id=charge_id,
                        stars=payment["amount"], credits=credits, reason=reason)  # fmt: skip
            return refunded, credits

    @staticmethod
    async def _drop_period(conn: asyncpg.Connection, owner: int, charge_id: str) -> None:
        """Remove what is still to come of a refunded payment's subscription period.

        That is nothing for a period that has ended, the rest of it for the one
        running now, and all of it for one that has not begun. PRO ends that much
        sooner and the periods paid after it move that much earlier, so they stay
        back to back and their allowances fall due on their new dates. The caller
        holds the payer's account lock.
        """
        period = await conn.fetchrow(
            "SELECT starts_at, ends_at, GREATEST(interval '0', ends_at - GREATEST(starts_at, "
            "now())) AS removed FROM billing.subscription_periods WHERE charge_id = $1",
            charge_id,
        )
        if period is None or period["removed"] <= timedelta(0):
            return
        await conn.execute(
            "UPDATE billing.accounts SET pro_until = LEAST(pro_until, GREATEST(now(), "
            "pro_until - $2::interval)), updated_at = now() "
            "WHERE telegram_id = $1 AND pro_until IS NOT NULL",
            owner, period["removed"],
        )  # fmt: skip
        await conn.execute(
            "UPDATE billing.subscription_periods p SET starts_at = p.starts_at - $3::interval, "
            "ends_at = p.ends_at - $3::interval FROM billing.payments pay "
            "WHERE pay.charge_id = p.charge_id AND pay.refunded_at IS NULL "
            "AND p.telegram_id = $1 AND p.starts_at >= $2 AND p.charge_id <> $4",
            owner, period["ends_at"], period["removed"], charge_id,
        )  # fmt: skip

    @staticmethod
    async def _take_back_referral(
        conn: asyncpg.Connection, payment: asyncpg.Record, actor: str
    ) -> None:
        """Take back the referral reward a refunded payment paid, if it paid one.

        The rule: the reward belongs to the payment completed in the same
        transaction (same created_at as the reward's ledger entry). The referrer
        gives back the reward, but at most the credits they hold now: a balance
        never goes below 0, and what they already spent stays spent. What is taken
        is a negative ledger entry of kind 'referral' (reference: the referred
        user, as the reward's) under the key `referral:<referred>:refund`, so it is
        written once; the audit action `referral_reward_reversed` records the reward
        and the credits taken (0 when the referrer holds none). A later payment of
        the same user does not earn the reward again: it is once per referred user.
        """
        referred = payment["telegram_id"]
        reward = await conn.fetchrow(
            "SELECT telegram_id, amount FROM billing.ledger "
            "WHERE idempotency_key = $1 AND created_at = $2",
            f"referral:{referred}", payment["created_at"],
        )  # fmt: skip
        if reward is None:
            return
        referrer, amount = reward["telegram_id"], reward["amount"]
        held = await conn.fetchval(
            "SELECT balance FROM billing.accounts WHERE telegram_id = $1 FOR UPDATE", referrer
        )
        taken = min(amount, held)
        if taken > 0:
            await apply_entry(conn, referrer, -taken, "referral", str(referred),
                              f"referral:{referred}:refund", actor)  # fmt: skip
        await audit(conn, actor, "referral_reward_reversed", referrer, referred_id=referred,
                    charge_id=payment["charge_id"], reward=amount, credits=taken)  # fmt: skip

    async def grant_allowances(self) -> int:
        """Give every annual period its allowance once for each full 30-day window.

        A period [starts, ends) holds floor((ends - starts) / 30 days) full windows:
        12 in 365 days. Its purchase paid the first; this grants window n (n >= 1)
        once it has begun, while the period runs and is not refunded, under the
        ledger key `allowance:<charge id>:<n>`. Each period counts on its own, so
        months bought during a year leave the year's allowances alone. A monthly
        period is one window, paid by its own (renewal) payment.
        """
        annual = [p.id for p in self.products.values() if p.kind is ProductKind.ANNUAL]
        granted = 0
        async with self._pool.acquire() as conn:
            # Most sweeps find nothing: say so from one table before joining three.
            if not await conn.fetchval(
                "SELECT 1 FROM billing.subscription_periods WHERE product_id = ANY($1::text[]) "
                "AND ends_at > now() AND starts_at + $2::interval <= now() LIMIT 1",
                annual, ALLOWANCE_PERIOD,
            ):  # fmt: skip
                return 0
            due = await conn.fetch(
                "SELECT p.telegram_id, p.charge_id, p.product_id, w.n "
                "FROM billing.subscription_periods p "
                "JOIN billing.payments pay ON pay.charge_id = p.charge_id "
                "CROSS JOIN LATERAL generate_series(1, floor(extract(epoch FROM "
                "p.ends_at - p.starts_at) / $2)::int - 1) AS w(n) "
                "WHERE p.product_id = ANY($1::text[]) AND pay.refunded_at IS NULL "
                "AND p.ends_at > now() AND p.starts_at + w.n * $3::interval <= now() "
                "AND NOT EXISTS (SELECT 1 FROM billing.ledger l WHERE l.idempotency_key = "
                "'allowance:' || p.charge_id || ':' || w.n) "
                "ORDER BY p.starts_at, w.n",
                annual, ALLOWANCE_PERIOD.total_seconds(), ALLOWANCE_PERIOD,
            )  # fmt: skip
            for row in due:
                allowance = self.products[row["product_id"]].credits
                if not allowance:
                    continue
                try:
                    async with conn.transaction():
                        # A refund locks the payment first: wait for it, then re-check.
                        still_due = await conn.fetchval(
                            "SELECT 1 FROM billing.payments pay "
                            "JOIN billing.subscription_periods p ON p.charge_id = pay.charge_id "
                            "WHERE pay.charge_id = $1 AND pay.refunded_at IS NULL "
                            "AND p.ends_at > now() AND p.starts_at + $2 * $3::interval <= now() "
                            "FOR SHARE OF pay",
                            row["charge_id"], row["n"], ALLOWANCE_PERIOD,
                        )  # fmt: skip
                        if not still_due:
                            continue
                        key = f"allowance:{row['charge_id']}:{row['n']}"
                        await apply_entry(conn, row["telegram_id"], allowance, "subscription",
                                          row["charge_id"], key, SYSTEM,
                                          note="allowance")  # fmt: skip
                except asyncpg.UniqueViolationError:
                    continue  # another sweeper granted this window a moment ago
                granted += 1
        return granted


def _like_literal(text: str) -> str:
    """`text` matched literally inside a LIKE pattern."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _expiration(value: int) -> datetime | None:
    """subscription_expiration_date as a time: None for 0, else within ~10 years of now."""
    if value == 0:
        return None
    now = int(time.time())
    if not now - MAX_EXPIRATION_DISTANCE <= value <= now + MAX_EXPIRATION_DISTANCE:
        raise InvalidArgument(
            "subscription_expiration_date must be 0 or a Unix time within 10 years of now",
            field="subscription_expiration_date",
        )
    return datetime.fromtimestamp(value, UTC)
