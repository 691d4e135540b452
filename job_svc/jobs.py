"""The job rules: create (validate, limit, charge, queue), cancel, settle money,
and the reconciler that repairs whatever a crash left half done."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any

import asyncpg
import redis.asyncio as aioredis

from common import validate
from common.errors import (
    DomainError,
    FailedPrecondition,
    Internal,
    InvalidArgument,
    NotFound,
    ResourceExhausted,
    Unavailable,
)
from job_svc import inputs
from job_svc.billing_client import HOLD_TTL_SECONDS, BillingClient
from job_svc.events import publish, publish_cancel
from job_svc.model import TERMINAL, job_message
from job_svc.providers import Provider
from job_svc.queue import JobQueue
from job_svc.settings import JobSettings
from job_svc.storage import ObjectStore
from job_svc.store import JobStore

log = logging.getLogger(__name__)

#: A job still `creating` this long after it was saved was left by a crash.
CREATING_GRACE_SECONDS = 30.0
#: An unfinished job older than this without a queue entry has lost it.
LOST_GRACE_SECONDS = 30.0
#: A finished job whose hold is still open this long is settled by the reconciler.
SETTLE_GRACE_SECONDS = 5.0
#: Redis key of the lease that lets one replica at a time run the periodic repair.
RECONCILER_LEASE = "jobs:reconciler"
_EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp", "video/mp4": "mp4"}


def extension(mime_type: str) -> str:
    return _EXTENSIONS.get(mime_type, "bin")


@dataclass(frozen=True)
class NewJob:
    """A validated CreateJob request."""

    telegram_id: int
    kind: str
    quality: str
    prompt: str
    image: bytes
    aspect_ratio: str
    duration_seconds: int
    client_key: str
    retry_of: uuid.UUID | None = None


class Jobs:
    """Creates, cancels and settles jobs; shared by the servicer and the reconciler."""

    def __init__(
        self,
        settings: JobSettings,
        store: JobStore,
        billing: BillingClient,
        queue: JobQueue,
        objects: ObjectStore,
        redis: aioredis.Redis,
        providers: dict[str, Provider],
    ) -> None:
        self.settings = settings
        self.store = store
        self.billing = billing
        self.queue = queue
        self.objects = objects
        self.redis = redis
        self.providers = providers
        self._costs = {
            ("image", "standard"): settings.COST_IMG_STANDARD,
            ("image", "pro"): settings.COST_IMG_PRO,
            ("edit", "standard"): settings.COST_EDIT_STANDARD,
            ("edit", "pro"): settings.COST_EDIT_PRO,
            ("video", "standard"): settings.COST_VIDEO_STANDARD,
            ("video", "pro"): settings.COST_VIDEO_PRO,
        }

    # --- creating -----------------------------------------------------------

    async def create(self, new: NewJob) -> asyncpg.Record:
        """Validate, check the user and limits, save, charge and queue a job.

        Idempotent on (user, client_key). The job row exists before the price
        is held and is queued only after. A refusal removes the row and its
        input; a crash, or billing not answering (the hold may or may not have
        been made), leaves a `creating` job that a retry with the same
        client_key returns and the reconciler rolls forward (or back).
        """
        validate.telegram_id(new.telegram_id)
        validate.key(new.client_key, "client_key")
        prompt = inputs.prompt(new.prompt)
        provider = self.providers[new.kind]
        aspect_ratio, duration = inputs.options(
            provider, new.kind, new.aspect_ratio, new.duration_seconds
        )
        picture = self._input_image(new)
        job_id = uuid.uuid4()
        input_key = None
        if picture is not None:
            input_key = f"jobs/{job_id}/input.{extension(picture.mime_type)}"
        job = {
            "id": job_id,
            "telegram_id": new.telegram_id,
            "client_key": new.client_key,
            "kind": new.kind,
            "quality": new.quality,
            "prompt": prompt,
            "aspect_ratio": aspect_ratio,
            "duration_seconds": duration,
            "input_key": input_key,
            "provider": provider.name,
            "lane": "normal",  # the hold tells the tier; PRO jobs move to priority
            "cost": self._costs[(new.kind, new.quality)],
            "retry_of": new.retry_of,
        }
        row = await self._save(job)
        if row["id"] != job_id:  # a retry, or a concurrent call with the same client_key
            return row
        try:
            await self._check_rate(new.telegram_id)
            if picture is not None and input_key is not None:
                await self.objects.put(input_key, picture.data, picture.mime_type)
        except BaseException as exc:
            # Nothing is held yet: whatever went wrong, the job must not be charged later
            # unless the reconciler already did charge and queue it (this call was slow).
            if await self._discard(row) or not isinstance(exc, Exception):
                raise
            return await self._get(row["id"])
        return await self._charge_and_queue(row)

    async def _save(self, job: dict[str, Any]) -> asyncpg.Record:
        """Save under the FREE queue limit; past it, ask billing who the user is.

        Most jobs never need that call: billing's hold itself refuses unknown
        and banned users and tells the tier.
        """
        try:
            return await self.store.insert(job, self.settings.MAX_USER_QUEUE)
        except FailedPrecondition:
            payer = await self.billing.payer(job["telegram_id"])
            if payer.banned:
                raise FailedPrecondition("this account is blocked and cannot create jobs") from None
            if not payer.pro:
                raise
        return await self.store.insert(job, self.settings.MAX_USER_QUEUE_PRO)

    def _input_image(self, new: NewJob) -> inputs.InputImage | None:
        if new.kind == "image":
            if new.image:
                raise InvalidArgument("an IMAGE job takes no input image; use EDIT")
            return None
        if not new.image:
            if new.kind == "edit":
                raise InvalidArgument("an EDIT job needs the image to edit")
            return None
        return inputs.image(new.image)

    async def _check_rate(self, telegram_id: int) -> None:
        window = int(time.time() // 60)
        key = f"jobs:rate:{telegram_id}:{window}"
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, 120)
            count, _ = await pipe.execute()
        if count > self.settings.CREATE_RATE_PER_MINUTE:
            # Who the user is comes first: a blocked or unknown one is told that.
            if (await self.billing.payer(telegram_id)).banned:
                raise FailedPrecondition("this account is blocked and cannot create jobs")
            raise ResourceExhausted(
                f"at most {self.settings.CREATE_RATE_PER_MINUTE} jobs a minute; "
                f"try again in {60 - int(time.time()) % 60} s"
            )

    async def _charge_and_queue(self, row: asyncpg.Record) -> asyncpg.Record:
        """Hold the price of a `creating` job and queue it.

        A refusal (no credits, unknown or banned user, billing refusing the
        call) removes the job. Unavailable propagates with the job left
        `creating`: the hold may exist, and holding again with the same key
        returns it, so a later attempt finishes the job with one charge.
        """
        try:
            hold = await self.billing.reserve(row["telegram_id"], row["cost"], str(row["id"]))
        except (FailedPrecondition, NotFound, Internal) as exc:
            if not await self._discard(row):  # a concurrent attempt charged and queued it
                return await self._get(row["id"])
            if "blocked" in str(exc):
                raise FailedPrecondition("this account is blocked and cannot create jobs") from None
            raise
        lane = "priority" if hold.pro else "normal"
        queued = await self.store.mark_queued(row["id"], hold.id, lane, hold.expires_at)
        if queued is None:
            current = await self.store.get(row["id"])
            if current is not None:  # a concurrent attempt queued it first
                return current
            # A concurrent attempt was refused and removed the job after this hold
            # was made: nothing will settle the hold, so give it back now.
            await self.billing.release(hold.id, "the job was not created")
            await self._discard(row)  # the input, stored after the removal
            raise Unavailable("the job was withdrawn while it was being created; try again")
        # A crash right here leaves a queued job without a queue entry: the
        # reconciler finds it (`lost`) and enqueues it again.
        await self.queue.enqueue(str(row["id"]), lane)
        return queued

    async def _discard(self, row: asyncpg.Record) -> bool:
        """Forget a job that was never charged, with its input image; False when
        the job is no longer `creating` (it was charged and queued meanwhile)."""
        if not await self.store.delete_creating(row["id"]) and await self.store.get(row["id"]):
            return False
        if row["input_key"]:
            try:
                await self.objects.delete(row["input_key"])
            except Exception as exc:  # an orphan object costs storage, not money
                log.warning("input not deleted",
                            extra={"key": row["input_key"], "error": repr(exc)})  # fmt: skip
        return True

    async def _input_stored(self, row: asyncpg.Record) -> bool:
        return not row["input_key"] or row["input_key"] in await self.objects.keys(
            f"jobs/{row['id']}/"
        )

    # --- reading --------------------------------------------------------------

    async def _get(self, job_id: uuid.UUID) -> asyncpg.Record:
        row = await self.store.get(job_id)
        if row is None:
            raise NotFound(f"job {job_id} not found")
        return row

    async def get(self, job_id: str, telegram_id: int | None) -> asyncpg.Record:
        """One job; another user's job is NOT_FOUND, like a missing one."""
        jid = validate.uuid_text(job_id, "job_id")
        row = await self.store.get(jid)
        if row is None or (telegram_id is not None and row["telegram_id"] != telegram_id):
            raise NotFound(f"job {job_id} not found")
        return row

    # --- cancelling and settling ---------------------------------------------------

    async def cancel(self, job_id: str, telegram_id: int | None) -> asyncpg.Record:
        """Cancel a queued or running job and refund it; a finished job is returned as is."""
        jid = validate.uuid_text(job_id, "job_id")
        row = await self.store.cancel(jid, telegram_id)
        if row is None:
            current = await self.get(job_id, telegram_id)
            if current["status"] == "creating":
                raise FailedPrecondition("the job is still being created; try again in a moment")
            return current
        await publish_cancel(self.redis, job_id)  # the worker running it stops
        await publish(self.redis, job_message(row))
        await self.settle(row)
        if row["attempts"]:
            await self.remove_leftovers(row)
        return row

    async def settle(self, row: asyncpg.Record) -> None:
        """Capture the hold of a succeeded job, release that of a failed or cancelled one."""
        if row["charge"] != "held" or row["status"] not in TERMINAL:
            return
        reservation = row["reservation_id"]
        try:
            if row["status"] == "succeeded":
                await self.billing.capture(reservation)
                charge = "captured"
            else:
                await self.billing.release(reservation, f"job {row['status']}: {row['error']}")
                charge = "released"
        except (Unavailable, Internal) as exc:
            log.warning("cannot settle yet; later",
                        extra={"job": str(row["id"]), "error": str(exc)})  # fmt: skip
            return
        except NotFound:
            # Billing has no such hold (its data was restored from before it was
            # made): nothing was taken, so nothing is left to capture or give back.
            charge = "released"
            log.error("billing does not know the hold", extra={"job": str(row["id"])})
        except FailedPrecondition as exc:
            # The hold was finished elsewhere (e.g. expired): record what it became.
            charge = "released" if "already released" in str(exc) else "captured"
            log.error("hold already settled", extra={"job": str(row["id"]), "detail": str(exc)})
        await self.store.mark_settled(row["id"], charge)

    async def remove_leftovers(self, row: asyncpg.Record, keep: str | None = None) -> None:
        """Delete what attempts of killed workers stored, keeping the input and `keep`."""
        for key in await self.objects.keys(f"jobs/{row['id']}/"):
            if key not in (keep, row["input_key"]):
                await self.objects.delete(key)

    # --- repairing ---------------------------------------------------------------

    async def reconcile_in_turn(self, interval: float) -> bool:
        """The periodic repair: one replica's pass per `interval`, whichever takes the
        lease first; returns whether this one ran. Passes are safe to overlap (a lease
        that lapses during a long pass lets another replica start): the lease only
        saves the repeated work."""
        lease_ms = max(1, int(interval * 800))  # lapses before the next round starts
        if not await self.redis.set(RECONCILER_LEASE, b"1", nx=True, px=lease_ms):
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

        for row in await self.store.stale_creating(CREATING_GRACE_SECONDS, 100):
            await tally(str(row["id"]), self._finish_creating(row))
        for row in await self.store.unsettled(SETTLE_GRACE_SECONDS, 500):
            await tally(str(row["id"]), self._settle_left(row))
        for row in await self.lost(LOST_GRACE_SECONDS):
            await tally(str(row["id"]), self._requeue(row))
        for row in await self.store.holds_ending(HOLD_TTL_SECONDS / 2, 500):
            await tally(str(row["id"]), self._extend_hold(row))
        if any(repaired.values()):
            log.info("reconciled", extra=repaired)
        return repaired

    async def _finish_creating(self, row: asyncpg.Record) -> str | None:
        """Charge and queue a job a crash left `creating`, or drop it."""
        if not await self._input_stored(row):  # the crash came before the upload
            return "rolled_back" if await self._discard(row) else None
        try:
            await self._charge_and_queue(row)
        except (FailedPrecondition, NotFound, Internal):
            return "rolled_back"
        return "rolled_forward"

    async def _settle_left(self, row: asyncpg.Record) -> str:
        await self.settle(row)
        return "settled"

    async def _extend_hold(self, row: asyncpg.Record) -> str | None:
        """Keep the hold of a job that waits or runs long from expiring under it.

        A hold that expired anyway (billing's sweeper refunded it), or that
        billing does not know, leaves the job nobody pays for: it fails, and
        its refund is not made twice.
        """
        try:
            expires_at = await self.billing.extend(row["reservation_id"])
        except (FailedPrecondition, NotFound):
            failed = await self.store.fail(
                row["id"], "the job waited too long and its credits were refunded"
            )
            if failed is not None:
                await publish_cancel(self.redis, str(row["id"]))
                await publish(self.redis, job_message(failed))
                await self.settle(failed)
            return "expired"
        except DomainError as exc:
            log.warning("hold not extended yet", extra={"job": str(row["id"]), "error": str(exc)})
            return None
        await self.store.hold_extended(row["id"], expires_at)
        return "extended"

    async def lost(self, older_than: float) -> list[asyncpg.Record]:
        """Unfinished jobs without a queue entry.

        That happens after a crash between marking a job queued and enqueueing
        it, or when Redis lost its data.
        """
        in_queue = await self.queue.job_ids()
        rows = await self.store.pool.fetch(
            "SELECT id, lane, status, attempts FROM jobs.jobs WHERE status IN "
            "('queued', 'running') AND created_at < now() - make_interval(secs => $1)",
            older_than,
        )
        return [r for r in rows if str(r["id"]) not in in_queue]

    async def _requeue(self, row: asyncpg.Record) -> str | None:
        """Enqueue a lost job again. A running one goes back to the queue first; if
        its worker still lives, the attempt fence makes its late result count for nothing."""
        if row["status"] == "running":
            requeued = await self.store.requeue(row["id"], row["attempts"])
            if requeued is None:
                return None
            await publish(self.redis, job_message(requeued))
        await self.queue.enqueue(str(row["id"]), row["lane"])
        log.warning("job had no queue entry; enqueued again", extra={"job": str(row["id"])})
        return "requeued"

    def provider_for(self, row: asyncpg.Record) -> Provider | None:
        """The provider a job was checked against and priced for, if still configured."""
        for provider in self.providers.values():
            if provider.name == row["provider"]:
                return provider
        return None

    def describe(self) -> dict[str, Any]:
        return {kind: provider.name for kind, provider in self.providers.items()}
