"""Fixtures of the web app's tests: the app as `python -m webapp` runs it (uvicorn on a real
socket) against the real billing_svc and job_svc on port 0 and a local Telegram, and
clients that log in the ways people do."""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn

from devstack.telegram import Limits, LocalTelegram, Options
from devstack.telegram.initdata import sign_init_data
from tests.support.ids import tg
from tests.support.settings import make_settings
from webapp.app import create_app
from webapp.settings import WebSettings

BOT_TOKEN = "7055512345:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw9"
OTHER_BOT_TOKEN = "7066612345:AAG7Lp0u2mZc9cV1yXk3Qw8Er5Ty6Ui7Op8"
BOT_USERNAME = "mediabot_test_bot"
WEBAPP_SECRET = "test-webapp-secret-0123456789"
ADMIN = tg(900)
ALICE = tg(901)
BOB = tg(902)


@dataclass
class RunningWeb:
    """The web app listening on `url`, with its settings."""

    url: str
    settings: WebSettings
    telegram: LocalTelegram


@pytest.fixture(scope="session")
async def local_telegram() -> AsyncIterator[LocalTelegram]:
    telegram = await LocalTelegram(Options(limits=Limits(enabled=False))).start()
    telegram.add_bot(BOT_TOKEN, BOT_USERNAME, "mediabot")
    yield telegram
    await telegram.stop()


def web_env(base_env: dict[str, str], jobs_addr: str, billing_addr: str) -> dict[str, str]:
    return {
        **base_env,
        "BILLING_GRPC_ADDR": billing_addr,
        "JOBS_GRPC_ADDR": jobs_addr,
        "BOT_TOKEN": BOT_TOKEN,
        "BOT_USERNAME": BOT_USERNAME,
        "WEBAPP_SECRET": WEBAPP_SECRET,
        "ADMIN_IDS": str(ADMIN),
        "LOGIN_ATTEMPTS_PER_MINUTE": "1000",
    }


@contextlib.asynccontextmanager
async def serve(settings_for: Callable[[str], WebSettings]) -> AsyncIterator[RunningWeb]:
    """The app on a socket of its own, in this event loop, as `python -m webapp` serves it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    settings = settings_for(url)
    config = uvicorn.Config(
        create_app(settings),
        lifespan="on",
        access_log=False,
        log_config=None,
        http="httptools",
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        assert not task.done(), task.exception() if task.done() else ""
        await asyncio.sleep(0.01)
    try:
        yield RunningWeb(url, settings, None)  # type: ignore[arg-type]
    finally:
        server.should_exit = True
        await task
        sock.close()


def settings_maker(env: dict[str, str], **overrides: Any) -> Callable[[str], WebSettings]:
    def settings_for(url: str) -> WebSettings:
        return make_settings(WebSettings, env, WEBAPP_BASE_URL=url, **overrides)

    return settings_for


@pytest.fixture(scope="session")
async def web(
    base_env: dict[str, str], billing_addr: str, jobs_service: Any, local_telegram: LocalTelegram
) -> AsyncIterator[RunningWeb]:
    """The web app most tests share."""
    env = web_env(base_env, f"127.0.0.1:{jobs_service.port}", billing_addr)
    async with serve(settings_maker(env, TELEGRAM_API_URL=local_telegram.url)) as running:
        running.telegram = local_telegram
        yield running


@pytest.fixture
async def start_web(
    base_env: dict[str, str], billing_addr: str, jobs_service: Any, local_telegram: LocalTelegram
) -> AsyncIterator[Callable[..., Awaitable[RunningWeb]]]:
    """Starts web apps with setting overrides; stops them after the test."""
    env = web_env(base_env, f"127.0.0.1:{jobs_service.port}", billing_addr)
    async with contextlib.AsyncExitStack() as stack:

        async def start(**overrides: Any) -> RunningWeb:
            maker = settings_maker(env, TELEGRAM_API_URL=local_telegram.url, **overrides)
            running = await stack.enter_async_context(serve(maker))
            running.telegram = local_telegram
            return running

        yield start


@pytest.fixture
async def client(web: RunningWeb) -> AsyncIterator[httpx.AsyncClient]:
    """A browser-like client: keeps cookies, follows nothing by itself."""
    async with httpx.AsyncClient(base_url=web.url, timeout=30) as opened:
        yield opened


def init_data(
    telegram_id: int,
    token: str = BOT_TOKEN,
    auth_date: int | None = None,
    start_param: str = "",
    **user: Any,
) -> str:
    """initData as Telegram hands it to the Mini App of the bot with `token`."""
    who = {"id": telegram_id, "first_name": "Ann", "language_code": "en", **user}
    return sign_init_data(
        token,
        who,
        auth_date=auth_date,
        chat_type="private",
        chat_instance="-1234567890",
        start_param=start_param,
    )


async def login(client: httpx.AsyncClient, telegram_id: int, **user: Any) -> str:
    """Log in as Telegram's Mini App does; the session's CSRF token (also set as a header)."""
    answer = await client.post("/auth/telegram", data={"init_data": init_data(telegram_id, **user)})
    assert answer.status_code == 200, answer.text
    token = str(answer.json()["csrf_token"])
    client.headers["x-csrf-token"] = token
    return token


def page_csrf(html: str) -> str:
    found = re.search(r'<meta name="csrf-token" content="([^"]*)"', html)
    assert found, "the page carries its CSRF token"
    return found.group(1)


async def eventually(check: Callable[[], Any], timeout: float = 10) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        assert time.monotonic() < deadline, "it never happened"
        await asyncio.sleep(0.05)
