"""Results to their chats: WatchDeliveries streams every finished job not yet
acknowledged (those that finished while the gateway was down first); each is sent
— the result, or why it failed — its file_id remembered, and then acknowledged
with AckDelivery. Every call to those two RPCs is in this module.

Nothing is delivered twice: a job is marked sent in Redis (JobMemory) right after
the send and before the acknowledgement, so a replay (a reconnect, a restart
between send and ack) only acknowledges it; a short Redis claim per job keeps two
gateway replicas from sending it at once. Nothing is lost: a job is acknowledged
only once it reached the chat (or cannot: the user blocked the bot), a failed send
is tried again with backoff, and the stream reconnects on its own.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
import uuid

import grpc
import redis.asyncio as aioredis
from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError
from aiogram.utils.i18n import I18n
from mediabot.jobs.v1 import jobs_pb2 as pb

from bot_gateway.describe import speaking
from bot_gateway.memory import JobMemory, JobNote
from bot_gateway.middlewares import recalled_language
from bot_gateway.progress import Progress, render
from bot_gateway.results import Results
from bot_gateway.services import Services
from common.errors import JobNotFound, JobNotSucceeded

log = logging.getLogger(__name__)

#: Deliveries in progress at once (the outbox paces what they send).
_AT_ONCE = 32
#: How long one replica may hold a job it is delivering (a dead one's claim lapses).
_CLAIM_SECONDS = 120
#: How long stop() lets deliveries under way finish.
_GRACE_SECONDS = 5.0


class ClaimedElsewhere(RuntimeError):
    """Another gateway replica is delivering the job."""


class Deliveries:
    """The delivery feed of this gateway, as a background task."""

    def __init__(
        self,
        services: Services,
        results: Results,
        progress: Progress,
        memory: JobMemory,
        redis: aioredis.Redis,
        i18n: I18n,
    ) -> None:
        self._services = services
        self._results = results
        self._progress = progress
        self._memory = memory
        self._redis = redis
        self._i18n = i18n
        self._me = uuid.uuid4().hex
        self._slots = asyncio.Semaphore(_AT_ONCE)
        self._busy: dict[str, asyncio.Task[None]] = {}
        self._feed: asyncio.Task[None] | None = None
        self._bot: Bot | None = None

    def start(self, bot: Bot) -> None:
        self._bot = bot
        self._feed = asyncio.create_task(self._run(), name="deliveries")

    async def stop(self) -> None:
        """Stop reading; let deliveries under way finish for a moment, then cancel them."""
        if self._feed is not None:
            self._feed.cancel()
            await asyncio.wait([self._feed], timeout=_GRACE_SECONDS)
        busy = list(self._busy.values())
        if busy:
            _, late = await asyncio.wait(busy, timeout=_GRACE_SECONDS)
            for task in late:
                task.cancel()
            if late:  # bounded: a shutdown must end even if a task misbehaves
                await asyncio.wait(late, timeout=_GRACE_SECONDS)

    # --- the feed -------------------------------------------------------------------

    def _open(self) -> grpc.aio.UnaryStreamCall:
        """The delivery stream: job_svc leases each finished job to one gateway stream
        at a time, for longer than a large upload takes, at most as many as this
        gateway delivers at once plus those waiting for a slot."""
        request = pb.WatchDeliveriesRequest(
            gateway=self._me, lease_seconds=_CLAIM_SECONDS, max_unacked=_AT_ONCE * 2
        )
        return self._services.jobs.WatchDeliveries(request)

    async def _ack(self, job: pb.Job, note: JobNote | None) -> None:
        """The job reached its chat: job_svc remembers the file_id it went out with, so
        History (on any replica) re-sends it without uploading again."""
        sent = []
        if note is not None and note.file_id and job.results:
            sent = [pb.SentFile(key=job.results[0].key, telegram_file_id=note.file_id)]
        try:
            await self._services.call(
                self._services.jobs.AckDelivery,
                pb.AckDeliveryRequest(job_id=job.id, gateway=self._me, sent_files=sent),
            )
        except JobNotFound:  # gone meanwhile: nothing is left to acknowledge
            pass

    async def _run(self) -> None:
        delay = 0.2
        while True:
            stream = self._open()
            try:
                async for answer in stream:
                    delay = 0.2
                    self._spawn(answer.job)
            except grpc.aio.AioRpcError as exc:
                log.info("delivery feed interrupted; reconnecting",
                         extra={"code": exc.code().name})  # fmt: skip
            finally:
                stream.cancel()
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))
            delay = min(delay * 2, 5.0)

    def _spawn(self, job: pb.Job) -> None:
        if job.id in self._busy:  # a replay of one under way (the stream reconnected)
            return
        task = asyncio.create_task(self._deliver(job), name=f"deliver-{job.id}")
        self._busy[job.id] = task
        task.add_done_callback(lambda _: self._busy.pop(job.id, None))

    async def _deliver(self, job: pb.Job) -> None:
        """Deliver until done, trying again with backoff while Telegram, the object store
        or a service fails for now."""
        delay = 1.0
        while True:
            try:
                async with self._slots:
                    await self._deliver_once(job)
                return
            except asyncio.CancelledError:
                raise
            except ClaimedElsewhere:
                delay = max(delay, 10.0)
            except Exception as exc:
                log.warning("delivery failed; trying again",
                            extra={"job": job.id, "error": repr(exc)})  # fmt: skip
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))
            delay = min(delay * 2, 30.0)

    async def _deliver_once(self, job: pb.Job) -> None:
        claim = f"bot:delivering:{job.id}"
        if not await self._redis.set(claim, self._me, ex=_CLAIM_SECONDS, nx=True):
            # Another replica delivers it (or died doing so): look again later; by then
            # it is acknowledged, or the claim has lapsed and this one delivers it.
            raise ClaimedElsewhere(job.id)
        try:
            note = await self._note(job)
            if not note.sent:
                note = await self._send(job, note)
            if job.status == pb.JOB_STATUS_SUCCEEDED:
                await self._progress.finish(job)
            else:
                await self._memory.unwatch(job.id)
            await self._ack(job, note)
        finally:
            await self._redis.delete(claim)

    async def _note(self, job: pb.Job) -> JobNote:
        note = await self._memory.get(job.id)
        if note is None:  # a job the bot did not start (or forgot): its owner's chat
            lang = await recalled_language(self._redis, job.telegram_id)
            await self._memory.know(job.id, job.telegram_id, lang)
            note = JobNote(job_id=job.id, chat=job.telegram_id, lang=lang)
        return note

    async def _send(self, job: pb.Job, note: JobNote) -> JobNote:
        """The result (or why there is none) into the chat, then marked sent."""
        bot = self._bot
        assert bot is not None
        file_id = kind = ""
        try:
            if job.status == pb.JOB_STATUS_SUCCEEDED:
                with speaking(self._i18n, note.lang):
                    sent = await self._results.send(bot, note.chat, job)
                file_id, kind = sent.file_id, sent.kind
            elif not await self._progress.show(pb.WatchJobResponse(job=job), final=True):
                with speaking(self._i18n, note.lang):
                    text, _ = render(pb.WatchJobResponse(job=job))
                await bot.send_message(note.chat, text)
        except (TelegramForbiddenError, TelegramBadRequest) as exc:
            # The user blocked the bot, or Telegram refuses this chat for good.
            log.warning("result not deliverable", extra={"job": job.id, "error": str(exc)})
        except (JobNotFound, JobNotSucceeded):
            log.warning("finished job without results", extra={"job": job.id})
        await self._memory.sent(job.id, file_id, kind)
        log.info("delivered", extra={"job": job.id, "kind": kind or "failure"})
        return dataclasses.replace(note, sent=True, file_id=file_id, file_kind=kind)
