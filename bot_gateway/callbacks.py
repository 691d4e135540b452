"""What inline buttons carry (at most 64 bytes, checked by aiogram)."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData


class Menu(CallbackData, prefix="m"):
    """A main-menu button: image, edit, video, balance, buy, history, language, help."""

    item: str


class Language(CallbackData, prefix="lang"):
    """A language to switch to."""

    code: str


class Buy(CallbackData, prefix="buy"):
    """A product to buy, by its billing id."""

    product: str


class Renewal(CallbackData, prefix="renew"):
    """Cancel (True) or resume (False) the renewal of the monthly subscription."""

    cancel: bool


class BroadcastChoice(CallbackData, prefix="bc"):
    """An admin's answer to a broadcast preview: send it, or drop it."""

    send: bool
