"""Shared fixtures: real Postgres, Redis and gRPC servers for every test.

Postgres and Redis are the configured ones (DATABASE_URL, REDIS_URL) or, when
those are unset, embedded ones started for the run. Each run migrates a fresh
database of its own; each test starts from empty tables and an empty Redis db.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import pytest
import redis.asyncio as aioredis
from mediabot.billing.v1 import billing_pb2_grpc

from billing_svc.server import create_server as create_billing_server
from billing_svc.settings import BillingSettings
from common.clients import authorized, channel
from common.db import asyncpg_dsn
from common.grpc_server import Service
from common.migrate import upgrade
from devstack.embedded import Embedded

SERVICE_TOKEN = "test-service-token-0123456789"
ADMIN_TOKEN = "test-admin-token-0123456789"
INVOICE_SECRET = "test-invoice-secret-0123456789"
T = TypeVar("T")
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def embedded() -> Iterator[Embedded]:
    with Embedded(ROOT / ".data" / f"test-{os.getpid()}") as engines:
        yield engines


@pytest.fixture(scope="session")
def database_url(embedded: Embedded) -> Iterator[str]:
    """A freshly migrated database for this run, dropped afterwards."""
    server_url = os.environ.get("DATABASE_URL") or embedded.postgres()
    name = f"mediabot_test_{os.getpid()}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(asyncpg_dsn(server_url))
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}"'))
    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    base, _, query = asyncpg_dsn(server_url).partition("?")
    url = base.rsplit("/", 1)[0] + f"/{name}" + (f"?{query}" if query else "")
    upgrade(url)
    yield url
    asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def redis_url(embedded: Embedded) -> str:
    return os.environ.get("REDIS_URL") or embedded.redis()


@pytest.fixture(scope="session")
def base_env(database_url: str, redis_url: str) -> dict[str, str]:
    """The environment every service under test is configured with."""
    return {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "SERVICE_TOKEN": SERVICE_TOKEN,
        "ADMIN_API_TOKEN": ADMIN_TOKEN,
        "INVOICE_SECRET": INVOICE_SECRET,
        "DB_POOL_SIZE": "8",
    }


def make_settings(cls: type[T], env: dict[str, str], **overrides: object) -> T:
    """Settings of `cls` from `env` plus overrides, ignoring the process environment."""
    return cls(**{**env, **overrides})


@pytest.fixture(scope="session")
async def db(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=5)
    yield pool
    await pool.close()


@pytest.fixture(scope="session")
async def redis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture(autouse=True)
async def clean_state(db: asyncpg.Pool, redis: aioredis.Redis) -> AsyncIterator[None]:
    """Empty tables before each test; after it, every balance equals its ledger and
    every credit movement and capture is in the audit log."""
    tables = await db.fetch(
        "SELECT schemaname || '.' || tablename AS name FROM pg_tables "
        "WHERE schemaname IN ('billing', 'jobs') AND tablename <> 'alembic_version'"
    )
    if tables:
        await db.execute(f"TRUNCATE {', '.join(t['name'] for t in tables)} RESTART IDENTITY")
    await redis.flushdb()
    yield
    broken = await db.fetch(
        "SELECT a.telegram_id, a.balance, coalesce(sum(l.amount), 0) AS ledger "
        "FROM billing.accounts a LEFT JOIN billing.ledger l USING (telegram_id) "
        "GROUP BY a.telegram_id HAVING a.balance <> coalesce(sum(l.amount), 0) OR a.balance < 0"
    )
    assert not broken, f"balance differs from the ledger: {[dict(r) for r in broken]}"
    unaudited = await db.fetch(
        "SELECT l.id, l.kind FROM billing.ledger l WHERE NOT EXISTS (SELECT 1 FROM "
        "billing.audit_log a WHERE a.action = 'credits:' || l.kind "
        "AND a.details->>'entry' = l.id::text)"
    )
    assert not unaudited, f"ledger entries missing from the audit log: {unaudited}"
    uncaptured = await db.fetchval(
        "SELECT count(*) FROM billing.reservations r WHERE status = 'captured' AND NOT EXISTS "
        "(SELECT 1 FROM billing.audit_log a WHERE a.action = 'reservation_captured' "
        "AND a.details->>'reservation_id' = r.id::text)"
    )
    assert not uncaptured, f"{uncaptured} captures missing from the audit log"


@pytest.fixture(scope="session")
async def billing_service(base_env: dict[str, str]) -> AsyncIterator[Service]:
    settings = make_settings(BillingSettings, base_env, SWEEP_INTERVAL_SECONDS=3600)
    service = await create_billing_server(settings, "127.0.0.1:0")
    await service.start()
    yield service
    await service.stop(0)


@pytest.fixture(scope="session")
def billing_addr(billing_service: Service) -> str:
    return f"127.0.0.1:{billing_service.port}"


@pytest.fixture(scope="session")
async def billing(billing_addr: str) -> AsyncIterator[billing_pb2_grpc.BillingServiceStub]:
    """A stub that calls with the service credential."""
    opened = channel(billing_addr)
    yield authorized(billing_pb2_grpc.BillingServiceStub(opened), SERVICE_TOKEN)
    await opened.close()


@pytest.fixture(scope="session")
async def billing_admin(billing_addr: str) -> AsyncIterator[billing_pb2_grpc.BillingServiceStub]:
    """A stub that calls with the admin credential as admin "alice"."""
    opened = channel(billing_addr)
    yield authorized(billing_pb2_grpc.BillingServiceStub(opened), ADMIN_TOKEN, actor="alice")
    await opened.close()


@pytest.fixture(scope="session")
async def billing_anonymous(
    billing_addr: str,
) -> AsyncIterator[billing_pb2_grpc.BillingServiceStub]:
    """A stub that calls with no credential."""
    opened = channel(billing_addr)
    yield billing_pb2_grpc.BillingServiceStub(opened)
    await opened.close()


@pytest.fixture(scope="session")
def s3_endpoint(embedded: Embedded) -> tuple[str, str, str]:
    """(endpoint, access key, secret key) of a real S3 server: configured or SeaweedFS."""
    if os.environ.get("MINIO_ENDPOINT"):
        return (
            os.environ["MINIO_ENDPOINT"],
            os.environ["MINIO_ACCESS_KEY"],
            os.environ["MINIO_SECRET_KEY"],
        )
    access, secret = "mediabot-test-access", "mediabot-test-secret-0123456789"
    return embedded.s3(access, secret), access, secret


@pytest.fixture(scope="session")
def job_env(base_env: dict[str, str], billing_addr: str, s3_endpoint) -> dict[str, str]:
    endpoint, access, secret = s3_endpoint
    return {
        **base_env,
        "BILLING_GRPC_ADDR": billing_addr,
        "MINIO_ENDPOINT": endpoint,
        "MINIO_ACCESS_KEY": access,
        "MINIO_SECRET_KEY": secret,
        "MINIO_BUCKET": f"mediabot-test-{os.getpid()}",
        "PROVIDER": "local",
        "LOCAL_LATENCY_SECONDS": "0.3",
        "LOCAL_IMAGE_SIZE": "64",
        "RETRY_BASE_SECONDS": "0.05",
        "HEARTBEAT_SECONDS": "0.5",
        "CLAIM_IDLE_SECONDS": "2",
        "CREATE_RATE_PER_MINUTE": "1000",
        "MAX_USER_QUEUE": "5",
    }


@pytest.fixture(scope="session")
async def jobs_service(job_env: dict[str, str]) -> AsyncIterator[Service]:
    from job_svc.server import create_server as create_jobs_server
    from job_svc.settings import JobSettings

    service = await create_jobs_server(make_settings(JobSettings, job_env), "127.0.0.1:0")
    await service.start()
    yield service
    await service.stop(0)


@pytest.fixture(scope="session")
async def jobs(jobs_service: Service) -> AsyncIterator[Any]:
    """A JobService stub with the service credential."""
    from mediabot.jobs.v1 import jobs_pb2_grpc

    opened = channel(f"127.0.0.1:{jobs_service.port}")
    yield authorized(jobs_pb2_grpc.JobServiceStub(opened), SERVICE_TOKEN)
    await opened.close()


@pytest.fixture(scope="session")
async def jobs_admin(jobs_service: Service) -> AsyncIterator[Any]:
    from mediabot.jobs.v1 import jobs_pb2_grpc

    opened = channel(f"127.0.0.1:{jobs_service.port}")
    yield authorized(jobs_pb2_grpc.JobServiceStub(opened), ADMIN_TOKEN, actor="alice")
    await opened.close()


@pytest.fixture
async def start_worker(job_env: dict[str, str]) -> AsyncIterator[Any]:
    """Starts in-process workers with setting overrides; stops them after the test."""
    from job_svc.settings import JobSettings
    from job_svc.worker import Worker, build_jobs

    running: list[tuple[Any, asyncio.Task[None], list[Any]]] = []

    async def start(**overrides: object) -> Any:
        settings = make_settings(JobSettings, job_env, **overrides)
        domain, closers = await build_jobs(settings)
        worker = Worker(settings, domain, f"test-worker-{len(running)}-{uuid.uuid4().hex[:4]}")
        task = asyncio.create_task(worker.run(grace_seconds=5))
        running.append((worker, task, closers))
        return worker

    yield start
    for worker, task, closers in running:
        worker.stop()
        await asyncio.wait_for(task, 30)
        for close in closers:
            await close()


def new_key() -> str:
    return uuid.uuid4().hex
