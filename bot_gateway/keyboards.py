"""Keyboards the bot shows, in the current user's language."""

from __future__ import annotations

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, WebAppInfo
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot_gateway.callbacks import Dialog, JobButton, Language, Menu
from bot_gateway.texts import t
from common import cabinet_token
from common.texts import LANGUAGES

_LANGUAGE_NAMES = {"en": "English", "ru": "Русский"}


def cabinet_url(base_url: str, secret: str, telegram_id: int, ttl_seconds: int) -> str:
    """The cabinet with a signed, expiring login for clients that open it as a link."""
    token = cabinet_token.sign(secret, telegram_id, ttl_seconds)
    return f"{base_url.rstrip('/')}/cabinet?auth={token}"


def cabinet_button(url: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=t("bot.menu.cabinet"), web_app=WebAppInfo(url=url))


def main_menu(cabinet: str) -> InlineKeyboardMarkup:
    """Image, Edit, Video; Balance, Buy; History, Cabinet; Language, Help. Built directly
    rather than with a builder (which deep-copies every button): every /start sends it."""

    def item(key: str, name: str) -> InlineKeyboardButton:
        return InlineKeyboardButton(text=t(key), callback_data=Menu(item=name).pack())

    return InlineKeyboardMarkup(
        inline_keyboard=[
            [item(f"bot.kind.{kind}", kind) for kind in ("image", "edit", "video")],
            [item("bot.menu.balance", "balance"), item("bot.menu.buy", "buy")],
            [item("bot.menu.history", "history"), cabinet_button(cabinet)],
            [item("bot.menu.language", "language"), item("bot.menu.help", "help")],
        ]
    )


def languages() -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for code in LANGUAGES:
        builder.button(text=_LANGUAGE_NAMES[code], callback_data=Language(code=code))
    return builder.as_markup()


def way_forward(item: str) -> InlineKeyboardMarkup:
    """One button that leads on from a refusal (buy credits, see my jobs, start)."""
    builder = InlineKeyboardBuilder()
    builder.button(text=t(f"bot.action.{item}"), callback_data=Menu(item=item))
    return builder.as_markup()


def cancel_job(job_id: str) -> InlineKeyboardMarkup:
    """The Cancel button under a job's status message."""
    builder = InlineKeyboardBuilder()
    builder.button(
        text=t("bot.gen.cancel_job"), callback_data=JobButton(action="cancel", job=job_id)
    )
    return builder.as_markup()


def result(job_id: str) -> InlineKeyboardMarkup:
    """Repeat (same settings, a new job) and Vary (a new prompt) under a result."""
    builder = InlineKeyboardBuilder()
    builder.button(text=t("bot.gen.repeat"), callback_data=JobButton(action="repeat", job=job_id))
    builder.button(text=t("bot.gen.vary"), callback_data=JobButton(action="vary", job=job_id))
    return builder.as_markup()


def choices(
    dialog: str, step: str, options: list[tuple[str, str]], per_row: int = 3
) -> InlineKeyboardMarkup:
    """A dialog question's answers (label, value), `per_row` a row, then Cancel."""
    builder = InlineKeyboardBuilder()
    for label, value in options:
        builder.button(text=label, callback_data=Dialog(dialog=dialog, step=step, value=value))
    builder.adjust(per_row)
    cancel = Dialog(dialog=dialog, step="cancel").pack()
    builder.row(InlineKeyboardButton(text=t("bot.gen.cancel"), callback_data=cancel))
    return builder.as_markup()
