"""Dialog states (kept in Redis, so a restart of the bot keeps every dialog)."""

from __future__ import annotations

from aiogram.fsm.state import State, StatesGroup


class PaySupport(StatesGroup):
    """/paysupport: the user's next message goes to the admins."""

    writing = State()
