"""`python -m bot_gateway`: the bot, by long polling or, with BOT_WEBHOOK_URL, as a
webhook server (several replicas behind one URL)."""

from __future__ import annotations

import asyncio
import logging

import uvloop
from aiogram import Bot, Dispatcher
from aiogram.webhook.aiohttp_server import SimpleRequestHandler, setup_application
from aiohttp import web

from bot_gateway.app import create_bot, create_dispatcher, create_redis, set_commands
from bot_gateway.services import open_services
from bot_gateway.settings import BotSettings
from common.logs import setup_logging
from common.settings import load_settings

log = logging.getLogger("bot_gateway")


async def serve_webhook(bot: Bot, dp: Dispatcher, settings: BotSettings) -> None:
    """Receive updates at BOT_WEBHOOK_ADDR, checking Telegram's secret on each."""
    secret = settings.BOT_WEBHOOK_SECRET.get_secret_value() or None
    app = web.Application()
    SimpleRequestHandler(dispatcher=dp, bot=bot, secret_token=secret).register(app, path="/")
    setup_application(app, dp, bot=bot)
    host, _, port = settings.BOT_WEBHOOK_ADDR.rpartition(":")
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, host, int(port)).start()
    await bot.set_webhook(settings.BOT_WEBHOOK_URL, secret_token=secret,
                          allowed_updates=dp.resolve_used_update_types())  # fmt: skip
    log.info("webhook serving", extra={"addr": settings.BOT_WEBHOOK_ADDR})
    try:
        await asyncio.Event().wait()  # until the process is stopped
    finally:
        await runner.cleanup()


async def main() -> None:
    settings = load_settings(BotSettings)
    setup_logging(settings.LOG_LEVEL)
    redis = create_redis(settings)
    bot = create_bot(settings)
    try:
        username = settings.BOT_USERNAME or (await bot.get_me()).username or ""
        async with open_services(settings, settings.SERVICE_DEADLINE_SECONDS) as services:
            dp = create_dispatcher(settings, services, redis, username)
            await set_commands(bot)
            log.info("bot started", extra={"bot": username, "api": settings.TELEGRAM_API_URL})
            if settings.BOT_WEBHOOK_URL:
                await serve_webhook(bot, dp, settings)
            else:
                await bot.delete_webhook()
                await dp.start_polling(bot, allowed_updates=dp.resolve_used_update_types())
    finally:
        await bot.session.close()
        await redis.aclose()
        log.info("bot stopped")


if __name__ == "__main__":
    uvloop.run(main())
