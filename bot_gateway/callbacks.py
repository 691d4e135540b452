"""What inline buttons carry (at most 64 bytes, checked by aiogram)."""

from __future__ import annotations

import uuid

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


class Dialog(CallbackData, prefix="g"):
    """An answer in a generation dialog: `step` is the question (quality, ratio,
    duration, skip, confirm, cancel), `value` the choice. `dialog` names the dialog
    the button belongs to, so the buttons of an earlier one expire."""

    dialog: str
    step: str
    value: str = ""


class JobButton(CallbackData, prefix="j"):
    """A button about one job: cancel it, repeat it, vary it, or send its result again."""

    action: str
    job: str

    def job_id(self) -> str | None:
        """The job's id, or None for data that names no job (forged, or garbled)."""
        try:
            return str(uuid.UUID(self.job))
        except ValueError:
            return None


class HistoryPage(CallbackData, prefix="h"):
    """A page of /history (0 is the newest)."""

    page: int
