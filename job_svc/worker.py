"""`python -m job_svc.worker`: takes jobs from the queue, runs them on a
provider, stores the results and settles the money. Any number may run."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import signal
import socket
import uuid
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import redis.asyncio as aioredis
import uvloop

from common.db import create_pool
from common.errors import DEPENDENCY_ERRORS
from common.logs import setup_logging
from common.settings import load_settings
from job_svc.billing_client import BillingClient
from job_svc.events import CANCELS, publish, redis_client
from job_svc.jobs import Jobs, extension
from job_svc.model import job_message
from job_svc.providers import (
    MediaResult,
    PermanentProviderError,
    Provider,
    TransientProviderError,
    build_providers,
)
from job_svc.queue import Delivery, JobQueue
from job_svc.settings import JobSettings
from job_svc.storage import ObjectStore
from job_svc.store import JobStore

log = logging.getLogger(__name__)


@dataclass
class Running:
    """A job this worker holds."""

    delivery: Delivery
    task: asyncio.Task[None]
    #: Why it was cancelled: "user" (CancelJob) or "shutdown" (hand it back).
    stop_reason: str = ""
    attempt: int = 0
    job_id: str = field(default="")


class Worker:
    """Runs up to WORKER_CONCURRENCY jobs at once in one process."""

    def __init__(self, settings: JobSettings, jobs: Jobs, name: str) -> None:
        self.settings = settings
        self.jobs = jobs
        self.store = jobs.store
        self.queue = jobs.queue
        self.name = name
        self.running: dict[str, Running] = {}
        self._caps: dict[str, asyncio.Semaphore] = {}
        self._stopping = asyncio.Event()
        self._slot_freed = asyncio.Event()
        #: Entries of dead workers may be waiting: the next free slot looks for them first.
        self._takeover_due = False

    def stop(self) -> None:
        self._stopping.set()
        self._slot_freed.set()  # a full worker waits for a free slot: wake it to leave

    async def run(self, grace_seconds: float = 30.0) -> None:
        """Take and run jobs until `stop()`, then finish or hand back what is held."""
        await self.queue.ensure_groups()
        helpers = [
            asyncio.create_task(self._heartbeat()),
            asyncio.create_task(self._reclaim()),
            asyncio.create_task(self._listen_for_cancels()),
        ]
        try:
            await self._take_jobs()
        finally:
            await self._drain(grace_seconds)
            for task in helpers:
                task.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)

    async def _take_jobs(self) -> None:
        while not self._stopping.is_set():
            free = self.settings.WORKER_CONCURRENCY - len(self.running)
            if free <= 0:
                self._slot_freed.clear()
                await self._slot_freed.wait()
                continue
            try:
                # Jobs of dead workers are older than anything waiting: they go first.
                self._take_over(await self._idle_entries(free))
                free = self.settings.WORKER_CONCURRENCY - len(self.running)
                if free <= 0:
                    continue
                deliveries = await self.queue.read(self.name, free, block_ms=500)
            except (aioredis.ConnectionError, aioredis.TimeoutError):
                log.warning("queue unreachable; retrying")
                await asyncio.sleep(1)
                continue
            except aioredis.ResponseError as exc:
                if "NOGROUP" not in str(exc) and "UNBLOCKED" not in str(exc):
                    raise
                # Redis lost its data: recreate the group; the reconciler re-enqueues jobs.
                log.warning("queue group missing; recreating it")
                await self.queue.ensure_groups()
                continue
            for delivery in deliveries:
                self._start(delivery, takeover=False)

    async def _idle_entries(self, free: int) -> list[Delivery]:
        """Up to `free` entries of workers that stopped heartbeating, when a look is due."""
        if not self._takeover_due:
            return []
        idle_ms = int(self.settings.CLAIM_IDLE_SECONDS * 1000)
        found = await self.queue.reclaim(self.name, idle_ms, free)
        # A full answer may leave more behind: the next free slot looks again.
        self._takeover_due = len(found) >= free
        return found

    def _take_over(self, deliveries: list[Delivery]) -> None:
        for delivery in deliveries:
            log.info("taking over a job", extra={"job": delivery.job_id})
            self._start(delivery, takeover=True)

    def _start(self, delivery: Delivery, takeover: bool) -> None:
        if delivery.entry_id in self.running:
            return
        task = asyncio.create_task(self._process(delivery, takeover))
        self.running[delivery.entry_id] = Running(delivery, task, job_id=delivery.job_id)
        task.add_done_callback(lambda _: self._finished(delivery.entry_id))

    def _finished(self, entry_id: str) -> None:
        self.running.pop(entry_id, None)
        self._slot_freed.set()

    async def _drain(self, grace_seconds: float) -> None:
        """Let running jobs finish for a while, then hand the rest back to the queue."""
        tasks = [r.task for r in self.running.values()]
        if tasks:
            log.info("finishing jobs before exit", extra={"jobs": len(tasks)})
            await asyncio.wait(tasks, timeout=grace_seconds)
        for held in list(self.running.values()):
            held.stop_reason = "shutdown"
            held.task.cancel()
        await asyncio.gather(*(r.task for r in list(self.running.values())), return_exceptions=True)

    # --- one job -------------------------------------------------------------------

    async def _process(self, delivery: Delivery, takeover: bool) -> None:
        try:
            row = await self._claim(delivery, takeover)
        except asyncio.CancelledError:
            return
        if row is None:
            return
        if row["attempts"] > self.settings.MAX_ATTEMPTS:
            # Its earlier workers died or gave it back each time (e.g. a job that
            # exhausts a worker's memory): stop passing it from worker to worker.
            reason = (f"the job could not be completed in {self.settings.MAX_ATTEMPTS} "
                      "attempts; the credits were refunded")  # fmt: skip
            await self._finish(row, "failed", [], reason)
            await self.queue.done(delivery)
            return
        held = self.running[delivery.entry_id]
        held.attempt = row["attempts"]
        await publish(self.jobs.redis, job_message(row))
        try:
            await self._execute(row)
        except asyncio.CancelledError:
            if held.stop_reason == "shutdown":
                await self._hand_back(row, delivery)
            else:  # cancelled by its owner: CancelJob already refunded it
                await self.queue.done(delivery)
            return
        except DEPENDENCY_ERRORS as exc:
            # Not the job's fault: let another attempt (here or elsewhere) run it.
            log.warning("dependency failed; job handed back",
                        extra={"job": delivery.job_id, "error": repr(exc)})  # fmt: skip
            with contextlib.suppress(*DEPENDENCY_ERRORS):
                await self._hand_back(row, delivery)
            return
        except Exception:
            log.exception("job crashed the worker code", extra={"job": delivery.job_id})
            await self._finish(row, "failed", [], "internal error; the credits were refunded")
        await self.queue.done(delivery)

    async def _claim(self, delivery: Delivery, takeover: bool) -> asyncpg.Record | None:
        """This worker's attempt at the job, or None (after acking) when it is not to run."""
        job_id = uuid.UUID(delivery.job_id)
        row = await self.store.claim(job_id, self.name)
        if row is not None:
            return row
        current = await self.store.get(job_id)
        if current is not None and current["status"] == "running" and takeover:
            # Its worker stopped heartbeating: a new attempt here fences the old one out.
            return await self.store.take_over(job_id, self.name)
        # Gone, finished, running elsewhere (a duplicate entry), or left `creating`
        # by a crash (the reconciler charges and enqueues it anew, or drops it).
        await self.queue.done(delivery)
        return None

    async def _execute(self, row: asyncpg.Record) -> None:
        job_id, attempt = row["id"], row["attempts"]
        provider = self.jobs.provider_for(row)
        if provider is None:
            reason = f"the provider {row['provider']} is gone; the credits were refunded"
            await self._finish(row, "failed", [], reason)
            return
        image = await self.jobs.objects.get(row["input_key"]) if row["input_key"] else None

        async def progress(percent: int) -> None:
            updated = await self.store.set_progress(job_id, attempt, max(0, min(99, percent)))
            if updated is not None:
                await publish(self.jobs.redis, job_message(updated))

        try:
            result = await self._call_with_retries(provider, row, image, progress)
        except PermanentProviderError as exc:
            await self._finish(row, "failed", [], str(exc))
            return
        except TransientProviderError as exc:
            reason = f"the provider kept failing, please try again later ({exc})"
            await self._finish(row, "failed", [], reason)
            return
        key = f"jobs/{job_id}/{attempt}/result.{extension(result.mime_type)}"
        await self.jobs.objects.put(key, result.data, result.mime_type)
        stored = {
            "key": key,
            "mime_type": result.mime_type,
            "size_bytes": len(result.data),
            "width": result.width,
            "height": result.height,
        }
        if not await self._finish(row, "succeeded", [stored], ""):
            await self.jobs.objects.delete(key)  # cancelled or taken over meanwhile
        elif attempt > 1:
            await self.jobs.remove_leftovers(row, keep=key)

    async def _call_with_retries(
        self, provider: Provider, row: asyncpg.Record, image: bytes | None, progress: Any
    ) -> MediaResult:
        timeout = {
            "image": self.settings.TIMEOUT_IMAGE_SECONDS,
            "edit": self.settings.TIMEOUT_EDIT_SECONDS,
            "video": self.settings.TIMEOUT_VIDEO_SECONDS,
        }[row["kind"]]
        cap = self._caps.setdefault(
            provider.name, asyncio.Semaphore(self.settings.PROVIDER_CONCURRENCY)
        )
        for retry in range(self.settings.MAX_RETRIES + 1):
            try:
                async with cap, asyncio.timeout(timeout):
                    return await self._call(provider, row, image, progress)
            except (TransientProviderError, TimeoutError) as exc:
                if retry == self.settings.MAX_RETRIES:
                    if isinstance(exc, TimeoutError):
                        raise TransientProviderError(f"no answer within {timeout:.0f} s") from None
                    raise
                delay = self.settings.RETRY_BASE_SECONDS * 2**retry * random.uniform(0.5, 1.5)
                log.info(
                    "transient provider error; retrying",
                    extra={"job": str(row["id"]), "retry": retry + 1, "error": str(exc)},
                )
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    @staticmethod
    async def _call(
        provider: Provider, row: asyncpg.Record, image: bytes | None, progress: Any
    ) -> MediaResult:
        pro = row["quality"] == "pro"
        if row["kind"] == "image":
            return await provider.generate_image(
                row["prompt"], pro=pro, aspect_ratio=row["aspect_ratio"], progress=progress
            )
        if row["kind"] == "edit":
            assert image is not None
            return await provider.edit_image(
                row["prompt"], image, pro=pro, aspect_ratio=row["aspect_ratio"], progress=progress
            )
        return await provider.generate_video(
            row["prompt"],
            pro=pro,
            aspect_ratio=row["aspect_ratio"],
            duration_seconds=row["duration_seconds"],
            image=image,
            progress=progress,
        )

    async def _finish(
        self, row: asyncpg.Record, status: str, results: list[dict[str, Any]], error: str
    ) -> bool:
        """Record the outcome (if this attempt still holds the job), publish it, settle."""
        done = await self.store.finish(row["id"], row["attempts"], status, results, error)
        if done is None:
            return False
        if status == "failed" and row["attempts"] > 1:
            await self.jobs.remove_leftovers(done)
        await publish(self.jobs.redis, job_message(done))
        await self.jobs.settle(done)
        return True

    async def _hand_back(self, row: asyncpg.Record, delivery: Delivery) -> None:
        """Put an unfinished job back in the queue for another worker."""
        requeued = await self.store.requeue(row["id"], row["attempts"])
        if requeued is not None:
            await self.queue.enqueue(str(row["id"]), row["lane"])
            await publish(self.jobs.redis, job_message(requeued))
        await self.queue.done(delivery)

    # --- helpers running beside the jobs --------------------------------------------

    async def _heartbeat(self) -> None:
        """Touch held entries so that nobody takes them over while we live."""
        while True:
            await asyncio.sleep(self.settings.HEARTBEAT_SECONDS)
            with contextlib.suppress(aioredis.RedisError):
                await self.queue.touch(self.name, [r.delivery for r in self.running.values()])

    async def _reclaim(self) -> None:
        """Every CLAIM_IDLE_SECONDS / 3, even while every slot is busy, make the next
        free slot look for entries of workers that stopped heartbeating before it
        reads new ones."""
        idle_ms = int(self.settings.CLAIM_IDLE_SECONDS * 1000)
        while True:
            await asyncio.sleep(self.settings.CLAIM_IDLE_SECONDS / 3)
            self._takeover_due = True
            try:
                await self.queue.prune_consumers(idle_ms * 10)
            except aioredis.RedisError:
                log.warning("pruning consumers failed; retrying")

    async def _listen_for_cancels(self) -> None:
        while True:
            pubsub = self.jobs.redis.pubsub()
            try:
                await pubsub.subscribe(CANCELS)
                async for message in pubsub.listen():
                    if message["type"] != "message":
                        continue
                    job_id = message["data"].decode()
                    for held in self.running.values():
                        if held.job_id == job_id and not held.stop_reason:
                            held.stop_reason = "user"
                            held.task.cancel()
            except aioredis.RedisError:
                await asyncio.sleep(0.5)
            finally:
                await pubsub.aclose()


