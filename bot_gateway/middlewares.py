"""What every update passes before a handler: a count of those in flight (for a
clean shutdown), private chats only, a per-user throttle, and the user's language."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as aioredis
from aiogram import BaseMiddleware
from aiogram.types import Chat, Message, TelegramObject, Update, User
from aiogram.utils.i18n import I18n, I18nMiddleware

from bot_gateway.texts import t
from common.texts import LANGUAGES, language_of

log = logging.getLogger(__name__)

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]
#: How long the bot remembers a user's language without asking billing again.
LANGUAGE_TTL_SECONDS = 30 * 24 * 3600


def language_key(telegram_id: int) -> str:
    return f"bot:lang:{telegram_id}"


async def remember_language(redis: aioredis.Redis, telegram_id: int, language: str) -> None:
    await redis.set(language_key(telegram_id), language, ex=LANGUAGE_TTL_SECONDS)


async def recalled_language(redis: aioredis.Redis, telegram_id: int) -> str:
    """The language the bot last spoke with this person (for messages sent outside
    an update: payment retries, a broadcast's report)."""
    stored = await redis.get(language_key(telegram_id))
    said = stored.decode() if isinstance(stored, bytes) else stored
    return said if said in LANGUAGES else LANGUAGES[0]


class InFlight(BaseMiddleware):
    """The updates being handled now. aiogram handles each in a task of its own and does
    not wait for them when it stops, so a shutdown would close the stubs and Redis
    under a handler midway (a job created, its status message never followed): the
    shutdown drains them first."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            return await handler(event, data)
        finally:
            self._tasks.discard(task)

    async def drain(self, timeout: float) -> None:
        """Wait (at most `timeout` s) for the updates under way to be handled."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)


class PrivateChatsOnly(BaseMiddleware):
    """In groups and channels the bot only answers a command or a mention, with a link
    to a private chat; everything else there is ignored."""

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        chat: Chat | None = data.get("event_chat")
        if chat is None or chat.type == "private":
            return await handler(event, data)
        assert isinstance(event, Update)
        message = event.message
        username = data["bot_username"]
        if (
            message is not None
            and message.text
            and (message.text.startswith("/") or f"@{username}" in message.text)
        ):
            link = f"https://t.me/{username}"
            await message.reply(t("bot.group.private_only", link=link))
        return None


class Throttle(BaseMiddleware):
    """Drops a user's updates past THROTTLE_UPDATES in a window, telling them once.

    Counted in Redis, so every replica of the bot shares the count. Runs inside
    UserLanguage, so its notice is in the user's language.
    """

    def __init__(self, redis: aioredis.Redis, updates: int, window_seconds: float) -> None:
        self._redis = redis
        self._limit = updates
        self._window = window_seconds

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        user: User | None = data.get("event_from_user")
        assert isinstance(event, Update)
        if (
            user is None
            or event.pre_checkout_query is not None
            or (event.message and (event.message.successful_payment is not None))
        ):  # payments are never dropped
            return await handler(event, data)
        window = int(time.time() // self._window)
        key = f"bot:throttle:{user.id}:{window}"
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, int(self._window) + 1)
            count, _ = await pipe.execute()
        if count <= self._limit:
            return await handler(event, data)
        if count == self._limit + 1 and event.message is not None:
            await event.message.answer(t("bot.throttled"))
        log.info(
            "update dropped by the throttle", extra={"user": user.id, "update": event.update_id}
        )
        return None


async def _language(redis: aioredis.Redis, user: User) -> str:
    stored = await redis.get(language_key(user.id))
    if isinstance(stored, bytes):
        return stored.decode()
    return stored or language_of(user.language_code)


class UserLanguage(I18nMiddleware):
    """The user's chosen language (remembered from billing), else Telegram's
    language_code; handlers get it as `lang`."""

    def __init__(self, i18n: I18n, redis: aioredis.Redis) -> None:
        super().__init__(i18n)
        self._redis = redis

    async def get_locale(self, event: TelegramObject, data: dict[str, Any]) -> str:
        user: User | None = data.get("event_from_user")
        lang = await _language(self._redis, user) if user is not None else "en"
        data["lang"] = lang
        return lang


def is_command(message: Message) -> bool:
    return bool(message.text and message.text.startswith("/"))
