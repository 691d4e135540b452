"""Flood limits: about one message a second per chat (a short burst allowed), 20 a minute per
group, 30 a second per bot; 429 with retry_after when exceeded, and a record of each 429."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import aiohttp
import pytest
from aiogram import Bot
from aiogram.exceptions import TelegramRetryAfter

from devstack.telegram import Limits, LocalTelegram, Options
from devstack.telegram.client import UserSide
from tests.bot.conftest import ANN, TOKEN, make_bot

Start = Callable[..., Awaitable[LocalTelegram]]


async def started(
    start_telegram: Start, limits: Limits, *user_ids: int
) -> tuple[LocalTelegram, Bot]:
    telegram = await start_telegram(Options(limits=limits))
    bot = make_bot(telegram.url)
    await bot.get_me()
    async with UserSide(telegram.url) as users:
        for user_id in user_ids:
            await users.user(user_id, f"User {user_id}")
            await users.send_text(bot.id, user_id, "/start")
    return telegram, bot


async def test_a_burst_in_one_chat_gets_429_with_retry_after_and_is_recorded(
    start_telegram: Start,
) -> None:
    telegram, bot = await started(start_telegram, Limits(), ANN)
    try:
        sent = [await bot.send_message(ANN, f"part {n}") for n in range(3)]  # the burst
        with pytest.raises(TelegramRetryAfter) as caught:
            await bot.send_message(ANN, "one too many")
        assert caught.value.retry_after == 1
        assert "Original description: Too Many Requests: retry after 1" in str(caught.value)
        with pytest.raises(TelegramRetryAfter):  # edits count too
            await bot.edit_message_text("edited", chat_id=ANN, message_id=sent[0].message_id)
        # Chat actions, callback answers and getUpdates are not messages.
        assert await bot.send_chat_action(ANN, "typing")
        await bot.get_updates()
        hits = telegram.rate_limit_hits
        assert [(h.chat_id, h.method, h.scope, h.retry_after) for h in hits] == [
            (ANN, "sendMessage", "chat", 1),
            (ANN, "editMessageText", "chat", 1),
        ]
        await asyncio.sleep(caught.value.retry_after)
        assert (await bot.send_message(ANN, "after waiting")).text == "after waiting"
        assert len(telegram.rate_limit_hits) == 2
    finally:
        await bot.session.close()


async def test_the_429_body_is_telegrams(start_telegram: Start) -> None:
    telegram, bot = await started(start_telegram, Limits(chat_burst=1), ANN)
    await bot.session.close()
    async with aiohttp.ClientSession() as http:
        url = f"{telegram.url}/bot{TOKEN}/sendMessage"
        async with http.post(url, json={"chat_id": ANN, "text": "1"}) as response:
            assert response.status == 200
        async with http.post(url, json={"chat_id": ANN, "text": "2"}) as response:
            assert response.status == 429
            assert await response.json() == {
                "ok": False,
                "error_code": 429,
                "description": "Too Many Requests: retry after 1",
                "parameters": {"retry_after": 1},
            }
    async with UserSide(telegram.url) as users:
        hits = await users.rate_limit_hits()
    assert [(h["method"], h["scope"]) for h in hits] == [("sendMessage", "chat")]


async def test_thirty_a_second_across_chats_is_the_bot_limit(start_telegram: Start) -> None:
    people = [7100000000 + n for n in range(60)]
    telegram, bot = await started(start_telegram, Limits(), *people)
    try:
        began = time.monotonic()
        outcomes = await asyncio.gather(
            *(bot.send_message(person, "news") for person in people), return_exceptions=True
        )
        elapsed = time.monotonic() - began
        refused = [o for o in outcomes if isinstance(o, TelegramRetryAfter)]
        delivered = len(outcomes) - len(refused)
        assert len(refused) + delivered == 60 and all(r.retry_after == 1 for r in refused)
        # 30 at once, plus what the bucket refilled (30 a second) while they went out
        assert 30 <= delivered <= 30 + 30 * elapsed + 1, (delivered, elapsed)
        assert refused and {h.scope for h in telegram.rate_limit_hits} == {"bot"}
        assert len(telegram.rate_limit_hits) == len(refused)
    finally:
        await bot.session.close()


async def test_groups_allow_twenty_a_minute(start_telegram: Start) -> None:
    telegram, bot = await started(start_telegram, Limits(), ANN)
    try:
        async with UserSide(telegram.url) as users:
            await users.add_to_group(bot.id, ANN, -1001000000001, "Team")
        for n in range(5):
            await bot.send_message(-1001000000001, f"{n}")
        with pytest.raises(TelegramRetryAfter) as caught:
            await bot.send_message(-1001000000001, "sixth")
        assert caught.value.retry_after == 3  # one message per 3 s refills
    finally:
        await bot.session.close()


async def test_a_sender_that_keeps_the_pace_provokes_no_429(start_telegram: Start) -> None:
    limits = Limits(chat_per_second=20, chat_burst=1)
    telegram, bot = await started(start_telegram, limits, ANN)
    try:
        for n in range(8):
            await bot.send_message(ANN, f"paced {n}")
            await asyncio.sleep(1 / 20 + 0.01)
        assert telegram.rate_limit_hits == []
        unpaced = await asyncio.gather(
            *(bot.send_message(ANN, f"unpaced {n}") for n in range(5)), return_exceptions=True
        )
        refused = [o for o in unpaced if isinstance(o, TelegramRetryAfter)]
        assert refused and len(telegram.rate_limit_hits) == len(refused)
    finally:
        await bot.session.close()
