"""Results to their chats: WatchDeliveries streams the finished jobs not yet
acknowledged (those that finished while the gateway was down first), each leased
to this gateway's stream alone; each is sent — the result, or why it failed — and
acknowledged with AckDelivery, which records the Telegram file_ids of what was
sent in job_svc (History sends them again without uploading). Every call to
those two RPCs is in this module.

Nothing is delivered twice: job_svc hands a job to one stream at a time, and the
bot marks it sent in Redis (JobMemory) right after the send and before the
acknowledgement, so a job handed out again (a restart or a lost connection
between send and ack; another replica once the lease lapsed) is only
acknowledged. Nothing is lost: a job is acknowledged only once it reached the
chat (or never can: the user blocked the bot), a failed send is tried again with
backoff while the lease lasts (then job_svc hands the job out again), and the
stream reconnects on its own. On stop, deliveries under way finish and are
acknowledged before the stream closes and releases what is left.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import random
import socket
import time

import grpc
import redis.asyncio as aioredis
from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError
from aiogram.utils.i18n import I18n
from mediabot.jobs.v1 import jobs_pb2 as pb

from bot_gateway.describe import speaking, when
from bot_gateway.memory import JobMemory, JobNote
from bot_gateway.middlewares import recalled_language
from bot_gateway.progress import Progress, render
from bot_gateway.results import Results
from bot_gateway.services import Services
from bot_gateway.tasks import cancel_and_wait
from common.errors import JobNotFound, JobNotSucceeded

log = logging.getLogger(__name__)

#: Deliveries in progress at once (the outbox paces what they send), and the leases
#: this gateway's stream holds at most (the next ones wait, or go to other replicas).
_AT_ONCE = 32
_MAX_UNACKED = 2 * _AT_ONCE
#: How long a job stays this gateway's: a download and upload of the largest file
#: take far less; unacknowledged by then, job_svc hands it to another stream.
_LEASE_SECONDS = 180
#: How long stop() lets deliveries under way finish.
_GRACE_SECONDS = 5.0


def gateway_name() -> str:
    """This process, as job_svc records who delivered what."""
    return f"{socket.gethostname()[:48]}:{os.getpid()}"


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
        self._name = gateway_name()
        self._slots = asyncio.Semaphore(_AT_ONCE)
        self._busy: dict[str, asyncio.Task[None]] = {}
        self._feed: asyncio.Task[None] | None = None
        self._closing = False
        self._bot: Bot | None = None

    def start(self, bot: Bot) -> None:
        self._bot = bot
        self._closing = False
        self._feed = asyncio.create_task(self._run(), name="deliveries")

    async def stop(self) -> None:
        """Take no more jobs; let those under way finish and be acknowledged for a
        moment; then close the stream, which gives the rest back to job_svc at once."""
        self._closing = True
        busy = list(self._busy.values())
        if busy:
            _, late = await asyncio.wait(busy, timeout=_GRACE_SECONDS)
            await cancel_and_wait(late, _GRACE_SECONDS)
        if self._feed is not None:
            await cancel_and_wait([self._feed], _GRACE_SECONDS)

    # --- the two RPCs -----------------------------------------------------------------

    def _open(
        self,
    ) -> grpc.aio.UnaryStreamCall[pb.WatchDeliveriesRequest, pb.WatchDeliveriesResponse]:
        request = pb.WatchDeliveriesRequest(
            gateway=self._name, lease_seconds=_LEASE_SECONDS, max_unacked=_MAX_UNACKED
        )
        return self._services.jobs.WatchDeliveries(request)

    async def _ack(self, job: pb.Job, note: JobNote) -> None:
        """The job reached its chat: acknowledged with the file_id of what was sent."""
        sent = []
        if note.file_id and job.results:  # one file a job today
            sent.append(pb.SentFile(key=job.results[0].key, telegram_file_id=note.file_id))
        request = pb.AckDeliveryRequest(job_id=job.id, gateway=self._name, sent_files=sent)
        try:
            answer = await self._services.call(self._services.jobs.AckDelivery, request)
        except JobNotFound:  # gone meanwhile: nothing is left to acknowledge
            return
        if answer.already_delivered and answer.delivered_by != self._name:
            log.warning("delivered by another gateway first",
                        extra={"job": job.id, "by": answer.delivered_by})  # fmt: skip

    # --- the feed -------------------------------------------------------------------

    async def _run(self) -> None:
        delay = 0.2
        while True:
            stream = self._open()
            try:
                async for answer in stream:
                    delay = 0.2
                    self._spawn(answer)
            except grpc.aio.AioRpcError as exc:
                log.info("delivery feed interrupted; reconnecting",
                         extra={"code": exc.code().name})  # fmt: skip
            finally:
                stream.cancel()
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))
            delay = min(delay * 2, 5.0)

    def _spawn(self, answer: pb.WatchDeliveriesResponse) -> None:
        job = answer.job
        if self._closing or job.id in self._busy:  # stopping; or handed out again meanwhile
            return
        expires = when(answer.lease_expires_at)
        lease_until = expires.timestamp() if expires else time.time() + _LEASE_SECONDS
        task = asyncio.create_task(self._deliver(job, lease_until), name=f"deliver-{job.id}")
        self._busy[job.id] = task
        task.add_done_callback(lambda _: self._busy.pop(job.id, None))

    async def _deliver(self, job: pb.Job, lease_until: float) -> None:
        """Deliver, trying again with backoff while Telegram, the object store or a
        service fails for now; past the lease job_svc hands the job out again."""
        delay = 1.0
        while True:
            try:
                async with self._slots:
                    await self._deliver_once(job)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("delivery failed; trying again",
                            extra={"job": job.id, "error": repr(exc)})  # fmt: skip
            pause = delay * random.uniform(0.5, 1.0)
            if time.time() + pause >= lease_until:
                return  # the lease is over: the job comes back (here or elsewhere)
            await asyncio.sleep(pause)
            delay = min(delay * 2, 30.0)

    async def _deliver_once(self, job: pb.Job) -> None:
        note = await self._note(job)
        if not note.sent:
            note = await self._send(job, note)
        if job.status == pb.JOB_STATUS_SUCCEEDED:
            await self._progress.finish(job)
        else:
            await self._memory.unwatch(job.id)
        await self._ack(job, note)

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
                if sent:
                    file_id, kind = sent[0].file_id, sent[0].kind
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
