"""`make up` without a BOT_TOKEN: the local Telegram starts and the bot is pointed at it."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import aiohttp
import pytest

from devstack.__main__ import Configured, dev_secrets, local_telegram
from devstack.embedded import free_port
from tests.bot.conftest import make_bot


async def test_without_a_bot_token_make_up_serves_a_local_telegram_the_bot_can_use(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # dev secrets go to ./.data
    secrets = dev_secrets()
    assert dev_secrets()["LOCAL_BOT_TOKEN"] == secrets["LOCAL_BOT_TOKEN"]  # kept between runs
    address = f"127.0.0.1:{free_port()}"
    env = {**os.environ, **secrets}
    configured = Configured(_env_file=None, BOT_TOKEN="", LOCAL_TELEGRAM_ADDR=address)
    child = await asyncio.to_thread(local_telegram, env, configured)
    assert child is not None
    try:
        assert env["TELEGRAM_API_URL"] == f"http://{address}"
        assert env["BOT_TOKEN"] == secrets["LOCAL_BOT_TOKEN"]
        bot = make_bot(env["TELEGRAM_API_URL"], env["BOT_TOKEN"])
        try:
            assert (await bot.get_me()).username == env["BOT_USERNAME"] == "mediabot_local_bot"
        finally:
            await bot.session.close()
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://{address}/") as page:
                assert "<title>Local Telegram</title>" in await page.text()
    finally:
        child.terminate()
        assert await asyncio.to_thread(child.wait, 10) == 0
    untouched = dict(os.environ)
    with_token = Configured(_env_file=None, BOT_TOKEN="123456:real-token-from-botfather")
    assert local_telegram(untouched, with_token) is None
    assert untouched == dict(os.environ)
