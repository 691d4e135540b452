"""Job-side benchmarks: CreateJob, end to end throughput, dispatch latency,
worker capacity and WatchJob fan-out.

Every service runs as in production, as its own `python -m …` process
(billing_svc, job_svc, job_svc.worker) configured by environment variables,
against real Postgres, Redis and S3 (SeaweedFS unless MINIO_ENDPOINT is set).
Users are seeded straight into the billing tables (a ledger grant and the
matching balance), spread wide enough that no per-user limit is the limiter.

Run alone:
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \\
    REDIS_URL=redis://127.0.0.1:6379/4 .venv/bin/python -m benchmarks.jobs
The Redis database is flushed before each benchmark: point REDIS_URL at a
database of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import platform
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from multiprocessing.queues import Queue as MpQueue
from pathlib import Path
from typing import Any

import asyncpg
import grpc
import psutil
import redis.asyncio as aioredis
import uvloop
from grpc_health.v1 import health_pb2, health_pb2_grpc
from mediabot.jobs.v1 import jobs_pb2 as pb
from mediabot.jobs.v1 import jobs_pb2_grpc

from benchmarks.harness import (
    SECRETS,
    Result,
    engines,
    process,
    run_concurrently,
    s3_server,
    seed_accounts,
    spawn,
)
from common.clients import authorized, channel
from job_svc.events import publish_message
from job_svc.queue import LANES, stream

USERS = 1000
CREDITS = 10_000_000
CALLERS = 64
CHANNELS = 8
#: 1. CreateJob (and the echo baseline): calls measured after a warm-up.
CREATES = 5000
WARM_UP = 500
#: 2. End to end: image jobs through one worker.
E2E_JOBS = 10_000
E2E_WORKER_CONCURRENCY = 64
#: 3. Dispatch latency: a steady light load.
DISPATCH_RATE = 50
DISPATCH_SECONDS = 10
#: 4. Capacity: one worker holding 1000 slow jobs.
CAPACITY_JOBS = 2000
CAPACITY_SLOTS = 1000
CAPACITY_LATENCY = 5.0
#: 5. WatchJob fan-out.
WATCHERS = 10_000
WATCH_CHANNELS = 50
WATCH_PROCESSES = 2
WATCHED_JOBS = 200
EVENT_RATE = 200
EVENT_SECONDS = 20
#: Version of injected events: above anything a real job reaches in the run.
EVENT_VERSION_BASE = 1_000_000
HEALTH_SERVICE = "mediabot.jobs.v1.JobService"


# --- plumbing ---------------------------------------------------------------------


@dataclass
class Stack:
    """Where the shared pieces are: the engines, S3 and the running billing_svc."""

    env: dict[str, str]
    billing: str = ""
    s3: tuple[str, str, str] = ("", "", "")

    def jobs_env(self, **overrides: object) -> dict[str, str]:
        """Environment of job_svc and its workers; `overrides` win."""
        endpoint, access, secret = self.s3
        base = {
            **self.env,
            "BILLING_GRPC_ADDR": self.billing,
            "MINIO_ENDPOINT": endpoint,
            "MINIO_ACCESS_KEY": access,
            "MINIO_SECRET_KEY": secret,
            "MINIO_BUCKET": "mediabot-bench",
            "PROVIDER": "local",
            "LOCAL_LATENCY_SECONDS": "0",
            "LOCAL_IMAGE_SIZE": "16",
            "MAX_USER_QUEUE": "10000",
            "MAX_USER_QUEUE_PRO": "10000",
            "CREATE_RATE_PER_MINUTE": "100000",
            "WORKER_CONCURRENCY": "64",
            "PROVIDER_CONCURRENCY": "64",
            "LOG_LEVEL": "WARNING",
        }
        return base | {k: str(v) for k, v in overrides.items()}


@dataclass
class Rows:
    """A printed table of named figures."""

    title: str
    header: tuple[str, ...]
    rows: list[tuple[str, ...]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, *cells: object) -> None:
        self.rows.append(tuple(_cell(c) for c in cells))

    def render(self) -> str:
        widths = [
            max(len(r[i]) for r in [self.header, *self.rows]) for i in range(len(self.header))
        ]
        lines = [f"\n{self.title}"]
        for n, row in enumerate([self.header, *self.rows]):
            cells = [row[0].ljust(widths[0] + 2)]
            cells += [c.rjust(w + 2) for c, w in zip(row[1:], widths[1:], strict=True)]
            lines.append("".join(cells).rstrip())
            if n == 0:
                lines.append("-" * sum(w + 2 for w in widths))
        lines += [f"  {note}" for note in self.notes]
        return "\n".join(lines)


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def pct(values: list[float], share: float) -> float:
    """Percentile of `values` (same unit), nan when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def _seed(url: str) -> None:
    await seed_accounts(url, USERS, CREDITS)


