"""/buy: credit packs and PRO in Telegram Stars, the monthly renewal switch, and the
payment itself (pre_checkout_query, successful_payment)."""

from __future__ import annotations

import asyncio
import logging

import redis.asyncio as aioredis
from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command
from aiogram.types import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LabeledPrice,
    Message,
    PreCheckoutQuery,
)
from aiogram.utils.i18n import I18n
from aiogram.utils.keyboard import InlineKeyboardBuilder
from mediabot.billing.v1 import billing_pb2 as bpb

from bot_gateway.callbacks import Buy, Menu, Renewal
from bot_gateway.errors import refusal_reply
from bot_gateway.payments import (
    Cashier,
    completion,
    day,
    invoice_words,
    keep_settling,
    product_button,
    product_line,
)
from bot_gateway.services import Services
from bot_gateway.tasks import cancel_and_wait
from bot_gateway.texts import t
from common.errors import DomainError

log = logging.getLogger(__name__)

#: Telegram waits 10 s for the answer to a pre_checkout_query; billing gets this long.
PRE_CHECKOUT_SECONDS = 5.0
#: How long the bot remembers that a monthly renewal was cancelled (past its period).
_CANCELLED_TTL_SECONDS = 40 * 24 * 3600


def _cancelled_key(telegram_id: int) -> str:
    return f"bot:renewal:cancelled:{telegram_id}"


async def _renewal_cancelled(redis: aioredis.Redis, user: bpb.User) -> bool:
    """Whether this user cancelled the renewal of the subscription running now
    (billing does not know; Telegram is told, the bot remembers)."""
    said = await redis.get(_cancelled_key(user.telegram_id))
    said = said.decode() if isinstance(said, bytes) else said
    return bool(user.monthly_charge_id) and said == user.monthly_charge_id


async def _reply(
    event: Message | CallbackQuery, text: str, markup: InlineKeyboardMarkup | None = None
) -> None:
    if isinstance(event, CallbackQuery):
        await event.answer()
        if event.message is not None:
            await event.message.answer(text, reply_markup=markup)
    else:
        await event.answer(text, reply_markup=markup)


async def _user(services: Services, telegram_id: int) -> bpb.User:
    answer = await services.call(
        services.billing.GetUser, bpb.GetUserRequest(telegram_id=telegram_id)
    )
    return answer.user


async def show_products(
    event: Message | CallbackQuery, services: Services, redis: aioredis.Redis
) -> None:
    """Every product on sale with a button each; a monthly subscriber gets the
    renewal switch instead of a second subscription."""
    assert event.from_user is not None
    user = await _user(services, event.from_user.id)
    products = await services.call(services.billing.ListProducts, bpb.ListProductsRequest())
    subscribed = bool(user.monthly_charge_id)
    builder = InlineKeyboardBuilder()
    lines = []
    for product in products.products:
        if subscribed and product.kind == bpb.PRODUCT_KIND_SUBSCRIPTION_MONTHLY:
            continue
        lines.append(product_line(product))
        builder.button(text=product_button(product), callback_data=Buy(product=product.id))
    text = t("bot.buy.title", balance=user.balance) + "\n\n" + "\n".join(lines)
    if subscribed:
        cancelled = await _renewal_cancelled(redis, user)
        key = "bot.buy.monthly.cancelled" if cancelled else "bot.buy.monthly.active"
        text += "\n\n" + t(key, until=day(user.pro_until))
        label = t("bot.buy.renewal.resume" if cancelled else "bot.buy.renewal.cancel")
        builder.button(text=label, callback_data=Renewal(cancel=not cancelled))
    builder.adjust(1)
    await _reply(event, text, builder.as_markup())


async def buy(query: CallbackQuery, callback_data: Buy, services: Services, bot: Bot) -> None:
    """An invoice for the product: sendInvoice, or for the monthly subscription an
    invoice link (Telegram's 30-day Stars subscription)."""
    answer = await services.call(
        services.billing.CreateInvoice,
        bpb.CreateInvoiceRequest(telegram_id=query.from_user.id, product_id=callback_data.product),
    )
    title, description = invoice_words(answer.product)
    prices = [LabeledPrice(label=title, amount=answer.amount)]
    await query.answer()
    if answer.subscription_period:
        link = await bot.create_invoice_link(
            title, description, answer.payload, answer.currency, prices,
            provider_token="", subscription_period=answer.subscription_period,
        )  # fmt: skip
        button = InlineKeyboardButton(
            text=t("bot.buy.subscribe.button", stars=answer.amount), url=link
        )
        await bot.send_message(
            query.from_user.id,
            t("bot.buy.subscribe", stars=answer.amount, credits=answer.product.credits),
            reply_markup=InlineKeyboardMarkup(inline_keyboard=[[button]]),
        )
    else:
        await bot.send_invoice(
            query.from_user.id, title, description, answer.payload, answer.currency, prices,
            provider_token="",
        )  # fmt: skip


