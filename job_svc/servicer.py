"""JobService over gRPC: translates messages to domain calls and back."""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import grpc
from mediabot.jobs.v1 import jobs_pb2 as pb
from mediabot.jobs.v1 import jobs_pb2_grpc

from common import validate
from common.convert import timestamp
from common.errors import FailedPrecondition, InvalidArgument, NotFound
from job_svc.events import RESYNC, EventHub
from job_svc.jobs import Jobs, NewJob
from job_svc.model import (
    KINDS,
    QUALITIES,
    STATUS_NAMES,
    TERMINAL_CODES,
    job_message,
)
from job_svc.watch import Estimates

ADMIN_METHODS = ("GetJobStats", "ListAllJobs", "RetryJob")
#: How often a watcher re-reads its job when no event came: the pace of
#: queue-position updates while queued, a safety net against lost events after.
_QUEUED_REFRESH = 1.0
_WATCH_REFRESH = 5.0
_DELIVERY_RESCAN = 5.0


def _page(size: int, token: str, default: int, maximum: int) -> tuple[int, Any]:
    if size < 0 or size > maximum:
        raise InvalidArgument(f"page_size must be between 0 and {maximum}")
    if not token:
        return size or default, None
    try:
        stamp, _, job_id = base64.urlsafe_b64decode(token.encode()).decode().partition("|")
        return size or default, (datetime.fromisoformat(stamp), uuid.UUID(job_id))
    except ValueError:
        raise InvalidArgument("page_token is not one this service gave out") from None


def _next_token(rows: list[asyncpg.Record], size: int) -> str:
    if len(rows) < size or not rows:
        return ""
    last = rows[-1]
    raw = f"{last['created_at'].isoformat()}|{last['id']}"
    return base64.urlsafe_b64encode(raw.encode()).decode()


