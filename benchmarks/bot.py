"""Benchmarks of the Telegram bot against the local Bot API server.

(a) /start from 2,000 distinct users: updates per second through the gateway
    (EnsureUser, prices, the greeting) next to a bare aiogram echo bot on the same
    server, the ceiling, and their ratio (target ≥ 0.5); and, as the bound, how many
    new accounts a second billing makes alone.
(b) 20 generations a second (local provider, no latency): from pressing ✅ to the
    result photo in the chat, p50 and p99, next to the job's own time in job_svc
    (created → finished); the difference is the bot's share (target p99 ≤ 250 ms).
(c) the gateway's memory with 10,000 users in the middle of a dialog (target
    ≤ 150 MB): dialogs live in Redis, so the process should not grow with them.

Every process is separate, as in production: billing_svc, job_svc, the local
Telegram (no flood limits: the point is the bot's own cost, and Telegram's
30 messages a second would cap both bots alike), the gateway (its pace raised
for the same reason), the echo bot and, for (b), one worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import psutil
from google.protobuf.timestamp_pb2 import Timestamp
from mediabot.billing.v1 import billing_pb2, billing_pb2_grpc
from mediabot.jobs.v1 import jobs_pb2, jobs_pb2_grpc

from benchmarks.harness import SECRETS, process, s3_env, s3_server
from common.clients import authorized, channel
from devstack.embedded import free_port, wait_for_port
from devstack.telegram.client import EventFeed, Json, UserSide

STARTS = 2_000
DIALOGS = 10_000
CONCURRENCY = 64
GATEWAY_TOKEN = "7000000001:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1"
ECHO_TOKEN = "7000000002:AAG7Lp0u2mZc9cV1yXk3Qw8Er5Ty6Ui7Op2"
FIRST_USER = 7_200_000_000
GENERATIONS = 200
GENERATIONS_PER_SECOND = 20


@contextlib.contextmanager
def local_telegram() -> Iterator[str]:
    port = free_port()
    child = subprocess.Popen(
        [sys.executable, "-m", "devstack.telegram", "--port", str(port), "--no-limits",
         "--bot", f"{GATEWAY_TOKEN}=bench_gateway_bot", "--bot", f"{ECHO_TOKEN}=bench_echo_bot"],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_for_port(port, 30, child)  # type: ignore[arg-type]
        yield f"http://127.0.0.1:{port}"
    finally:
        child.terminate()
        child.wait(20)


@contextlib.contextmanager
def bot_process(module: str, env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    child = subprocess.Popen([sys.executable, "-m", module], env={**os.environ, **env})
    try:
        yield child
    finally:
        child.terminate()
        try:
            child.wait(20)
        except subprocess.TimeoutExpired:
            child.kill()


async def _people(side: UserSide, first: int, count: int) -> list[int]:
    ids = list(range(first, first + count))
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(user_id: int) -> None:
        async with gate:
            await side.user(user_id, f"U{user_id}", language_code="en")

    await asyncio.gather(*(one(u) for u in ids))
    return ids


async def _round(
    side: UserSide, bot: str, people: list[int], text: str
) -> tuple[float, list[float]]:
    """Seconds from the first of `people` writing `text` until each got an answer, and
    each one's wait from writing to the answer (same host: one clock)."""
    bot_id = (await side.bot(bot))["id"]
    after = (await side.events(0, bot=bot_id))["last_seq"]
    gate = asyncio.Semaphore(CONCURRENCY)

    written: dict[int, float] = {}
    waits: list[float] = []

    async def write(user_id: int) -> None:
        async with gate:
            written[user_id] = time.time()
            await side.send_text(bot_id, user_id, text)

    started = time.perf_counter()
    sending = asyncio.gather(*(write(u) for u in people))
    answered: set[int] = set()
    while len(answered) < len(people):
        found = await side.events(after, timeout=5, bot=bot_id)
        for event in found["events"]:
            chat = event["chat_id"]
            if event["kind"] == "message" and event.get("outgoing") and chat not in answered:
                answered.add(chat)
                waits.append(event["time"] - written[chat])
        after = found["last_seq"]
        if not found["events"] and time.perf_counter() - started > 60:
            raise TimeoutError(f"only {len(answered)} of {len(people)} answered")
    elapsed = time.perf_counter() - started
    await sending
    return elapsed, waits


