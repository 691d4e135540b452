"""The one error handler: a refusal becomes the user's words and a way forward,
chosen by its reason; anything else is logged with its update and answered."""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from aiogram.exceptions import TelegramAPIError, TelegramForbiddenError
from aiogram.types import ErrorEvent, InlineKeyboardMarkup
from aiogram.utils.i18n import I18n

from bot_gateway import keyboards
from bot_gateway.outbox import Dropped
from bot_gateway.texts import t
from common.errors import DomainError, Reason
from common.texts import refusal_text

log = logging.getLogger(__name__)

#: Where a refusal leads the user next.
_FORWARD = {
    Reason.INSUFFICIENT_CREDITS: "buy",
    Reason.QUEUE_FULL: "history",
    Reason.USER_NOT_FOUND: "start",
    Reason.JOB_NOT_FOUND: "history",
    # An invoice that can no longer be paid: a fresh one from /buy can.
    Reason.PRODUCT_NOT_FOUND: "buy",
    Reason.PRODUCT_WITHDRAWN: "buy",
    Reason.PRICE_CHANGED: "buy",
    Reason.WRONG_PRICE: "buy",
    Reason.INVOICE_INVALID: "buy",
    Reason.INVOICE_FOREIGN: "buy",
}


def refusal_reply(error: DomainError, lang: str) -> tuple[str, InlineKeyboardMarkup | None]:
    """What to answer a refusal with: the user's words, and a button that leads on."""
    forward = _FORWARD.get(error.reason)
    return refusal_text(error, lang), keyboards.way_forward(forward) if forward else None


async def on_error(event: ErrorEvent, i18n: I18n, lang: str = "en", **_: Any) -> bool:
    """Answer the user whatever went wrong; never let an update crash the dispatcher."""
    with i18n.context(), i18n.use_locale(lang):  # errors surface outside the middlewares
        return await _answer(event, lang)


async def _answer(event: ErrorEvent, lang: str) -> bool:
    error = event.exception
    update = event.update
    if isinstance(error, Dropped | TelegramForbiddenError):  # a late edit; a blocked user
        return True
    message = update.message or (update.callback_query.message if update.callback_query else None)
    if isinstance(error, DomainError):
        log.info("refused", extra={"update": update.update_id, "reason": error.reason})
        text, markup = refusal_reply(error, lang)
    else:
        log.exception("update failed", exc_info=error, extra={"update": update.update_id})
        text, markup = t("bot.error.unexpected"), None
    if update.callback_query is not None:  # a handler may have answered the press already
        with contextlib.suppress(TelegramAPIError, Dropped):
            await update.callback_query.answer()
    try:
        if message is not None:
            await message.answer(text, reply_markup=markup)
    except (TelegramAPIError, Dropped):
        log.warning("could not tell the user", extra={"update": update.update_id})
    return True
