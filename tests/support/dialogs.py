"""People going through the bot's generation dialogs, as the tests drive them: each
step as a person does it (a command, a button, a text, a photo), waiting for what
the bot shows next — a new message or an edit of the one the button was on."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

from aiogram import Bot
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.exceptions import TelegramBadRequest
from aiogram.methods import Response, TelegramMethod

from devstack.telegram import LocalTelegram
from devstack.telegram.client import EventFeed
from devstack.telegram.state import PendingQuery
from tests.support.gateway import BOT_USERNAME, TOKEN, WEBAPP_SECRET, Gateway, button, buttons
from tests.support.jobs import png

Json = dict[str, Any]
ROOT = Path(__file__).resolve().parent.parent.parent


_FEEDS: dict[int, EventFeed] = {}


@contextlib.asynccontextmanager
async def feeding(gw: Gateway) -> AsyncIterator[EventFeed]:
    """While inside, the helpers below wait on one feed of `gw`'s events."""
    async with EventFeed.running(gw.users, gw.bot.id) as feed:
        _FEEDS[id(gw)] = feed
        try:
            yield feed
        finally:
            del _FEEDS[id(gw)]


async def mark(gw: Gateway) -> int:
    """The newest event: what comes after it is new."""
    feed = _FEEDS.get(id(gw))
    return feed.last if feed is not None else await gw.mark()


async def wait_event(
    gw: Gateway, check: Callable[[Json], bool], after: int, chat_id: int, timeout: float
) -> Json:
    feed = _FEEDS.get(id(gw))
    if feed is not None:
        return await feed.wait_for(check, after, chat_id, timeout)
    return await gw.users.wait_for(
        check, after=after, bot=gw.bot.id, chat_id=chat_id, timeout=timeout
    )


def shown(event: Json) -> bool:
    """An outgoing message or an edit of one."""
    return event["kind"] in ("message", "edit") and bool(event.get("outgoing"))


def is_result(message: Json) -> bool:
    return any(k in message for k in ("photo", "video", "document"))


def text_of(message: Json) -> str:
    return str(message.get("text") or message.get("caption") or "")


async def wait_shown(
    gw: Gateway, user: int, after: int, check: Callable[[Json], bool] = lambda m: True,
    timeout: float = 15,
) -> Json:  # fmt: skip
    """The first message the bot shows `user` after `after` (sent or edited) that
    passes `check`."""
    event = await wait_event(gw, lambda e: shown(e) and check(e["message"]), after, user, timeout)
    return dict(event["message"])


async def say(gw: Gateway, user: int, text: str, timeout: float = 15) -> Json:
    """`user` writes `text`: what the bot shows next."""
    after = await mark(gw)
    await gw.users.send_text(gw.bot.id, user, text)
    return await wait_shown(gw, user, after, timeout=timeout)


async def press(gw: Gateway, user: int, message: Json, label: str, timeout: float = 15) -> Json:
    """`user` presses the button labelled `label`: what the bot shows next."""
    data = button(message, label)["callback_data"]
    after = await mark(gw)
    await gw.users.press(gw.bot.id, user, message["message_id"], data)
    return await wait_shown(gw, user, after, timeout=timeout)


async def send_photo(
    gw: Gateway, user: int, data: bytes, *, as_file: bool = False, caption: str = ""
) -> Json:
    """`user` sends an image as a photo or as a PNG file: what the bot shows next."""
    after = await mark(gw)
    if as_file:
        await gw.users.send_file(gw.bot.id, user, data, kind="document", filename="in.png",
                                 content_type="image/png", caption=caption)  # fmt: skip
    else:
        await gw.users.send_file(gw.bot.id, user, data, caption=caption)
    return await wait_shown(gw, user, after)


