"""Stars payments on the bot's side: the words for products and invoices, and what a
successful_payment becomes.

Telegram sends a successful_payment once and does not send it again when the bot
fails to record it, so the payment is written to Redis before billing is asked
to credit it and stays there until billing has answered. A loop on every replica
(`settle_pending`) retries what is left, after a restart too; CompletePayment
is idempotent on the charge id, so a retry or a replayed update credits nothing
twice, and the buyer is told once.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC

import redis.asyncio as aioredis
from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.types import SuccessfulPayment
from aiogram.utils.i18n import I18n
from google.protobuf.timestamp_pb2 import Timestamp
from mediabot.billing.v1 import billing_pb2 as bpb
from redis.exceptions import RedisError

from bot_gateway.middlewares import recalled_language
from bot_gateway.outbox import Dropped
from bot_gateway.services import Services
from bot_gateway.texts import t
from common.errors import AlreadyExists, DomainError, FailedPrecondition, InvalidArgument, NotFound
from common.texts import refusal_text

log = logging.getLogger(__name__)

#: Payments Telegram took that billing has not recorded yet: charge id → CompletePaymentRequest.
PENDING_KEY = "bot:pay:pending"
#: How often every replica retries the pending payments.
RETRY_SECONDS = 5.0
#: How long the bot remembers that a buyer was told about a charge (replays stay silent).
_TOLD_TTL_SECONDS = 90 * 24 * 3600
#: Refusals that the same request will always get: such a payment is not retried.
_FINAL = (FailedPrecondition, InvalidArgument, NotFound, AlreadyExists)
#: Telegram's limits on an invoice's title and description.
_TITLE_MAX, _DESCRIPTION_MAX = 32, 255

_KIND_NAMES = {
    bpb.PRODUCT_KIND_CREDIT_PACK: "pack",
    bpb.PRODUCT_KIND_SUBSCRIPTION_MONTHLY: "monthly",
    bpb.PRODUCT_KIND_SUBSCRIPTION_ANNUAL: "annual",
}


def kind_name(product: bpb.Product) -> str:
    """The kind of a product as the texts name it: pack, monthly or annual."""
    return _KIND_NAMES.get(product.kind, "pack")


def product_line(product: bpb.Product) -> str:
    """One line of /buy: what the product gives and its price."""
    return t(f"bot.buy.line.{kind_name(product)}", credits=product.credits,
             stars=product.price_stars)  # fmt: skip


def product_button(product: bpb.Product) -> str:
    return t(f"bot.buy.button.{kind_name(product)}", credits=product.credits,
             stars=product.price_stars)  # fmt: skip


def invoice_words(product: bpb.Product) -> tuple[str, str]:
    """The invoice's title and description in the buyer's language."""
    kind = kind_name(product)
    title = t(f"bot.buy.invoice.{kind}.title", credits=product.credits)
    description = t(f"bot.buy.invoice.{kind}.description", credits=product.credits)
    return title[:_TITLE_MAX], description[:_DESCRIPTION_MAX]


def day(stamp: Timestamp) -> str:
    """A protobuf Timestamp as the date people read."""
    return stamp.ToDatetime(UTC).strftime("%Y-%m-%d")


def completion(telegram_id: int, paid: SuccessfulPayment) -> bpb.CompletePaymentRequest:
    """The CompletePayment request of a successful_payment, every field as Telegram sent it."""
    return bpb.CompletePaymentRequest(
        telegram_id=telegram_id,
        invoice_payload=paid.invoice_payload,
        currency=paid.currency,
        total_amount=paid.total_amount,
        telegram_payment_charge_id=paid.telegram_payment_charge_id,
        provider_payment_charge_id=paid.provider_payment_charge_id or "",
        subscription_expiration_date=paid.subscription_expiration_date or 0,
        is_recurring=bool(paid.is_recurring),
        is_first_recurring=bool(paid.is_first_recurring),
    )


class Cashier:
    """Records payments in billing (through Redis) and tells the buyer."""

    def __init__(self, bot: Bot, services: Services, redis: aioredis.Redis) -> None:
        self._bot = bot
        self._services = services
        self._redis = redis

    async def receive(self, request: bpb.CompletePaymentRequest, lang: str) -> None:
        """A successful_payment arrived: keep it, credit it, tell the buyer."""
        charge = request.telegram_payment_charge_id
        try:
            await self._redis.hset(PENDING_KEY, charge, request.SerializeToString())
        except RedisError:  # billing may still record it: that matters more
            log.exception("payment not kept in Redis", extra={"charge": charge})
        if not await self.settle(request, lang):
            await self._tell(request.telegram_id, t("bot.buy.paid.pending"))

    async def settle(self, request: bpb.CompletePaymentRequest, lang: str) -> bool:
        """CompletePayment and the buyer's confirmation; False while billing cannot
        record it (the payment stays pending and is retried)."""
        charge = request.telegram_payment_charge_id
        try:
            answer = await self._services.call(self._services.billing.CompletePayment, request)
        except _FINAL as error:
            await self._done(charge)
            log.error("billing refused a paid charge; it needs a person",
                      extra={"charge": charge, "user": request.telegram_id,
                             "reason": error.reason})  # fmt: skip
            if await self._first_word(charge):
                reason = refusal_text(error, lang)
                await self._tell(request.telegram_id, t("bot.buy.paid.problem", reason=reason))
            return True
        except DomainError as error:  # unavailable, or a fault on billing's side: retried
            log.warning("payment not recorded yet; will retry",
                        extra={"charge": charge, "reason": error.reason})  # fmt: skip
            return False
        await self._done(charge)
        if await self._first_word(charge):
            await self._tell(request.telegram_id, await self._confirmation(request, answer))
        else:  # a replayed update, or a retry racing the first: credited once, told once
            log.info("payment replayed; nothing more to do",
                     extra={"charge": charge, "already": answer.already_completed})  # fmt: skip
        return True

    async def _done(self, charge: str) -> None:
        """Billing has the payment: nothing left to retry."""
        try:
            await self._redis.hdel(PENDING_KEY, charge)
        except RedisError:  # a later retry finds it recorded and stays silent
            log.exception("pending payment not cleared", extra={"charge": charge})

    async def _first_word(self, charge: str) -> bool:
        """True the first time the buyer is told about `charge` (at most once; when
        Redis cannot say, the buyer is told)."""
        try:
            key = f"bot:pay:told:{charge}"
            return bool(await self._redis.set(key, 1, nx=True, ex=_TOLD_TTL_SECONDS))
        except RedisError:
            log.exception("could not check whether the buyer was told", extra={"charge": charge})
            return True

    async def _confirmation(
        self, request: bpb.CompletePaymentRequest, answer: bpb.CompletePaymentResponse
    ) -> str:
        payment = answer.payment
        products = await self._services.call(
            self._services.billing.ListProducts, bpb.ListProductsRequest()
        )
        kind = next((p.kind for p in products.products if p.id == payment.product_id), 0)
        if kind in (0, bpb.PRODUCT_KIND_CREDIT_PACK):
            return t("bot.buy.paid.pack", credits=payment.credits_granted, balance=answer.balance)
        user = await self._services.call(
            self._services.billing.GetUser, bpb.GetUserRequest(telegram_id=request.telegram_id)
        )
        renewal = request.is_recurring and not request.is_first_recurring
        return t(
            "bot.buy.paid.renewal" if renewal else "bot.buy.paid.subscription",
            until=day(user.user.pro_until),
            credits=payment.credits_granted,
            balance=answer.balance,
        )

    async def _tell(self, telegram_id: int, text: str) -> None:
        try:
            await self._bot.send_message(telegram_id, text)
        except (TelegramAPIError, Dropped) as exc:  # blocked the bot meanwhile: credited anyway
            log.warning("buyer not told", extra={"user": telegram_id, "error": str(exc)})


async def settle_pending(cashier: Cashier, redis: aioredis.Redis, i18n: I18n) -> int:
    """Retry every pending payment once; how many are still pending."""
    left = 0
    for charge, raw in (await redis.hgetall(PENDING_KEY)).items():
        request = bpb.CompletePaymentRequest.FromString(raw)
        lang = await recalled_language(redis, request.telegram_id)
        with i18n.context(), i18n.use_locale(lang):
            if not await cashier.settle(request, lang):
                left += 1
        log.info("pending payment retried", extra={"charge": charge, "left": left})
    return left


async def keep_settling(cashier: Cashier, redis: aioredis.Redis, i18n: I18n) -> None:
    """Retry pending payments now and every RETRY_SECONDS, until cancelled."""
    while True:
        try:
            await settle_pending(cashier, redis, i18n)
        except Exception:  # Redis away for a moment: the next round tries again
            log.exception("retrying pending payments failed")
        await asyncio.sleep(RETRY_SECONDS)