async def _reset(stack: Stack) -> None:
    """No jobs and an empty Redis database before a benchmark (holds stay in billing)."""
    conn = await asyncpg.connect(stack.env["DATABASE_URL"])
    try:
        await conn.execute("TRUNCATE jobs.jobs")
    finally:
        await conn.close()
    redis = aioredis.from_url(stack.env["REDIS_URL"])
    try:
        await redis.flushdb()
    finally:
        await redis.aclose()


class Client:
    """JobService stubs (and health stubs) over a few channels to one job_svc."""

    def __init__(self, address: str, channels: int = CHANNELS) -> None:
        self.channels = [channel(address) for _ in range(channels)]
        token = SECRETS["SERVICE_TOKEN"]
        self.jobs = [authorized(jobs_pb2_grpc.JobServiceStub(c), token) for c in self.channels]
        self.health = [health_pb2_grpc.HealthStub(c) for c in self.channels]
        self.run = uuid.uuid4().hex[:8]

    async def create(self, i: int) -> pb.Job:
        stub = self.jobs[i % len(self.jobs)]
        answer = await stub.CreateJob(
            pb.CreateJobRequest(
                telegram_id=i % USERS + 1,
                kind=pb.JOB_KIND_IMAGE,
                quality=pb.QUALITY_STANDARD,
                prompt=f"a benchmark fox number {i}",
                options=pb.JobOptions(aspect_ratio="1:1"),
                client_key=f"{self.run}-{i}",
            )
        )
        return answer.job

    async def echo(self, i: int) -> None:
        await self.health[i % len(self.health)].Check(
            health_pb2.HealthCheckRequest(service=HEALTH_SERVICE)
        )

    async def close(self) -> None:
        await asyncio.gather(*(c.close() for c in self.channels))


async def _counts(conn: asyncpg.Connection) -> dict[str, int]:
    rows = await conn.fetch("SELECT status, count(*) AS n FROM jobs.jobs GROUP BY status")
    return {r["status"]: r["n"] for r in rows}


async def _wait_done(
    conn: asyncpg.Connection,
    total: int,
    timeout: float,
    tick: Callable[[dict[str, int]], Awaitable[None]] | None = None,
    interval: float = 0.1,
) -> dict[str, int]:
    """Poll until `total` jobs are finished; returns the last counts (may be short)."""
    deadline = time.monotonic() + timeout
    counts: dict[str, int] = {}
    while time.monotonic() < deadline:
        counts = await _counts(conn)
        if tick is not None:
            await tick(counts)
        if sum(counts.get(s, 0) for s in ("succeeded", "failed", "cancelled")) >= total:
            break
        await asyncio.sleep(interval)
    return counts


async def _wait_for_worker(redis_url: str, timeout: float = 60) -> None:
    """Until a worker is blocked reading the queue (Redis creates no consumer on an
    empty read, so look for a client of our database issuing XREADGROUP)."""
    redis = aioredis.from_url(redis_url)
    try:
        db = str(redis.connection_pool.connection_kwargs.get("db", 0))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            clients = await redis.client_list()
            if any(c.get("db") == db and c.get("cmd") == "xreadgroup" for c in clients):
                return
            await asyncio.sleep(0.05)
        raise TimeoutError("no worker reads the queue")
    finally:
        await redis.aclose()