async def switch_renewal(
    query: CallbackQuery,
    callback_data: Renewal,
    services: Services,
    redis: aioredis.Redis,
    bot: Bot,
) -> None:
    """Cancel or resume the monthly renewal (editUserStarSubscription); PRO runs to
    the end of the period paid either way."""
    user = await _user(services, query.from_user.id)
    if not user.monthly_charge_id:
        await _reply(query, t("bot.buy.renewal.none"))
        return
    try:
        await bot.edit_user_star_subscription(
            query.from_user.id, user.monthly_charge_id, is_canceled=callback_data.cancel
        )
    except TelegramBadRequest as exc:
        log.warning("subscription not changed", extra={"user": user.telegram_id,
                                                       "error": exc.message})  # fmt: skip
        await _reply(query, t("bot.buy.renewal.failed"))
        return
    if callback_data.cancel:
        await redis.set(_cancelled_key(user.telegram_id), user.monthly_charge_id,
                        ex=_CANCELLED_TTL_SECONDS)  # fmt: skip
        await _reply(query, t("bot.buy.renewal.cancelled", until=day(user.pro_until)))
    else:
        await redis.delete(_cancelled_key(user.telegram_id))
        await _reply(query, t("bot.buy.renewal.resumed", until=day(user.pro_until)))


async def pre_checkout(
    query: PreCheckoutQuery, services: Services, bot: Bot, lang: str = "en"
) -> None:
    """Billing checks the order; the answer goes back well within Telegram's 10 s.
    A refusal is the buyer's words; one that a new invoice fixes also leads to /buy."""
    request = bpb.PreCheckoutRequest(
        telegram_id=query.from_user.id,
        invoice_payload=query.invoice_payload,
        currency=query.currency,
        total_amount=query.total_amount,
    )
    try:
        async with asyncio.timeout(PRE_CHECKOUT_SECONDS):
            await services.call(services.billing.PreCheckout, request)
    except DomainError as error:
        text, markup = refusal_reply(error, lang)
        log.info("checkout refused", extra={"user": query.from_user.id, "reason": error.reason})
        await query.answer(ok=False, error_message=text[:255])
        if markup is not None:
            await bot.send_message(query.from_user.id, text, reply_markup=markup)
        return
    except TimeoutError:
        log.warning("checkout not checked in time", extra={"user": query.from_user.id})
        await query.answer(ok=False, error_message=t("bot.buy.checkout.unavailable"))
        return
    except Exception:
        await query.answer(ok=False, error_message=t("bot.buy.checkout.unavailable"))
        raise
    await query.answer(ok=True)


async def paid(
    message: Message, bot: Bot, services: Services, redis: aioredis.Redis, lang: str = "en"
) -> None:
    """A successful_payment (a purchase or a subscription's renewal): credit it once."""
    assert message.from_user is not None and message.successful_payment is not None
    request = completion(message.from_user.id, message.successful_payment)
    await Cashier(bot, services, redis).receive(request, lang)


async def refunded(message: Message) -> None:
    """Telegram's note that Stars went back (an admin's /refund): say so in words."""
    assert message.refunded_payment is not None
    await message.answer(t("bot.buy.refunded", stars=message.refunded_payment.total_amount))


def create_router() -> Router:
    """A fresh router (a process may run several dispatchers: replicas in tests)."""
    router = Router(name="buy")
    router.message.register(show_products, Command("buy"))
    router.callback_query.register(show_products, Menu.filter(F.item == "buy"))
    router.callback_query.register(buy, Buy.filter())
    router.callback_query.register(switch_renewal, Renewal.filter())
    router.pre_checkout_query.register(pre_checkout)
    router.message.register(paid, F.successful_payment)
    router.message.register(refunded, F.refunded_payment)

    settling: list[asyncio.Task[None]] = []

    async def start_settling(bot: Bot, services: Services, redis: aioredis.Redis,
                             i18n: I18n) -> None:  # fmt: skip
        """Payments a previous run could not record are retried at once, then every few s."""
        cashier = Cashier(bot, services, redis)
        settling.append(asyncio.create_task(keep_settling(cashier, redis, i18n)))

    async def stop_settling() -> None:
        await cancel_and_wait(settling, 5)
        settling.clear()

    router.startup.register(start_settling)
    router.shutdown.register(stop_settling)
    return router
