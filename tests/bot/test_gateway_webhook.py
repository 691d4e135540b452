"""Webhook mode: Telegram posts updates with its secret token; others are refused."""

from __future__ import annotations

import aiohttp
import redis.asyncio as aioredis

from bot_gateway.app import create_bot, create_dispatcher
from bot_gateway.services import open_services
from bot_gateway.settings import BotSettings
from bot_gateway.webhook import start_webhook
from devstack.embedded import free_port
from devstack.telegram import LocalTelegram, Options
from devstack.telegram.client import UserSide
from tests.support.gateway import BOT_USERNAME, TOKEN, WEBAPP_SECRET
from tests.support.ids import tg
from tests.support.settings import make_settings


async def test_webhook_mode_answers_telegram_and_refuses_requests_without_the_secret(
    job_env, jobs_service
):
    port = free_port()
    async with LocalTelegram(Options(local_mode=True)) as telegram:  # http webhooks allowed
        telegram.add_bot(TOKEN, BOT_USERNAME, "mediabot")
        settings = make_settings(
            BotSettings,
            {**job_env, "JOBS_GRPC_ADDR": f"127.0.0.1:{jobs_service.port}", "BOT_TOKEN": TOKEN,
             "WEBAPP_SECRET": WEBAPP_SECRET, "TELEGRAM_API_URL": telegram.url,
             "BOT_WEBHOOK_URL": f"http://127.0.0.1:{port}/",
             "BOT_WEBHOOK_ADDR": f"127.0.0.1:{port}",
             "BOT_WEBHOOK_SECRET": "a-webhook-secret-0123456789"},
        )  # fmt: skip
        redis = aioredis.from_url(settings.REDIS_URL)
        bot = create_bot(settings)
        async with open_services(settings) as services:
            dp = create_dispatcher(settings, services, redis, BOT_USERNAME)
            runner = await start_webhook(bot, dp, settings)
            try:
                async with UserSide(telegram.url) as people:
                    await people.user(tg(9201), "Eve", language_code="en")
                    await people.send_text(bot.id, tg(9201), "/start")
                    hello = await people.wait_for(
                        lambda e: e["kind"] == "message" and e["outgoing"],
                        bot=bot.id, chat_id=tg(9201), timeout=15,
                    )  # fmt: skip
                    assert "Hi, Eve!" in hello["message"]["text"]
                    mallory = tg(9202)
                    await people.user(mallory, "Mallory", language_code="en")
                    forged = {"update_id": 1, "message": {
                        "message_id": 1, "date": 0, "text": "/start",
                        "chat": {"id": mallory, "type": "private"},
                        "from": {"id": mallory, "is_bot": False, "first_name": "M"}}}  # fmt: skip
                    async with aiohttp.ClientSession() as http:
                        for headers in ({}, {"X-Telegram-Bot-Api-Secret-Token": "wrong"}):
                            async with http.post(settings.BOT_WEBHOOK_URL, json=forged,
                                                 headers=headers) as answer:  # fmt: skip
                                assert answer.status == 401
                    seen = await people.events(0, bot=bot.id, chat_id=mallory)
                    assert not seen["events"], "a forged update is never handled"
            finally:
                await runner.cleanup()
                await bot.session.close()
                await redis.aclose()
