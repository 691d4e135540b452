"""The bot gateway as a test drives it: the real Dispatcher polling a local Telegram
(the real Bot API wire format), the real services, and people writing to it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from aiogram import Bot, Dispatcher

from bot_gateway.app import create_bot, create_dispatcher
from bot_gateway.services import open_services
from bot_gateway.settings import BotSettings
from common.redis_pool import redis_client
from devstack.telegram import LocalTelegram
from devstack.telegram.client import UserSide
from tests.support.settings import make_settings

TOKEN = "7012345678:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1"
BOT_USERNAME = "mediabot_local_bot"
WEBAPP_SECRET = "test-webapp-secret-0123456789"
Json = dict[str, Any]


@dataclass
class Gateway:
    """A running gateway and the people around it."""

    bot: Bot
    dp: Dispatcher
    telegram: LocalTelegram
    users: UserSide
    settings: BotSettings
    _seq: int = 0

    async def mark(self) -> int:
        """The position of the newest event: what comes after it is new."""
        self._seq = (await self.users.events(0, bot=self.bot.id))["last_seq"]
        return self._seq

    async def say(self, user_id: int, text: str) -> Json:
        """`user_id` writes `text`; the bot's first message in answer."""
        after = await self.mark()
        await self.users.send_text(self.bot.id, user_id, text)
        return await self.next_message(user_id, after)

    async def next_message(
        self, chat_id: int, after: int | None = None, timeout: float = 10
    ) -> Json:
        event = await self.users.wait_for(
            lambda e: e["kind"] == "message" and e["outgoing"],
            after=self._seq if after is None else after, bot=self.bot.id, chat_id=chat_id,
            timeout=timeout,
        )  # fmt: skip
        self._seq = event["seq"]
        return dict(event["message"])

    async def press(self, user_id: int, message: Json, text: str) -> Json:
        """`user_id` presses the inline button labelled `text` on `message`; the bot's
        next message (the answer to the press)."""
        data = button(message, text)["callback_data"]
        after = await self.mark()
        await self.users.press(self.bot.id, user_id, message["message_id"], data)
        return await self.next_message(user_id, after)


def buttons(message: Json) -> list[Json]:
    markup = message.get("reply_markup") or {}
    return [b for row in markup.get("inline_keyboard", []) for b in row]


def button(message: Json, text: str) -> Json:
    """The inline button whose label contains `text`."""
    found = [b for b in buttons(message) if text in b["text"]]
    assert found, f"no button {text!r} in {[b['text'] for b in buttons(message)]}"
    return found[0]


@contextlib.asynccontextmanager
async def running_gateway(
    telegram: LocalTelegram, env: dict[str, str], **overrides: object
) -> AsyncIterator[Gateway]:
    """The gateway polling `telegram`, configured from the services' `env`."""
    settings = make_settings(
        BotSettings,
        {**env, "BOT_TOKEN": TOKEN, "BOT_USERNAME": BOT_USERNAME, "WEBAPP_SECRET": WEBAPP_SECRET,
         "TELEGRAM_API_URL": telegram.url, "SERVICE_DEADLINE_SECONDS": "3"},
        **overrides,
    )  # fmt: skip
    telegram.add_bot(TOKEN, BOT_USERNAME, "mediabot")
    redis = redis_client(settings.REDIS_URL)
    bot = create_bot(settings)
    async with open_services(settings, settings.SERVICE_DEADLINE_SECONDS) as services:
        dp = create_dispatcher(settings, services, redis, BOT_USERNAME)
        polling = asyncio.create_task(
            dp.start_polling(bot, handle_signals=False, close_bot_session=False, polling_timeout=1)
        )
        try:
            async with UserSide(telegram.url) as users:
                yield Gateway(bot, dp, telegram, users, settings)
        finally:
            # Bounded: a shutdown that hangs fails here, not at the suite's timeout.
            async with asyncio.timeout(30):
                await dp.stop_polling()
                await polling
                await bot.session.close()
                await redis.aclose()


def texts_of(messages: list[Json]) -> list[str]:
    return [str(m.get("text") or m.get("caption") or "") for m in messages]