async def to_confirmation(
    gw: Gateway,
    user: int,
    kind: str = "image",
    *,
    quality: str = "Standard",
    ratio: str = "1:1",
    duration: str = "4 s",
    prompt: str = "a red fox in the snow",
    photo: bytes | None = None,
    as_file: bool = False,
) -> Json:
    """Through a dialog of `kind` to its confirmation message."""
    question = await say(gw, user, f"/{kind}")
    question = await press(gw, user, question, quality)
    question = await press(gw, user, question, ratio)
    if kind == "video":
        question = await press(gw, user, question, duration)
    question = await say(gw, user, prompt)
    if kind == "edit":
        question = await send_photo(gw, user, photo or png(), as_file=as_file)
    elif kind == "video":
        if photo is None:
            question = await press(gw, user, question, "Skip")
        else:
            question = await send_photo(gw, user, photo, as_file=as_file)
    assert any("✅" in b["text"] for b in buttons(question)), question
    return question


async def confirm(gw: Gateway, user: int, confirmation: Json) -> Json:
    """Press the confirmation's button: the status message it turns into."""
    return await press(gw, user, confirmation, "✅")


async def result(gw: Gateway, user: int, after: int = 0, timeout: float = 30) -> Json:
    """The next result (photo, video or document) the bot sends `user` after `after`."""
    event = await wait_event(
        gw, lambda e: e["kind"] == "message" and e["outgoing"] and is_result(e["message"]),
        after, user, timeout,
    )  # fmt: skip
    return dict(event["message"])


async def results_in(gw: Gateway, user: int) -> list[Json]:
    """Every result the bot sent `user` (deleted or not)."""
    chat = await gw.users.transcript(gw.bot.id, user)
    return [m["message"] for m in chat["messages"] if m["outgoing"] and is_result(m["message"])]


def inject(
    telegram: LocalTelegram, kind: str, payload: Json, *, update_id: int | None = None,
    times: int = 1,
) -> int:  # fmt: skip
    """Put a raw update into the bot's queue as Telegram would send it (`times` copies
    of the same update: a duplicated delivery); its update_id."""
    bot = telegram.world.find_bot(BOT_USERNAME)
    if update_id is None:
        update_id = bot.next_update_id
        bot.next_update_id += 1
    for _ in range(times):
        bot.updates.append({"update_id": update_id, kind: payload})
    bot.wake()
    return update_id


def callback(telegram: LocalTelegram, user: int, message: Json, data: str) -> Json:
    """A callback query payload whose answer the server accepts (a pending press)."""
    world = telegram.world
    bot = world.find_bot(BOT_USERNAME)
    person = world.users[user]
    query_id = str(int(time.time() * 1e6))
    world.callbacks[query_id] = PendingQuery(
        query_id, bot.id, user, person, time.monotonic(),
        asyncio.get_running_loop().create_future(),
    )  # fmt: skip
    return {"id": query_id, "from": person.json(), "message": message,
            "chat_instance": "1", "data": data}  # fmt: skip


@contextlib.contextmanager
def gateway_process(
    telegram: LocalTelegram, env: dict[str, str], log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """`python -m bot_gateway` as its own process (so a test can kill it for real)."""
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    full = {**keep, **env, "BOT_TOKEN": TOKEN, "BOT_USERNAME": BOT_USERNAME,
            "WEBAPP_SECRET": WEBAPP_SECRET, "TELEGRAM_API_URL": telegram.url,
            "SERVICE_DEADLINE_SECONDS": "3", "LOG_LEVEL": "INFO"}  # fmt: skip
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "bot_gateway"], env=full, cwd=ROOT, stdout=out, stderr=out
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
        process.wait()


class NotModifiedWatch(BaseRequestMiddleware):
    """Records every "message is not modified" Telegram answers the bot (there should
    be none: the bot never repeats an edit)."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    async def __call__(
        self, make_request: NextRequestMiddlewareType[Any], bot: Bot, method: TelegramMethod[Any]
    ) -> Response[Any]:
        try:
            return await make_request(bot, method)
        except TelegramBadRequest as exc:
            if "not modified" in exc.message:
                self.seen.append(f"{method.__api_method__}: {exc.message}")
            raise
