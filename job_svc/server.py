"""Builds and runs job_svc: the gRPC server, its domain, the event hub and the reconciler."""

from __future__ import annotations

import contextlib

from mediabot.jobs.v1 import jobs_pb2, jobs_pb2_grpc

from common.server.rpc import Credentials, Service, ServiceBinding, create_grpc_server, every
from job_svc.domain import open_domain
from job_svc.events import EventHub
from job_svc.servicer import ADMIN_METHODS, JobServicer
from job_svc.settings import JobSettings
from job_svc.watch import Estimates, Watching

SERVICE = jobs_pb2.DESCRIPTOR.services_by_name["JobService"]
RECONCILE_SECONDS = 5.0


async def create_server(settings: JobSettings, address: str | None = None) -> Service:
    """The job service bound to `address` (default JOBS_GRPC_ADDR), not yet started."""
    stack = contextlib.AsyncExitStack()
    try:
        domain = await stack.enter_async_context(open_domain(settings))
        try:
            await domain.objects.ensure_bucket()
        except Exception as exc:
            raise SystemExit(
                f"startup error: MINIO_ENDPOINT: cannot use bucket {settings.MINIO_BUCKET!r} "
                f"at {settings.MINIO_ENDPOINT}: {exc}"
            ) from None
        await domain.queue.ensure_groups()
        hub = EventHub(domain.redis)
        watching = Watching(domain.jobs, hub, Estimates(domain.store), domain.deliveries)
        service = create_grpc_server(
            [
                ServiceBinding(
                    jobs_pb2_grpc.add_JobServiceServicer_to_server,
                    JobServicer(domain.jobs, watching, domain.deliveries),
                    SERVICE,
                    ADMIN_METHODS,
                )
            ],
            Credentials(
                settings.SERVICE_TOKEN.get_secret_value(),
                settings.ADMIN_API_TOKEN.get_secret_value(),
            ),
            address or settings.JOBS_GRPC_ADDR,
            "JOBS_GRPC_ADDR",
        )
    except BaseException:
        await stack.aclose()
        raise
    reconciler = domain.reconciler
    service.background.append(hub.run)
    service.background.append(
        lambda: every(
            RECONCILE_SECONDS, lambda: reconciler.reconcile_in_turn(RECONCILE_SECONDS), "reconciler"
        )
    )
    service.closers.append(watching.close)  # before the pool: ended streams' releases
    service.closers.append(stack.aclose)
    return service
