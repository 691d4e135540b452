"""The job rules a caller asks for: create (validate, limit, charge, queue), read,
cancel, retry, and the download links of results."""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import redis.asyncio as aioredis

from common import validate
from common.errors import (
    AccountBlocked,
    Conflict,
    FailedPrecondition,
    InvalidArgument,
    JobCreating,
    JobNotFound,
    JobNotRetryable,
    JobNotSucceeded,
    NotFound,
    QueueFull,
    RateLimited,
    UpstreamRefused,
)
from job_svc import inputs
from job_svc.billing_client import BillingClient
from job_svc.events import publish, publish_cancel
from job_svc.model import Job, JobStatus, Kind, Lane, NewJob, Quality, ResultFile
from job_svc.providers import Provider
from job_svc.queue import JobQueue
from job_svc.settings import JobSettings
from job_svc.settlement import Settlement
from job_svc.storage import ObjectStore
from job_svc.store import JobStats, JobStore

log = logging.getLogger(__name__)

#: The creation rate is counted over the last minute, whenever the minute began.
RATE_WINDOW_MS = 60_000
#: Take a slot in a user's window (a sorted set of creation times) if fewer than the
#: limit were taken in it; otherwise say in how many ms its oldest slot frees up. A
#: refused attempt takes nothing, so trying again does not push the wait back.
_TAKE_RATE_SLOT = """
local now, window, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[4])
  redis.call('PEXPIRE', KEYS[1], window)
  return {1, 0}
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')[2]
return {0, tonumber(oldest) + window - now}
"""
_EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp", "video/mp4": "mp4"}


def extension(mime_type: str) -> str:
    return _EXTENSIONS.get(mime_type, "bin")


@dataclass(frozen=True)
class ResultLink:
    """A presigned download link of one result file."""

    file: ResultFile
    url: str
    expires_at: datetime


@dataclass(frozen=True)
class Offer:
    """A kind of job at a quality as it can be created now: price, maker, options."""

    kind: Kind
    quality: Quality
    price: int
    provider: str
    aspect_ratios: tuple[str, ...]
    durations_seconds: tuple[int, ...]
    #: "required" (edit), "optional" (video: a start image) or "none" (image).
    input_image: str


_INPUT_IMAGE = {Kind.IMAGE: "none", Kind.EDIT: "required", Kind.VIDEO: "optional"}


@dataclass(frozen=True)
class JobFilter:
    """What an admin's job list is narrowed to (None: any)."""

    telegram_id: int | None = None
    status: JobStatus | None = None
    kind: Kind | None = None
    provider: str | None = None


