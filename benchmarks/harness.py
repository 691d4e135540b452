"""Shared benchmark tools: an environment with real engines, load loops, tables."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from common.server.db import asyncpg_dsn
from common.server.migrate import upgrade
from devstack.embedded import Embedded, free_port, wait_for_port
from devstack.services import MIGRATIONS

SECRETS = {
    "SERVICE_TOKEN": "bench-service-token-0123456789",
    "ADMIN_API_TOKEN": "bench-admin-token-0123456789",
    "INVOICE_SECRET": "bench-invoice-secret-0123456789",
}


@dataclass
class Result:
    """Throughput and latency of one measured path."""

    name: str
    operations: int
    seconds: float
    latencies: list[float]

    @property
    def rate(self) -> float:
        return self.operations / self.seconds

    def percentile(self, share: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1000


async def run_concurrently(
    name: str, operation: Callable[[int], Awaitable[object]], callers: int, total: int
) -> Result:
    """`total` operations spread over `callers` concurrent loops."""
    latencies: list[float] = []
    counter = iter(range(total))

    async def caller() -> None:
        for index in counter:
            started = time.perf_counter()
            await operation(index)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(callers)))
    return Result(name, total, time.perf_counter() - started, latencies)


def table(title: str, results: list[Result], baseline: Result, unit: str) -> str:
    lines = [f"\n{title}", f"{'path':<44}{unit + '/s':>12}{'p50 ms':>10}{'p99 ms':>10}{'ratio':>8}"]
    for r in results:
        lines.append(
            f"{r.name:<44}{r.rate:>12,.0f}{r.percentile(0.5):>10.2f}{r.percentile(0.99):>10.2f}"
            f"{r.rate / baseline.rate:>8.2f}"
        )
    return "\n".join(lines)


@contextmanager
def engines(data_dir: Path) -> Iterator[dict[str, str]]:
    """A fresh migrated database and a Redis: the configured ones or embedded ones."""
    with Embedded(data_dir) as embedded:
        server = os.environ.get("DATABASE_URL") or embedded.postgres()
        redis_url = os.environ.get("REDIS_URL") or embedded.redis()
        name = f"mediabot_bench_{os.getpid()}"
        asyncio.run(_admin(server, f'CREATE DATABASE "{name}"'))
        base, _, query = asyncpg_dsn(server).partition("?")
        url = base.rsplit("/", 1)[0] + f"/{name}" + (f"?{query}" if query else "")
        try:
            upgrade(url, MIGRATIONS)
            yield {**SECRETS, "DATABASE_URL": url, "REDIS_URL": redis_url, "LOG_LEVEL": "WARNING"}
        finally:
            asyncio.run(_admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def seed_accounts(url: str, users: int, credits: int) -> None:
    """Accounts 1..users, each credited the way credits always enter: a ledger entry."""
    conn = await asyncpg.connect(url)
    try:
        await conn.executemany(
            "INSERT INTO billing.accounts (telegram_id, referral_code) VALUES ($1, $2) "
            "ON CONFLICT DO NOTHING",
            [(tid, f"bench{tid}") for tid in range(1, users + 1)],
        )
        await conn.executemany(
            "WITH a AS (UPDATE billing.accounts SET balance = balance + $2 "
            "WHERE telegram_id = $1 RETURNING balance) INSERT INTO billing.ledger "
            "(telegram_id, amount, kind, balance_after, idempotency_key) "
            "SELECT $1, $2, 'grant', balance, $3 FROM a",
            [(tid, credits, f"bench-seed:{uuid.uuid4()}") for tid in range(1, users + 1)],
        )
    finally:
        await conn.close()


async def _admin(url: str, sql: str) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


S3_KEYS = ("mediabot-bench-access", "mediabot-bench-secret-0123456789")


@contextmanager
def s3_server(env: dict[str, str]) -> Iterator[tuple[str, str, str]]:
    """(endpoint, access key, secret key): MINIO_ENDPOINT's server, else SeaweedFS."""
    if env.get("MINIO_ENDPOINT") or os.environ.get("MINIO_ENDPOINT"):
        get = {**os.environ, **env}.get
        yield get("MINIO_ENDPOINT", ""), get("MINIO_ACCESS_KEY", ""), get("MINIO_SECRET_KEY", "")
        return
    folder = Path(".data") / f"bench-s3-{os.getpid()}"
    with Embedded(folder, ephemeral=True) as embedded:
        yield embedded.s3(*S3_KEYS), *S3_KEYS


def s3_env(s3: tuple[str, str, str]) -> dict[str, str]:
    endpoint, access, secret = s3
    return {"MINIO_ENDPOINT": endpoint, "MINIO_ACCESS_KEY": access, "MINIO_SECRET_KEY": secret,
            "MINIO_BUCKET": "mediabot-bench"}  # fmt: skip


@contextmanager
def process(module: str, env: dict[str, str], address_setting: str | None) -> Iterator[str]:
    """Run `python -m module` with `env`; yields its address when it listens on one."""
    with spawn(module, env, address_setting) as (address, _):
        yield address


@contextmanager
def spawn(
    module: str, env: dict[str, str], address_setting: str | None
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Like `process`, also yielding the child (e.g. to sample its memory)."""
    port = free_port()
    address = f"127.0.0.1:{port}"
    full_env = {**os.environ, **env}
    if address_setting:
        full_env[address_setting] = address
    child = subprocess.Popen([sys.executable, "-m", module], env=full_env)
    try:
        if address_setting:
            wait_for_port(port, 30, child)  # type: ignore[arg-type]
        yield address, child
    finally:
        child.terminate()
        try:
            child.wait(20)
        except subprocess.TimeoutExpired:
            child.kill()
