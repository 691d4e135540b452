"""Benchmarks of the Telegram bot against the local Bot API server.

(a) /start from 2,000 distinct users: updates per second through the gateway
    (EnsureUser, prices, the greeting) next to a bare aiogram echo bot on the same
    server, the ceiling, and their ratio (target ≥ 0.5).
(c) the gateway's memory with 10,000 users in the middle of a dialog (target
    ≤ 150 MB): dialogs live in Redis, so the process should not grow with them.

Every process is separate, as in production: billing_svc, job_svc, the local
Telegram (no flood limits: the point is the bot's own cost, and Telegram's
30 messages a second would cap both bots alike), the gateway (its pace raised
for the same reason) and the echo bot.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator

import psutil

from benchmarks.harness import process, s3_env, s3_server
from devstack.embedded import free_port, wait_for_port
from devstack.telegram.client import UserSide

STARTS = 2_000
DIALOGS = 10_000
CONCURRENCY = 64
GATEWAY_TOKEN = "7000000001:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1"
ECHO_TOKEN = "7000000002:AAG7Lp0u2mZc9cV1yXk3Qw8Er5Ty6Ui7Op2"
FIRST_USER = 7_200_000_000


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


async def _round(side: UserSide, bot: str, people: list[int], text: str) -> float:
    """Seconds from the first of `people` writing `text` until each got an answer."""
    bot_id = (await side.bot(bot))["id"]
    after = (await side.events(0, bot=bot_id))["last_seq"]
    gate = asyncio.Semaphore(CONCURRENCY)

    async def write(user_id: int) -> None:
        async with gate:
            await side.send_text(bot_id, user_id, text)

    started = time.perf_counter()
    sending = asyncio.gather(*(write(u) for u in people))
    answered: set[int] = set()
    while len(answered) < len(people):
        found = await side.events(after, timeout=5, bot=bot_id)
        for event in found["events"]:
            if event["kind"] == "message" and event.get("outgoing"):
                answered.add(event["chat_id"])
        after = found["last_seq"]
        if not found["events"] and time.perf_counter() - started > 60:
            raise TimeoutError(f"only {len(answered)} of {len(people)} answered")
    elapsed = time.perf_counter() - started
    await sending
    return elapsed


def run(env: dict[str, str]) -> str:
    """Both benchmarks in one run; returns the table."""
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
        return asyncio.run(_measure(telegram, gateway_env, echo_env))


async def _measure(telegram: str, gateway_env: dict[str, str], echo_env: dict[str, str]) -> str:
    async with UserSide(telegram) as side:
        starters = await _people(side, FIRST_USER, STARTS)
        with bot_process("benchmarks.echo_bot", echo_env) as echo_bot:
            await _round(side, "bench_echo_bot", starters[:50], "warm up")
            echo = await _round(side, "bench_echo_bot", starters, "/start")
            rss_echo = psutil.Process(echo_bot.pid).memory_info().rss / 2**20
        with bot_process("bot_gateway", gateway_env) as gateway:
            await _round(side, "bench_gateway_bot", starters[:50], "/help")  # warm up
            rss_start = psutil.Process(gateway.pid).memory_info().rss / 2**20
            through = await _round(side, "bench_gateway_bot", starters, "/start")
            rss_idle = psutil.Process(gateway.pid).memory_info().rss / 2**20
            talkers = await _people(side, FIRST_USER + STARTS, DIALOGS)
            await _round(side, "bench_gateway_bot", talkers, "/paysupport")  # a dialog each
            rss = psutil.Process(gateway.pid).memory_info().rss / 2**20
    lines = [
        "\nbot gateway (local Bot API server, no flood limits)",
        f"{'measure':<58}{'figure':>14}",
        f"{'bare aiogram echo bot, 2,000 updates/s (ceiling)':<58}{STARTS / echo:>14,.0f}",
        f"{'gateway /start from 2,000 new users, updates/s':<58}{STARTS / through:>14,.0f}",
        f"{'ratio (target ≥ 0.5)':<58}{echo / through:>14.2f}",
        f"{'bare aiogram echo bot RSS, MiB (the floor: aiogram alone)':<58}{rss_echo:>14.0f}",
        f"{'gateway RSS when started, MiB':<58}{rss_start:>14.0f}",
        f"{'gateway RSS after the starts, MiB':<58}{rss_idle:>14.0f}",
        f"{'gateway RSS with 10,000 users in a dialog, MiB (≤ 150)':<58}{rss:>14.0f}",
    ]
    return "\n".join(lines)