class Sampler:
    """Peak RSS and mean CPU of one process, sampled in a background task."""

    def __init__(self, pid: int, every: float = 0.1) -> None:
        self.proc = psutil.Process(pid)
        self.every = every
        self.start_rss = self.proc.memory_info().rss
        self.peak_rss = self.start_rss
        self._cpu0 = self.proc.cpu_times()
        self._t0 = time.monotonic()
        self._task: asyncio.Task[None] | None = None

    async def _loop(self) -> None:
        while True:
            with contextlib.suppress(psutil.Error):
                self.peak_rss = max(self.peak_rss, self.proc.memory_info().rss)
            await asyncio.sleep(self.every)

    def __enter__(self) -> Sampler:
        self._task = asyncio.create_task(self._loop())
        return self

    def __exit__(self, *_: object) -> None:
        if self._task is not None:
            self._task.cancel()

    def cpu_share(self) -> float:
        """CPU seconds per wall second since the sampler started (1.0 = one core)."""
        now = self.proc.cpu_times()
        used = now.user + now.system - self._cpu0.user - self._cpu0.system
        return used / max(1e-9, time.monotonic() - self._t0)


def mib(n: float) -> float:
    return n / 2**20


# --- 1. CreateJob against a bare gRPC call ----------------------------------------------


async def _create_job(address: str) -> tuple[Result, Result]:
    client = Client(address)
    try:
        await run_concurrently("warm-up", client.echo, CALLERS, WARM_UP)
        echo = await run_concurrently(
            "Health/Check on the same job_svc (echo)", client.echo, CALLERS, CREATES
        )
        await run_concurrently("warm-up", client.create, CALLERS, WARM_UP)
        offset = WARM_UP

        async def create(i: int) -> None:
            await client.create(offset + i)

        created = await run_concurrently(
            "CreateJob (no worker: jobs queue)", create, CALLERS, CREATES
        )
        return echo, created
    finally:
        await client.close()


def bench_create(stack: Stack) -> str:
    asyncio.run(_reset(stack))
    with process("job_svc", stack.jobs_env(), "JOBS_GRPC_ADDR") as address:
        echo, created = asyncio.run(_create_job(address))
    table = Rows(
        f"1. CreateJob, {CALLERS} concurrent callers over {CHANNELS} channels, "
        f"{CREATES} calls after {WARM_UP} warm-up (ratio to the echo call)",
        ("path", "calls/s", "p50 ms", "p99 ms", "ratio"),
    )
    for r in (echo, created):
        table.add(r.name, r.rate, r.percentile(0.5), r.percentile(0.99), r.rate / echo.rate)
    table.notes.append(
        "echo = grpc.health.v1.Health/Check served by the same job_svc process, same channels"
    )
    return table.render()


# --- 2. End to end ----------------------------------------------------------------------


