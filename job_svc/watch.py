"""Following jobs as they change: one job for its watchers (with queue position and
estimates), and every finished job for the gateways that deliver results."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

from mediabot.jobs.v1 import jobs_pb2 as pb

from common import validate
from common.convert import timestamp
from common.errors import JobNotFound
from job_svc.deliveries import Deliveries, Terms
from job_svc.events import RESYNC, EventHub
from job_svc.jobs import Jobs
from job_svc.messages import TERMINAL_CODES, job_message
from job_svc.model import Job, JobStatus
from job_svc.store import JobStore

_POSITION_TTL = 1.0
_DURATION_TTL = 10.0
#: How often a watcher re-reads its job when no event came: the pace of
#: queue-position updates while queued, a safety net against lost events after.
_QUEUED_REFRESH = 1.0
_WATCH_REFRESH = 5.0
#: How often a delivery stream re-reads the leases when no event came.
_DELIVERY_RESCAN = 5.0
#: Waking this long after a lease lapses, a stream finds it lapsed.
_LEASE_SLACK = 0.05
#: Jobs leased to a stream in one statement.
_LEASE_BATCH = 100
#: How long a stopping replica waits for its streams' leases to be released.
_RELEASE_GRACE = 5.0
_DELIVERABLE = (pb.JOB_STATUS_SUCCEEDED, pb.JOB_STATUS_FAILED)

log = logging.getLogger(__name__)


class Estimates:
    """Where a queued job stands and when it should start and finish.

    Estimates come from the mean run time of the last successes of the same
    kind and provider, and from how many such jobs run at once now. Results
    are cached briefly so that many watchers of one job cost one query.
    """

    def __init__(self, store: JobStore) -> None:
        self._store = store
        self._rows: dict[uuid.UUID, tuple[float, asyncio.Future[Job | None]]] = {}
        self._positions: dict[uuid.UUID, tuple[float, int]] = {}
        self._durations: dict[tuple[str, str], tuple[float, int]] = {}
        self._durations_at = 0.0

    async def current(self, job_id: uuid.UUID) -> Job | None:
        """The stored job, read at most once per interval however many watch it."""
        now = time.monotonic()
        cached = self._rows.get(job_id)
        if cached is None or now - cached[0] >= _POSITION_TTL:
            if len(self._rows) > 10_000:
                self._rows = {k: v for k, v in self._rows.items() if now - v[0] < 5}
            future = asyncio.ensure_future(self._store.get(job_id))
            self._rows[job_id] = cached = (now, future)
        try:
            return await asyncio.shield(cached[1])
        except Exception:
            self._rows.pop(job_id, None)
            raise

    async def position(self, job_id: uuid.UUID) -> int:
        now = time.monotonic()
        cached = self._positions.get(job_id)
        if cached and now - cached[0] < _POSITION_TTL:
            return cached[1]
        found = await self._store.queue_positions([job_id])
        position = found.get(job_id, 0)
        self._positions[job_id] = (now, position)
        if len(self._positions) > 10_000:
            self._positions = {k: v for k, v in self._positions.items() if now - v[0] < 5}
        return position

    async def _duration(self, kind: str, provider: str) -> tuple[float, int]:
        now = time.monotonic()
        if now - self._durations_at > _DURATION_TTL:
            self._durations = await self._store.durations()
            self._durations_at = now
        return self._durations.get((kind, provider), (0.0, 0))

    async def snapshot(self, job: Job) -> pb.WatchJobResponse:
        """The WatchJob message of a stored job, with estimates while unfinished.

        An estimate is a time still ahead, or absent: a job running longer than
        jobs of its kind usually do has no finish estimate.
        """
        answer = pb.WatchJobResponse(job=job_message(job))
        if job.finished:
            return answer
        mean_run, running = await self._duration(job.kind, job.provider)
        if not mean_run:
            if job.status != JobStatus.RUNNING:
                answer.queue_position = await self.position(job.id)
            return answer
        now = datetime.now(UTC)
        if job.status == JobStatus.RUNNING:
            started = job.started_at or now
            finish = started + timedelta(seconds=mean_run)
            if finish > now:
                answer.estimated_finish_at.CopyFrom(timestamp(finish))
            return answer
        ahead = await self.position(job.id)
        answer.queue_position = ahead
        start = now + timedelta(seconds=ahead * mean_run / max(1, running))
        answer.estimated_start_at.CopyFrom(timestamp(start))
        answer.estimated_finish_at.CopyFrom(timestamp(start + timedelta(seconds=mean_run)))
        return answer


def _still_ahead(estimate: pb.WatchJobResponse) -> bool:
    """Whether the finish estimate of `estimate` is set and not yet past."""
    return estimate.HasField("estimated_finish_at") and (
        estimate.estimated_finish_at.ToDatetime(UTC) > datetime.now(UTC)
    )


class DeliveryFeed:
    """One WatchDeliveries stream: the finished jobs leased to it, the backlog first,
    then each one as it finishes or as the lease of a stream that ended is released.

    It holds at most `max_unacked` live leases and takes more when one of them is
    acknowledged (an event, from any replica) or lapses. Besides events it
    re-reads the leases every few seconds and when the next lease it could take
    lapses, so a lost event or a silent gateway delays a delivery only that long.
    `close()` releases its leases; the servicer calls it when the call ends, however
    it ends.
    """

    def __init__(
        self,
        deliveries: Deliveries,
        hub: EventHub,
        terms: Terms,
        closing: set[asyncio.Task[None]],
    ) -> None:
        #: This stream's id: what its leases are held by.
        self.stream = uuid.uuid4()
        self.terms = terms
        self._deliveries = deliveries
        self._hub = hub
        self._closing = closing
        # Leasing and releasing take turns, so that no lease is taken after the release.
        self._turn = asyncio.Lock()
        self._closed = False
        self._released: asyncio.Task[None] | None = None

    def __aiter__(self) -> AsyncIterator[Job]:
        return self._run()

    def close(self) -> asyncio.Task[None]:
        """Stop leasing and release this stream's leases: at once, once, and to the
        end even when whoever waits for it is cancelled."""
        if self._released is None:
            self._closed = True
            self._released = asyncio.ensure_future(self._release())
            self._closing.add(self._released)
            self._released.add_done_callback(self._closing.discard)
        return self._released

    async def _release(self) -> None:
        async with self._turn:
            try:
                released = await self._deliveries.release(self.stream)
            except Exception as exc:  # the leases lapse on their own
                log.warning("delivery leases not released",
                            extra={"stream": str(self.stream), "error": repr(exc)})  # fmt: skip
                return
        if released:
            log.info("delivery leases released", extra={"stream": str(self.stream),
                     "gateway": self.terms.gateway, "jobs": released})  # fmt: skip

    async def _lease(self, limit: int, job_id: uuid.UUID | None = None) -> list[Job]:
        async with self._turn:
            if self._closed:
                return []
            return await self._deliveries.lease(self.stream, self.terms, limit, job_id)

    async def _run(self) -> AsyncIterator[Job]:
        limit = self.terms.max_unacked
        loop = asyncio.get_running_loop()
        try:
            with self._hub.listen(None) as events:
                while True:
                    holding = await self._deliveries.holding(self.stream, self.terms)
                    mine = {str(job_id) for job_id in holding.job_ids}
                    want = min(limit - len(mine), _LEASE_BATCH)
                    batch = await self._lease(want)
                    for job in batch:
                        mine.add(str(job.id))
                        yield job
                    if batch and len(batch) == want:
                        continue  # more may be waiting
                    wait = _DELIVERY_RESCAN
                    if holding.next_free_in is not None:
                        wait = min(wait, max(0.0, holding.next_free_in) + _LEASE_SLACK)
                    deadline = loop.time() + wait
                    while (left := deadline - loop.time()) > 0:
                        event = await events.get(left)
                        if event is RESYNC:  # events may be lost, or none came
                            break
                        if event.status not in _DELIVERABLE:
                            continue
                        if event.delivered:
                            if event.id in mine:
                                break  # acknowledged: room for the next ones
                            continue
                        if event.id in mine or len(mine) >= limit:
                            continue
                        # Just finished, or released by a stream that ended: the
                        # first stream to lease it has it, the others pass.
                        for job in await self._lease(1, uuid.UUID(event.id)):
                            mine.add(event.id)
                            # Should it lapse, it may come back here after one more lease.
                            again = 2 * self.terms.lease_seconds + _LEASE_SLACK
                            deadline = min(deadline, loop.time() + again)
                            yield job
        finally:
            await asyncio.shield(self.close())


class Watching:
    """The status stream of one job, and the streams of results to deliver."""

    def __init__(
        self,
        jobs: Jobs,
        hub: EventHub,
        estimates: Estimates,
        deliveries: Deliveries,
    ) -> None:
        self._jobs = jobs
        self._hub = hub
        self._estimates = estimates
        self._deliveries = deliveries
        self._closing: set[asyncio.Task[None]] = set()

    async def follow(self, job_id: str, telegram_id: int) -> AsyncIterator[pb.WatchJobResponse]:
        """The job's current state at once, then every newer version (and, while it
        waits, every change of its queue position) until it is finished."""
        validate.telegram_id(telegram_id)
        job_id = str(validate.uuid_text(job_id, "job_id"))
        with self._hub.listen(job_id) as events:
            job = await self._jobs.get(job_id, telegram_id)
            last = await self._estimates.snapshot(job)
            yield last
            while last.job.status not in TERMINAL_CODES:
                queued = last.job.status == pb.JOB_STATUS_QUEUED
                event = await events.get(_QUEUED_REFRESH if queued else _WATCH_REFRESH)
                if event is RESYNC or event.status == pb.JOB_STATUS_QUEUED:
                    fresh = await self._estimates.current(job.id)
                    if fresh is None:
                        raise JobNotFound(f"job {job_id} not found", job_id=job_id)
                    current = await self._estimates.snapshot(fresh)
                elif event.version > last.job.version:
                    current = pb.WatchJobResponse(job=event)
                else:
                    continue
                if current.job.version < last.job.version:
                    continue
                if current.job.version == last.job.version and (
                    current.queue_position == last.queue_position
                ):
                    continue
                running = current.job.status == pb.JOB_STATUS_RUNNING
                if running and not current.HasField("estimated_finish_at") and _still_ahead(last):
                    # Events carry the job alone: keep the estimate made from the table.
                    current.estimated_finish_at.CopyFrom(last.estimated_finish_at)
                last = current
                yield last

    def deliveries(self, gateway: str, lease_seconds: int, max_unacked: int) -> DeliveryFeed:
        """A gateway's stream of finished jobs to deliver (see `DeliveryFeed`); its
        terms are checked at once."""
        terms = self._deliveries.terms(gateway, lease_seconds, max_unacked)
        return DeliveryFeed(self._deliveries, self._hub, terms, self._closing)

    async def close(self) -> None:
        """Let the streams that ended release their leases before the pool closes."""
        if self._closing:
            await asyncio.wait(set(self._closing), timeout=_RELEASE_GRACE)
