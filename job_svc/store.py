"""SQL of the jobs schema. Every state change is one guarded UPDATE, so two
actors (a worker and a cancel, or two workers) can never both win."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from common.errors import QueueFull
from job_svc.model import (
    COLUMNS,
    Charge,
    Failure,
    Job,
    JobStatus,
    Lane,
    ResultFile,
    result_dicts,
)

_VISIBLE = "version = version + 1"
_TERMINAL = "('succeeded', 'failed', 'cancelled')"
#: Finished jobs with something to tell their user (a cancel needs no delivery).
_DELIVERABLE = "delivered_at IS NULL AND status IN ('succeeded', 'failed')"
#: Whether a finished job may be leased to stream $1 with a lease of $3 seconds:
#: it is nobody's, or its lease lapsed; one that stream $1 itself let lapse waits
#: one more lease for another stream to take it first.
_LEASABLE = (
    "(delivery_lease_until IS NULL OR delivery_lease_until <= now() AND "
    "(delivery_stream <> $1 OR delivery_lease_until <= now() - make_interval(secs => $3)))"
)


def _job(row: asyncpg.Record | None) -> Job | None:
    return None if row is None else Job.from_record(row)


def _jobs(rows: list[asyncpg.Record]) -> list[Job]:
    return [Job.from_record(r) for r in rows]


@dataclass(frozen=True)
class KindCount:
    """How many jobs of a kind are in a state."""

    kind: str
    status: str
    count: int


@dataclass(frozen=True)
class ProviderCount:
    """How many jobs a provider finished, and how many of them failed."""

    provider: str
    finished: int
    failed: int


@dataclass(frozen=True)
class JobStats:
    """The admin's view of every job."""

    counts: list[KindCount]
    providers: list[ProviderCount]
    #: Means over the last 24 hours, in seconds (0 when nothing ran).
    mean_wait_seconds: float
    mean_run_seconds: float
    queue_depth: int


@dataclass(frozen=True)
class Holding:
    """What the table says of one delivery stream's leases."""

    #: The jobs leased to the stream whose lease has not lapsed.
    job_ids: frozenset[uuid.UUID]
    #: Seconds until a lease held now (by any stream) becomes one the stream may
    #: take, by the database's clock; None when there is none.
    next_free_in: float | None


@dataclass(frozen=True)
class Unfinished:
    """A queued or running job, as the search for lost queue entries sees it."""

    id: uuid.UUID
    lane: Lane
    status: JobStatus
    attempts: int


