"""job_svc's composition root: the one place that builds the domain from settings
and closes it. The API server, the worker and the tests all open it."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import redis.asyncio as aioredis

from common.redis_pool import redis_client
from common.server.db import create_pool
from job_svc.billing_client import BillingClient
from job_svc.deliveries import Deliveries
from job_svc.jobs import Jobs
from job_svc.model import Kind
from job_svc.providers import Provider, build_providers
from job_svc.queue import JobQueue
from job_svc.reconciler import Reconciler
from job_svc.settings import JobSettings
from job_svc.settlement import Settlement
from job_svc.storage import ObjectStore
from job_svc.store import JobStore


@dataclass(frozen=True)
class JobDomain:
    """Every part of job_svc, wired together; parts take what they need from it."""

    settings: JobSettings
    redis: aioredis.Redis
    store: JobStore
    queue: JobQueue
    objects: ObjectStore
    billing: BillingClient
    providers: dict[Kind, Provider]
    settlement: Settlement
    jobs: Jobs
    deliveries: Deliveries
    reconciler: Reconciler


@contextlib.asynccontextmanager
async def open_domain(settings: JobSettings) -> AsyncIterator[JobDomain]:
    """Build the domain (pool, Redis, object store, billing client, providers) and
    close all of it on leaving, in reverse order, whatever happened."""
    try:
        providers = build_providers(settings)  # first: a bad setting leaves nothing open
    except ValueError as exc:
        raise SystemExit(f"config error: PROVIDER: {exc}") from None
    async with contextlib.AsyncExitStack() as stack:
        for provider in {id(p): p for p in providers.values()}.values():
            stack.push_async_callback(provider.close)
        pool = await create_pool(settings.DATABASE_URL, settings.DB_POOL_SIZE)
        stack.push_async_callback(pool.close)
        redis = redis_client(settings.REDIS_URL)
        stack.push_async_callback(redis.aclose)
        billing = BillingClient(
            settings.BILLING_GRPC_ADDR, settings.SERVICE_TOKEN.get_secret_value()
        )
        stack.push_async_callback(billing.close)
        objects = ObjectStore(settings)
        stack.push_async_callback(objects.close)
        store = JobStore(pool)
        queue = JobQueue(redis)
        settlement = Settlement(store, billing, objects)
        jobs = Jobs(settings, store, billing, queue, objects, redis, providers, settlement)
        yield JobDomain(
            settings=settings,
            redis=redis,
            store=store,
            queue=queue,
            objects=objects,
            billing=billing,
            providers=providers,
            settlement=settlement,
            jobs=jobs,
            deliveries=Deliveries(store, redis),
            reconciler=Reconciler(jobs, store, queue, billing, settlement, redis),
        )
