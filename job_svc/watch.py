"""Queue positions and time estimates for WatchJob, cached per replica."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
from mediabot.jobs.v1 import jobs_pb2 as pb

from common.convert import timestamp
from job_svc.store import JobStore

_POSITION_TTL = 1.0
_DURATION_TTL = 10.0


class Estimates:
    """Where a queued job stands and when it should start and finish.

    Estimates come from the mean run time of the last successes of the same
    kind and provider, and from how many such jobs run at once now. Results
    are cached briefly so that many watchers of one job cost one query.
    """

    def __init__(self, store: JobStore) -> None:
        self._store = store
        self._rows: dict[uuid.UUID, tuple[float, asyncio.Future[asyncpg.Record | None]]] = {}
        self._positions: dict[uuid.UUID, tuple[float, int]] = {}
        self._durations: dict[tuple[str, str], tuple[float, int]] = {}
        self._durations_at = 0.0

    async def current(self, job_id: uuid.UUID) -> asyncpg.Record | None:
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

    async def snapshot(self, row: asyncpg.Record) -> pb.WatchJobResponse:
        """The WatchJob message of a stored job, with estimates while unfinished."""
        from job_svc.model import job_message

        answer = pb.WatchJobResponse(job=job_message(row))
        if row["status"] not in ("creating", "queued", "running"):
            return answer
        mean_run, running = await self._duration(row["kind"], row["provider"])
        now = datetime.now(UTC)
        if row["status"] == "running":
            if mean_run:
                answer.estimated_finish_at.CopyFrom(
                    timestamp(row["started_at"] + timedelta(seconds=mean_run))
                )
            return answer
        ahead = await self.position(row["id"])
        answer.queue_position = ahead
        if mean_run:
            start = now + timedelta(seconds=ahead * mean_run / max(1, running))
            answer.estimated_start_at.CopyFrom(timestamp(start))
            answer.estimated_finish_at.CopyFrom(timestamp(start + timedelta(seconds=mean_run)))
        return answer