class JobStore:
    """Reads and writes of jobs.jobs."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def insert(self, job: dict[str, Any], limit: int) -> Job:
        """Save a new job in state `creating`, unless the user has `limit` unfinished;
        a job already saved with the same client_key is returned instead.

        A per-user advisory lock, taken in its own statement so that the insert
        sees every job committed before it, makes the count and the insert one
        step: concurrent creations cannot overshoot the limit.
        """
        names = list(job)
        values = ", ".join(f"${i + 3}" for i in range(len(names)))
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", job["telegram_id"])
            row = await conn.fetchrow(
                f"INSERT INTO jobs.jobs ({', '.join(names)}) SELECT {values} "
                "WHERE (SELECT count(*) FROM jobs.jobs WHERE telegram_id = $1 "
                "       AND status IN ('creating', 'queued', 'running')) < $2 "
                f"ON CONFLICT (telegram_id, client_key) DO NOTHING RETURNING {COLUMNS}",
                job["telegram_id"],
                limit,
                *job.values(),
            )
            if row is not None:
                return Job.from_record(row)
            existing = await conn.fetchrow(
                f"SELECT {COLUMNS} FROM jobs.jobs WHERE telegram_id = $1 AND client_key = $2",
                job["telegram_id"],
                job["client_key"],
            )
            if existing is not None:  # a retry, or a concurrent call with the same key
                return Job.from_record(existing)
            unfinished = await conn.fetchval(
                "SELECT count(*) FROM jobs.jobs WHERE telegram_id = $1 "
                "AND status IN ('creating', 'queued', 'running')",
                job["telegram_id"],
            )
            raise QueueFull(
                f"you already have {unfinished} unfinished jobs (the limit is {limit}); "
                "wait for one to finish",
                unfinished=unfinished,
                limit=limit,
            )

    async def requeue(self, job_id: uuid.UUID, attempt: int) -> Job | None:
        """running → queued for this attempt only: its worker is gone, its entry was
        lost, or its worker hands it back on shutdown."""
        return _job(
            await self._pool.fetchrow(
                f"UPDATE jobs.jobs SET status = 'queued', worker = '', progress = 0, {_VISIBLE} "
                f"WHERE id = $1 AND status = 'running' AND attempts = $2 RETURNING {COLUMNS}",
                job_id,
                attempt,
            )
        )

    async def get(self, job_id: uuid.UUID) -> Job | None:
        return _job(
            await self._pool.fetchrow(f"SELECT {COLUMNS} FROM jobs.jobs WHERE id = $1", job_id)
        )

    async def mark_queued(
        self, job_id: uuid.UUID, reservation_id: str, lane: str, hold_until: datetime
    ) -> Job | None:
        """creating → queued in its lane once the price is held (until `hold_until`)."""
        return _job(
            await self._pool.fetchrow(
                f"UPDATE jobs.jobs SET status = 'queued', charge = 'held', reservation_id = $2, "
                f"lane = $3, hold_until = $4, {_VISIBLE} "
                f"WHERE id = $1 AND status = 'creating' RETURNING {COLUMNS}",
                job_id,
                reservation_id,
                lane,
                hold_until,
            )
        )

    async def holds_ending(self, within: float, limit: int) -> list[Job]:
        """Unfinished jobs whose hold expires within `within` seconds."""
        return _jobs(
            await self._pool.fetch(
                f"SELECT {COLUMNS} FROM jobs.jobs WHERE charge = 'held' "
                "AND status IN ('queued', 'running') AND (hold_until IS NULL "  # queued by an
                "OR hold_until < now() + make_interval(secs => $1)) "  # older release
                "ORDER BY hold_until NULLS FIRST LIMIT $2",
                within,
                limit,
            )
        )

    async def hold_extended(self, job_id: uuid.UUID, hold_until: datetime) -> None:
        await self._pool.execute(
            "UPDATE jobs.jobs SET hold_until = $2 WHERE id = $1", job_id, hold_until
        )

    async def delete_creating(self, job_id: uuid.UUID) -> bool:
        """Forget a job that could not be charged (it never was visible as charged).
        False when the job has moved on from `creating` (someone charged it)."""
        return bool(
            await self._pool.fetchval(
                "WITH gone AS (DELETE FROM jobs.jobs WHERE id = $1 AND status = 'creating' "
                "RETURNING 1) SELECT EXISTS (SELECT 1 FROM gone) "
                "OR NOT EXISTS (SELECT 1 FROM jobs.jobs WHERE id = $1)",
                job_id,
            )
        )

    async def claim(self, job_id: uuid.UUID, worker: str) -> Job | None:
        """queued → running for this worker; the new attempt number is the fence."""
        return _job(
            await self._pool.fetchrow(
                f"UPDATE jobs.jobs SET status = 'running', attempts = attempts + 1, worker = $2, "
                f"started_at = coalesce(started_at, now()), progress = 0, {_VISIBLE} "
                f"WHERE id = $1 AND status = 'queued' RETURNING {COLUMNS}",
                job_id,
                worker,
            )
        )

    async def take_over(self, job_id: uuid.UUID, worker: str) -> Job | None:
        """A running job whose worker died: a new attempt for this worker."""
        return _job(
            await self._pool.fetchrow(
                f"UPDATE jobs.jobs SET attempts = attempts + 1, worker = $2, progress = 0, "
                f"{_VISIBLE} WHERE id = $1 AND status = 'running' RETURNING {COLUMNS}",
                job_id,
                worker,
            )
        )

    async def set_progress(self, job_id: uuid.UUID, attempt: int, progress: int) -> Job | None:
        return _job(
            await self._pool.fetchrow(
                f"UPDATE jobs.jobs SET progress = $3, {_VISIBLE} WHERE id = $1 "
                f"AND status = 'running' AND attempts = $2 AND progress <> $3 RETURNING {COLUMNS}",
                job_id,
                attempt,
                progress,
            )
        )

    async def finish(
        self,
        job_id: uuid.UUID,
        attempt: int,
        status: JobStatus,
        results: list[ResultFile],
        error: str,
        failure: Failure | None,
    ) -> Job | None:
        """running → succeeded | failed, only for the current attempt."""
        return _job(
            await self._pool.fetchrow(
                f"UPDATE jobs.jobs SET status = $3, results = $4::jsonb, error = $5, failure = $6, "
                f"progress = CASE WHEN $3 = 'succeeded' THEN 100 ELSE progress END, "
                f"finished_at = now(), {_VISIBLE} "
                f"WHERE id = $1 AND status = 'running' AND attempts = $2 RETURNING {COLUMNS}",
                job_id,
                attempt,
                status,
                json.dumps(result_dicts(results)),
                error,
                failure,
            )
        )

    async def cancel(self, job_id: uuid.UUID, telegram_id: int | None) -> Job | None:
        """queued | running → cancelled."""
        return _job(
            await self._pool.fetchrow(
                f"UPDATE jobs.jobs SET status = 'cancelled', error = 'cancelled', "
                f"finished_at = now(), {_VISIBLE} WHERE id = $1 AND "
                f"($2::bigint IS NULL OR telegram_id = $2) AND status IN ('queued', 'running') "
                f"RETURNING {COLUMNS}",
                job_id,
                telegram_id,
            )
        )

    async def fail(self, job_id: uuid.UUID, reason: str, failure: Failure) -> Job | None:
        """Any unfinished job → failed (the reconciler's way out for a stuck job)."""
        return _job(
            await self._pool.fetchrow(
                f"UPDATE jobs.jobs SET status = 'failed', error = $2, failure = $3, "
                f"finished_at = now(), {_VISIBLE} "
                f"WHERE id = $1 AND status IN ('queued', 'running') RETURNING {COLUMNS}",
                job_id,
                reason,
                failure,
            )
        )

    async def mark_settled(self, job_id: uuid.UUID, charge: Charge) -> None:
        await self._pool.execute(
            "UPDATE jobs.jobs SET charge = $2 WHERE id = $1 AND charge = 'held'", job_id, charge
        )

    async def lease_deliveries(
        self,
        stream: uuid.UUID,
        gateway: str,
        lease_seconds: float,
        limit: int,
        job_id: uuid.UUID | None = None,
    ) -> list[Job]:
        """Lease to `stream` up to `limit` finished, undelivered jobs it may take
        (`_LEASABLE`), the longest finished first; only `job_id` when given.

        The candidate rows are locked with SKIP LOCKED and re-checked on their
        latest version before the update, so two streams never both lease one
        job: the second sees the first one's lease and passes on.
        """
        rows = await self._pool.fetch(
            "UPDATE jobs.jobs SET delivery_stream = $1, delivery_gateway = $2, "
            "delivery_lease_until = now() + make_interval(secs => $3), "
            "delivery_attempts = delivery_attempts + 1 "
            f"WHERE id IN (SELECT id FROM jobs.jobs WHERE {_DELIVERABLE} AND {_LEASABLE} "
            "AND ($5::uuid IS NULL OR id = $5) ORDER BY finished_at, id LIMIT $4 "
            f"FOR UPDATE SKIP LOCKED) RETURNING {COLUMNS}",
            stream,
            gateway,
            lease_seconds,
            limit,
            job_id,
        )
        return sorted(_jobs(rows), key=lambda job: (job.finished_at, str(job.id)))

    async def holding(self, stream: uuid.UUID, lease_seconds: float) -> Holding:
        """The live leases of `stream`, and when the next lease (of any stream)
        becomes one it may take. Leased rows are few: an acknowledgement or a
        release clears a job's lease."""
        row = await self._pool.fetchrow(
            "SELECT coalesce(array_agg(id) FILTER (WHERE delivery_stream = $1 "
            "  AND delivery_lease_until > now()), '{}') AS mine, "
            "  extract(epoch FROM min(free_at) FILTER (WHERE free_at > now()) - now()) "
            "  AS next_free_in "
            "FROM (SELECT id, delivery_stream, delivery_lease_until, "
            "  CASE WHEN delivery_stream = $1 "
            "  THEN delivery_lease_until + make_interval(secs => $2) "
            "  ELSE delivery_lease_until END AS free_at "
            f"  FROM jobs.jobs WHERE delivery_stream IS NOT NULL AND {_DELIVERABLE}) leased",
            stream,
            lease_seconds,
        )
        later = row["next_free_in"]
        return Holding(frozenset(row["mine"]), None if later is None else float(later))

    async def release_deliveries(self, stream: uuid.UUID) -> list[Job]:
        """End every lease of `stream` on jobs not yet delivered; the jobs released."""
        return _jobs(
            await self._pool.fetch(
                "UPDATE jobs.jobs SET delivery_stream = NULL, delivery_lease_until = NULL "
                f"WHERE delivery_stream = $1 AND delivered_at IS NULL RETURNING {COLUMNS}",
                stream,
            )
        )

    async def mark_delivered(
        self, job_id: uuid.UUID, gateway: str, file_ids: dict[str, str]
    ) -> Job | None:
        """Record the first acknowledgement of a finished job: when, by which gateway,
        and the Telegram file_id of each result sent (by key); it ends the lease.
        None when the job is not finished or was acknowledged before (nothing changes)."""
        return _job(
            await self._pool.fetchrow(
                "UPDATE jobs.jobs SET delivered_at = now(), delivery_gateway = $2, "
                "delivery_stream = NULL, delivery_lease_until = NULL, results = ("
                "  SELECT coalesce(jsonb_agg(CASE WHEN $3::jsonb ? (r ->> 'key') "
                "    THEN r || jsonb_build_object('telegram_file_id', $3::jsonb ->> (r ->> 'key')) "
                "    ELSE r END ORDER BY n), '[]'::jsonb) "
                "  FROM jsonb_array_elements(results) WITH ORDINALITY AS e(r, n)), "
                f"{_VISIBLE} WHERE id = $1 AND delivered_at IS NULL AND status IN {_TERMINAL} "
                f"RETURNING {COLUMNS}",
                job_id,
                gateway,
                json.dumps(file_ids),
            )
        )

    async def unsettled(self, older_than: float, limit: int) -> list[Job]:
        """Finished jobs whose hold is still open (a crash between state and money)."""
        return _jobs(
            await self._pool.fetch(
                f"SELECT {COLUMNS} FROM jobs.jobs WHERE charge = 'held' AND status IN {_TERMINAL} "
                "AND finished_at < now() - make_interval(secs => $1) ORDER BY finished_at LIMIT $2",
                older_than,
                limit,
            )
        )

    async def stale_creating(self, older_than: float, limit: int) -> list[Job]:
        """Jobs a crash left between saving and charging."""
        return _jobs(
            await self._pool.fetch(
                f"SELECT {COLUMNS} FROM jobs.jobs WHERE status = 'creating' "
                "AND created_at < now() - make_interval(secs => $1) ORDER BY created_at LIMIT $2",
                older_than,
                limit,
            )
        )

    async def page_for_user(
        self, telegram_id: int, size: int, before: tuple[Any, uuid.UUID] | None
    ) -> list[Job]:
        return _jobs(
            await self._pool.fetch(
                f"SELECT {COLUMNS} FROM jobs.jobs WHERE telegram_id = $1 "
                "AND ($2::timestamptz IS NULL OR (created_at, id) < ($2, $3)) "
                "ORDER BY created_at DESC, id DESC LIMIT $4",
                telegram_id,
                before[0] if before else None,
                before[1] if before else None,
                size,
            )
        )

    async def page_all(
        self, filters: dict[str, Any], size: int, before: tuple[Any, uuid.UUID] | None
    ) -> list[Job]:
        return _jobs(
            await self._pool.fetch(
                f"SELECT {COLUMNS} FROM jobs.jobs WHERE ($1::bigint IS NULL OR telegram_id = $1) "
                "AND ($2::text IS NULL OR status = $2) AND ($3::text IS NULL OR kind = $3) "
                "AND ($4::text IS NULL OR provider = $4) "
                "AND ($5::timestamptz IS NULL OR (created_at, id) < ($5, $6)) "
                "ORDER BY created_at DESC, id DESC LIMIT $7",
                filters.get("telegram_id"),
                filters.get("status"),
                filters.get("kind"),
                filters.get("provider"),
                before[0] if before else None,
                before[1] if before else None,
                size,
            )
        )

    async def queue_positions(self, job_ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
        """For queued jobs: how many queued jobs of the same lane are ahead."""
        rows = await self._pool.fetch(
            "SELECT j.id, (SELECT count(*) FROM jobs.jobs a WHERE a.status = 'queued' "
            "AND a.lane = j.lane AND (a.created_at, a.id) < (j.created_at, j.id)) AS ahead "
            "FROM jobs.jobs j WHERE j.id = ANY($1) AND j.status = 'queued'",
            job_ids,
        )
        return {r["id"]: r["ahead"] for r in rows}

    async def durations(self) -> dict[tuple[str, str], tuple[float, int]]:
        """Mean run seconds of recent successes and the number running, by (kind, provider)."""
        rows = await self._pool.fetch(
            "SELECT kind, provider, "
            "  (SELECT avg(extract(epoch FROM finished_at - started_at)) FROM ("
            "     SELECT finished_at, started_at FROM jobs.jobs r WHERE r.status = 'succeeded' "
            "     AND r.kind = k.kind AND r.provider = k.provider "
            "     ORDER BY finished_at DESC LIMIT 50) recent) AS mean_run, "
            "  (SELECT count(*) FROM jobs.jobs r WHERE r.status = 'running' "
            "     AND r.kind = k.kind AND r.provider = k.provider) AS running "
            "FROM (SELECT DISTINCT kind, provider FROM jobs.jobs "
            "      WHERE status IN ('queued', 'running')) k"
        )
        return {
            (r["kind"], r["provider"]): (float(r["mean_run"] or 0), int(r["running"])) for r in rows
        }

    async def unfinished_older_than(self, seconds: float) -> list[Unfinished]:
        """Queued and running jobs created more than `seconds` ago."""
        rows = await self._pool.fetch(
            "SELECT id, lane, status, attempts FROM jobs.jobs WHERE status IN "
            "('queued', 'running') AND created_at < now() - make_interval(secs => $1)",
            seconds,
        )
        return [
            Unfinished(r["id"], Lane(r["lane"]), JobStatus(r["status"]), r["attempts"])
            for r in rows
        ]

    async def stats(self) -> JobStats:
        async with self._pool.acquire() as conn:
            counts = await conn.fetch(
                "SELECT kind, status, count(*) AS n FROM jobs.jobs GROUP BY kind, status"
            )
            providers = await conn.fetch(
                "SELECT provider, count(*) AS finished, "
                "count(*) FILTER (WHERE status = 'failed') AS failed FROM jobs.jobs "
                "WHERE status IN ('succeeded', 'failed') GROUP BY provider ORDER BY provider"
            )
            times = await conn.fetchrow(
                "SELECT avg(extract(epoch FROM started_at - created_at)) AS wait, "
                "avg(extract(epoch FROM finished_at - started_at)) AS run FROM jobs.jobs "
                "WHERE finished_at > now() - interval '24 hours' AND started_at IS NOT NULL"
            )
            depth = await conn.fetchval("SELECT count(*) FROM jobs.jobs WHERE status = 'queued'")
        return JobStats(
            counts=[KindCount(r["kind"], r["status"], r["n"]) for r in counts],
            providers=[ProviderCount(r["provider"], r["finished"], r["failed"]) for r in providers],
            mean_wait_seconds=float(times["wait"] or 0),
            mean_run_seconds=float(times["run"] or 0),
            queue_depth=depth,
        )
