"""Dialog states (kept in Redis, so a restart of the bot keeps every dialog)."""

from __future__ import annotations

from aiogram.fsm.state import State, StatesGroup


class PaySupport(StatesGroup):
    """/paysupport: the user's next message goes to the admins."""

    writing = State()


class Broadcasting(StatesGroup):
    """/broadcast: the admin's next message (text or photo) is what goes out."""

    writing = State()
    confirming = State()


class Generate(StatesGroup):
    """A generation dialog: each state is the question the bot is waiting to have answered."""

    quality = State()
    ratio = State()
    duration = State()
    prompt = State()
    image = State()
    confirm = State()
