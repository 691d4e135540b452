"""One status message per job, edited from WatchJob: the queue position and the
estimated start, then the time running and the estimate, with a Cancel button, and
the chat action that matches (upload_photo, record_video) while it runs.

Watchers run in the background, one per unfinished job, each holding a short
Redis lease so that one gateway replica edits a job's message. The jobs to follow
are kept in Redis, so a restarted gateway resumes them (and any replica picks up
a job whose watcher died). Progress edits may be dropped by the outbox (the next
one says more); an edit never repeats what the message shows, so Telegram never
answers "message is not modified".
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import random
import uuid
import weakref
from datetime import UTC, datetime

import grpc
import redis.asyncio as aioredis
from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest
from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.i18n import I18n
from mediabot.jobs.v1 import jobs_pb2 as pb

from bot_gateway import keyboards
from bot_gateway.describe import (
    TERMINAL,
    failure_reason,
    job_settings,
    seconds,
    short,
    speaking,
    when,
)
from bot_gateway.memory import JobMemory
from bot_gateway.outbox import Dropped, droppable
from bot_gateway.services import Services
from bot_gateway.tasks import cancel_and_wait
from bot_gateway.texts import t
from common.clients import refusal
from common.errors import InvalidArgument, JobNotFound

log = logging.getLogger(__name__)

#: How often a watcher wakes with no news: to show a dropped edit again, renew its lease,
#: repeat the chat action.
_WAKE_SECONDS = 1.0
_RENEW_SECONDS = 2.0
#: How often the elapsed time and the estimates are shown anew with no news.
_REFRESH_SECONDS = 5.0
#: A chat action shows for about 5 s; it is repeated before it fades.
_ACTION_SECONDS = 4.0
#: A watcher's lease; one that died is replaced after this long.
_LEASE_SECONDS = 8
#: How often every followed job is checked for a live watcher.
_RESCAN_SECONDS = 4.0
#: How long stopping waits for cancelled tasks to end.
_STOP_SECONDS = 5.0
_ACTIONS = {pb.JOB_KIND_IMAGE: "upload_photo", pb.JOB_KIND_EDIT: "upload_photo",
            pb.JOB_KIND_VIDEO: "record_video"}  # fmt: skip


def render(update: pb.WatchJobResponse) -> tuple[str, InlineKeyboardMarkup | None]:
    """The status message of a job's state, in the current language."""
    job = update.job
    now = datetime.now(UTC)
    head = t("bot.gen.status_head", settings=job_settings(job), prompt=short(job.prompt))
    markup: InlineKeyboardMarkup | None = None
    if job.status == pb.JOB_STATUS_QUEUED:
        start = when(update.estimated_start_at)
        ahead = update.queue_position
        if start is not None:
            wait = seconds(max(1.0, (start - now).total_seconds()))
            line = (
                t("bot.gen.queued_eta", ahead=ahead, wait=wait)
                if ahead
                else t("bot.gen.next_eta", wait=wait)
            )
        else:
            line = t("bot.gen.queued", ahead=ahead) if ahead else t("bot.gen.next")
        markup = keyboards.cancel_job(job.id)
    elif job.status == pb.JOB_STATUS_RUNNING:
        started = when(job.started_at) or now
        elapsed = seconds((now - started).total_seconds())
        finish = when(update.estimated_finish_at)
        if finish is not None and finish > now:
            total = seconds((finish - started).total_seconds())
            line = t("bot.gen.running_eta", elapsed=elapsed, total=total)
        else:
            line = t("bot.gen.running", elapsed=elapsed)
        markup = keyboards.cancel_job(job.id)
    elif job.status == pb.JOB_STATUS_SUCCEEDED:
        line = t("bot.gen.done")
    elif job.status == pb.JOB_STATUS_FAILED:
        line = t("bot.gen.failed", reason=failure_reason(job), cost=job.cost)
    elif job.status == pb.JOB_STATUS_CANCELLED:
        line = t("bot.gen.cancelled", cost=job.cost)
    else:
        line = t("bot.gen.creating")
    return f"{head}\n\n{line}", markup


def _digest(text: str, markup: InlineKeyboardMarkup | None) -> str:
    shown = json.dumps([text, markup.model_dump(mode="json") if markup else None], sort_keys=True)
    return hashlib.sha1(shown.encode()).hexdigest()[:16]