def run(env: dict[str, str]) -> str:
    """The three benchmarks in one run; returns the table."""
    with (
        s3_server(env) as s3,
        process("billing_svc", env, "BILLING_GRPC_ADDR") as billing,
        process(
            "job_svc", {**env, **s3_env(s3), "BILLING_GRPC_ADDR": billing}, "JOBS_GRPC_ADDR"
        ) as jobs,
        local_telegram() as telegram,
    ):
        common = {**env, "BILLING_GRPC_ADDR": billing, "JOBS_GRPC_ADDR": jobs,
                  "TELEGRAM_API_URL": telegram, "WEBAPP_SECRET": "bench-webapp-secret-0123456789",
                  "SEND_PER_SECOND": "1000", "SEND_PER_CHAT_PER_SECOND": "100",
                  "THROTTLE_UPDATES": "1000"}  # fmt: skip
        gateway_env = {**common, "BOT_TOKEN": GATEWAY_TOKEN, "BOT_USERNAME": "bench_gateway_bot"}
        echo_env = {**common, "BOT_TOKEN": ECHO_TOKEN}
        worker_env = {**env, **s3_env(s3), "BILLING_GRPC_ADDR": billing,
                      "LOCAL_LATENCY_SECONDS": "0", "WORKER_CONCURRENCY": "64"}  # fmt: skip
        return asyncio.run(_measure(telegram, gateway_env, echo_env, worker_env))


async def _measure(
    telegram: str, gateway_env: dict[str, str], echo_env: dict[str, str], worker_env: dict[str, str]
) -> str:
    async with UserSide(telegram) as side:
        starters = await _people(side, FIRST_USER, STARTS)
        with bot_process("benchmarks.echo_bot", echo_env) as echo_bot:
            await _round(side, "bench_echo_bot", starters[:50], "warm up")
            echo, echo_waits = await _round(side, "bench_echo_bot", starters, "/start")
            rss_echo = psutil.Process(echo_bot.pid).memory_info().rss / 2**20
        accounts = await _accounts_per_second(gateway_env["BILLING_GRPC_ADDR"])
        with bot_process("bot_gateway", gateway_env) as gateway:
            await _round(side, "bench_gateway_bot", starters[:50], "/help")  # warm up
            rss_start = psutil.Process(gateway.pid).memory_info().rss / 2**20
            through, waits = await _round(side, "bench_gateway_bot", starters, "/start")
            rss_idle = psutil.Process(gateway.pid).memory_info().rss / 2**20
            talkers = await _people(side, FIRST_USER + STARTS, DIALOGS)
            await _round(side, "bench_gateway_bot", talkers, "/paysupport")  # a dialog each
            rss = psutil.Process(gateway.pid).memory_info().rss / 2**20
            with process("job_svc.worker", worker_env, None):
                generations = await _generations(side, gateway_env)
    confirm_to_photo, in_job_svc, before_job, after_job = generations
    bots_share = [b + a for b, a in zip(before_job, after_job, strict=True)]
    lines = [
        "\nbot gateway (local Bot API server, no flood limits)",
        f"{'measure':<58}{'figure':>14}",
        f"{'bare aiogram echo bot, 2,000 updates/s (ceiling)':<58}{STARTS / echo:>14,.0f}",
        f"{'gateway /start from 2,000 new users, updates/s':<58}{STARTS / through:>14,.0f}",
        f"{'ratio (target ≥ 0.5)':<58}{echo / through:>14.2f}",
        f"{'  bound: EnsureUser alone, 2,000 new accounts/s (64 at once)':<58}{accounts:>14,.0f}",
        f"{'echo bot: write → answer p50 / p99 ms':<58}{_pcts(echo_waits):>14}",
        f"{'gateway: write → greeting p50 / p99 ms':<58}{_pcts(waits):>14}",
        f"{'20 generations/s: ✅ → result photo p50 / p99 ms':<58}{_pcts(confirm_to_photo):>14}",
        f"{'  the job in job_svc (created → finished) p50 / p99 ms':<58}{_pcts(in_job_svc):>14}",
        f"{'  the gateway’s share p50 / p99 ms (p99 ≤ 250)':<58}{_pcts(bots_share):>14}",
        f"{'    ✅ → job created p50 / p99 ms':<58}{_pcts(before_job):>14}",
        f"{'    job finished → photo in the chat p50 / p99 ms':<58}{_pcts(after_job):>14}",
        f"{'bare aiogram echo bot RSS, MiB (models built at import)':<58}{rss_echo:>14.0f}",
        f"{'gateway RSS when started, MiB':<58}{rss_start:>14.0f}",
        f"{'gateway RSS after the starts, MiB':<58}{rss_idle:>14.0f}",
        f"{'gateway RSS with 10,000 users in a dialog, MiB (≤ 150)':<58}{rss:>14.0f}",
    ]
    return "\n".join(lines)


async def _accounts_per_second(billing_addr: str) -> float:
    """New accounts a second that billing makes alone (EnsureUser straight from here, 64
    at once): every /start of a new user needs one, so the gateway cannot pass it."""
    to_billing = channel(billing_addr)
    billing = authorized(billing_pb2_grpc.BillingServiceStub(to_billing), SECRETS["SERVICE_TOKEN"])
    ids = iter(range(FIRST_USER + 100_000, FIRST_USER + 100_000 + STARTS))

    async def caller() -> None:
        for telegram_id in ids:
            await billing.EnsureUser(
                billing_pb2.EnsureUserRequest(telegram_id=telegram_id, language_code="en")
            )

    try:
        started = time.perf_counter()
        await asyncio.gather(*(caller() for _ in range(CONCURRENCY)))
        return STARTS / (time.perf_counter() - started)
    finally:
        await to_billing.close()


