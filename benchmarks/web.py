"""Web app benchmarks: the cabinet's GET /api/me against a bare route of the same server, and
2,000 live job streams (server-sent events) on one web app process while jobs change.

Every piece runs as in production, as its own process: billing_svc, job_svc, a worker, and
the web app (`benchmarks.webserver`: `python -m webapp` plus one bare route). Load comes from
other processes speaking plain HTTP/1.1 over keep-alive sockets (a few lines of asyncio, so
that the client's own cost stays small and equal for both paths).

Run alone:
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \\
    REDIS_URL=redis://127.0.0.1:6379/4 .venv/bin/python -m benchmarks web
The Redis database is flushed before each benchmark: point REDIS_URL at a database of its own.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import platform
import sys
import time
import uuid
from collections.abc import Callable
from multiprocessing.queues import Queue as MpQueue
from pathlib import Path
from typing import Any

import asyncpg
import psutil
import redis.asyncio as aioredis
import uvloop
from mediabot.jobs.v1 import jobs_pb2 as pb
from mediabot.jobs.v1 import jobs_pb2_grpc

from benchmarks.harness import (
    SECRETS,
    Result,
    engines,
    process,
    s3_env,
    s3_server,
    seed_accounts,
    spawn,
)
from benchmarks.jobs import ClientProcesses, Rows, Sampler, mib, pct, publish_events
from common.clients import authorized, channel
from webapp.sessions import SessionStore

#: 1. GET /api/me against the bare route.
CLIENTS = 64
REQUESTS = 12_000
WARM_UP = 2_000
ROUNDS = 2
#: 2. Live streams.
STREAMS = 2_000
STREAM_PROCESSES = 2
EVENT_RATE = 100
EVENT_SECONDS = 20
USERS = STREAMS
#: Every DIRECT_EVERY-th job is also watched straight from job_svc (the baseline).
DIRECT_EVERY = 5
WEB_SECRETS = {
    "WEBAPP_SECRET": "bench-webapp-secret-0123456789",
    "BOT_TOKEN": "7000000001:AAbenchbenchbenchbenchbenchbenchben",
}
COOKIE = "mb_session"


# --- a small HTTP/1.1 client -------------------------------------------------------------


class Connection:
    """One keep-alive connection issuing GETs one after another."""

    def __init__(self, host: str, port: int, cookie: str) -> None:
        self.host, self.port, self.cookie = host, port, cookie
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, path: str) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        self.writer.write(
            f"GET {path} HTTP/1.1\r\nHost: {self.host}\r\nCookie: {COOKIE}={self.cookie}\r\n"
            "Accept: application/json\r\n\r\n".encode()
        )
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def _load_client(
    address: str, path: str, cookies: list[str], total: int, out: MpQueue[Any]
) -> None:
    """A client process: len(cookies) connections share `total` GETs of `path`."""
    uvloop.install()
    out.put(asyncio.run(_load(address, path, cookies, total)))


async def _load(address: str, path: str, cookies: list[str], total: int) -> tuple[Any, ...]:
    host, _, port = address.rpartition(":")
    counter = iter(range(total))
    latencies: list[float] = []
    errors = 0

    async def loop(cookie: str) -> None:
        nonlocal errors
        connection = Connection(host, int(port), cookie)
        try:
            for _ in counter:
                started = time.perf_counter()
                status, _ = await connection.get(path)
                latencies.append(time.perf_counter() - started)
                errors += status != 200
        finally:
            connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(loop(c) for c in cookies))
    return latencies, time.perf_counter() - started, errors


def measure(address: str, path: str, name: str, cookies: list[str], total: int) -> Result:
    """`total` GETs from one client process over len(cookies) connections."""
    context = multiprocessing.get_context("spawn")
    out: MpQueue[Any] = context.Queue()
    child = context.Process(target=_load_client, args=(address, path, cookies, total, out))
    child.start()
    latencies, seconds, errors = out.get(timeout=600)
    child.join(30)
    if errors:
        raise RuntimeError(f"{path}: {errors} answers were not 200")
    return Result(name, total, seconds, latencies)


# --- setup ---------------------------------------------------------------------------------


async def _reset(env: dict[str, str]) -> None:
    conn = await asyncpg.connect(env["DATABASE_URL"])
    try:
        await conn.execute("TRUNCATE jobs.jobs")
    finally:
        await conn.close()
    redis = aioredis.from_url(env["REDIS_URL"])
    try:
        await redis.flushdb()
    finally:
        await redis.aclose()


async def _sessions(redis_url: str, users: list[int]) -> list[str]:
    """A logged-in session for each user, as a login makes it."""
    redis = aioredis.from_url(redis_url)
    try:
        store = SessionStore(redis, 86400)
        return [(await store.create(user, "en")).id for user in users]
    finally:
        await redis.aclose()


def web_env(env: dict[str, str], billing: str, jobs: str) -> dict[str, str]:
    return {
        **env,
        **WEB_SECRETS,
        "BILLING_GRPC_ADDR": billing,
        "JOBS_GRPC_ADDR": jobs,
        "BOT_USERNAME": "mediabot_bench_bot",
        "LOG_LEVEL": "WARNING",
    }


# --- 1. GET /api/me against a bare route -------------------------------------------------------


def bench_me(env: dict[str, str], billing: str, jobs: str, pids: dict[str, int]) -> str:
    asyncio.run(_reset(env))
    cookies = asyncio.run(_sessions(env["REDIS_URL"], list(range(1, CLIENTS + 1))))
    with spawn("benchmarks.webserver", web_env(env, billing, jobs), "WEBAPP_ADDR") as (
        address,
        child,
    ):
        pids = {"web app": child.pid, **pids}
        measure(address, "/bench/bare", "warm-up", cookies, WARM_UP)
        measure(address, "/api/me", "warm-up", cookies, WARM_UP)
        runs: dict[str, list[tuple[Result, dict[str, float]]]] = {"bare": [], "me": []}
        for _ in range(ROUNDS):
            for key, path, name in (
                ("bare", "/bench/bare", "bare FastAPI route, same server (ceiling)"),
                ("me", "/api/me", "GET /api/me: session + GetUser + ListJobs"),
            ):
                before = {name: cpu_seconds(pid) for name, pid in pids.items()}
                result = measure(address, path, name, cookies, REQUESTS)
                used = {
                    n: (cpu_seconds(pid) - before[n]) / result.seconds for n, pid in pids.items()
                }
                runs[key].append((result, used))
    best = {key: max(results, key=lambda r: r[0].rate) for key, results in runs.items()}
    ceiling = best["bare"][0].rate
    table = Rows(
        f"1. The cabinet's GET /api/me against a bare route of the same server: {CLIENTS} "
        f"concurrent clients (keep-alive), {REQUESTS:,} requests, best of {ROUNDS} interleaved "
        "runs; CPU in cores",
        ("path", "requests/s", "p50 ms", "p99 ms", "ratio", *(f"{n} CPU" for n in pids)),
    )
    for key in ("bare", "me"):
        result, used = best[key]
        table.add(result.name, result.rate, result.percentile(0.5), result.percentile(0.99),
                  result.rate / ceiling, *used.values())  # fmt: skip
    every = ", ".join(f"{r.rate:,.0f}" for r, _ in runs["me"])
    table.notes += [
        f"every run of /api/me: {every} requests/s; target ratio >= 0.35",
        "/api/me reads the session from Redis, then calls billing_svc GetUser and job_svc",
        "ListJobs at once; billing_svc, job_svc, Postgres and Redis share the host's cores",
    ]
    return table.render()


def cpu_seconds(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


# --- 2. live job streams ------------------------------------------------------------------------


def _stream_client(
    address: str,
    jobs: list[tuple[str, str]],
    direct: tuple[str, list[tuple[str, int]]],
    out: MpQueue[Any],
    stop: Any,
) -> None:
    """A client process: one server-sent event stream per (job id, session) in `jobs`, and
    the baseline: WatchJob streams straight to job_svc (`direct`: its address and jobs).
    Reports ("ready", n) once every stream delivered its first event, then ("done",
    latencies ms, events, streams that ended early, direct latencies ms) when told to stop."""
    uvloop.install()
    asyncio.run(_streams(address, jobs, direct, out, stop))


async def _direct(
    address: str, jobs: list[tuple[str, int]], latencies: list[float], ready: asyncio.Event
) -> list[asyncio.Task[None]]:
    opened = channel(address)
    stub = authorized(jobs_pb2_grpc.JobServiceStub(opened), SECRETS["SERVICE_TOKEN"])
    started = 0

    async def watch(job_id: str, owner: int) -> None:
        nonlocal started
        first = True
        async for update in stub.WatchJob(pb.WatchJobRequest(job_id=job_id, telegram_id=owner)):
            now = time.time()
            if first:
                first = False
                started += 1
                if started == len(jobs):
                    ready.set()
            elif update.job.error.startswith("bench:"):
                latencies.append((now - float(update.job.error[6:])) * 1000)

    return [asyncio.create_task(watch(job_id, owner)) for job_id, owner in jobs]


async def _streams(
    address: str,
    jobs: list[tuple[str, str]],
    direct: tuple[str, list[tuple[str, int]]],
    out: MpQueue[Any],
    stop: Any,
) -> None:
    host, _, port = address.rpartition(":")
    latencies: list[float] = []
    baseline: list[float] = []
    received = ready = ended = 0
    all_ready = asyncio.Event()
    direct_ready = asyncio.Event()
    if not direct[1]:
        direct_ready.set()
    watchers = await _direct(direct[0], direct[1], baseline, direct_ready)

    async def stream(job_id: str, cookie: str) -> None:
        nonlocal received, ready, ended
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            writer.write(
                f"GET /api/jobs/{job_id}/events HTTP/1.1\r\nHost: {host}\r\n"
                f"Cookie: {COOKIE}={cookie}\r\nAccept: text/event-stream\r\n\r\n".encode()
            )
            head = await reader.readuntil(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200"), head[:100]
            first = True
            buffer = b""
            while True:
                size = int((await reader.readline()).strip() or b"0", 16)
                if size == 0:
                    break
                buffer += (await reader.readexactly(size + 2))[:-2]
                while b"\n\n" in buffer:
                    chunk, buffer = buffer.split(b"\n\n", 1)
                    now = time.time()
                    for line in chunk.split(b"\n"):
                        if not line.startswith(b"data: "):
                            continue
                        if first:
                            first = False
                            ready += 1
                            if ready == len(jobs):
                                all_ready.set()
                            continue
                        error = json.loads(line[6:])["job"]["error"]
                        if error.startswith("bench:"):
                            latencies.append((now - float(error[6:])) * 1000)
                            received += 1
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            ended += 1
            writer.close()

    tasks = []
    for n, (job_id, cookie) in enumerate(jobs):
        tasks.append(asyncio.create_task(stream(job_id, cookie)))
        if n % 100 == 99:
            await asyncio.sleep(0.02)  # open in waves, as people arrive
    await all_ready.wait()
    await direct_ready.wait()
    out.put(("ready", ready))
    await asyncio.get_running_loop().run_in_executor(None, stop.wait)
    early = ended
    for task in tasks + watchers:
        task.cancel()
    await asyncio.gather(*tasks, *watchers, return_exceptions=True)
    out.put(("done", latencies, received, early, baseline))


async def _running_jobs(env: dict[str, str], jobs_address: str) -> list[pb.Job]:
    """One job for each user, all RUNNING on the worker."""
    opened = channel(jobs_address)
    stub = authorized(jobs_pb2_grpc.JobServiceStub(opened), SECRETS["SERVICE_TOKEN"])
    run = uuid.uuid4().hex[:8]
    try:
        gate = asyncio.Semaphore(64)

        async def create(user: int) -> pb.Job:
            async with gate:
                answer = await stub.CreateJob(
                    pb.CreateJobRequest(
                        telegram_id=user, kind=pb.JOB_KIND_IMAGE, quality=pb.QUALITY_STANDARD,
                        prompt=f"a live fox {user}", client_key=f"{run}-{user}",
                    )
                )  # fmt: skip
                return answer.job

        made = await asyncio.gather(*(create(u) for u in range(1, USERS + 1)))
        conn = await asyncpg.connect(env["DATABASE_URL"])
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                running = await conn.fetchval(
                    "SELECT count(*) FROM jobs.jobs WHERE status = 'running'"
                )
                if running >= USERS:
                    break
                await asyncio.sleep(0.5)
        finally:
            await conn.close()
        return [
            (await stub.GetJob(pb.GetJobRequest(job_id=j.id, telegram_id=j.telegram_id))).job
            for j in made
        ]
    finally:
        await opened.close()


def bench_streams(env: dict[str, str], billing: str, s3: tuple[str, str, str]) -> str:
    asyncio.run(_reset(env))
    jobs_env = {
        **env, "BILLING_GRPC_ADDR": billing, **s3_env(s3),
        "PROVIDER": "local", "LOCAL_LATENCY_SECONDS": "600", "LOCAL_IMAGE_SIZE": "16",
        "MAX_USER_QUEUE": "10", "CREATE_RATE_PER_MINUTE": "100000",
        "WORKER_CONCURRENCY": str(USERS), "PROVIDER_CONCURRENCY": str(USERS),
        "LOG_LEVEL": "WARNING",
    }  # fmt: skip
    with (
        process("job_svc", jobs_env, "JOBS_GRPC_ADDR") as jobs_address,
        process("job_svc.worker", jobs_env, None),
    ):
        jobs = asyncio.run(_running_jobs(env, jobs_address))
        cookies = asyncio.run(_sessions(env["REDIS_URL"], [j.telegram_id for j in jobs]))
        pairs = [(j.id, c) for j, c in zip(jobs, cookies, strict=True)]
        with spawn("benchmarks.webserver", web_env(env, billing, jobs_address), "WEBAPP_ADDR") as (
            address,
            web,
        ):
            return asyncio.run(_stream_run(env, address, web.pid, jobs, pairs, jobs_address))


async def _stream_run(
    env: dict[str, str],
    address: str,
    pid: int,
    jobs: list[pb.Job],
    pairs: list[tuple[str, str]],
    jobs_address: str,
) -> str:
    with Sampler(pid) as web:
        idle_rss = web.start_rss
        share = len(pairs) // STREAM_PROCESSES
        opened_at = time.perf_counter()
        args = []
        for n in range(STREAM_PROCESSES):
            mine = jobs[n * share : (n + 1) * share]
            direct = (jobs_address, [(j.id, j.telegram_id) for j in mine[::DIRECT_EVERY]])
            args.append((address, pairs[n * share : (n + 1) * share], direct))
        clients = ClientProcesses(_stream_client, args)
        ready = await clients.opened()
        open_seconds = time.perf_counter() - opened_at
        streams = sum(r[1] for r in ready)
        await asyncio.sleep(2)
        steady_rss = web.proc.memory_info().rss
        cpu_before = web.proc.cpu_times()
        sent, spent = await publish_events(env["REDIS_URL"], jobs, EVENT_RATE, EVENT_SECONDS)
        await asyncio.sleep(2)
        cpu_after = web.proc.cpu_times()
        cpu = (cpu_after.user + cpu_after.system - cpu_before.user - cpu_before.system) / (
            spent + 2
        )
        done = await clients.finished()
        peak_rss = web.peak_rss
    latencies = [v for d in done for v in d[1]]
    baseline = [v for d in done for v in d[4]]
    received = sum(d[2] for d in done)
    early = sum(d[3] for d in done)
    table = Rows(
        f"2. Live job streams: {streams:,} server-sent event streams on ONE web app process "
        f"(each fed by its own WatchJob), {EVENT_RATE} job changes/s for {EVENT_SECONDS} s",
        ("figure", "value"),
    )
    table.add("job changes published / per second", f"{sent:,} / {sent / spent:.0f}")
    table.add("events received / expected", f"{received:,} / {sent:,}")
    table.add("event latency p50 ms (publish → browser)", pct(latencies, 0.5))
    table.add("event latency p99 ms (target <= 100)", pct(latencies, 0.99))
    table.add("event latency max ms", max(latencies, default=float("nan")))
    table.add(
        f"baseline: WatchJob straight from job_svc ({len(baseline):,} events) p50 / p99 / max ms",
        f"{pct(baseline, 0.5):.2f} / {pct(baseline, 0.99):.2f} / {max(baseline, default=0):.2f}",
    )
    table.add("web app RSS idle MiB", mib(idle_rss))
    table.add("web app RSS with every stream open MiB", mib(steady_rss))
    table.add("web app RSS peak MiB (target <= 300)", mib(peak_rss))
    table.add("web app KiB per stream", (steady_rss - idle_rss) / 1024 / max(1, streams))
    table.add("web app CPU while events flow (cores)", cpu)
    table.add("seconds to open every stream", open_seconds)
    table.add("streams that ended early", early)
    table.notes += [
        "each change is a Job message published with job_svc.events.publish_message on the",
        "channel workers use, stamped with its publish time; the client subtracts it from the",
        "time the event reaches it: job_svc fan-out + WatchJob + the web app + HTTP (one host).",
        f"The jobs are {len(jobs):,} real RUNNING jobs of one worker (LOCAL_LATENCY_SECONDS=600).",
    ]
    return table.render()


# --- entry point ------------------------------------------------------------------------


def run(
    env: dict[str, str],
    only: list[str] | None = None,
    show: Callable[[str], None] | None = None,
) -> str:
    """Both web benchmarks (or those named in `only`: me, streams) as tables; `show` gets
    each at once."""
    # Each service process holds at most 8 Postgres connections: the server is shared.
    env = {**env, "DB_POOL_SIZE": "8"}
    asyncio.run(seed_accounts(env["DATABASE_URL"], USERS, 1_000_000))
    out: list[str] = []
    with s3_server(env) as s3, spawn("billing_svc", env, "BILLING_GRPC_ADDR") as (billing, child):
        billing_pid = child.pid
        jobs_env = {**env, "BILLING_GRPC_ADDR": billing, **s3_env(s3), "PROVIDER": "local"}
        for name, bench in (
            ("me", lambda: _with_jobs(env, billing, billing_pid, jobs_env)),
            ("streams", lambda: bench_streams(env, billing, s3)),
        ):
            if only and name not in only:
                continue
            load = os.getloadavg()[0]
            started = time.monotonic()
            table = bench()
            table += (
                f"\n  [{name}: {time.monotonic() - started:.0f} s; host load average (1 min) "
                f"{load:.1f} before, {os.getloadavg()[0]:.1f} after, on {os.cpu_count()} cores]"
            )
            if show is not None:
                show(table)
            out.append(table)
    return "\n".join(out)


def _with_jobs(
    env: dict[str, str], billing: str, billing_pid: int, jobs_env: dict[str, str]
) -> str:
    with spawn("job_svc", jobs_env, "JOBS_GRPC_ADDR") as (jobs, child):
        return bench_me(env, billing, jobs, {"billing_svc": billing_pid, "job_svc": child.pid})


def main() -> None:
    uvloop.install()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}")  # fmt: skip
    with engines(Path(".data") / "bench-web") as env:
        run(env, sys.argv[1:] or None, show=lambda table: print(table, flush=True))


if __name__ == "__main__":
    main()