class Progress:
    """Status messages of jobs, and their watchers."""

    def __init__(
        self, services: Services, memory: JobMemory, redis: aioredis.Redis, i18n: I18n
    ) -> None:
        self._services = services
        self._memory = memory
        self._redis = redis
        self._i18n = i18n
        self._me = uuid.uuid4().hex  # this process, as the holder of leases
        self._bot: Bot | None = None
        self._watchers: dict[str, asyncio.Task[None]] = {}
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self._rescan: asyncio.Task[None] | None = None

    @property
    def bot(self) -> Bot:
        assert self._bot is not None, "Progress.start(bot) runs at the dispatcher's startup"
        return self._bot

    def start(self, bot: Bot) -> None:
        """Resume following every unfinished job with a status message (dp.startup)."""
        self._bot = bot
        self._rescan = asyncio.create_task(self._resume(), name="progress-resume")

    async def stop(self) -> None:
        """Stop every watcher and give their leases back, so another replica (or the
        next start) resumes them at once (dp.shutdown)."""
        tasks = [*self._watchers.values(), *([self._rescan] if self._rescan else [])]
        await cancel_and_wait(tasks, _STOP_SECONDS)
        self._watchers.clear()

    def _lock(self, job_id: str) -> asyncio.Lock:
        lock = self._locks.get(job_id)
        if lock is None:
            lock = self._locks[job_id] = asyncio.Lock()
        return lock

    # --- status messages ------------------------------------------------------------

    async def begin(
        self, job: pb.Job, chat: int, lang: str, message: int | None, input_file: str = ""
    ) -> None:
        """Make `message` (or a new one) the status message of a new job, show its state
        there and follow it. Safe to call twice for one job (a duplicated update)."""
        sent_now, shown = False, ""
        if message is None:
            with speaking(self._i18n, lang):
                text, markup = render(pb.WatchJobResponse(job=job))
            message = (await self.bot.send_message(chat, text, reply_markup=markup)).message_id
            sent_now = True
            shown = _digest(text, markup)
        if not await self._memory.bind(job.id, chat, lang, message, input_file):
            if sent_now:  # the same job from a duplicated update: keep one status message
                with contextlib.suppress(TelegramAPIError):
                    await self.bot.delete_message(chat, message)
            return
        if sent_now:
            await self._memory.shown(job.id, shown, job.version)
        else:
            await self.show(pb.WatchJobResponse(job=job), final=True)
        if job.status not in TERMINAL:
            await self._memory.watch(job.id)
            self.follow(job.id)

    async def show(self, update: pb.WatchJobResponse, *, final: bool = False) -> bool:
        """Edit the job's status message to `update` unless it shows that already or a
        later version; progress (not `final`) edits may be dropped by the outbox.
        Whether the job has a status message that shows it now (False for a dropped edit)."""
        job = update.job
        async with self._lock(job.id):
            note = await self._memory.get(job.id)
            if note is None or not note.message:
                return False
            if job.version < note.version:
                return True
            with speaking(self._i18n, note.lang):
                text, markup = render(update)
            digest = _digest(text, markup)
            if digest == note.shown:
                return True
            try:
                with contextlib.nullcontext() if final else droppable():
                    await self.bot.edit_message_text(
                        text=text, chat_id=note.chat, message_id=note.message, reply_markup=markup
                    )
            except Dropped:
                return False
            except TelegramBadRequest as exc:
                if "not modified" not in exc.message:  # deleted by the user, or too old
                    log.info("status message not edited",
                             extra={"job": job.id, "error": exc.message})  # fmt: skip
                    await self._memory.drop_message(job.id)
                    return False
            except TelegramAPIError as exc:  # blocked, or Telegram kept refusing
                log.info("status message not edited", extra={"job": job.id, "error": str(exc)})
                return False
            await self._memory.shown(job.id, digest, job.version)
            return True

    async def finish(self, job: pb.Job) -> None:
        """The result is in the chat: its status message goes (or, when Telegram keeps it,
        says done) and nobody follows the job any more."""
        watcher = self._watchers.get(job.id)
        if watcher is not None and watcher is not asyncio.current_task():
            watcher.cancel()
        await self._memory.unwatch(job.id)
        async with self._lock(job.id):
            note = await self._memory.get(job.id)
            if note is None or not note.message:
                return
            try:
                await self.bot.delete_message(note.chat, note.message)
            except TelegramBadRequest:  # too old to delete: say it is done instead
                await self._memory.drop_message(job.id)
                with speaking(self._i18n, note.lang):
                    text, _ = render(pb.WatchJobResponse(job=job))
                with contextlib.suppress(TelegramAPIError):
                    await self.bot.edit_message_text(
                        text=text, chat_id=note.chat, message_id=note.message
                    )
                return
            except TelegramAPIError:
                return
            await self._memory.drop_message(job.id)

    # --- watchers ---------------------------------------------------------------------

    def follow(self, job_id: str) -> None:
        """Watch the job here unless this process does already."""
        if job_id not in self._watchers:
            task = asyncio.create_task(self._follow(job_id), name=f"progress-{job_id}")
            self._watchers[job_id] = task
            task.add_done_callback(lambda _: self._forget(job_id, task))

    def _forget(self, job_id: str, task: asyncio.Task[None]) -> None:
        if self._watchers.get(job_id) is task:
            del self._watchers[job_id]

    async def _resume(self) -> None:
        """Follow every job that should be followed and has no live watcher, now and
        every few seconds (a restarted gateway, a replica that died)."""
        while True:
            try:
                for job_id in await self._memory.watched():
                    if job_id not in self._watchers:
                        self.follow(job_id)
            except Exception:  # Redis away: try again on the next round
                log.warning("could not list the jobs to follow", exc_info=True)
            await asyncio.sleep(_RESCAN_SECONDS)

    async def _lease(self, job_id: str, renew: bool) -> bool:
        key = f"bot:watcher:{job_id}"
        if not renew:
            return bool(await self._redis.set(key, self._me, ex=_LEASE_SECONDS, nx=True))
        holder = await self._redis.get(key)
        if holder not in (None, self._me.encode()):
            return False
        await self._redis.set(key, self._me, ex=_LEASE_SECONDS)
        return True

    async def _release(self, job_id: str) -> None:
        key = f"bot:watcher:{job_id}"
        with contextlib.suppress(Exception):
            if await self._redis.get(key) == self._me.encode():
                await self._redis.delete(key)

    async def _follow(self, job_id: str) -> None:
        try:
            if not await self._lease(job_id, renew=False):
                return  # another replica follows it
            note = await self._memory.get(job_id)
            if note is None:
                await self._memory.unwatch(job_id)
                return
            await self._watch(job_id, note.chat)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("progress watcher failed", extra={"job": job_id})
        finally:
            await self._release(job_id)

    async def _watch(self, job_id: str, user: int) -> None:
        loop = asyncio.get_running_loop()
        updates: asyncio.Queue[pb.WatchJobResponse | None] = asyncio.Queue()
        reader = asyncio.create_task(self._read(job_id, user, updates))
        latest: pb.WatchJobResponse | None = None
        shown_at = leased_at = loop.time()
        action_at = -_ACTION_SECONDS
        behind = False  # the last edit was dropped: show it again at the next wake
        try:
            while True:
                try:
                    # Not asyncio.wait_for: on 3.11 it can swallow a cancellation that
                    # meets a ready result, and this loop would never stop.
                    async with asyncio.timeout(_WAKE_SECONDS):
                        update = await updates.get()
                except TimeoutError:
                    update = None
                    fresh = False
                else:
                    if update is None:  # the job is finished or gone
                        await self._memory.unwatch(job_id)
                        return
                    latest, fresh = update, True
                now = loop.time()
                if now - leased_at >= _RENEW_SECONDS:
                    if not await self._lease(job_id, renew=True):
                        return  # lost to another replica
                    leased_at = now
                if latest is None:
                    continue
                status = latest.job.status
                if status == pb.JOB_STATUS_RUNNING and now - action_at >= _ACTION_SECONDS:
                    action_at = now
                    with contextlib.suppress(TelegramAPIError):
                        await self.bot.send_chat_action(user, _ACTIONS[latest.job.kind])
                if status == pb.JOB_STATUS_SUCCEEDED:
                    continue  # delivery sends the result and removes this message
                if fresh or behind or now - shown_at >= _REFRESH_SECONDS:
                    shown_at = now
                    behind = not await self.show(latest, final=status in TERMINAL)
        finally:
            await cancel_and_wait([reader], _STOP_SECONDS)

    async def _read(
        self, job_id: str, user: int, out: asyncio.Queue[pb.WatchJobResponse | None]
    ) -> None:
        """WatchJob into `out`, reconnecting with backoff; None when it ends for good."""
        delay = 0.2
        request = pb.WatchJobRequest(job_id=job_id, telegram_id=user)
        while True:
            try:
                async for update in self._services.jobs.WatchJob(request):
                    delay = 0.2
                    out.put_nowait(update)
                    if update.job.status in TERMINAL:
                        out.put_nowait(None)
                        return
            except grpc.aio.AioRpcError as exc:
                error = refusal(exc)
                if isinstance(error, JobNotFound | InvalidArgument):
                    out.put_nowait(None)
                    return
                log.info("job watch interrupted; reconnecting",
                         extra={"job": job_id, "code": exc.code().name})  # fmt: skip
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))
            delay = min(delay * 2, 5.0)
