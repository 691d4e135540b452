"""Answers to button presses that cope with a press too old to answer (Telegram
refuses those after a while: the answer then goes to the chat)."""

from __future__ import annotations

from aiogram.exceptions import TelegramBadRequest
from aiogram.types import CallbackQuery, Message

from bot_gateway.texts import t


async def say(query: CallbackQuery, text: str) -> None:
    """A short answer to a press (a message when the press is too old to answer)."""
    try:
        await query.answer(text[:200])
    except TelegramBadRequest:
        if isinstance(query.message, Message):
            await query.message.answer(text)


async def ack(query: CallbackQuery) -> None:
    """Stop the button's spinner; a press too old to answer needs nothing more."""
    try:
        await query.answer()
    except TelegramBadRequest:
        pass


async def expired(query: CallbackQuery) -> None:
    """A button of an earlier dialog or message, or one naming nothing we know."""
    await say(query, t("bot.button.expired"))
