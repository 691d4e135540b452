"""The bot's view of billing_svc and job_svc: stubs with the service credential,
admin stubs that name the admin, and calls that ride out a restart."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc
from mediabot.billing.v1 import billing_pb2_grpc
from mediabot.jobs.v1 import jobs_pb2_grpc

from common.clients import authorized, channel, refusal
from common.settings import ClientSettings

log = logging.getLogger(__name__)
T = TypeVar("T")

#: Codes after which the same call may succeed: a service restarting or overloaded.
_RETRYABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}


@dataclass
class Services:
    """Stubs of both services. Every call the bot makes is idempotent (keys, ids),
    so `call` may repeat one that failed in transit."""

    billing: billing_pb2_grpc.BillingServiceStub
    jobs: jobs_pb2_grpc.JobServiceStub
    _billing_channel: grpc.aio.Channel
    _jobs_channel: grpc.aio.Channel
    _admin_token: str
    deadline_seconds: float = 15.0

    def admin_billing(self, telegram_id: int) -> billing_pb2_grpc.BillingServiceStub:
        """BillingService with the admin credential, naming the admin for the audit log."""
        stub = billing_pb2_grpc.BillingServiceStub(self._billing_channel)
        return authorized(stub, self._admin_token, actor=f"tg:{telegram_id}")

    def admin_jobs(self, telegram_id: int) -> jobs_pb2_grpc.JobServiceStub:
        stub = jobs_pb2_grpc.JobServiceStub(self._jobs_channel)
        return authorized(stub, self._admin_token, actor=f"tg:{telegram_id}")

    async def call(self, method: Callable[..., Awaitable[T]], request: Any) -> T:
        """`method(request)`, retried with backoff while the service is unavailable,
        within the deadline; a refusal is raised as its named domain error."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.deadline_seconds
        delay = 0.1
        while True:
            left = deadline - loop.time()
            try:
                return await method(request, timeout=max(0.5, min(left, 10.0)))
            except grpc.aio.AioRpcError as exc:
                if exc.code() not in _RETRYABLE or loop.time() + delay >= deadline:
                    raise refusal(exc) from None
                log.info("service unavailable; retrying", extra={"code": exc.code().name})
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))
            delay = min(delay * 2, 2.0)


@contextlib.asynccontextmanager
async def open_services(
    settings: ClientSettings, deadline: float = 15.0
) -> AsyncIterator[Services]:
    """Channels to both services for the life of the process."""
    to_billing, to_jobs = channel(settings.BILLING_GRPC_ADDR), channel(settings.JOBS_GRPC_ADDR)
    token = settings.SERVICE_TOKEN.get_secret_value()
    try:
        yield Services(
            billing=authorized(billing_pb2_grpc.BillingServiceStub(to_billing), token),
            jobs=authorized(jobs_pb2_grpc.JobServiceStub(to_jobs), token),
            _billing_channel=to_billing,
            _jobs_channel=to_jobs,
            _admin_token=settings.ADMIN_API_TOKEN.get_secret_value(),
            deadline_seconds=deadline,
        )
    finally:
        await to_billing.close()
        await to_jobs.close()
