"""JobService over gRPC: translates messages to domain calls and back."""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import grpc
from mediabot.jobs.v1 import jobs_pb2 as pb
from mediabot.jobs.v1 import jobs_pb2_grpc

from common.convert import timestamp
from common.errors import InvalidArgument
from common.server.rpc import current_actor
from job_svc.deliveries import Deliveries, SentFile
from job_svc.jobs import JobFilter, Jobs
from job_svc.messages import (
    KIND_CODES,
    KINDS,
    QUALITIES,
    QUALITY_CODES,
    STATUS_CODES,
    STATUSES,
    job_message,
)
from job_svc.model import Job, JobStatus, Kind, NewJob
from job_svc.watch import Watching

ADMIN_METHODS = ("GetJobStats", "ListAllJobs", "RetryJob")


def _page(
    size: int, token: str, default: int, maximum: int
) -> tuple[int, tuple[datetime, uuid.UUID] | None]:
    if size < 0 or size > maximum:
        raise InvalidArgument(f"page_size must be between 0 and {maximum}", field="page_size")
    if not token:
        return size or default, None
    try:
        stamp, _, job_id = base64.urlsafe_b64decode(token.encode()).decode().partition("|")
        return size or default, (datetime.fromisoformat(stamp), uuid.UUID(job_id))
    except ValueError:
        raise InvalidArgument(
            "page_token is not one this service gave out", field="page_token"
        ) from None


def _next_token(jobs: list[Job], size: int) -> str:
    if len(jobs) < size or not jobs:
        return ""
    last = jobs[-1]
    return base64.urlsafe_b64encode(f"{last.created_at.isoformat()}|{last.id}".encode()).decode()