async def _end_to_end(stack: Stack, address: str) -> Rows:
    await _wait_for_worker(stack.env["REDIS_URL"])
    client = Client(address)
    conn = await asyncpg.connect(stack.env["DATABASE_URL"])
    try:
        started = time.time()
        creating = asyncio.create_task(
            run_concurrently("CreateJob", client.create, CALLERS, E2E_JOBS)
        )
        counts = await _wait_done(conn, E2E_JOBS, timeout=300)
        created = await creating
        times = await conn.fetchrow(
            "SELECT extract(epoch FROM max(finished_at)) AS last, "
            "count(*) FILTER (WHERE status = 'succeeded') AS ok FROM jobs.jobs"
        )
        spans = await conn.fetch(
            "SELECT extract(epoch FROM started_at - created_at) AS wait, "
            "extract(epoch FROM finished_at - started_at) AS run FROM jobs.jobs "
            "WHERE status = 'succeeded'"
        )
        settle_deadline = time.monotonic() + 60
        while time.monotonic() < settle_deadline:
            held = await conn.fetchval("SELECT count(*) FROM jobs.jobs WHERE charge <> 'captured'")
            if not held:
                break
            await asyncio.sleep(0.2)
        settled = time.time()
    finally:
        await conn.close()
        await client.close()
    elapsed = float(times["last"] or time.time()) - started
    table = Rows(
        f"2. End to end: {E2E_JOBS:,} image jobs (local provider, latency 0, 16 px), "
        f"ONE worker (WORKER_CONCURRENCY={E2E_WORKER_CONCURRENCY}), {CALLERS} creating callers",
        ("figure", "value", "target", "ratio"),
    )
    rate = times["ok"] / elapsed
    table.add("jobs/s, first create → last SUCCEEDED", rate, 200, rate / 200)
    table.add("succeeded / submitted", f"{times['ok']:,} / {E2E_JOBS:,}", "", "")
    table.add("CreateJob calls/s during the run", created.rate, "", "")
    table.add("CreateJob p50 / p99 ms", f"{created.percentile(0.5):.1f} / "
              f"{created.percentile(0.99):.1f}", "", "")  # fmt: skip
    waits = [float(r["wait"]) * 1000 for r in spans]
    runs = [float(r["run"]) * 1000 for r in spans]
    table.add("queue wait p50 / p99 ms (created_at → started_at)",
              f"{pct(waits, 0.5):.0f} / {pct(waits, 0.99):.0f}", "", "")  # fmt: skip
    table.add("run p50 / p99 ms (started_at → finished_at)",
              f"{pct(runs, 0.5):.1f} / {pct(runs, 0.99):.1f}", "", "")  # fmt: skip
    table.add("seconds until every hold captured", settled - started, "", "")
    if times["ok"] < E2E_JOBS:
        table.notes.append(f"NOT all jobs finished: {counts}")
    return table


def bench_end_to_end(stack: Stack) -> str:
    asyncio.run(_reset(stack))
    env = stack.jobs_env(
        WORKER_CONCURRENCY=E2E_WORKER_CONCURRENCY, PROVIDER_CONCURRENCY=E2E_WORKER_CONCURRENCY
    )
    with process("job_svc", env, "JOBS_GRPC_ADDR") as address, process("job_svc.worker", env, None):
        return asyncio.run(_end_to_end(stack, address)).render()


# --- 3. Dispatch latency ------------------------------------------------------------------


async def _observe_enqueues(redis_url: str, seen: dict[str, float], stop: asyncio.Event) -> None:
    """Record each queue entry's XADD time (its id's milliseconds, Redis' clock).

    A plain XREAD (no group) sees every entry without taking it from the workers.
    """
    redis = aioredis.from_url(redis_url)
    last = {stream(lane): "$" for lane in LANES}
    try:
        while not stop.is_set():
            reply: Any = await redis.xread(last, block=200)  # type: ignore[arg-type]
            for name, entries in reply or ():
                for entry_id, fields in entries:
                    last[name.decode()] = entry_id.decode()
                    if fields:
                        seen[fields[b"job"].decode()] = int(entry_id.split(b"-")[0]) / 1000
    finally:
        await redis.aclose()


