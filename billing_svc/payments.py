"""Stars payments: the catalogue, signed invoices, checkout, crediting, refunds,
subscriptions and referral rewards."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

import asyncpg

from billing_svc.settings import BillingSettings
from billing_svc.store import apply_entry, audit
from common import validate
from common.errors import FailedPrecondition, InvalidArgument, NotFound

log = logging.getLogger(__name__)

CURRENCY = "XTR"
#: Telegram's only subscription period, in seconds (30 days).
SUBSCRIPTION_PERIOD = 30 * 24 * 3600
ALLOWANCE_PERIOD = timedelta(days=30)


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
            raise InvalidArgument("invoice payload is not one of ours")
        body, mac = payload.rpartition(":")[::2]
        if not hmac.compare_digest(mac, self._mac(body)) or not parts[2].isdigit():
            raise FailedPrecondition("invoice payload is not genuine")
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
            raise NotFound(f"product {product_id[:64]!r} is not on sale")
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
            raise NotFound(f"user {telegram_id} not found")
        if banned:
            raise FailedPrecondition("this account is blocked and cannot make purchases")

    def _check_order(self, telegram_id: int, payload: str, currency: str, total: int) -> Product:
        validate.telegram_id(telegram_id)
        owner, product_id, stars = self._signer.verify(payload)
        if owner != telegram_id:
            raise FailedPrecondition("this invoice was issued to another user")
        if currency != CURRENCY:
            raise FailedPrecondition(f"payments are accepted in Telegram Stars ({CURRENCY}) only")
        product = self.products.get(product_id)
        if product is None:
            raise FailedPrecondition("this product is no longer on sale")
        if total != stars:
            raise FailedPrecondition(f"the price is {stars} Stars, not {total}")
        return product

    async def pre_checkout(
        self, telegram_id: int, payload: str, currency: str, total: int
    ) -> Product:
        """Accept a checkout only for a genuine, current order of a user who may buy."""
        product = self._check_order(telegram_id, payload, currency, total)
        if total != product.price_stars:
            raise FailedPrecondition("the price has changed; please open a new invoice")
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
    ) -> tuple[asyncpg.Record, int, bool]:
        """Record a successful payment and credit it once per charge id.

        Returns the payment, the payer's balance and whether it was recorded before.
        """
        charge_id = validate.text(charge_id, "telegram_payment_charge_id", max_len=256,
                                  required=True)  # fmt: skip
        provider_charge_id = validate.text(provider_charge_id, "provider_payment_charge_id",
                                           max_len=256)  # fmt: skip
        validate.int_range(subscription_expiration, "subscription_expiration_date", 0, 2**40)
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
                conn, telegram_id, product.credits, kind, charge_id, f"payment:{charge_id}"
            )
            if product.kind is not ProductKind.PACK:
                await self._extend_subscription(conn, telegram_id, product, charge_id,
                                                subscription_expiration)  # fmt: skip
            await audit(conn, "telegram", "payment", telegram_id, charge_id=charge_id,
                        product_id=product.id, stars=total, credits=product.credits)  # fmt: skip
            await self._reward_referrer(conn, telegram_id)
            return payment, balance, False

    @staticmethod
    async def _replayed(
        conn: asyncpg.Connection, charge_id: str, telegram_id: int
    ) -> tuple[asyncpg.Record, int, bool]:
        payment = await conn.fetchrow(
            "SELECT * FROM billing.payments WHERE charge_id = $1", charge_id
        )
        if payment["telegram_id"] != telegram_id:
            raise FailedPrecondition("this charge id belongs to another user's payment")
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
        expiration: int,
    ) -> None:
        pro_until = await conn.fetchval(
            "SELECT pro_until FROM billing.accounts WHERE telegram_id = $1 FOR UPDATE",
            telegram_id,
        )
        now = datetime.now(UTC)
        starts = max(now, pro_until) if pro_until else now
        if product.kind is ProductKind.MONTHLY and expiration:
            ends = datetime.fromtimestamp(expiration, UTC)  # Telegram's own period end
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
            "UPDATE billing.accounts SET pro_until = $2, subscription_product_id = $3, "
            "allowance_period_start = now(), updated_at = now() WHERE telegram_id = $1",
            telegram_id, ends, product.id,
        )  # fmt: skip

    async def _reward_referrer(self, conn: asyncpg.Connection, telegram_id: int) -> None:
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
                          f"referral:{telegram_id}")  # fmt: skip
        await audit(conn, "system", "referral_reward", referrer, referred_id=telegram_id,
                    credits=self._referral_reward)  # fmt: skip

    async def refund(self, charge_id: str, reason: str, actor: str) -> tuple[asyncpg.Record, int]:
        """Take back what a payment granted and mark it refunded, once.

        Refused when the credits are spent. The caller then asks Telegram to
        return the Stars (refundStarPayment).
        """
        charge_id = validate.text(charge_id, "telegram_payment_charge_id", max_len=256,
                                  required=True)  # fmt: skip
        reason = validate.text(reason, "reason", max_len=200)
        async with self._pool.acquire() as conn, conn.transaction():
            payment = await conn.fetchrow(
                "SELECT * FROM billing.payments WHERE charge_id = $1 FOR UPDATE", charge_id
            )
            if payment is None:
                raise NotFound(f"payment {charge_id[:64]!r} not found")
            if payment["refunded_at"] is not None:
                return payment, payment["credits_granted"]
            owner, credits = payment["telegram_id"], payment["credits_granted"]
            if credits:
                balance = await conn.fetchval(
                    "SELECT balance FROM billing.accounts WHERE telegram_id = $1", owner
                )
                if balance < credits:
                    raise FailedPrecondition(
                        f"the {credits} credits of this payment are partly spent "
                        f"(balance {balance}); refund refused"
                    )
                await apply_entry(conn, owner, -credits, "refund", charge_id,
                                  f"refund:{charge_id}")  # fmt: skip
            period = await conn.fetchrow(
                "SELECT starts_at, ends_at FROM billing.subscription_periods WHERE charge_id = $1",
                charge_id,
            )
            if period is not None:  # the refunded period no longer counts
                await conn.execute(
                    "UPDATE billing.accounts SET pro_until = GREATEST(now(), pro_until - ($2 - "
                    "GREATEST($3, now()))), updated_at = now() WHERE telegram_id = $1",
                    owner, period["ends_at"], period["starts_at"],
                )  # fmt: skip
            refunded = await conn.fetchrow(
                "UPDATE billing.payments SET refunded_at = now(), refund_reason = $2 "
                "WHERE charge_id = $1 RETURNING *",
                charge_id,
                reason,
            )
            await audit(conn, actor, "refund", owner, charge_id=charge_id,
                        stars=payment["amount"], credits=credits, reason=reason)  # fmt: skip
            return refunded, credits

    async def grant_allowances(self) -> int:
        """Give annual subscribers their credits for every 30-day period that began.

        Monthly subscribers get theirs with each renewal payment instead.
        """
        granted = 0
        async with self._pool.acquire() as conn:
            due = await conn.fetch(
                "SELECT telegram_id FROM billing.accounts WHERE subscription_product_id = "
                "'sub_annual' AND pro_until > now() AND allowance_period_start + $1 <= now()",
                ALLOWANCE_PERIOD,
            )
            allowance = self.products["sub_annual"].credits
            for row in due:
                async with conn.transaction():
                    start = await conn.fetchval(
                        "UPDATE billing.accounts SET allowance_period_start = "
                        "allowance_period_start + $2 WHERE telegram_id = $1 AND "
                        "allowance_period_start + $2 <= now() RETURNING allowance_period_start",
                        row["telegram_id"], ALLOWANCE_PERIOD,
                    )  # fmt: skip
                    if start is None or not allowance:
                        continue
                    key = f"allowance:{row['telegram_id']}:{start.isoformat()}"
                    await apply_entry(conn, row["telegram_id"], allowance, "subscription",
                                      "allowance", key)  # fmt: skip
                    granted += 1
        return granted
