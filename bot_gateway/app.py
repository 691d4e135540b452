"""Builds the bot from its settings and the services: the Bot (its Bot API server,
its pace) and the Dispatcher (middlewares, routers, the error handler)."""

from __future__ import annotations

import redis.asyncio as aioredis
from aiogram import Bot, Dispatcher, methods
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.fsm.storage.base import DefaultKeyBuilder
from aiogram.fsm.storage.redis import RedisStorage
from aiogram.methods.base import Response
from aiogram.types import BotCommand, BotCommandScopeDefault, Message, Update

from bot_gateway import errors
from bot_gateway.catalog import Catalog
from bot_gateway.delivery import Deliveries
from bot_gateway.handlers import routers
from bot_gateway.lazy_models import warm
from bot_gateway.memory import JobMemory
from bot_gateway.middlewares import InFlight, PrivateChatsOnly, Throttle, UserLanguage
from bot_gateway.outbox import Outbox
from bot_gateway.progress import Progress
from bot_gateway.results import Results
from bot_gateway.services import Services
from bot_gateway.settings import BotSettings
from bot_gateway.texts import create_i18n, t
from common.texts import LANGUAGES

#: The commands Telegram shows in the menu, by their text keys.
COMMANDS = ("start", "image", "edit", "video", "balance", "buy", "history", "language", "help",
            "terms", "paysupport")  # fmt: skip


#: Every `Response[T]` a Bot API answer is read into. aiogram asks for the model on
#: each call, and pydantic keeps parametrized models only while someone else holds
#: them: without these references each call would build its class anew (about a
#: twentieth of the gateway's CPU while it answers /start after /start).
_RESPONSES = tuple(
    {
        Response[method.__returning__]  # type: ignore[name-defined]
        for method in (getattr(methods, name) for name in methods.__all__)
        if isinstance(method, type)
        and issubclass(method, methods.TelegramMethod)
        and method is not methods.TelegramMethod
    }
)


def create_bot(settings: BotSettings) -> Bot:
    """A Bot that talks to TELEGRAM_API_URL and keeps Telegram's pace."""
    session = AiohttpSession(api=TelegramAPIServer.from_base(settings.TELEGRAM_API_URL))
    session.middleware(Outbox(settings.SEND_PER_CHAT_PER_SECOND, settings.SEND_PER_SECOND))
    return Bot(
        settings.BOT_TOKEN.get_secret_value(),
        session=session,
        default=DefaultBotProperties(link_preview_is_disabled=True),
    )


#: How long a shutdown lets the updates under way finish (a service call's deadline
#: is at most SERVICE_DEADLINE_SECONDS, but each is retried only while time is left).
DRAIN_SECONDS = 10.0


def create_dispatcher(
    settings: BotSettings, services: Services, redis: aioredis.Redis, bot_username: str
) -> Dispatcher:
    """Routers per feature; stubs, settings and Redis injected by name into handlers;
    the progress watchers and the delivery feed start and stop with the dispatcher."""
    i18n = create_i18n()
    memory = JobMemory(redis)
    results = Results(services, memory, settings)
    progress = Progress(services, memory, redis, i18n)
    in_flight = InFlight()
    dp = Dispatcher(
        storage=RedisStorage(redis, key_builder=DefaultKeyBuilder(prefix="bot:fsm")),
        settings=settings,
        services=services,
        catalog=Catalog(services),
        redis=redis,
        bot_username=bot_username,
        i18n=i18n,
        memory=memory,
        results=results,
        progress=progress,
        deliveries=Deliveries(services, results, progress, memory, redis, i18n),
        in_flight=in_flight,
    )
    dp.startup.register(start_background)
    dp.shutdown.register(stop_background)
    # Outer middlewares nest in this order: the count of updates in flight, language (so
    # every answer below is in the user's words), the throttle, then private chats only.
    dp.update.outer_middleware(in_flight)
    dp.update.outer_middleware(UserLanguage(i18n, redis))
    dp.update.outer_middleware(
        Throttle(redis, settings.THROTTLE_UPDATES, settings.THROTTLE_WINDOW_SECONDS)
    )
    dp.update.outer_middleware(PrivateChatsOnly())
    dp.include_routers(*routers())
    dp.errors.register(errors.on_error)
    return dp


async def start_background(bot: Bot, progress: Progress, deliveries: Deliveries) -> None:
    """Beside the updates: status messages resume, results start arriving (dp.startup).
    The models every update and answer needs are built first."""
    warm(Update, methods.SendMessage, methods.EditMessageText, methods.AnswerCallbackQuery,
         Response[Message], Response[bool])  # fmt: skip
    progress.start(bot)
    deliveries.start(bot)


async def stop_background(
    in_flight: InFlight, progress: Progress, deliveries: Deliveries, results: Results
) -> None:
    """Updates and deliveries under way finish (briefly), watchers give their jobs back
    (dp.shutdown, which runs once no more updates come in)."""
    await in_flight.drain(DRAIN_SECONDS)
    await deliveries.stop()
    await progress.stop()
    await results.close()


async def set_commands(bot: Bot) -> None:
    """The command menu in every language the bot speaks."""
    i18n = create_i18n()
    for language in LANGUAGES:
        with i18n.context(), i18n.use_locale(language):
            commands = [BotCommand(command=c, description=t(f"bot.command.{c}")) for c in COMMANDS]
        await bot.set_my_commands(
            commands, scope=BotCommandScopeDefault(),
            language_code=None if language == LANGUAGES[0] else language,
        )  # fmt: skip