async def _dispatch(stack: Stack, address: str) -> Rows:
    await _wait_for_worker(stack.env["REDIS_URL"])
    client = Client(address)
    conn = await asyncpg.connect(stack.env["DATABASE_URL"])
    enqueued: dict[str, float] = {}
    stop = asyncio.Event()
    observer = asyncio.create_task(_observe_enqueues(stack.env["REDIS_URL"], enqueued, stop))
    total = DISPATCH_RATE * DISPATCH_SECONDS
    latencies: list[float] = []
    responded: dict[str, float] = {}

    async def one(i: int) -> None:
        sent = time.perf_counter()
        job = await client.create(i)
        latencies.append(time.perf_counter() - sent)
        responded[job.id] = time.time()

    try:
        await asyncio.sleep(0.3)  # the observer is blocked in XREAD
        await asyncio.gather(*(client.create(100_000 + i) for i in range(20)))  # warm-up
        await _wait_done(conn, 20, 30)
        await conn.execute("TRUNCATE jobs.jobs")
        enqueued.clear()
        begin = time.perf_counter()
        tasks = []
        for i in range(total):
            await asyncio.sleep(max(0.0, begin + i / DISPATCH_RATE - time.perf_counter()))
            tasks.append(asyncio.create_task(one(i)))
        await asyncio.gather(*tasks)
        await _wait_done(conn, total, 60)
        rows = await conn.fetch(
            "SELECT id::text, extract(epoch FROM created_at) AS created, "
            "extract(epoch FROM started_at) AS started FROM jobs.jobs WHERE started_at IS NOT NULL"
        )
    finally:
        stop.set()
        await observer
        await conn.close()
        await client.close()
    create_start = [(float(r["started"]) - float(r["created"])) * 1000 for r in rows]
    enqueue_start = [
        (float(r["started"]) - enqueued[r["id"]]) * 1000 for r in rows if r["id"] in enqueued
    ]
    response_start = [
        (float(r["started"]) - responded[r["id"]]) * 1000 for r in rows if r["id"] in responded
    ]
    table = Rows(
        f"3. Dispatch latency: {total} jobs created at {DISPATCH_RATE}/s for {DISPATCH_SECONDS} s, "
        "ONE worker (latency 0)",
        ("interval (ms)", "p50", "p90", "p99", "max", "n"),
    )
    for name, values in (
        ("enqueue (XADD) → worker start (claim)", enqueue_start),
        ("create (row insert) → worker start", create_start),
        ("CreateJob response → worker start", response_start),
        ("CreateJob call (client)", [v * 1000 for v in latencies]),
    ):
        table.add(name, pct(values, 0.5), pct(values, 0.9), pct(values, 0.99),
                  max(values, default=float("nan")), len(values))  # fmt: skip
    table.notes += [
        "target: enqueue → start p99 < 10 ms",
        "enqueue = ms timestamp in the Redis stream entry id (XADD, seen by a side XREAD);",
        "start = jobs.started_at (now() of the worker's claim UPDATE); same host clock;",
        "create = jobs.created_at (insert, before the billing hold and the XADD).",
        "Negative response→start: the worker claimed the job before CreateJob answered.",
    ]
    return table


def bench_dispatch(stack: Stack) -> str:
    asyncio.run(_reset(stack))
    env = stack.jobs_env()
    with process("job_svc", env, "JOBS_GRPC_ADDR") as address, process("job_svc.worker", env, None):
        return asyncio.run(_dispatch(stack, address)).render()


# --- 4. Capacity ----------------------------------------------------------------------------


async def _capacity(stack: Stack, address: str, worker_pid: int) -> Rows:
    await _wait_for_worker(stack.env["REDIS_URL"])
    client = Client(address)
    conn = await asyncpg.connect(stack.env["DATABASE_URL"])
    peak_running = 0

    async def tick(counts: dict[str, int]) -> None:
        nonlocal peak_running
        peak_running = max(peak_running, counts.get("running", 0))

    try:
        with Sampler(worker_pid) as worker:
            started = time.time()
            creating = asyncio.create_task(
                run_concurrently("CreateJob", client.create, CALLERS, CAPACITY_JOBS)
            )
            counts = await _wait_done(conn, CAPACITY_JOBS, 120, tick, interval=0.2)
            created = await creating
            last = await conn.fetchval("SELECT extract(epoch FROM max(finished_at)) FROM jobs.jobs")
            runs = [
                float(r[0])
                for r in await conn.fetch(
                    "SELECT extract(epoch FROM finished_at - started_at) FROM jobs.jobs "
                    "WHERE status = 'succeeded'"
                )
            ]
            cpu = worker.cpu_share()
    finally:
        await conn.close()
        await client.close()
    elapsed = float(last or time.time()) - started
    ok = counts.get("succeeded", 0)
    ideal = CAPACITY_SLOTS / CAPACITY_LATENCY
    table = Rows(
        f"4. Capacity: ONE worker, WORKER_CONCURRENCY=PROVIDER_CONCURRENCY={CAPACITY_SLOTS}, "
        f"LOCAL_LATENCY_SECONDS={CAPACITY_LATENCY:g}, {CAPACITY_JOBS:,} jobs",
        ("figure", "value", "ideal", "ratio"),
    )
    table.add("max jobs in flight (RUNNING, sampled every 0.2 s)", peak_running, CAPACITY_SLOTS,
              peak_running / CAPACITY_SLOTS)  # fmt: skip
    table.add("jobs/s, first create → last SUCCEEDED", ok / elapsed, ideal, ok / elapsed / ideal)
    table.add("succeeded / submitted", f"{ok:,} / {CAPACITY_JOBS:,}", "", "")
    spread = f"{pct(runs, 0.5):.2f} / {pct(runs, 0.99):.2f}"
    table.add("run time p50 / p99 s (started → finished)", spread, CAPACITY_LATENCY, "")
    table.add("CreateJob calls/s", created.rate, "", "")
    table.add("worker RSS idle → peak MiB", f"{mib(worker.start_rss):.0f} → "
              f"{mib(worker.peak_rss):.0f}", "", "")  # fmt: skip
    table.add("worker CPU (cores, mean over the run)", cpu, "", "")
    if ok < CAPACITY_JOBS:
        table.notes.append(f"NOT all jobs finished: {counts}")
    return table


