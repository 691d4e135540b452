"""Whatever no feature took: unknown commands, stickers, stray text, stale buttons."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.types import CallbackQuery, Message

from bot_gateway.texts import t


async def unknown_command(message: Message) -> None:
    await message.answer(t("bot.fallback.unknown_command"))


async def not_understood(message: Message) -> None:
    """Text outside a dialog, stickers, voice, locations, …: point to the menu."""
    await message.answer(t("bot.fallback.not_understood"))


async def expired_button(query: CallbackQuery) -> None:
    """A button from an old message (or one this version no longer has)."""
    await query.answer(t("bot.button.expired"), show_alert=False)


def create_router() -> Router:
    """A fresh router (a process may run several dispatchers: replicas in tests)."""
    router = Router(name="fallback")
    router.message.register(unknown_command, F.text.startswith("/"))
    router.message.register(not_understood)
    router.callback_query.register(expired_button)
    return router
