"""/start (with a referral payload), the main menu and /cancel."""

from __future__ import annotations

import redis.asyncio as aioredis
from aiogram import F, Router
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import I18n
from mediabot.billing.v1 import billing_pb2 as bpb

from bot_gateway import keyboards
from bot_gateway.callbacks import Menu
from bot_gateway.catalog import Catalog
from bot_gateway.middlewares import remember_language
from bot_gateway.services import Services
from bot_gateway.settings import BotSettings
from bot_gateway.texts import t

_REFERRAL_PREFIX = "ref_"


def cabinet(settings: BotSettings, telegram_id: int) -> str:
    return keyboards.cabinet_url(
        settings.WEBAPP_BASE_URL,
        settings.WEBAPP_SECRET.get_secret_value(),
        telegram_id,
        settings.CABINET_LINK_TTL_SECONDS,
    )


async def start(
    message: Message,
    command: CommandObject,
    state: FSMContext,
    raw_state: str | None,
    services: Services,
    catalog: Catalog,
    settings: BotSettings,
    redis: aioredis.Redis,
    i18n: I18n,
) -> None:
    """Create the account once (free credits, referrer) and show balance, prices, menu."""
    assert message.from_user is not None
    person = message.from_user
    payload = (command.args or "").strip()
    referral = payload[len(_REFERRAL_PREFIX) :] if payload.startswith(_REFERRAL_PREFIX) else ""
    answer = await services.call(
        services.billing.EnsureUser,
        bpb.EnsureUserRequest(
            telegram_id=person.id,
            username=(person.username or "")[:64],
            language_code=(person.language_code or "")[:16],
            referral_code=referral[:64],
        ),
    )
    if raw_state is not None:  # a dialog's data never outlives its state: nothing else to clear
        await state.clear()
    user = answer.user
    await remember_language(redis, person.id, user.language)
    with i18n.use_locale(user.language):
        key = "bot.start.greeting" if answer.created else "bot.start.welcome_back"
        text = t(key, name=person.first_name, balance=user.balance,
                 prices=await catalog.price_lines())  # fmt: skip
        if answer.created and user.referrer_id:
            text += "\n\n" + t("bot.start.referred")
        await message.answer(text, reply_markup=keyboards.main_menu(cabinet(settings, person.id)))


async def menu_again(query: CallbackQuery, settings: BotSettings) -> None:
    await query.answer()
    if query.message is not None:
        await query.message.answer(
            t("bot.menu.title"),
            reply_markup=keyboards.main_menu(cabinet(settings, query.from_user.id)),
        )


async def cancel(message: Message, state: FSMContext, settings: BotSettings) -> None:
    """Leave whatever dialog the user is in."""
    assert message.from_user is not None
    if await state.get_state() is None:
        await message.answer(t("bot.nothing_to_cancel"))
        return
    await state.clear()
    menu = keyboards.main_menu(cabinet(settings, message.from_user.id))
    await message.answer(t("bot.cancelled"), reply_markup=menu)


def create_router() -> Router:
    """A fresh router (a process may run several dispatchers: replicas in tests)."""
    router = Router(name="start")
    router.message.register(start, CommandStart())
    router.callback_query.register(menu_again, Menu.filter(F.item == "start"))
    router.message.register(cancel, Command("cancel"))
    return router