def bench_capacity(stack: Stack) -> str:
    asyncio.run(_reset(stack))
    env = stack.jobs_env(
        WORKER_CONCURRENCY=CAPACITY_SLOTS,
        PROVIDER_CONCURRENCY=CAPACITY_SLOTS,
        LOCAL_LATENCY_SECONDS=CAPACITY_LATENCY,
    )
    with (
        process("job_svc", env, "JOBS_GRPC_ADDR") as address,
        spawn("job_svc.worker", env, None) as (_, worker),
    ):
        return asyncio.run(_capacity(stack, address, worker.pid)).render()


# --- 5. WatchJob fan-out -----------------------------------------------------------------


def _watch_client(
    address: str,
    jobs: list[tuple[str, int]],
    watchers: int,
    channels: int,
    out: MpQueue[Any],
    stop: Any,
) -> None:
    """A client process: `watchers` WatchJob streams over `channels` channels.

    Reports ("ready", n) once every stream got its first message, then
    ("done", latencies ms, events received, streams ended early) when told to stop.
    """
    uvloop.install()
    asyncio.run(_watch_streams(address, jobs, watchers, channels, out, stop))


async def _watch_streams(
    address: str,
    jobs: list[tuple[str, int]],
    watchers: int,
    channels: int,
    out: MpQueue[Any],
    stop: Any,
) -> None:
    opened = [channel(address) for _ in range(channels)]
    token = SECRETS["SERVICE_TOKEN"]
    stubs = [authorized(jobs_pb2_grpc.JobServiceStub(c), token) for c in opened]
    latencies: list[float] = []
    received = 0
    ended = 0
    ready = 0
    all_ready = asyncio.Event()

    async def watcher(n: int) -> None:
        nonlocal received, ended, ready
        job_id, owner = jobs[n % len(jobs)]
        first = True
        try:
            async for update in stubs[n % channels].WatchJob(
                pb.WatchJobRequest(job_id=job_id, telegram_id=owner)
            ):
                now = time.time()
                if first:
                    first = False
                    ready += 1
                    if ready == watchers:
                        all_ready.set()
                    continue
                if update.job.error.startswith("bench:"):
                    latencies.append((now - float(update.job.error[6:])) * 1000)
                    received += 1
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.CANCELLED:
                print(f"watcher {n}: {exc.code().name} {exc.details()}", file=sys.stderr)
        ended += 1

    tasks = []
    for n in range(watchers):
        tasks.append(asyncio.create_task(watcher(n)))
        if n % 200 == 199:
            await asyncio.sleep(0.01)  # open streams in waves, not one burst
    await all_ready.wait()
    out.put(("ready", ready))
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, stop.wait)
    early = ended
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    out.put(("done", latencies, received, early))
    await asyncio.gather(*(c.close() for c in opened))


