"""Following jobs as they change: one job for its watchers (with queue position and
estimates), and every finished job for the gateways that deliver results."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

from mediabot.jobs.v1 import jobs_pb2 as pb

from common import validate
from common.convert import timestamp
from common.errors import JobNotFound
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
_DELIVERY_RESCAN = 5.0
_DELIVERABLE = (pb.JOB_STATUS_SUCCEEDED, pb.JOB_STATUS_FAILED)


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


class Watching:
    """The status stream of one job, and the stream of results to deliver."""

    def __init__(self, jobs: Jobs, store: JobStore, hub: EventHub, estimates: Estimates) -> None:
        self._jobs = jobs
        self._store = store
        self._hub = hub
        self._estimates = estimates

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

    async def deliveries(self) -> AsyncIterator[pb.Job]:
        """Finished jobs whose result has not been acknowledged, the backlog first,
        then each as it finishes; each once per stream."""
        sent: set[str] = set()
        with self._hub.listen(None) as events:
            while True:
                pending = await self._store.undelivered(500)
                still = {str(job.id) for job in pending}
                sent &= still  # acknowledged ones drop out
                for job in pending:
                    if str(job.id) not in sent:
                        sent.add(str(job.id))
                        yield job_message(job)
                deadline = asyncio.get_running_loop().time() + _DELIVERY_RESCAN
                while (left := deadline - asyncio.get_running_loop().time()) > 0:
                    event = await events.get(left)
                    if event is RESYNC:  # events may be lost, or none came
                        break
                    if event.status not in _DELIVERABLE or event.id in sent:
                        continue
                    # Events can lag behind an acknowledgement: trust the table.
                    found = await self._store.get(uuid.UUID(event.id))
                    if found is not None and found.delivered_at is None:
                        sent.add(event.id)
                        yield job_message(found)
