"""Webhook mode: Telegram posts updates to BOT_WEBHOOK_URL; any number of replicas
behind it share the work (dialogs and limits live in Redis)."""

from __future__ import annotations

import logging

from aiogram import Bot, Dispatcher
from aiogram.webhook.aiohttp_server import SimpleRequestHandler, setup_application
from aiohttp import web

from bot_gateway.settings import BotSettings

log = logging.getLogger(__name__)


async def start_webhook(bot: Bot, dp: Dispatcher, settings: BotSettings) -> web.AppRunner:
    """Listen at BOT_WEBHOOK_ADDR, refusing requests without Telegram's secret token,
    and point Telegram at BOT_WEBHOOK_URL. The caller cleans the runner up."""
    secret = settings.BOT_WEBHOOK_SECRET.get_secret_value() or None
    app = web.Application()
    SimpleRequestHandler(dispatcher=dp, bot=bot, secret_token=secret).register(app, path="/")
    setup_application(app, dp, bot=bot)
    host, _, port = settings.BOT_WEBHOOK_ADDR.rpartition(":")
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, host, int(port)).start()
    await bot.set_webhook(
        settings.BOT_WEBHOOK_URL,
        secret_token=secret,
        allowed_updates=dp.resolve_used_update_types(),
        max_connections=min(100, settings.BOT_CONCURRENT_UPDATES),
    )
    log.info("webhook serving", extra={"addr": settings.BOT_WEBHOOK_ADDR})
    return runner