async def build_jobs(settings: JobSettings) -> tuple[Jobs, list[Any]]:
    """The Jobs domain object with its clients, and what to close afterwards."""
    pool = await create_pool(settings.DATABASE_URL, settings.DB_POOL_SIZE)
    redis = redis_client(settings.REDIS_URL)
    billing = BillingClient(settings.BILLING_GRPC_ADDR, settings.SERVICE_TOKEN.get_secret_value())
    objects = ObjectStore(settings)
    try:
        providers = build_providers(settings)
    except ValueError as exc:
        raise SystemExit(f"config error: PROVIDER: {exc}") from None
    jobs = Jobs(settings, JobStore(pool), billing, JobQueue(redis), objects, redis, providers)
    closers = [
        pool.close,
        redis.aclose,
        billing.close,
        objects.close,
        *[p.close for p in {id(p): p for p in providers.values()}.values()],
    ]
    return jobs, closers


async def main() -> None:
    settings = load_settings(JobSettings)
    setup_logging(settings.LOG_LEVEL)
    jobs, closers = await build_jobs(settings)
    name = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    worker = Worker(settings, jobs, name)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, worker.stop)
    log.info("worker started", extra={"worker": name, "providers": jobs.describe()})
    try:
        await worker.run()
    finally:
        for close in closers:
            await close()
        log.info("worker stopped", extra={"worker": name})


if __name__ == "__main__":
    uvloop.run(main())