def _pcts(waits: list[float]) -> str:
    ordered = sorted(waits)
    p50, p99 = (ordered[min(len(ordered) - 1, int(q * len(ordered)))] for q in (0.5, 0.99))
    return f"{p50 * 1000:,.0f} / {p99 * 1000:,.0f}"


async def _generations(
    side: UserSide, gateway_env: dict[str, str]
) -> tuple[list[float], list[float], list[float], list[float]]:
    """GENERATIONS people, each at the confirmation of an image, press ✅ at
    GENERATIONS_PER_SECOND: each one's wait for the photo, the job's own time in
    job_svc, and what the gateway adds before it (✅ → CreateJob done) and after it
    (finished → the photo in the chat). One host, one clock."""
    bot_id = (await side.bot("bench_gateway_bot"))["id"]
    people = await _people(side, FIRST_USER + STARTS + DIALOGS, GENERATIONS)
    await _round(side, "bench_gateway_bot", people, "/start")
    to_billing = channel(gateway_env["BILLING_GRPC_ADDR"])
    to_jobs = channel(gateway_env["JOBS_GRPC_ADDR"])
    admin = authorized(billing_pb2_grpc.BillingServiceStub(to_billing), SECRETS["ADMIN_API_TOKEN"],
                       actor="bench")  # fmt: skip
    jobs = authorized(jobs_pb2_grpc.JobServiceStub(to_jobs), SECRETS["SERVICE_TOKEN"])
    try:
        for person in people:  # whatever an image costs
            await admin.GrantCredits(
                billing_pb2.GrantCreditsRequest(
                    telegram_id=person,
                    amount=100,
                    reason="bench",
                    idempotency_key=f"bench:{person}",
                )
            )
        async with EventFeed.running(side, bot_id) as feed:
            gate = asyncio.Semaphore(CONCURRENCY)

            async def prepared(person: int) -> Json:
                async with gate:
                    return await _to_confirmation(side, feed, bot_id, person)

            confirmations = await asyncio.gather(*(prepared(p) for p in people))
            loop = asyncio.get_running_loop()
            start = loop.time() + 0.5

            async def generate(index: int, person: int, confirmation: Json) -> tuple[float, float]:
                await asyncio.sleep(start + index / GENERATIONS_PER_SECOND - loop.time())
                after = feed.last
                pressed = time.time()
                await side.press(bot_id, person, confirmation["message_id"],
                                 _data(confirmation, "✅"))  # fmt: skip
                photo = await feed.wait_for(
                    lambda e: e["kind"] == "message" and e["outgoing"] and "photo" in e["message"],
                    after, person, 120,
                )  # fmt: skip
                return pressed, float(photo["time"])

            ready = enumerate(zip(people, confirmations, strict=True))
            timings = await asyncio.gather(*(generate(i, p, c) for i, (p, c) in ready))
        jobs_found = [
            (await jobs.ListJobs(jobs_pb2.ListJobsRequest(telegram_id=person))).jobs[0]
            for person in people
        ]
    finally:
        await to_billing.close()
        await to_jobs.close()
    waits: list[float] = []
    in_job_svc: list[float] = []
    before_job: list[float] = []
    after_job: list[float] = []
    for (pressed, shown), job in zip(timings, jobs_found, strict=True):
        created, finished = _seconds(job.created_at), _seconds(job.finished_at)
        waits.append(shown - pressed)
        in_job_svc.append(finished - created)
        before_job.append(created - pressed)
        after_job.append(shown - finished)
    return waits, in_job_svc, before_job, after_job


async def _to_confirmation(side: UserSide, feed: EventFeed, bot_id: int, person: int) -> Json:
    """`person` goes through an image dialog (Standard, 1:1, a prompt) to its confirmation."""

    async def then(act: Any, label: str) -> Json:
        after = feed.last
        await act
        event = await feed.wait_for(
            lambda e: e["kind"] in ("message", "edit") and e["outgoing"]
            and any(label in b["text"] for b in _buttons(e["message"])),
            after, person, 60,
        )  # fmt: skip
        return dict(event["message"])

    question = await then(side.send_text(bot_id, person, "/image"), "Standard")
    question = await then(
        side.press(bot_id, person, question["message_id"], _data(question, "Standard")), "1:1"
    )
    question = await then(
        side.press(bot_id, person, question["message_id"], _data(question, "1:1")), "✖"
    )
    return await then(side.send_text(bot_id, person, f"a fox number {person}"), "✅")


def _buttons(message: Json) -> list[Json]:
    markup = message.get("reply_markup") or {}
    return [b for row in markup.get("inline_keyboard", []) for b in row]


def _data(message: Json, label: str) -> str:
    """The callback data of the button labelled `label`."""
    return next(str(b["callback_data"]) for b in _buttons(message) if label in b["text"])


def _seconds(stamp: Timestamp) -> float:
    return stamp.seconds + stamp.nanos / 1e9
