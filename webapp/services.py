"""The web app's view of billing_svc and job_svc: stubs with the service credential, a
stub without a deadline for live streams, admin stubs that name the admin, and health."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from mediabot.billing.v1 import billing_pb2_grpc
from mediabot.jobs.v1 import jobs_pb2_grpc

from common.clients import authorized, channel
from webapp.settings import WebSettings

#: The gRPC health service names of the two services.
HEALTH_NAMES = {
    "billing": "mediabot.billing.v1.BillingService",
    "jobs": "mediabot.jobs.v1.JobService",
}


@dataclass
class Services:
    """Stubs of both services, made once per process; a refusal raises
    grpc.aio.AioRpcError, which the app's error handler words for people."""

    billing: Any
    jobs: Any
    #: JobService without a deadline, for WatchJob streams that live as long as a job.
    watch: Any
    _billing_channel: grpc.aio.Channel
    _jobs_channel: grpc.aio.Channel
    _admin_token: str
    _deadline: float

    def admin_billing(self, telegram_id: int) -> Any:
        """BillingService with the admin credential, naming the admin (`web:<id>`) for the
        audit log."""
        stub = billing_pb2_grpc.BillingServiceStub(self._billing_channel)
        return authorized(stub, self._admin_token, f"web:{telegram_id}", self._deadline)

    def admin_jobs(self, telegram_id: int) -> Any:
        stub = jobs_pb2_grpc.JobServiceStub(self._jobs_channel)
        return authorized(stub, self._admin_token, f"web:{telegram_id}", self._deadline)

    async def health(self) -> dict[str, str]:
        """Each service's health status name ("SERVING", …, or the failed call's code)."""
        found = {}
        for name, opened in (("billing", self._billing_channel), ("jobs", self._jobs_channel)):
            stub = health_pb2_grpc.HealthStub(opened)
            try:
                answer = await stub.Check(
                    health_pb2.HealthCheckRequest(service=HEALTH_NAMES[name]), timeout=2
                )
                found[name] = health_pb2.HealthCheckResponse.ServingStatus.Name(answer.status)
            except grpc.aio.AioRpcError as exc:
                found[name] = exc.code().name
        return found


@contextlib.asynccontextmanager
async def open_services(settings: WebSettings) -> AsyncIterator[Services]:
    """Channels to both services for the life of the app."""
    to_billing, to_jobs = channel(settings.BILLING_GRPC_ADDR), channel(settings.JOBS_GRPC_ADDR)
    token = settings.SERVICE_TOKEN.get_secret_value()
    deadline = settings.SERVICE_DEADLINE_SECONDS
    try:
        yield Services(
            billing=authorized(
                billing_pb2_grpc.BillingServiceStub(to_billing), token, "", deadline
            ),
            jobs=authorized(jobs_pb2_grpc.JobServiceStub(to_jobs), token, "", deadline),
            watch=authorized(jobs_pb2_grpc.JobServiceStub(to_jobs), token),
            _billing_channel=to_billing,
            _jobs_channel=to_jobs,
            _admin_token=settings.ADMIN_API_TOKEN.get_secret_value(),
            _deadline=deadline,
        )
    finally:
        await to_billing.close()
        await to_jobs.close()
