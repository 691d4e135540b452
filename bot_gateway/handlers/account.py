"""The user's account: /balance, /language, /help, /terms, /paysupport, the cabinet."""

from __future__ import annotations

import logging
from datetime import UTC

import redis.asyncio as aioredis
from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import I18n
from mediabot.billing.v1 import billing_pb2 as bpb

from bot_gateway import keyboards
from bot_gateway.callbacks import Language, Menu
from bot_gateway.handlers.start import cabinet
from bot_gateway.middlewares import remember_language
from bot_gateway.services import Services
from bot_gateway.settings import BotSettings
from bot_gateway.states import PaySupport
from bot_gateway.texts import t
from common.texts import LANGUAGES

log = logging.getLogger(__name__)


async def _reply(
    event: Message | CallbackQuery, text: str, markup: InlineKeyboardMarkup | None = None
) -> None:
    if isinstance(event, CallbackQuery):
        await event.answer()
        if event.message is not None:
            await event.message.answer(text, reply_markup=markup)
    else:
        await event.answer(text, reply_markup=markup)


async def balance(event: Message | CallbackQuery, services: Services, bot_username: str) -> None:
    """Credits, tier, subscription end, the referral link and how many joined through it."""
    assert event.from_user is not None
    user = (
        await services.call(
            services.billing.GetUser, bpb.GetUserRequest(telegram_id=event.from_user.id)
        )
    ).user
    tier = t("bot.tier.pro") if user.tier == bpb.TIER_PRO else t("bot.tier.free")
    lines = [t("bot.balance.text", balance=user.balance, tier=tier)]
    if user.tier == bpb.TIER_PRO and user.HasField("pro_until"):
        until = user.pro_until.ToDatetime(UTC).strftime("%Y-%m-%d")
        lines.append(t("bot.balance.pro_until", until=until))
    link = f"https://t.me/{bot_username}?start=ref_{user.referral_code}"
    lines.append(t("bot.balance.referral", link=link, count=user.referral_count))
    await _reply(event, "\n\n".join(lines))


async def choose_language(event: Message | CallbackQuery) -> None:
    await _reply(event, t("bot.language.choose"), keyboards.languages())


async def set_language(
    query: CallbackQuery,
    callback_data: Language,
    services: Services,
    redis: aioredis.Redis,
    i18n: I18n,
) -> None:
    """Store the choice in billing (the web app reads it too) and answer in it."""
    await services.call(
        services.billing.UpdateUser,
        bpb.UpdateUserRequest(telegram_id=query.from_user.id, language=callback_data.code),
    )
    await remember_language(redis, query.from_user.id, callback_data.code)
    with i18n.use_locale(callback_data.code):
        await _reply(query, t("bot.language.set"))


async def help_(event: Message | CallbackQuery) -> None:
    await _reply(event, t("bot.help.text"))


async def terms(message: Message, settings: BotSettings) -> None:
    base = settings.WEBAPP_BASE_URL.rstrip("/")
    await message.answer(
        t(
            "bot.terms.text",
            terms=f"{base}/legal/terms",
            privacy=f"{base}/legal/privacy",
            refunds=f"{base}/legal/refunds",
        )
    )


async def open_cabinet(message: Message, settings: BotSettings) -> None:
    assert message.from_user is not None
    button = keyboards.cabinet_button(cabinet(settings, message.from_user.id))
    await message.answer(
        t("bot.cabinet.open"), reply_markup=InlineKeyboardMarkup(inline_keyboard=[[button]])
    )


async def pay_support(message: Message, state: FSMContext) -> None:
    """Telegram requires it of bots that take payments: refunds, and a way to write us."""
    await state.set_state(PaySupport.writing)
    await message.answer(t("bot.paysupport.text"))


async def pay_support_message(
    message: Message, state: FSMContext, bot: Bot, settings: BotSettings, i18n: I18n
) -> None:
    """Forward the user's message to every admin, headed by who wrote it."""
    assert message.from_user is not None
    await state.clear()
    person = message.from_user
    with i18n.use_locale("en"):
        head = t("bot.paysupport.to_admins", user=person.full_name, id=person.id)
    for admin in settings.ADMIN_IDS:
        try:
            await bot.send_message(admin, head)
            await message.forward(admin)
        except TelegramAPIError as exc:  # an admin who never started the bot
            log.warning("support message not forwarded", extra={"admin": admin, "error": str(exc)})
    await message.answer(t("bot.paysupport.forwarded"))


def create_router() -> Router:
    """A fresh router (a process may run several dispatchers: replicas in tests)."""
    router = Router(name="account")
    router.message.register(balance, Command("balance"))
    router.callback_query.register(balance, Menu.filter(F.item == "balance"))
    router.message.register(choose_language, Command("language"))
    router.callback_query.register(choose_language, Menu.filter(F.item == "language"))
    router.callback_query.register(set_language, Language.filter(F.code.in_(LANGUAGES)))
    router.message.register(help_, Command("help"))
    router.callback_query.register(help_, Menu.filter(F.item == "help"))
    router.message.register(terms, Command("terms"))
    router.message.register(open_cabinet, Command("cabinet"))
    router.message.register(pay_support, Command("paysupport"))
    router.message.register(pay_support_message, PaySupport.writing, ~F.text.startswith("/"))
    return router
