"""Fixtures of the Telegram tests: a local Bot API server on port 0, a real aiogram Bot
talking to it, and the user side that writes to the bot."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer

from devstack.telegram import Limits, LocalTelegram, Options
from devstack.telegram.client import UserSide

TOKEN = "7012345678:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1"
OTHER_TOKEN = "7098765432:AAG7Lp0u2mZc9cV1yXk3Qw8Er5Ty6Ui7Op2"
ANN = 7123456789
BOB = 7234567890


def make_bot(url: str, token: str = TOKEN) -> Bot:
    return Bot(token, session=AiohttpSession(api=TelegramAPIServer.from_base(url)))


@pytest.fixture
async def start_telegram() -> AsyncIterator[Callable[..., Awaitable[LocalTelegram]]]:
    """Starts local Telegrams with the given options; stops them after the test."""
    started: list[LocalTelegram] = []

    async def start(options: Options | None = None) -> LocalTelegram:
        telegram = await LocalTelegram(options).start()
        started.append(telegram)
        return telegram

    yield start
    for telegram in started:
        await telegram.stop()


@pytest.fixture
async def telegram(start_telegram: Callable[..., Awaitable[LocalTelegram]]) -> LocalTelegram:
    """A local Telegram without flood limits (the tests of the limits turn them on)."""
    telegram = await start_telegram(Options(limits=Limits(enabled=False)))
    telegram.add_bot(TOKEN, "mediabot_local_bot", "mediabot")
    return telegram


@pytest.fixture
async def bot(telegram: LocalTelegram) -> AsyncIterator[Bot]:
    bot = make_bot(telegram.url)
    yield bot
    await bot.session.close()


@pytest.fixture
async def users(telegram: LocalTelegram) -> AsyncIterator[UserSide]:
    """The user side, with Ann (ru) and Bob (en) known to Telegram."""
    async with UserSide(telegram.url) as side:
        await side.user(ANN, "Ann", username="ann", language_code="ru")
        await side.user(BOB, "Bob", last_name="Stone", language_code="en")
        yield side


@pytest.fixture
async def ann_chat(bot: Bot, users: UserSide) -> int:
    """Ann has started the bot (so it may write to her) and her /start was consumed."""
    await users.send_text(bot.id, ANN, "/start")
    updates = await bot.get_updates()
    await bot.get_updates(offset=updates[-1].update_id + 1)
    return ANN


async def eventually(check: Callable[[], bool], timeout: float = 3) -> None:
    """Wait until `check()` holds (something another task does), failing after `timeout`."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "it never happened"
        await asyncio.sleep(0.02)


def only(items: list[Any]) -> Any:
    assert len(items) == 1, items
    return items[0]


@pytest.fixture
def gateway_env(job_env: dict[str, str], jobs_service: Any) -> dict[str, str]:
    """What the bot gateway under test is configured with: the services' settings
    and where the job service of the suite listens."""
    return job_env | {"JOBS_GRPC_ADDR": f"127.0.0.1:{jobs_service.port}"}
