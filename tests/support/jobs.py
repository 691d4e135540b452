"""Helpers of the job tests: users with credits, job requests, watching, money checks."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
from mediabot.billing.v1 import billing_pb2 as bpb
from mediabot.jobs.v1 import jobs_pb2 as pb
from PIL import Image


async def user_with(billing: Any, admin: Any, telegram_id: int, credits: int) -> None:
    """A user whose balance is exactly `credits`."""
    answer = await billing.EnsureUser(bpb.EnsureUserRequest(telegram_id=telegram_id))
    delta = credits - answer.user.balance
    if delta:
        await admin.GrantCredits(
            bpb.GrantCreditsRequest(
                telegram_id=telegram_id,
                amount=delta,
                reason="test",
                idempotency_key=uuid.uuid4().hex,
            )
        )


async def balance(billing: Any, telegram_id: int) -> int:
    return (await billing.GetBalance(bpb.GetBalanceRequest(telegram_id=telegram_id))).balance


def png(width: int = 64, height: int = 48, color: str = "red") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, "PNG")
    return out.getvalue()


def request(telegram_id: int, prompt: str = "a red fox", **fields: Any) -> pb.CreateJobRequest:
    fields.setdefault("kind", pb.JOB_KIND_IMAGE)
    fields.setdefault("quality", pb.QUALITY_STANDARD)
    fields.setdefault("client_key", uuid.uuid4().hex)
    return pb.CreateJobRequest(telegram_id=telegram_id, prompt=prompt, **fields)


async def watch(
    jobs: Any, job: pb.Job, timeout: float = 30, after_first: Any = None
) -> list[pb.WatchJobResponse]:
    """Every WatchJob message until the stream ends; `after_first()` is awaited
    once the first (current) state has arrived, e.g. to start a worker."""
    seen: list[pb.WatchJobResponse] = []

    async def read() -> None:
        async for update in jobs.WatchJob(
            pb.WatchJobRequest(job_id=job.id, telegram_id=job.telegram_id)
        ):
            seen.append(update)
            if len(seen) == 1 and after_first is not None:
                await after_first()

    await asyncio.wait_for(read(), timeout)
    return seen


def statuses(updates: list[pb.WatchJobResponse]) -> list[int]:
    """The distinct statuses in order."""
    out: list[int] = []
    for update in updates:
        if not out or out[-1] != update.job.status:
            out.append(update.job.status)
    return out


async def wait_until_settled(db: asyncpg.Pool, timeout: float = 30) -> None:
    """Until no job is unfinished or holds an open charge."""
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        busy = await db.fetchval(
            "SELECT count(*) FROM jobs.jobs WHERE status IN ('creating', 'queued', 'running') "
            "OR charge IN ('pending', 'held')"
        )
        if not busy:
            return
        await asyncio.sleep(0.1)
    raise TimeoutError("jobs did not settle")


async def money_is_exact(db: asyncpg.Pool) -> None:
    """Every job's hold matches its outcome, once, and holds match jobs one to one."""
    rows = await db.fetch(
        "SELECT j.id, j.status, j.charge, j.cost, r.status AS hold, r.amount, "
        "(SELECT count(*) FROM billing.ledger l WHERE l.idempotency_key = 'release:' || r.id "
        ") AS releases "
        "FROM jobs.jobs j LEFT JOIN billing.reservations r ON r.id::text = j.reservation_id"
    )
    for row in rows:
        expected = {
            "succeeded": ("captured", 0),
            "failed": ("released", 1),
            "cancelled": ("released", 1),
        }[row["status"]]
        assert (row["hold"], row["releases"]) == expected, dict(row)
        assert row["charge"] == expected[0] and row["amount"] == row["cost"], dict(row)
    holds = await db.fetchval("SELECT count(*) FROM billing.reservations")
    assert holds == len(rows), "every hold belongs to exactly one job"


def spawn_worker(env: dict[str, str], **overrides: object) -> subprocess.Popen[bytes]:
    """`python -m job_svc.worker` as its own process, as in production."""
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    full = {**keep, **env, **{k: str(v) for k, v in overrides.items()}}
    return subprocess.Popen(
        [sys.executable, "-m", "job_svc.worker"],
        env=full,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.kill()
    process.wait()


async def wait_for_status(jobs: Any, job: pb.Job, status: int, seconds: float = 30) -> pb.Job:
    deadline = asyncio.get_running_loop().time() + seconds
    while asyncio.get_running_loop().time() < deadline:
        current = (
            await jobs.GetJob(pb.GetJobRequest(job_id=job.id, telegram_id=job.telegram_id))
        ).job
        if current.status == status:
            return current
        await asyncio.sleep(0.05)
    raise TimeoutError(f"job {job.id} never reached status {status}: {current}")


@contextlib.asynccontextmanager
async def domain(job_env: dict[str, str], **overrides: object) -> AsyncIterator[Any]:
    """job_svc's domain, as a replica builds it, closed on leaving."""
    from job_svc.domain import open_domain
    from job_svc.settings import JobSettings
    from tests.support.settings import make_settings

    async with open_domain(make_settings(JobSettings, job_env, **overrides)) as found:
        yield found


async def saved_not_charged(
    found: Any, telegram_id: int, client_key: str, **fields: Any
) -> asyncpg.Record:
    """What a crash right after saving a job leaves: a `creating` job, no hold."""
    job = {"id": uuid.uuid4(), "telegram_id": telegram_id, "client_key": client_key,
           "kind": "image", "quality": "standard", "prompt": "p", "aspect_ratio": "1:1",
           "provider": "local", "lane": "normal", "cost": 1, **fields}  # fmt: skip
    return await found.store.insert(job, limit=5)


async def age(db: asyncpg.Pool, seconds: int) -> None:
    """Move every job's times back, as if `seconds` had passed."""
    await db.execute(
        "UPDATE jobs.jobs SET created_at = created_at - make_interval(secs => $1), "
        "finished_at = finished_at - make_interval(secs => $1)",
        float(seconds),
    )
