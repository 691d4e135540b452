"""An admin's message to every user, paced, resumable and at most once per person.

The bot has no database, so a broadcast lives in Redis: what to send and who
ordered it (`bot:broadcast`, one at a time), its progress (the FindUsers page
token of the next page and the counts) and the set of people already taken.
Any replica may run it, one at a time under a lease; one that starts (after a
restart, or when the runner died) carries on from the saved page.

A person is added to the set *before* the message goes out, so nobody gets it
twice, whatever crashes: a duplicated announcement is visible, annoys people and
spends the flood budget, while the worst a crash can do this way is skip the one
person whose message was in flight. Those are reported as "not confirmed": taken
but with no outcome. A clean stop finishes the message in flight first.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

import redis.asyncio as aioredis
from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramForbiddenError
from aiogram.types import Message, MessageEntity
from aiogram.utils.i18n import I18n
from mediabot.billing.v1 import billing_pb2 as bpb
from redis.asyncio.lock import Lock

from bot_gateway.middlewares import recalled_language
from bot_gateway.outbox import Dropped
from bot_gateway.services import Services
from bot_gateway.texts import t
from common.errors import DomainError

log = logging.getLogger(__name__)

#: The running broadcast (JSON of `Broadcast`); absent when none runs.
CURRENT_KEY = "bot:broadcast"
_LEASE_KEY = "bot:broadcast:lease"
#: The lease is renewed while the runner works; a dead runner's lapses after this.
LEASE_SECONDS = 15
#: How often each replica looks for a broadcast to run (or resume).
LOOK_SECONDS = 1.0
#: Users read from billing per page.
PAGE_SIZE = 100
#: How long progress and the set of people are kept after the end.
_KEEP_SECONDS = 7 * 24 * 3600
#: The cursor once every page is done (page tokens are never empty otherwise).
_PAGED_ALL = "-"
#: Outcomes of one message, as counted.
OUTCOMES = ("sent", "failed", "blocked")


@dataclass
class Broadcast:
    """What goes out, and to whom it reports."""

    id: str
    admin: int
    kind: str  #: "text" or "photo"
    text: str  #: the text, or the photo's caption
    entities: list[dict[str, Any]] = field(default_factory=list)
    photo: str = ""  #: the photo's file_id
    started_at: float = 0.0

    @classmethod
    def of(cls, admin: int, message: Message) -> Broadcast | None:
        """The broadcast of an admin's message, if it is text or a photo."""
        new = cls(uuid.uuid4().hex, admin, "text", "", started_at=time.time())
        if message.photo:
            new.kind, new.photo = "photo", message.photo[-1].file_id
            new.text, found = message.caption or "", message.caption_entities or []
        elif message.text:
            new.text, found = message.text, message.entities or []
        else:
            return None
        new.entities = [e.model_dump(mode="json", exclude_none=True) for e in found]
        return new

    def progress_key(self) -> str:
        return f"bot:broadcast:{self.id}:progress"

    def taken_key(self) -> str:
        return f"bot:broadcast:{self.id}:taken"

    async def send(self, bot: Bot, chat_id: int) -> None:
        entities = [MessageEntity.model_validate(e) for e in self.entities] or None
        if self.kind == "photo":
            await bot.send_photo(chat_id, self.photo, caption=self.text or None,
                                 caption_entities=entities)  # fmt: skip
        else:
            await bot.send_message(chat_id, self.text, entities=entities)


@dataclass
class Progress:
    """How far a broadcast got."""

    sent: int = 0
    failed: int = 0
    blocked: int = 0
    taken: int = 0

    @property
    def unconfirmed(self) -> int:
        """People taken whose message has no outcome: it was in flight at a crash."""
        return max(0, self.taken - self.sent - self.failed - self.blocked)


def _text(value: bytes | str | None) -> str:
    return value.decode() if isinstance(value, bytes) else value or ""


async def begin(redis: aioredis.Redis, broadcast: Broadcast) -> bool:
    """Store a new broadcast for the runners; False when one is running already."""
    return bool(await redis.set(CURRENT_KEY, json.dumps(asdict(broadcast)), nx=True))


async def current(redis: aioredis.Redis) -> Broadcast | None:
    raw = await redis.get(CURRENT_KEY)
    return Broadcast(**json.loads(raw)) if raw else None


