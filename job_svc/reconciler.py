"""The reconciler: repairs whatever a crash, a lost queue or a slow billing left
half done, one job at a time, on one replica per round."""

from __future__ import annotations

import logging
from collections.abc import Awaitable

import redis.asyncio as aioredis

from common.errors import DomainError, FailedPrecondition, NotFound, UpstreamRefused
from job_svc.billing_client import HOLD_TTL_SECONDS, BillingClient
from job_svc.events import publish, publish_cancel
from job_svc.jobs import Jobs
from job_svc.model import Failure, Job, JobStatus
from job_svc.queue import JobQueue
from job_svc.settlement import Settlement
from job_svc.store import JobStore, Unfinished

log = logging.getLogger(__name__)

#: A job still `creating` this long after it was saved was left by a crash.
CREATING_GRACE_SECONDS = 30.0
#: An unfinished job older than this without a queue entry has lost it.
LOST_GRACE_SECONDS = 30.0
#: A finished job whose hold is still open this long is settled by the reconciler.
SETTLE_GRACE_SECONDS = 5.0
#: Redis key of the lease that lets one replica at a time run the periodic repair.
RECONCILER_LEASE = "jobs:reconciler"


class Reconciler:
    """Finds jobs left half done and finishes or undoes what was started."""

    def __init__(
        self,
        jobs: Jobs,
        store: JobStore,
        queue: JobQueue,
        billing: BillingClient,
        settlement: Settlement,
        redis: aioredis.Redis,
    ) -> None:
        self._jobs = jobs
        self._store = store
        self._queue = queue
        self._billing = billing
        self._settlement = settlement
        self._redis = redis

    async def reconcile_in_turn(self, interval: float) -> bool:
        """The periodic repair: one replica's pass per `interval`, whichever takes the
        lease first; returns whether this one ran. Passes are safe to overlap (a lease
        that lapses during a long pass lets another replica start): the lease only
        saves the repeated work."""
        lease_ms = max(1, int(interval * 800))  # lapses before the next round starts
        if not await self._redis.set(RECONCILER_LEASE, b"1", nx=True, px=lease_ms):
            return False
        await self.reconcile()
        return True

    async def reconcile(self) -> dict[str, int]:
        """One repair pass; safe to run on every replica at once.

        A job that cannot be repaired now is logged and left for the next pass:
        it never stops the repair of the others.
        """
        repaired = dict.fromkeys(
            ("rolled_forward", "rolled_back", "settled", "requeued", "extended", "expired"), 0
        )

        async def tally(job: str, repair: Awaitable[str | None]) -> None:
            try:
                outcome = await repair
            except Exception:
                log.exception("cannot repair job yet", extra={"job": job})
                return
            if outcome:
                repaired[outcome] += 1

        for job in await self._store.stale_creating(CREATING_GRACE_SECONDS, 100):
            await tally(str(job.id), self._finish_creating(job))
        for job in await self._store.unsettled(SETTLE_GRACE_SECONDS, 500):
            await tally(str(job.id), self._settle_left(job))
        for lost in await self.lost(LOST_GRACE_SECONDS):
            await tally(str(lost.id), self._requeue(lost))
        for job in await self._store.holds_ending(HOLD_TTL_SECONDS / 2, 500):
            await tally(str(job.id), self._extend_hold(job))
        if any(repaired.values()):
            log.info("reconciled", extra=repaired)
        return repaired

    async def _finish_creating(self, job: Job) -> str | None:
        """Charge and queue a job a crash left `creating`, or drop it."""
        if not await self._jobs.input_stored(job):  # the crash came before the upload
            return "rolled_back" if await self._jobs.discard(job) else None
        try:
            await self._jobs.charge_and_queue(job)
        except (FailedPrecondition, NotFound, UpstreamRefused):
            return "rolled_back"
        return "rolled_forward"

    async def _settle_left(self, job: Job) -> str:
        await self._settlement.settle(job)
        return "settled"

    async def _extend_hold(self, job: Job) -> str | None:
        """Keep the hold of a job that waits or runs long from expiring under it.

        A hold that expired anyway (billing's sweeper refunded it), or that
        billing does not know, leaves the job nobody pays for: it fails, and
        its refund is not made twice.
        """
        assert job.reservation_id is not None  # only held jobs have holds ending
        try:
            expires_at = await self._billing.extend(job.reservation_id)
        except (FailedPrecondition, NotFound):
            failed = await self._store.fail(
                job.id, "the job waited too long and its credits were refunded", Failure.EXPIRED
            )
            if failed is not None:
                await publish_cancel(self._redis, str(job.id))
                await publish(self._redis, failed)
                await self._settlement.settle(failed)
            return "expired"
        except DomainError as exc:
            log.warning("hold not extended yet", extra={"job": str(job.id), "error": str(exc)})
            return None
        await self._store.hold_extended(job.id, expires_at)
        return "extended"

    async def lost(self, older_than: float) -> list[Unfinished]:
        """Unfinished jobs without a queue entry.

        That happens after a crash between marking a job queued and enqueueing
        it, or when Redis lost its data.
        """
        in_queue = await self._queue.job_ids()
        unfinished = await self._store.unfinished_older_than(older_than)
        return [job for job in unfinished if str(job.id) not in in_queue]

    async def _requeue(self, lost: Unfinished) -> str | None:
        """Enqueue a lost job again. A running one goes back to the queue first; if
        its worker still lives, the attempt fence makes its late result count for nothing."""
        if lost.status == JobStatus.RUNNING:
            requeued = await self._store.requeue(lost.id, lost.attempts)
            if requeued is None:
                return None
            await publish(self._redis, requeued)
        await self._queue.enqueue(str(lost.id), lost.lane)
        log.warning("job had no queue entry; enqueued again", extra={"job": str(lost.id)})
        return "requeued"