async def publish_events(
    redis_url: str, jobs: list[pb.Job], rate: int, seconds: int
) -> tuple[int, float]:
    """Publish `rate` events a second round-robin over `jobs`, each stamped with its
    publish time in `error` (the watchers read it) and a version above any real one."""
    redis = aioredis.from_url(redis_url)
    sent = 0
    try:
        begin = time.perf_counter()
        for i in range(rate * seconds):
            await asyncio.sleep(max(0.0, begin + i / rate - time.perf_counter()))
            event = pb.Job()
            event.CopyFrom(jobs[i % len(jobs)])
            event.version = EVENT_VERSION_BASE + i
            event.progress = 1 + i % 98
            event.error = f"bench:{time.time():.6f}"
            await publish_message(redis, event)
            sent += 1
        return sent, time.perf_counter() - begin
    finally:
        await redis.aclose()


class ClientProcesses:
    """Load from child processes, as in production the watchers are not in the server's
    process. Each child runs `target(*args, queue, stop)` and reports twice on its queue:
    once when its streams are open, and once, after `stop`, with what it measured."""

    def __init__(self, target: Callable[..., None], args: list[tuple[Any, ...]]) -> None:
        context = multiprocessing.get_context("spawn")
        self._stop = context.Event()
        self._queues: list[MpQueue[Any]] = [context.Queue() for _ in args]
        self._children = [
            context.Process(target=target, args=(*a, q, self._stop))
            for a, q in zip(args, self._queues, strict=True)
        ]
        for child in self._children:
            child.start()

    async def opened(self) -> list[Any]:
        """Each child's first report (every stream open); on failure the children end."""
        try:
            return await self._reports(300)
        except BaseException:
            for child in self._children:
                child.terminate()
            raise

    async def finished(self) -> list[Any]:
        """Stop the children; each one's last report."""
        self._stop.set()
        done = await self._reports(120)
        for child in self._children:
            child.join(30)
        return done

    async def _reports(self, timeout: float) -> list[Any]:
        loop = asyncio.get_running_loop()
        return [await loop.run_in_executor(None, q.get, True, timeout) for q in self._queues]