async def progress(redis: aioredis.Redis, broadcast: Broadcast) -> Progress:
    fields = {_text(k): v for k, v in (await redis.hgetall(broadcast.progress_key())).items()}
    number = {k: int(v) for k, v in fields.items() if k in OUTCOMES}
    return Progress(**number, taken=await redis.scard(broadcast.taken_key()))


class Broadcaster:
    """Runs the current broadcast when this replica holds the lease."""

    def __init__(
        self,
        bot: Bot,
        services: Services,
        redis: aioredis.Redis,
        i18n: I18n,
        per_second: float,
    ) -> None:
        self._bot = bot
        self._services = services
        self._redis = redis
        self._i18n = i18n
        self._gap = 1.0 / per_second
        self._next = 0.0
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        """Finish the message in flight and stop (the broadcast stays to be resumed)."""
        self._stopping.set()

    async def keep_running(self) -> None:
        """Look for a broadcast every LOOK_SECONDS and run it under the lease."""
        while not self._stopping.is_set():
            try:
                broadcast = await current(self._redis)
                if broadcast is not None:
                    await self._run_leased(broadcast)
            except DomainError as error:  # billing away for a moment: carry on later
                log.warning("broadcast paused", extra={"reason": error.reason})
            except Exception:  # Redis away, or the lease lost: look again later
                log.exception("broadcast round failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), LOOK_SECONDS)

    async def _run_leased(self, broadcast: Broadcast) -> None:
        lease = Lock(self._redis, _LEASE_KEY, timeout=LEASE_SECONDS)
        if not await lease.acquire(blocking=False):
            return  # another replica runs it
        try:
            await self._run(broadcast, lease)
        finally:
            with contextlib.suppress(Exception):
                await lease.release()

    async def _run(self, broadcast: Broadcast, lease: Lock) -> None:
        admin_billing = self._services.admin_billing(broadcast.admin)
        token = _text(await self._redis.hget(broadcast.progress_key(), "cursor"))
        log.info("broadcast running", extra={"broadcast": broadcast.id, "from": token or "start"})
        while token != _PAGED_ALL:
            page = await self._services.call(
                admin_billing.FindUsers, bpb.FindUsersRequest(page_size=PAGE_SIZE, page_token=token)
            )
            await lease.reacquire()
            for user in page.users:
                if self._stopping.is_set():
                    return
                if user.banned:  # people who may not use the service are left out
                    continue
                if not await self._redis.sadd(broadcast.taken_key(), user.telegram_id):
                    continue  # taken before a restart: at most once
                outcome = await self._deliver(broadcast, user.telegram_id)
                await self._redis.hincrby(broadcast.progress_key(), outcome, 1)
                await lease.reacquire()
            token = page.next_page_token or _PAGED_ALL
            await self._redis.hset(broadcast.progress_key(), "cursor", token)
        await self._finish(broadcast)

    async def _deliver(self, broadcast: Broadcast, chat_id: int) -> str:
        """Send to one person at the broadcast's pace: "sent", "blocked" or "failed"."""
        loop = asyncio.get_running_loop()
        at = max(loop.time(), self._next)
        self._next = at + self._gap
        await asyncio.sleep(at - loop.time())
        try:
            await broadcast.send(self._bot, chat_id)
        except TelegramForbiddenError:  # blocked the bot, or deleted their account
            return "blocked"
        except (TelegramAPIError, Dropped) as exc:
            log.info("broadcast message failed", extra={"user": chat_id, "error": str(exc)})
            return "failed"
        return "sent"

    async def _finish(self, broadcast: Broadcast) -> None:
        """Report the counts to the admin who ordered it, once."""
        done = await progress(self._redis, broadcast)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(CURRENT_KEY)
            pipe.expire(broadcast.progress_key(), _KEEP_SECONDS)
            pipe.expire(broadcast.taken_key(), _KEEP_SECONDS)
            await pipe.execute()
        log.info("broadcast finished", extra={"broadcast": broadcast.id, **asdict(done)})
        lang = await recalled_language(self._redis, broadcast.admin)
        with self._i18n.context(), self._i18n.use_locale(lang):
            text = t("bot.admin.broadcast.done", sent=done.sent, failed=done.failed,
                     blocked=done.blocked)  # fmt: skip
            if done.unconfirmed:
                text += "\n" + t("bot.admin.broadcast.unconfirmed", count=done.unconfirmed)
        try:
            await self._bot.send_message(broadcast.admin, text)
        except (TelegramAPIError, Dropped) as exc:
            log.warning("broadcast report not sent", extra={"error": str(exc)})
