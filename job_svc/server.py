"""Builds and runs job_svc: the gRPC server, its clients, the event hub and the reconciler."""

from __future__ import annotations

from mediabot.jobs.v1 import jobs_pb2, jobs_pb2_grpc

from common.grpc_server import Credentials, Service, ServiceBinding, create_grpc_server, every
from job_svc.events import EventHub
from job_svc.servicer import ADMIN_METHODS, JobServicer
from job_svc.settings import JobSettings
from job_svc.watch import Estimates
from job_svc.worker import build_jobs

SERVICE = jobs_pb2.DESCRIPTOR.services_by_name["JobService"]
RECONCILE_SECONDS = 5.0


async def create_server(settings: JobSettings, address: str | None = None) -> Service:
    """The job service bound to `address` (default JOBS_GRPC_ADDR), not yet started."""
    jobs, closers = await build_jobs(settings)
    try:
        await jobs.objects.ensure_bucket()
    except Exception as exc:
        raise SystemExit(
            f"startup error: MINIO_ENDPOINT: cannot use bucket {settings.MINIO_BUCKET!r} "
            f"at {settings.MINIO_ENDPOINT}: {exc}"
        ) from None
    await jobs.queue.ensure_groups()
    hub = EventHub(jobs.redis)
    servicer = JobServicer(jobs, hub, Estimates(jobs.store))
    service = create_grpc_server(
        [
            ServiceBinding(
                jobs_pb2_grpc.add_JobServiceServicer_to_server, servicer, SERVICE, ADMIN_METHODS
            )
        ],
        Credentials(
            settings.SERVICE_TOKEN.get_secret_value(), settings.ADMIN_API_TOKEN.get_secret_value()
        ),
        address or settings.JOBS_GRPC_ADDR,
        "JOBS_GRPC_ADDR",
    )
    service.background.append(hub.run)
    service.background.append(
        lambda: every(
            RECONCILE_SECONDS, lambda: jobs.reconcile_in_turn(RECONCILE_SECONDS), "reconciler"
        )
    )
    service.closers.extend(closers)
    return service
