"""Getting updates: long polling with offsets and allowed_updates, webhooks with their secret
header and replies, and a real aiogram Dispatcher in both modes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest
from aiogram import Bot, Dispatcher, F, Router
from aiogram.exceptions import TelegramBadRequest, TelegramConflictError
from aiogram.filters import Command, CommandObject
from aiogram.methods import SendMessage
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web

from devstack.telegram import Limits, LocalTelegram, Options
from devstack.telegram.client import UserSide
from tests.bot.conftest import ANN, BOB, make_bot, only

SECRET = "s3cr3t-Token_42"


def echo_router() -> Router:
    """A tiny bot: /start greets (with its payload), text is echoed, a button edits."""
    router = Router()

    @router.message(Command("start"))
    async def start(message: Message, command: CommandObject) -> None:
        assert message.from_user is not None
        await message.answer(
            f"Hello, {message.from_user.first_name}! ({command.args or 'no payload'})",
            reply_markup=InlineKeyboardMarkup(
                inline_keyboard=[[InlineKeyboardButton(text="Ping", callback_data="ping")]]
            ),
        )

    @router.message(F.text)
    async def echo(message: Message) -> None:
        await message.answer(f"echo: {message.text}")

    @router.callback_query(F.data == "ping")
    async def ping(query: CallbackQuery) -> None:
        await query.answer("pong", show_alert=True)
        assert isinstance(query.message, Message)
        await query.message.edit_text("ponged")

    return router


@asynccontextmanager
async def polling(bot: Bot, router: Router) -> AsyncIterator[Dispatcher]:
    dispatcher = Dispatcher()
    dispatcher.include_router(router)
    task = asyncio.create_task(
        dispatcher.start_polling(
            bot, handle_signals=False, close_bot_session=False, polling_timeout=1
        )
    )
    try:
        yield dispatcher
    finally:
        await dispatcher.stop_polling()
        await asyncio.wait_for(task, 5)


async def reply_text(users: UserSide, bot: Bot, chat_id: int, after: int) -> str:
    event = await users.wait_for(
        lambda e: e["kind"] == "message" and e["outgoing"], after=after, bot=bot.id, chat_id=chat_id
    )
    return str(event["message"]["text"])


async def test_the_dispatcher_polls_echoes_and_answers_buttons(bot: Bot, users: UserSide) -> None:
    async with polling(bot, echo_router()):
        mark = (await users.events())["last_seq"]
        await users.send_text(bot.id, ANN, "/start ref_abc")
        assert await reply_text(users, bot, ANN, mark) == "Hello, Ann! (ref_abc)"
        mark = (await users.events())["last_seq"]
        await users.send_text(bot.id, ANN, "a red fox")
        assert await reply_text(users, bot, ANN, mark) == "echo: a red fox"
        greeting = (await users.bot_messages(bot.id, ANN))[0]
        pressed = await users.press(bot.id, ANN, greeting["message_id"], "ping", wait=5)
        assert pressed["answer"] == {"text": "pong", "show_alert": True, "url": "", "cache_time": 0}
        await users.wait_for(
            lambda e: e["kind"] == "edit" and e["message"]["text"] == "ponged", bot=bot.id
        )


async def test_long_polling_waits_for_an_update_and_offsets_confirm(
    bot: Bot, users: UserSide
) -> None:
    started = time.monotonic()
    waiting = asyncio.create_task(bot.get_updates(timeout=10))
    await asyncio.sleep(0.2)
    assert not waiting.done()
    await users.send_text(bot.id, ANN, "first")
    first = only(await asyncio.wait_for(waiting, 2))
    assert time.monotonic() - started < 2
    assert first.message and first.message.text == "first"
    await users.send_text(bot.id, ANN, "second")
    unconfirmed = await bot.get_updates()
    assert [u.message.text for u in unconfirmed if u.message] == ["first", "second"]
    confirmed = await bot.get_updates(offset=first.update_id + 1)
    assert [u.update_id for u in confirmed] == [first.update_id + 1]
    assert await bot.get_updates(offset=first.update_id + 2, timeout=0) == []
    started = time.monotonic()
    assert await bot.get_updates(timeout=1) == []
    assert 0.9 < time.monotonic() - started < 2


async def test_allowed_updates_filter_what_is_queued(bot: Bot, users: UserSide) -> None:
    await users.send_text(bot.id, ANN, "/start")
    start = only(await bot.get_updates(allowed_updates=["callback_query"]))
    sent = await bot.send_message(
        ANN,
        "press",
        reply_markup=InlineKeyboardMarkup(
            inline_keyboard=[[InlineKeyboardButton(text="X", callback_data="x")]]
        ),
    )
    await users.send_text(bot.id, ANN, "ignored: the bot asked for callback queries only")
    await users.press(bot.id, ANN, sent.message_id, "x")
    updates = await bot.get_updates(offset=start.update_id + 1)
    assert [u.event_type for u in updates] == ["callback_query"]
    query = updates[0].callback_query
    assert query and query.data == "x" and query.from_user.id == ANN and query.chat_instance
    assert await bot.answer_callback_query(query.id, text="ok") is True
    with pytest.raises(TelegramBadRequest) as caught:
        await bot.answer_callback_query(query.id)
    assert caught.value.message == (
        "Bad Request: query is too old and response timeout expired or query ID is invalid"
    )


async def test_a_second_poller_terminates_the_first_with_409(bot: Bot, users: UserSide) -> None:
    first = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.1)
    second = asyncio.create_task(bot.get_updates(timeout=5))
    with pytest.raises(TelegramConflictError, match="terminated by other getUpdates request"):
        await asyncio.wait_for(first, 2)
    await users.send_text(bot.id, ANN, "for the second")
    assert only(await asyncio.wait_for(second, 2)).message is not None


async def test_webhooks_need_https_off_local_mode_and_block_get_updates(
    start_telegram: Callable[..., Awaitable[LocalTelegram]],
) -> None:
    cloud = await start_telegram()
    bot = make_bot(cloud.url)
    try:
        with pytest.raises(TelegramBadRequest, match="bad webhook: An HTTPS URL must be provided"):
            await bot.set_webhook("http://example.com/hook")
        with pytest.raises(
            TelegramBadRequest, match=r"bad webhook: IP address 127\.0\.0\.1 is reserved"
        ):
            await bot.set_webhook("https://127.0.0.1:8443/hook")
        assert await bot.set_webhook("https://bot.example.com/hook", secret_token=SECRET)
        info = await bot.get_webhook_info()
        assert (info.url, info.pending_update_count) == ("https://bot.example.com/hook", 0)
        with pytest.raises(
            TelegramConflictError, match="can't use getUpdates method while webhook"
        ):
            await bot.get_updates()
        assert await bot.delete_webhook()
        assert (await bot.get_webhook_info()).url == ""
        assert await bot.get_updates() == []
    finally:
        await bot.session.close()


@asynccontextmanager
async def webhook_app(
    dispatcher: Dispatcher, bot: Bot, secret: str, in_background: bool = True
) -> AsyncIterator[str]:
    app = web.Application()
    SimpleRequestHandler(
        dispatcher, bot, handle_in_background=in_background, secret_token=secret
    ).register(app, path="/hook")
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    finally:
        await runner.cleanup()


@pytest.fixture
async def local(start_telegram: Callable[..., Awaitable[LocalTelegram]]) -> LocalTelegram:
    return await start_telegram(Options(local_mode=True, limits=Limits(enabled=False)))


async def test_webhook_mode_posts_updates_with_the_secret_header(local: LocalTelegram) -> None:
    bot = make_bot(local.url)
    dispatcher = Dispatcher()
    dispatcher.include_router(echo_router())
    try:
        async with UserSide(local.url) as users, webhook_app(dispatcher, bot, SECRET) as url:
            await users.user(ANN, "Ann")
            await bot.get_me()
            assert await bot.set_webhook(url, secret_token=SECRET)
            await users.send_text(bot.id, ANN, "/start")
            assert await reply_text(users, bot, ANN, 0) == "Hello, Ann! (no payload)"
            info = await bot.get_webhook_info()
            assert info.pending_update_count == 0 and info.last_error_message is None
    finally:
        await bot.session.close()


async def test_a_webhook_refusing_the_secret_keeps_the_update_and_reports_the_error(
    local: LocalTelegram,
) -> None:
    bot = make_bot(local.url)
    dispatcher = Dispatcher()
    dispatcher.include_router(echo_router())
    try:
        async with UserSide(local.url) as users, webhook_app(dispatcher, bot, SECRET) as url:
            await users.user(ANN, "Ann")
            await bot.get_me()
            await bot.set_webhook(url, secret_token="not-the-secret")
            await users.send_text(bot.id, ANN, "hello?")
            await users.wait_for(lambda e: e["kind"] == "webhook_error", bot=bot.id)
            info = await bot.get_webhook_info()
            assert info.last_error_message == "Wrong response from the webhook: 401 Unauthorized"
            assert info.pending_update_count == 1
            assert await users.bot_messages(bot.id, ANN) == []
            await bot.set_webhook(url, secret_token=SECRET)  # fixed: the kept update goes through
            assert await reply_text(users, bot, ANN, 0) == "echo: hello?"
    finally:
        await bot.session.close()


async def test_a_method_in_the_webhook_reply_is_executed(local: LocalTelegram) -> None:
    router = Router()

    @router.message()
    async def reply(message: Message) -> SendMessage:
        return message.answer(f"replied in the webhook answer to {message.text}")

    dispatcher = Dispatcher()
    dispatcher.include_router(router)
    bot = make_bot(local.url)
    try:
        async with UserSide(local.url) as users:
            await users.user(BOB, "Bob")
            await bot.get_me()
            async with webhook_app(dispatcher, bot, SECRET, in_background=False) as url:
                await bot.set_webhook(url, secret_token=SECRET)
                await users.send_text(bot.id, BOB, "ping")
                text = await reply_text(users, bot, BOB, 0)
                assert text == "replied in the webhook answer to ping"
    finally:
        await bot.session.close()