async def _fan_out(stack: Stack, address: str, service_pid: int) -> Rows:
    await _wait_for_worker(stack.env["REDIS_URL"])
    client = Client(address)
    conn = await asyncpg.connect(stack.env["DATABASE_URL"])
    try:
        made = await asyncio.gather(*(client.create(i) for i in range(WATCHED_JOBS)))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if (await _counts(conn)).get("running", 0) >= WATCHED_JOBS:
                break
            await asyncio.sleep(0.2)
        stub = client.jobs[0]
        jobs = [
            (await stub.GetJob(pb.GetJobRequest(job_id=j.id, telegram_id=j.telegram_id))).job
            for j in made
        ]
        owners = [(j.id, j.telegram_id) for j in jobs]
        with Sampler(service_pid) as service:
            idle_rss = service.start_rss
            share = WATCHERS // WATCH_PROCESSES
            opened_at = time.perf_counter()
            clients = ClientProcesses(
                _watch_client,
                [(address, owners, share, WATCH_CHANNELS // WATCH_PROCESSES)] * WATCH_PROCESSES,
            )
            ready = await clients.opened()
            open_seconds = time.perf_counter() - opened_at
            streams = sum(r[1] for r in ready)
            await asyncio.sleep(2)
            steady_rss = service.proc.memory_info().rss
            cpu_before = service.proc.cpu_times()
            sent, spent = await publish_events(
                stack.env["REDIS_URL"], jobs, EVENT_RATE, EVENT_SECONDS
            )
            await asyncio.sleep(2)  # let the last events arrive
            cpu_after = service.proc.cpu_times()
            cpu = (cpu_after.user + cpu_after.system - cpu_before.user - cpu_before.system) / (
                spent + 2
            )
            done = await clients.finished()
            peak_rss = service.peak_rss
    finally:
        await conn.close()
        await client.close()
    latencies = [v for d in done for v in d[1]]
    received = sum(d[2] for d in done)
    early = sum(d[3] for d in done)
    per_job = WATCHERS // WATCHED_JOBS
    expected = sent * per_job
    table = Rows(
        f"5. WatchJob fan-out: {streams:,} streams ({WATCH_PROCESSES} client processes, "
        f"{WATCH_CHANNELS} channels) on ONE job_svc, {per_job} per job over {WATCHED_JOBS} "
        f"running jobs, {EVENT_RATE} events/s for {EVENT_SECONDS} s",
        ("figure", "value"),
    )
    table.add("events published / per second", f"{sent:,} / {sent / spent:.0f}")
    table.add("messages received / expected", f"{received:,} / {expected:,}")
    table.add("event latency p50 ms (publish → watcher)", pct(latencies, 0.5))
    table.add("event latency p99 ms", pct(latencies, 0.99))
    table.add("event latency max ms", max(latencies, default=float("nan")))
    table.add("job_svc RSS idle MiB", mib(idle_rss))
    table.add("job_svc RSS with every stream open MiB", mib(steady_rss))
    table.add("job_svc RSS peak MiB", mib(peak_rss))
    table.add("job_svc KiB per stream", (steady_rss - idle_rss) / 1024 / max(1, streams))
    table.add("job_svc CPU while events flow (cores)", cpu)
    table.add("seconds to open every stream", open_seconds)
    table.add("streams that ended early", early)
    table.notes += [
        "events are Job messages published by the benchmark with job_svc.events.publish_message on",
        "the channel workers use (status RUNNING, version above any real one), each stamped",
        "with its publish time; watchers subtract it from their receive time (same host).",
        "The jobs are real RUNNING jobs of a worker (LOCAL_LATENCY_SECONDS=600).",
    ]
    return table


def bench_fan_out(stack: Stack) -> str:
    asyncio.run(_reset(stack))
    env = stack.jobs_env(
        LOCAL_LATENCY_SECONDS=600,
        WORKER_CONCURRENCY=WATCHED_JOBS,
        PROVIDER_CONCURRENCY=WATCHED_JOBS,
    )
    with (
        spawn("job_svc", env, "JOBS_GRPC_ADDR") as (address, service),
        process("job_svc.worker", env, None),
    ):
        return asyncio.run(_fan_out(stack, address, service.pid)).render()


# --- entry points ----------------------------------------------------------------------------

BENCHMARKS: dict[str, Callable[[Stack], str]] = {
    "create": bench_create,
    "e2e": bench_end_to_end,
    "dispatch": bench_dispatch,
    "capacity": bench_capacity,
    "fanout": bench_fan_out,
}


def run(
    env: dict[str, str],
    only: list[str] | None = None,
    show: Callable[[str], None] | None = None,
) -> str:
    """Every job benchmark (or those named in `only`) as tables; `show` gets each at once."""
    asyncio.run(_seed(env["DATABASE_URL"]))
    out: list[str] = []
    with s3_server(env) as s3, process("billing_svc", env, "BILLING_GRPC_ADDR") as billing:
        stack = Stack(env, billing, s3)
        for name, bench in BENCHMARKS.items():
            if only and name not in only:
                continue
            load = os.getloadavg()[0]
            started = time.monotonic()
            table = bench(stack)
            table += (
                f"\n  [{name}: {time.monotonic() - started:.0f} s; host load average (1 min) "
                f"{load:.1f} before, {os.getloadavg()[0]:.1f} after, on {os.cpu_count()} cores]"
            )
            if show is not None:
                show(table)
            out.append(table)
    return "\n".join(out)


def main() -> None:
    uvloop.install()
    only = sys.argv[1:] or None
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}")  # fmt: skip
    with engines(Path(".data") / "bench-jobs") as env:
        run(env, only, show=lambda table: print(table, flush=True))


if __name__ == "__main__":
    main()
