"""The worker: takes jobs from the queue, runs them on a provider, stores the
results and settles the money. Any number may run, each many jobs at once."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import uuid
from dataclasses import dataclass, field

import redis.asyncio as aioredis

from common.server.failures import DEPENDENCY_ERRORS
from job_svc.domain import JobDomain
from job_svc.events import CANCELS, publish
from job_svc.jobs import extension
from job_svc.model import Failure, Job, JobStatus, Kind, Quality, ResultFile
from job_svc.providers import (
    MediaResult,
    PermanentProviderError,
    Progress,
    Provider,
    TransientProviderError,
)
from job_svc.queue import Delivery, JobQueue
from job_svc.settings import JobSettings
from job_svc.settlement import Settlement
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

    def __init__(
        self,
        settings: JobSettings,
        store: JobStore,
        queue: JobQueue,
        objects: ObjectStore,
        providers: dict[Kind, Provider],
        settlement: Settlement,
        redis: aioredis.Redis,
        name: str,
    ) -> None:
        self.settings = settings
        self.name = name
        self._store = store
        self._queue = queue
        self._objects = objects
        self._providers = providers
        self._settlement = settlement
        self._redis = redis
        self.running: dict[str, Running] = {}
        self._caps: dict[str, asyncio.Semaphore] = {}
        self._stopping = asyncio.Event()
        self._slot_freed = asyncio.Event()
        #: Entries of dead workers may be waiting: the next free slot looks for them first.
        self._takeover_due = False

    @classmethod
    def from_domain(cls, domain: JobDomain, name: str) -> Worker:
        """A worker on the parts of job_svc's domain it needs."""
        return cls(domain.settings, domain.store, domain.queue, domain.objects,
                   domain.providers, domain.settlement, domain.redis, name)  # fmt: skip

    def stop(self) -> None:
        self._stopping.set()
        self._slot_freed.set()  # a full worker waits for a free slot: wake it to leave

    async def run(self, grace_seconds: float = 30.0) -> None:
        """Take and run jobs until `stop()`, then finish or hand back what is held."""
        await self._queue.ensure_groups()
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
            # A cancel can get lost inside redis-py's pub/sub reader (redis-py #2028):
            # never let it keep a stopping worker alive.
            await asyncio.wait(helpers, timeout=5)

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
                deliveries = await self._queue.read(self.name, free, block_ms=500)
            except (aioredis.ConnectionError, aioredis.TimeoutError):
                log.warning("queue unreachable; retrying")
                await asyncio.sleep(1)
                continue
            except aioredis.ResponseError as exc:
                if "NOGROUP" not in str(exc) and "UNBLOCKED" not in str(exc):
                    raise
                # Redis lost its data: recreate the group; the reconciler re-enqueues jobs.
                log.warning("queue group missing; recreating it")
                await self._queue.ensure_groups()
                continue
            for delivery in deliveries:
                self._start(delivery, takeover=False)

    async def _idle_entries(self, free: int) -> list[Delivery]:
        """Up to `free` entries of workers that stopped heartbeating, when a look is due."""
        if not self._takeover_due:
            return []
        idle_ms = int(self.settings.CLAIM_IDLE_SECONDS * 1000)
        found = await self._queue.reclaim(self.name, idle_ms, free)
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
            job = await self._claim(delivery, takeover)
        except asyncio.CancelledError:
            return
        if job is None:
            return
        if job.attempts > self.settings.MAX_ATTEMPTS:
            # Its earlier workers died or gave it back each time (e.g. a job that
            # exhausts a worker's memory): stop passing it from worker to worker.
            reason = (f"the job could not be completed in {self.settings.MAX_ATTEMPTS} "
                      "attempts; the credits were refunded")  # fmt: skip
            await self._fail(job, reason, Failure.TOO_MANY_ATTEMPTS)
            await self._queue.done(delivery)
            return
        held = self.running[delivery.entry_id]
        held.attempt = job.attempts
        await publish(self._redis, job)
        try:
            await self._execute(job)
        except asyncio.CancelledError:
            if held.stop_reason == "shutdown":
                await self._hand_back(job, delivery)
            else:  # cancelled by its owner: CancelJob already refunded it
                await self._queue.done(delivery)
            return
        except DEPENDENCY_ERRORS as exc:
            # Not the job's fault: let another attempt (here or elsewhere) run it.
            log.warning("dependency failed; job handed back",
                        extra={"job": delivery.job_id, "error": repr(exc)})  # fmt: skip
            with contextlib.suppress(*DEPENDENCY_ERRORS):
                await self._hand_back(job, delivery)
            return
        except Exception:
            log.exception("job crashed the worker code", extra={"job": delivery.job_id})
            await self._fail(job, "internal error; the credits were refunded", Failure.INTERNAL)
        await self._queue.done(delivery)

    async def _claim(self, delivery: Delivery, takeover: bool) -> Job | None:
        """This worker's attempt at the job, or None (after acking) when it is not to run."""
        job_id = uuid.UUID(delivery.job_id)
        job = await self._store.claim(job_id, self.name)
        if job is not None:
            return job
        current = await self._store.get(job_id)
        if current is not None and current.status == JobStatus.RUNNING and takeover:
            # Its worker stopped heartbeating: a new attempt here fences the old one out.
            return await self._store.take_over(job_id, self.name)
        # Gone, finished, running elsewhere (a duplicate entry), or left `creating`
        # by a crash (the reconciler charges and enqueues it anew, or drops it).
        await self._queue.done(delivery)
        return None

    async def _execute(self, job: Job) -> None:
        job_id, attempt = job.id, job.attempts
        provider = self._provider_for(job)
        if provider is None:
            reason = f"the provider {job.provider} is gone; the credits were refunded"
            await self._fail(job, reason, Failure.PROVIDER_GONE)
            return
        image = await self._objects.get(job.input_key) if job.input_key else None

        async def progress(percent: int) -> None:
            updated = await self._store.set_progress(job_id, attempt, max(0, min(99, percent)))
            if updated is not None:
                await publish(self._redis, updated)

        try:
            result = await self._call_with_retries(provider, job, image, progress)
        except PermanentProviderError as exc:
            await self._fail(job, str(exc), exc.failure)
            return
        except TransientProviderError as exc:
            reason = f"the provider kept failing, please try again later ({exc})"
            await self._fail(job, reason, Failure.PROVIDER_UNAVAILABLE)
            return
        key = f"jobs/{job_id}/{attempt}/result.{extension(result.mime_type)}"
        await self._objects.put(key, result.data, result.mime_type)
        stored = ResultFile(key, result.mime_type, len(result.data), result.width, result.height)
        if not await self._finish(job, JobStatus.SUCCEEDED, [stored]):
            await self._objects.delete(key)  # cancelled or taken over meanwhile
        elif attempt > 1:
            await self._settlement.remove_leftovers(job, keep=key)

    async def _call_with_retries(
        self, provider: Provider, job: Job, image: bytes | None, progress: Progress
    ) -> MediaResult:
        timeout = {
            Kind.IMAGE: self.settings.TIMEOUT_IMAGE_SECONDS,
            Kind.EDIT: self.settings.TIMEOUT_EDIT_SECONDS,
            Kind.VIDEO: self.settings.TIMEOUT_VIDEO_SECONDS,
        }[job.kind]
        cap = self._caps.setdefault(
            provider.name, asyncio.Semaphore(self.settings.PROVIDER_CONCURRENCY)
        )
        for retry in range(self.settings.MAX_RETRIES + 1):
            try:
                async with cap, asyncio.timeout(timeout):
                    return await self._call(provider, job, image, progress)
            except (TransientProviderError, TimeoutError) as exc:
                if retry == self.settings.MAX_RETRIES:
                    if isinstance(exc, TimeoutError):
                        raise TransientProviderError(f"no answer within {timeout:.0f} s") from None
                    raise
                delay = self.settings.RETRY_BASE_SECONDS * 2**retry * random.uniform(0.5, 1.5)
                log.info(
                    "transient provider error; retrying",
                    extra={"job": str(job.id), "retry": retry + 1, "error": str(exc)},
                )
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    @staticmethod
    async def _call(
        provider: Provider, job: Job, image: bytes | None, progress: Progress
    ) -> MediaResult:
        pro = job.quality == Quality.PRO
        if job.kind == Kind.IMAGE:
            return await provider.generate_image(
                job.prompt, pro=pro, aspect_ratio=job.aspect_ratio, progress=progress
            )
        if job.kind == Kind.EDIT:
            assert image is not None
            return await provider.edit_image(
                job.prompt, image, pro=pro, aspect_ratio=job.aspect_ratio, progress=progress
            )
        return await provider.generate_video(
            job.prompt,
            pro=pro,
            aspect_ratio=job.aspect_ratio,
            duration_seconds=job.duration_seconds,
            image=image,
            progress=progress,
        )

    async def _fail(self, job: Job, error: str, failure: Failure) -> bool:
        return await self._finish(job, JobStatus.FAILED, [], error, failure)

    async def _finish(
        self,
        job: Job,
        status: JobStatus,
        results: list[ResultFile],
        error: str = "",
        failure: Failure | None = None,
    ) -> bool:
        """Record the outcome (if this attempt still holds the job), publish it, settle."""
        done = await self._store.finish(job.id, job.attempts, status, results, error, failure)
        if done is None:
            return False
        if status == JobStatus.FAILED and job.attempts > 1:
            await self._settlement.remove_leftovers(done)
        await publish(self._redis, done)
        await self._settlement.settle(done)
        return True

    def _provider_for(self, job: Job) -> Provider | None:
        """The provider a job was checked and priced for, if still configured."""
        for provider in self._providers.values():
            if provider.name == job.provider:
                return provider
        return None

    async def _hand_back(self, job: Job, delivery: Delivery) -> None:
        """Put an unfinished job back in the queue for another worker."""
        requeued = await self._store.requeue(job.id, job.attempts)
        if requeued is not None:
            await self._queue.enqueue(str(job.id), job.lane)
            await publish(self._redis, requeued)
        await self._queue.done(delivery)

    # --- helpers running beside the jobs --------------------------------------------

    async def _heartbeat(self) -> None:
        """Touch held entries so that nobody takes them over while we live."""
        while True:
            await asyncio.sleep(self.settings.HEARTBEAT_SECONDS)
            with contextlib.suppress(aioredis.RedisError):
                await self._queue.touch(self.name, [r.delivery for r in self.running.values()])

    async def _reclaim(self) -> None:
        """Every CLAIM_IDLE_SECONDS / 3, even while every slot is busy, make the next
        free slot look for entries of workers that stopped heartbeating before it
        reads new ones."""
        idle_ms = int(self.settings.CLAIM_IDLE_SECONDS * 1000)
        while True:
            await asyncio.sleep(self.settings.CLAIM_IDLE_SECONDS / 3)
            self._takeover_due = True
            try:
                await self._queue.prune_consumers(idle_ms * 10)
            except aioredis.RedisError as exc:
                log.warning("pruning consumers failed (%s); retrying", exc)

    async def _listen_for_cancels(self) -> None:
        while True:
            pubsub = self._redis.pubsub()
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
