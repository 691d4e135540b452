"""`python -m bot_gateway`: the bot, by long polling or, with BOT_WEBHOOK_URL, as a
webhook server (several replicas behind one URL)."""

from __future__ import annotations

import asyncio
import logging
import signal

import uvloop

from bot_gateway.app import create_bot, create_dispatcher, set_commands
from bot_gateway.services import open_services
from bot_gateway.settings import BotSettings
from bot_gateway.webhook import start_webhook
from common.logs import setup_logging
from common.redis_pool import redis_client
from common.settings import load_settings

log = logging.getLogger("bot_gateway")


async def main() -> None:
    settings = load_settings(BotSettings)
    setup_logging(settings.LOG_LEVEL)
    redis = redis_client(settings.REDIS_URL)
    bot = create_bot(settings)
    try:
        username = settings.BOT_USERNAME or (await bot.get_me()).username or ""
        async with open_services(settings, settings.SERVICE_DEADLINE_SECONDS) as services:
            dp = create_dispatcher(settings, services, redis, username)
            await set_commands(bot)
            log.info("bot started", extra={"bot": username, "api": settings.TELEGRAM_API_URL})
            if settings.BOT_WEBHOOK_URL:
                stop = asyncio.Event()
                for sig in (signal.SIGTERM, signal.SIGINT):
                    asyncio.get_running_loop().add_signal_handler(sig, stop.set)
                runner = await start_webhook(bot, dp, settings)
                try:
                    await stop.wait()
                finally:
                    await runner.cleanup()
            else:
                await bot.delete_webhook()
                await dp.start_polling(
                    bot,
                    allowed_updates=dp.resolve_used_update_types(),
                    tasks_concurrency_limit=settings.BOT_CONCURRENT_UPDATES,
                )
    finally:
        await bot.session.close()
        await redis.aclose()
        log.info("bot stopped")


if __name__ == "__main__":
    uvloop.run(main())