class JobServicer(jobs_pb2_grpc.JobServiceServicer):
    """Every RPC of mediabot.jobs.v1.JobService."""

    def __init__(self, jobs: Jobs, hub: EventHub, estimates: Estimates) -> None:
        self._jobs = jobs
        self._hub = hub
        self._estimates = estimates

    async def CreateJob(
        self, request: pb.CreateJobRequest, context: grpc.aio.ServicerContext
    ) -> pb.CreateJobResponse:
        if request.kind not in KINDS:
            raise InvalidArgument("kind must be IMAGE, EDIT or VIDEO")
        if request.quality not in QUALITIES:
            raise InvalidArgument("quality must be STANDARD or PRO")
        if request.options.duration_seconds < 0:
            raise InvalidArgument("duration_seconds must not be negative")
        row = await self._jobs.create(
            NewJob(
                telegram_id=request.telegram_id,
                kind=KINDS[request.kind],
                quality=QUALITIES[request.quality],
                prompt=request.prompt,
                image=request.input_image,
                aspect_ratio=request.options.aspect_ratio[:16],
                duration_seconds=request.options.duration_seconds,
                client_key=request.client_key,
            )
        )
        return pb.CreateJobResponse(job=job_message(row))

    async def GetJob(
        self, request: pb.GetJobRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetJobResponse:
        validate.telegram_id(request.telegram_id)
        row = await self._jobs.get(request.job_id, request.telegram_id)
        return pb.GetJobResponse(job=job_message(row))

    async def ListJobs(
        self, request: pb.ListJobsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListJobsResponse:
        validate.telegram_id(request.telegram_id)
        size, before = _page(request.page_size, request.page_token, 20, 100)
        rows = await self._jobs.store.page_for_user(request.telegram_id, size, before)
        return pb.ListJobsResponse(
            jobs=[job_message(r) for r in rows], next_page_token=_next_token(rows, size)
        )

    async def CancelJob(
        self, request: pb.CancelJobRequest, context: grpc.aio.ServicerContext
    ) -> pb.CancelJobResponse:
        validate.telegram_id(request.telegram_id)
        row = await self._jobs.cancel(request.job_id, request.telegram_id)
        return pb.CancelJobResponse(job=job_message(row))

    async def GetResultUrls(
        self, request: pb.GetResultUrlsRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetResultUrlsResponse:
        validate.telegram_id(request.telegram_id)
        ttl = request.expires_in_seconds or self._jobs.settings.RESULT_URL_TTL_SECONDS
        validate.int_range(ttl, "expires_in_seconds", 60, 7 * 24 * 3600)
        row = await self._jobs.get(request.job_id, request.telegram_id)
        job = job_message(row)
        if job.status != pb.JOB_STATUS_SUCCEEDED:
            raise FailedPrecondition("the job has no results (it has not succeeded)")
        expires = timedelta(seconds=ttl)
        expires_at = timestamp(datetime.now(UTC) + expires)
        return pb.GetResultUrlsResponse(
            urls=[
                pb.ResultUrl(
                    file=f,
                    url=self._jobs.objects.presigned_get(f.key, expires),
                    expires_at=expires_at,
                )
                for f in job.results
            ]
        )

    async def WatchJob(
        self, request: pb.WatchJobRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.WatchJobResponse]:
        validate.telegram_id(request.telegram_id)
        job_id = str(validate.uuid_text(request.job_id, "job_id"))
        with self._hub.listen(job_id) as events:
            row = await self._jobs.get(job_id, request.telegram_id)
            last = await self._estimates.snapshot(row)
            yield last
            while last.job.status not in TERMINAL_CODES:
                queued = last.job.status == pb.JOB_STATUS_QUEUED
                try:
                    async with asyncio.timeout(_QUEUED_REFRESH if queued else _WATCH_REFRESH):
                        event = await events.get()
                except TimeoutError:
                    event = RESYNC
                if event is RESYNC or event.status == pb.JOB_STATUS_QUEUED:
                    fresh = await self._estimates.current(row["id"])
                    if fresh is None:
                        raise NotFound(f"job {job_id} not found")
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
                if current.job.status == pb.JOB_STATUS_RUNNING and not current.HasField(
                    "estimated_finish_at"
                ):
                    current.estimated_finish_at.CopyFrom(last.estimated_finish_at)
                last = current
                yield last

    async def WatchDeliveries(
        self, request: pb.WatchDeliveriesRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.WatchDeliveriesResponse]:
        deliverable = (pb.JOB_STATUS_SUCCEEDED, pb.JOB_STATUS_FAILED)
        sent: set[str] = set()
        with self._hub.listen(None) as events:
            while True:
                pending = await self._jobs.store.undelivered(500)
                still = {str(r["id"]) for r in pending}
                sent &= still  # acknowledged ones drop out
                for row in pending:
                    if str(row["id"]) not in sent:
                        sent.add(str(row["id"]))
                        yield pb.WatchDeliveriesResponse(job=job_message(row))
                deadline = asyncio.get_running_loop().time() + _DELIVERY_RESCAN
                while (left := deadline - asyncio.get_running_loop().time()) > 0:
                    try:
                        event = await asyncio.wait_for(events.get(), left)
                    except TimeoutError:
                        break
                    if event is RESYNC:
                        break
                    if event.status not in deliverable or event.id in sent:
                        continue
                    # Events can lag behind an acknowledgement: trust the table.
                    row = await self._jobs.store.get(uuid.UUID(event.id))
                    if row is not None and row["delivered_at"] is None:
                        sent.add(event.id)
                        yield pb.WatchDeliveriesResponse(job=job_message(row))

    async def AckDelivery(
        self, request: pb.AckDeliveryRequest, context: grpc.aio.ServicerContext
    ) -> pb.AckDeliveryResponse:
        job_id = validate.uuid_text(request.job_id, "job_id")
        if not await self._jobs.store.mark_delivered(job_id):
            raise NotFound(f"finished job {request.job_id} not found")
        return pb.AckDeliveryResponse()

    async def GetJobStats(
        self, request: pb.GetJobStatsRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetJobStatsResponse:
        from job_svc.model import KIND_CODES, STATUSES

        stats = await self._jobs.store.stats()
        counts: dict[tuple[Any, Any], int] = {}
        for r in stats["counts"]:
            key = (KIND_CODES[r["kind"]], STATUSES[r["status"]])
            counts[key] = counts.get(key, 0) + r["n"]
        times = stats["times"]
        return pb.GetJobStatsResponse(
            counts=[pb.KindCount(kind=k, status=s, count=n) for (k, s), n in counts.items()],
            providers=[
                pb.ProviderStats(
                    provider=r["provider"],
                    finished=r["finished"],
                    failed=r["failed"],
                    failure_rate=r["failed"] / r["finished"] if r["finished"] else 0.0,
                )
                for r in stats["providers"]
            ],
            queue_depth=stats["depth"],
            mean_wait_seconds=float(times["wait"] or 0),
            mean_run_seconds=float(times["run"] or 0),
        )

    async def ListAllJobs(
        self, request: pb.ListAllJobsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListAllJobsResponse:
        size, before = _page(request.page_size, request.page_token, 50, 200)
        if request.telegram_id:
            validate.telegram_id(request.telegram_id)
        if request.status and request.status not in STATUS_NAMES:
            raise InvalidArgument("unknown status")
        if request.kind and request.kind not in KINDS:
            raise InvalidArgument("unknown kind")
        filters = {
            "telegram_id": request.telegram_id or None,
            "status": STATUS_NAMES.get(request.status),
            "kind": KINDS.get(request.kind),
            "provider": validate.text(request.provider, "provider", max_len=32) or None,
        }
        rows = await self._jobs.store.page_all(filters, size, before)
        return pb.ListAllJobsResponse(
            jobs=[job_message(r) for r in rows], next_page_token=_next_token(rows, size)
        )

    async def RetryJob(
        self, request: pb.RetryJobRequest, context: grpc.aio.ServicerContext
    ) -> pb.RetryJobResponse:
        old = await self._jobs.get(request.job_id, None)
        if old["status"] not in ("failed", "cancelled"):
            raise FailedPrecondition("only a failed or cancelled job can be retried")
        image = await self._jobs.objects.get(old["input_key"]) if old["input_key"] else b""
        row = await self._jobs.create(
            NewJob(
                telegram_id=old["telegram_id"],
                kind=old["kind"],
                quality=old["quality"],
                prompt=old["prompt"],
                image=image,
                aspect_ratio=old["aspect_ratio"],
                duration_seconds=old["duration_seconds"],
                client_key=f"retry:{old['id']}",
                retry_of=old["id"],
            )
        )
        return pb.RetryJobResponse(job=job_message(row))
