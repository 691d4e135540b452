"""The one pace of everything the process sends to Telegram.

A session middleware on the Bot: every counted call (sends and edits) takes the
next free slot of its chat (about 1 a second) and of the bot (about 30 a
second) before it goes out, so the process keeps Telegram's limits instead of
hoping. Slots are reserved in order, so results and messages are never starved;
a progress edit that would have to wait is dropped instead (the next one says
more anyway). A 429 that still comes pushes the chat's (or the bot's) next slot
back by its `retry_after` and the call is made again.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from collections.abc import Iterator
from typing import Any

from aiogram import Bot
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.exceptions import TelegramRetryAfter
from aiogram.methods import Response, TelegramMethod
from aiogram.methods.base import TelegramType

log = logging.getLogger(__name__)

#: Methods Telegram counts against its flood limits.
COUNTED = frozenset({
    "sendMessage", "sendPhoto", "sendVideo", "sendDocument", "sendAnimation", "sendMediaGroup",
    "sendInvoice", "copyMessage", "forwardMessage", "editMessageText", "editMessageCaption",
    "editMessageReplyMarkup", "editMessageMedia",
})  # fmt: skip
#: Tries of one call that Telegram answers with 429.
_TRIES = 4

_droppable: contextvars.ContextVar[bool] = contextvars.ContextVar("droppable", default=False)


class Dropped(RuntimeError):
    """A droppable call (a progress edit) was not sent: its slot was too far off."""


@contextlib.contextmanager
def droppable() -> Iterator[None]:
    """Calls made inside may be dropped (raising Dropped) rather than wait their turn."""
    token = _droppable.set(True)
    try:
        yield
    finally:
        _droppable.reset(token)


class Outbox(BaseRequestMiddleware):
    """Paces counted calls per chat and per bot; honours retry_after."""

    def __init__(self, per_chat_per_second: float, per_second: float, slack: float = 0.25) -> None:
        self._chat_gap = 1.0 / per_chat_per_second
        self._gap = 1.0 / per_second
        self._slack = slack
        self._chat_next: dict[Any, float] = {}
        self._next = 0.0
        self.retries_after = 0  # 429s Telegram gave despite the pace (for logs and tests)
        self.dropped = 0

    def _reserve(self, chat: Any, now: float, may_drop: bool) -> float | None:
        """The time this call may go, reserved; None when a droppable one is late."""
        at = max(now, self._next, self._chat_next.get(chat, 0.0))
        if may_drop and at - now > self._slack:
            return None
        self._next = at + self._gap
        self._chat_next[chat] = at + self._chat_gap
        if len(self._chat_next) > 50_000:  # forget chats whose slots have passed
            self._chat_next = {c: t for c, t in self._chat_next.items() if t > now}
        return at

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        if method.__api_method__ not in COUNTED:
            return await make_request(bot, method)
        chat = getattr(method, "chat_id", None)
        loop = asyncio.get_running_loop()
        for attempt in range(_TRIES):
            at = self._reserve(chat, loop.time(), _droppable.get())
            if at is None:
                self.dropped += 1
                raise Dropped(method.__api_method__)
            if at > loop.time():
                await asyncio.sleep(at - loop.time())
            try:
                return await make_request(bot, method)
            except TelegramRetryAfter as exc:
                self.retries_after += 1
                until = loop.time() + exc.retry_after
                if chat is None:
                    self._next = max(self._next, until)
                else:
                    self._chat_next[chat] = max(self._chat_next.get(chat, 0.0), until)
                log.warning("telegram asked to slow down",
                            extra={"chat": chat, "retry_after": exc.retry_after})  # fmt: skip
                if attempt == _TRIES - 1 or _droppable.get():
                    raise
        raise AssertionError("unreachable")