class Jobs:
    """Creates, reads, cancels and retries jobs for the API; the reconciler finishes
    the creations a crash interrupted through `charge_and_queue` and `discard`."""

    def __init__(
        self,
        settings: JobSettings,
        store: JobStore,
        billing: BillingClient,
        queue: JobQueue,
        objects: ObjectStore,
        redis: aioredis.Redis,
        providers: dict[Kind, Provider],
        settlement: Settlement,
    ) -> None:
        self._settings = settings
        self._store = store
        self._billing = billing
        self._queue = queue
        self._objects = objects
        self._redis = redis
        self._take_rate_slot = redis.register_script(_TAKE_RATE_SLOT)
        self._providers = providers
        self._settlement = settlement
        self._costs = {
            (Kind.IMAGE, Quality.STANDARD): settings.COST_IMG_STANDARD,
            (Kind.IMAGE, Quality.PRO): settings.COST_IMG_PRO,
            (Kind.EDIT, Quality.STANDARD): settings.COST_EDIT_STANDARD,
            (Kind.EDIT, Quality.PRO): settings.COST_EDIT_PRO,
            (Kind.VIDEO, Quality.STANDARD): settings.COST_VIDEO_STANDARD,
            (Kind.VIDEO, Quality.PRO): settings.COST_VIDEO_PRO,
        }

    # --- creating -----------------------------------------------------------

    async def create(self, new: NewJob) -> Job:
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
        provider = self._providers[new.kind]
        aspect_ratio, duration = inputs.options(
            provider, new.kind, new.aspect_ratio, new.duration_seconds
        )
        picture = self._input_image(new)
        job_id = uuid.uuid4()
        input_key = None
        if picture is not None:
            input_key = f"jobs/{job_id}/input.{extension(picture.mime_type)}"
        fields = {
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
            "lane": Lane.NORMAL,  # the hold tells the tier; PRO jobs move to priority
            "cost": self._costs[(new.kind, new.quality)],
            "retry_of": new.retry_of,
        }
        job = await self._save(fields)
        if job.id != job_id:  # a retry, or a concurrent call with the same client_key
            return job
        try:
            await self._check_rate(new.telegram_id)
            if picture is not None and input_key is not None:
                await self._objects.put(input_key, picture.data, picture.mime_type)
        except BaseException as exc:
            # Nothing is held yet: whatever went wrong, the job must not be charged later
            # unless the reconciler already did charge and queue it (this call was slow).
            if await self.discard(job) or not isinstance(exc, Exception):
                raise
            return await self._get(job.id)
        return await self.charge_and_queue(job)

    async def _save(self, fields: dict[str, Any]) -> Job:
        """Save under the FREE queue limit; past it, ask billing who the user is.

        Most jobs never need that call: billing's hold itself refuses unknown
        and banned users and tells the tier.
        """
        try:
            return await self._store.insert(fields, self._settings.MAX_USER_QUEUE)
        except QueueFull:
            payer = await self._billing.payer(fields["telegram_id"])
            if payer.banned:
                raise AccountBlocked("this account is blocked and cannot create jobs") from None
            if not payer.pro:
                raise
        return await self._store.insert(fields, self._settings.MAX_USER_QUEUE_PRO)

    @staticmethod
    def _input_image(new: NewJob) -> inputs.InputImage | None:
        if new.kind == Kind.IMAGE:
            if new.image:
                raise InvalidArgument(
                    "an IMAGE job takes no input image; use EDIT", field="input_image"
                )
            return None
        if not new.image:
            if new.kind == Kind.EDIT:
                raise InvalidArgument("an EDIT job needs the image to edit", field="input_image")
            return None
        return inputs.image(new.image)

    async def _check_rate(self, telegram_id: int) -> None:
        limit = self._settings.CREATE_RATE_PER_MINUTE
        taken, retry_after_ms = await self._take_rate_slot(
            keys=[f"jobs:rate:{telegram_id}"],
            args=[int(time.time() * 1000), RATE_WINDOW_MS, limit, uuid.uuid4().hex],
        )
        if not taken:
            # Who the user is comes first: a blocked or unknown one is told that.
            if (await self._billing.payer(telegram_id)).banned:
                raise AccountBlocked("this account is blocked and cannot create jobs")
            wait = max(1, -(-int(retry_after_ms) // 1000))
            raise RateLimited(
                f"at most {limit} jobs a minute; try again in {wait} s",
                limit_per_minute=limit,
                retry_after_seconds=wait,
            )

    async def charge_and_queue(self, job: Job) -> Job:
        """Hold the price of a `creating` job and queue it.

        A refusal (no credits, unknown or banned user, billing refusing the
        call) removes the job. Unavailable propagates with the job left
        `creating`: the hold may exist, and holding again with the same key
        returns it, so a later attempt finishes the job with one charge.
        """
        try:
            hold = await self._billing.reserve(job.telegram_id, job.cost, str(job.id))
        except (FailedPrecondition, NotFound, UpstreamRefused):
            if not await self.discard(job):  # a concurrent attempt charged and queued it
                return await self._get(job.id)
            raise
        lane = Lane.PRIORITY if hold.pro else Lane.NORMAL
        queued = await self._store.mark_queued(job.id, hold.id, lane, hold.expires_at)
        if queued is None:
            current = await self._store.get(job.id)
            if current is not None:  # a concurrent attempt queued it first
                return current
            # A concurrent attempt was refused and removed the job after this hold
            # was made: nothing will settle the hold, so give it back now.
            await self._billing.release(hold.id, "the job was not created")
            await self.discard(job)  # the input, stored after the removal
            raise Conflict("the job was withdrawn while it was being created; try again")
        # A crash right here leaves a queued job without a queue entry: the
        # reconciler finds it (`lost`) and enqueues it again.
        await self._queue.enqueue(str(job.id), lane)
        return queued

    async def discard(self, job: Job) -> bool:
        """Forget a job that was never charged, with its input image; False when
        the job is no longer `creating` (it was charged and queued meanwhile)."""
        if not await self._store.delete_creating(job.id) and await self._store.get(job.id):
            return False
        if job.input_key:
            try:
                await self._objects.delete(job.input_key)
            except Exception as exc:  # an orphan object costs storage, not money
                log.warning("input not deleted",
                            extra={"key": job.input_key, "error": repr(exc)})  # fmt: skip
        return True

    async def input_stored(self, job: Job) -> bool:
        return not job.input_key or job.input_key in await self._objects.keys(f"jobs/{job.id}/")

    # --- reading --------------------------------------------------------------

    async def _get(self, job_id: uuid.UUID) -> Job:
        job = await self._store.get(job_id)
        if job is None:
            raise JobNotFound(f"job {job_id} not found", job_id=job_id)
        return job

    async def get(self, job_id: str, telegram_id: int | None) -> Job:
        """One job; another user's job is NOT_FOUND, like a missing one."""
        jid = validate.uuid_text(job_id, "job_id")
        if telegram_id is not None:
            validate.telegram_id(telegram_id)
        job = await self._store.get(jid)
        if job is None or (telegram_id is not None and job.telegram_id != telegram_id):
            raise JobNotFound(f"job {job_id} not found", job_id=job_id)
        return job

    async def page_for_user(
        self, telegram_id: int, size: int, before: tuple[datetime, uuid.UUID] | None
    ) -> list[Job]:
        """A user's jobs, newest first, after the keyset cursor `before`."""
        validate.telegram_id(telegram_id)
        return await self._store.page_for_user(telegram_id, size, before)

    async def page_all(
        self, where: JobFilter, size: int, before: tuple[datetime, uuid.UUID] | None
    ) -> list[Job]:
        """Every user's jobs for admins, newest first."""
        if where.telegram_id is not None:
            validate.telegram_id(where.telegram_id)
        provider = validate.text(where.provider or "", "provider", max_len=32) or None
        filters = {
            "telegram_id": where.telegram_id,
            "status": where.status,
            "kind": where.kind,
            "provider": provider,
        }
        return await self._store.page_all(filters, size, before)

    async def stats(self) -> JobStats:
        return await self._store.stats()

    async def result_links(
        self, job_id: str, telegram_id: int, ttl_seconds: int | None
    ) -> list[ResultLink]:
        """Presigned download links of a succeeded job's results."""
        ttl = ttl_seconds or self._settings.RESULT_URL_TTL_SECONDS
        validate.int_range(ttl, "expires_in_seconds", 60, 7 * 24 * 3600)
        job = await self.get(job_id, telegram_id)
        if job.status != JobStatus.SUCCEEDED:
            raise JobNotSucceeded(
                "the job has no results (it has not succeeded)", status=job.status
            )
        expires = timedelta(seconds=ttl)
        expires_at = datetime.now(UTC) + expires
        return [
            ResultLink(f, self._objects.presigned_get(f.key, expires), expires_at)
            for f in job.results
        ]

    # --- cancelling and retrying -------------------------------------------------

    async def cancel(self, job_id: str, telegram_id: int | None) -> Job:
        """Cancel a queued or running job and refund it; a finished job is returned as is."""
        jid = validate.uuid_text(job_id, "job_id")
        if telegram_id is not None:
            validate.telegram_id(telegram_id)
        job = await self._store.cancel(jid, telegram_id)
        if job is None:
            current = await self.get(job_id, telegram_id)
            if current.status == JobStatus.CREATING:
                raise JobCreating("the job is still being created; try again in a moment")
            return current
        await publish_cancel(self._redis, job_id)  # the worker running it stops
        await publish(self._redis, job)
        await self._settlement.settle(job)
        if job.attempts:
            await self._settlement.remove_leftovers(job)
        return job

    async def retry(self, job_id: str) -> Job:
        """A new job with the settings of a failed or cancelled one, charged anew.

        Retrying the same job twice returns the first retry (its client_key is
        derived from the old job).
        """
        old = await self.get(job_id, None)
        if old.status not in (JobStatus.FAILED, JobStatus.CANCELLED):
            raise JobNotRetryable(
                "only a failed or cancelled job can be retried", status=old.status
            )
        image = await self._objects.get(old.input_key) if old.input_key else b""
        return await self.create(
            NewJob(
                telegram_id=old.telegram_id,
                kind=old.kind,
                quality=old.quality,
                prompt=old.prompt,
                image=image,
                aspect_ratio=old.aspect_ratio,
                duration_seconds=old.duration_seconds,
                client_key=f"retry:{old.id}",
                retry_of=old.id,
            )
        )

    def offers(self) -> list[Offer]:
        """Every kind at every quality: its price and what its provider accepts."""
        return [
            Offer(
                kind=kind,
                quality=quality,
                price=price,
                provider=self._providers[kind].name,
                aspect_ratios=tuple(self._providers[kind].aspect_ratios.get(kind, ())),
                durations_seconds=(
                    tuple(self._providers[kind].video_durations) if kind == Kind.VIDEO else ()
                ),
                input_image=_INPUT_IMAGE[kind],
            )
            for (kind, quality), price in self._costs.items()
        ]

    def describe(self) -> dict[str, str]:
        """Which provider makes each kind."""
        return {kind: provider.name for kind, provider in self._providers.items()}