class JobServicer(jobs_pb2_grpc.JobServiceServicer):
    """Every RPC of mediabot.jobs.v1.JobService."""

    def __init__(self, jobs: Jobs, watching: Watching, deliveries: Deliveries) -> None:
        self._jobs = jobs
        self._watching = watching
        self._deliveries = deliveries

    async def CreateJob(
        self, request: pb.CreateJobRequest, context: grpc.aio.ServicerContext
    ) -> pb.CreateJobResponse:
        if request.kind not in KINDS:
            raise InvalidArgument("kind must be IMAGE, EDIT or VIDEO", field="kind")
        if request.quality not in QUALITIES:
            raise InvalidArgument("quality must be STANDARD or PRO", field="quality")
        if request.options.duration_seconds < 0:
            raise InvalidArgument(
                "duration_seconds must not be negative", field="options.duration_seconds"
            )
        job = await self._jobs.create(
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
        return pb.CreateJobResponse(job=job_message(job))

    async def GetJob(
        self, request: pb.GetJobRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetJobResponse:
        # An admin may leave the owner out (0) to read any user's job.
        anyone = not request.telegram_id and current_actor.get().startswith("admin:")
        job = await self._jobs.get(request.job_id, None if anyone else request.telegram_id)
        return pb.GetJobResponse(job=job_message(job))

    async def ListJobs(
        self, request: pb.ListJobsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListJobsResponse:
        size, before = _page(request.page_size, request.page_token, 20, 100)
        jobs = await self._jobs.page_for_user(request.telegram_id, size, before)
        return pb.ListJobsResponse(
            jobs=[job_message(j) for j in jobs], next_page_token=_next_token(jobs, size)
        )

    async def CancelJob(
        self, request: pb.CancelJobRequest, context: grpc.aio.ServicerContext
    ) -> pb.CancelJobResponse:
        job = await self._jobs.cancel(request.job_id, request.telegram_id)
        return pb.CancelJobResponse(job=job_message(job))

    async def GetResultUrls(
        self, request: pb.GetResultUrlsRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetResultUrlsResponse:
        links = await self._jobs.result_links(
            request.job_id, request.telegram_id, request.expires_in_seconds
        )
        return pb.GetResultUrlsResponse(
            urls=[
                pb.ResultUrl(
                    file=pb.ResultFile(
                        key=link.file.key,
                        mime_type=link.file.mime_type,
                        size_bytes=link.file.size_bytes,
                        width=link.file.width,
                        height=link.file.height,
                        telegram_file_id=link.file.telegram_file_id,
                    ),
                    url=link.url,
                    expires_at=timestamp(link.expires_at),
                )
                for link in links
            ]
        )

    async def WatchJob(
        self, request: pb.WatchJobRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.WatchJobResponse]:
        async for update in self._watching.follow(request.job_id, request.telegram_id):
            yield update

    async def WatchDeliveries(
        self, request: pb.WatchDeliveriesRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.WatchDeliveriesResponse]:
        feed = self._watching.deliveries(
            request.gateway, request.lease_seconds, request.max_unacked
        )
        # However the call ends (the gateway went away, the server stops), its
        # leases go back at once, whether or not the stream's code runs again.
        context.add_done_callback(lambda _: feed.close())
        async for job in feed:
            yield pb.WatchDeliveriesResponse(
                job=job_message(job),
                lease_expires_at=timestamp(job.delivery_lease_until),
                delivery_attempt=job.delivery_attempts,
            )

    async def AckDelivery(
        self, request: pb.AckDeliveryRequest, context: grpc.aio.ServicerContext
    ) -> pb.AckDeliveryResponse:
        answer = await self._deliveries.acknowledge(
            request.job_id,
            request.gateway,
            [SentFile(f.key, f.telegram_file_id) for f in request.sent_files],
        )
        return pb.AckDeliveryResponse(
            already_delivered=answer.already_delivered,
            delivered_by=answer.job.delivery_gateway,
            job=job_message(answer.job),
        )

    async def GetJobStats(
        self, request: pb.GetJobStatsRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetJobStatsResponse:
        stats = await self._jobs.stats()
        counts: dict[tuple[Any, Any], int] = {}  # (JobKind, JobStatus) codes
        for row in stats.counts:  # creating and queued are both QUEUED to clients
            key = (KIND_CODES[Kind(row.kind)], STATUS_CODES[JobStatus(row.status)])
            counts[key] = counts.get(key, 0) + row.count
        return pb.GetJobStatsResponse(
            counts=[pb.KindCount(kind=k, status=s, count=n) for (k, s), n in counts.items()],
            providers=[
                pb.ProviderStats(
                    provider=p.provider,
                    finished=p.finished,
                    failed=p.failed,
                    failure_rate=p.failed / p.finished if p.finished else 0.0,
                )
                for p in stats.providers
            ],
            queue_depth=stats.queue_depth,
            mean_wait_seconds=stats.mean_wait_seconds,
            mean_run_seconds=stats.mean_run_seconds,
        )

    async def ListAllJobs(
        self, request: pb.ListAllJobsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListAllJobsResponse:
        size, before = _page(request.page_size, request.page_token, 50, 200)
        if request.status and request.status not in STATUSES:
            raise InvalidArgument("unknown status", field="status")
        if request.kind and request.kind not in KINDS:
            raise InvalidArgument("unknown kind", field="kind")
        where = JobFilter(
            telegram_id=request.telegram_id or None,
            status=STATUSES.get(request.status),
            kind=KINDS.get(request.kind),
            provider=request.provider or None,
        )
        jobs = await self._jobs.page_all(where, size, before)
        return pb.ListAllJobsResponse(
            jobs=[job_message(j) for j in jobs], next_page_token=_next_token(jobs, size)
        )

    async def ListOffers(
        self, request: pb.ListOffersRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListOffersResponse:
        return pb.ListOffersResponse(
            offers=[
                pb.Offer(
                    kind=KIND_CODES[o.kind],
                    quality=QUALITY_CODES[o.quality],
                    price=o.price,
                    provider=o.provider,
                    aspect_ratios=o.aspect_ratios,
                    durations_seconds=o.durations_seconds,
                    input_image=o.input_image,
                )
                for o in self._jobs.offers()
            ]
        )

    async def RetryJob(
        self, request: pb.RetryJobRequest, context: grpc.aio.ServicerContext
    ) -> pb.RetryJobResponse:
        return pb.RetryJobResponse(job=job_message(await self._jobs.retry(request.job_id)))
