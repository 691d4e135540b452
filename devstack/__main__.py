"""`python -m devstack up|migrate`: the whole system on one machine.

`up` uses DATABASE_URL / REDIS_URL / MINIO_ENDPOINT when they are set and
otherwise starts embedded Postgres, Redis and S3 with data under `.data/`;
then it migrates, starts every service and stops them all on Ctrl-C. With no
BOT_TOKEN it also starts the local Telegram (Bot API server and web chat) and
points the bot at it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import asyncpg
from dotenv import dotenv_values
from pydantic_settings import BaseSettings

from common.server.db import asyncpg_dsn, redacted
from common.server.migrate import upgrade
from common.settings import CommonSettings
from devstack.embedded import Embedded, wait_for_port
from devstack.services import MIGRATIONS, PROCESSES

DATA = Path(".data")
SECRETS = DATA / "dev-secrets.env"
GENERATED = ("SERVICE_TOKEN", "ADMIN_API_TOKEN", "INVOICE_SECRET", "WEBAPP_SECRET",
             "MINIO_ACCESS_KEY", "MINIO_SECRET_KEY")  # fmt: skip
LOCAL_BOT_USERNAME = "mediabot_local_bot"
#: The admin of a local machine when ADMIN_IDS is unset: the README tour's user.
LOCAL_ADMIN_ID = "7123456789"


def _default(settings: type[BaseSettings], name: str) -> Any:
    """The default the processes themselves use for the setting `name`."""
    return settings.model_fields[name].default


class Configured(BaseSettings):
    """The settings devstack needs to decide what to start: an engine whose
    address is unset is started embedded; addresses default as the services'."""

    model_config = CommonSettings.model_config
    DATABASE_URL: str = ""
    REDIS_URL: str = ""
    BILLING_GRPC_ADDR: str = _default(CommonSettings, "BILLING_GRPC_ADDR")
    JOBS_GRPC_ADDR: str = _default(CommonSettings, "JOBS_GRPC_ADDR")
    MINIO_ENDPOINT: str = ""
    PROVIDER: str = ""
    GEMINI_API_KEY: str = ""
    BOT_TOKEN: str = ""
    LOCAL_TELEGRAM_ADDR: str = "127.0.0.1:8081"
    WEBAPP_ADDR: str = "127.0.0.1:8080"
    WEBAPP_BASE_URL: str = ""
    WEBAPP_DEV_AUTH: str = ""
    ADMIN_IDS: str = ""
    TELEGRAM_WEBAPP_JS_URL: str = ""


def dev_secrets() -> dict[str, str]:
    """Random development secrets, made once and kept in .data/dev-secrets.env."""
    DATA.mkdir(exist_ok=True)
    known: dict[str, str] = {}
    if SECRETS.exists():
        for line in SECRETS.read_text().splitlines():
            name, _, value = line.partition("=")
            known[name] = value
    for name in GENERATED:
        known.setdefault(name, secrets.token_urlsafe(24))
    # A token of the right shape for the local Telegram (any such token works there).
    bot_id = 7_000_000_000 + secrets.randbelow(1_000_000_000)
    known.setdefault("LOCAL_BOT_TOKEN", f"{bot_id}:AA{secrets.token_urlsafe(33)[:33]}")
    SECRETS.write_text("".join(f"{k}={v}\n" for k, v in known.items()))
    SECRETS.chmod(0o600)
    return known


async def ensure_database(server_url: str, name: str) -> str:
    """Create database `name` on the embedded server if missing; return its URL."""
    conn = await asyncpg.connect(asyncpg_dsn(server_url))
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    base, _, query = server_url.partition("?")
    return base.rsplit("/", 1)[0] + f"/{name}" + (f"?{query}" if query else "")


def up() -> int:
    configured = Configured()
    env = dict(os.environ)
    in_dotenv = dotenv_values(".env") if Path(".env").exists() else {}
    for name, value in dev_secrets().items():
        if name not in in_dotenv:
            env.setdefault(name, value)
    with Embedded(DATA) as engines:
        if not configured.DATABASE_URL:
            print("starting embedded Postgres …", flush=True)
            env["DATABASE_URL"] = asyncio.run(ensure_database(engines.postgres(), "mediabot"))
        if not configured.REDIS_URL:
            env["REDIS_URL"] = engines.redis(port=6390)
        if not configured.MINIO_ENDPOINT:
            print("starting embedded S3 (SeaweedFS) …", flush=True)
            env["MINIO_ENDPOINT"] = engines.s3(
                env["MINIO_ACCESS_KEY"], env["MINIO_SECRET_KEY"], port=8333
            )
        if not configured.PROVIDER:
            env["PROVIDER"] = "gemini" if configured.GEMINI_API_KEY else "local"
        local_web(env, configured)
        upgrade(env.get("DATABASE_URL") or configured.DATABASE_URL, MIGRATIONS)
        children: list[tuple[str, subprocess.Popen[bytes]]] = []
        try:
            telegram = local_telegram(env, configured)
            if telegram is not None:
                children.append(("telegram", telegram))
            for name, module, address in PROCESSES:
                child = subprocess.Popen([sys.executable, "-m", module], env=env)
                children.append((name, child))
                if address:
                    port = int(getattr(configured, address).rsplit(":", 1)[1])
                    wait_for_port(port, 30, child)
            if telegram is not None:
                cabinet_in_menu(env)
            print_summary(env, configured)
            return supervise(children)
        finally:
            for _, child in children:
                if child.poll() is None:
                    child.send_signal(signal.SIGTERM)
            for _, child in children:
                try:
                    child.wait(15)
                except subprocess.TimeoutExpired:
                    child.kill()


def local_telegram(env: dict[str, str], configured: Configured) -> subprocess.Popen[bytes] | None:
    """With no BOT_TOKEN, the local Bot API server and web chat (the one the tests use), and
    BOT_TOKEN / TELEGRAM_API_URL in `env` so that the bot talks to it; None otherwise."""
    if configured.BOT_TOKEN:
        return None
    token = env["LOCAL_BOT_TOKEN"]
    host, _, port = configured.LOCAL_TELEGRAM_ADDR.rpartition(":")
    env |= {
        "BOT_TOKEN": token,
        "BOT_USERNAME": LOCAL_BOT_USERNAME,
        "TELEGRAM_API_URL": f"http://{configured.LOCAL_TELEGRAM_ADDR}",
    }
    command = [sys.executable, "-m", "devstack.telegram", "--host", host, "--port", port,
               "--bot", f"{token}={LOCAL_BOT_USERNAME}"]  # fmt: skip
    child = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
    wait_for_port(int(port), 30, child)
    return child


def local_web(env: dict[str, str], configured: Configured) -> None:
    """The web app of a local machine: its own address as base URL, the dev login on (this
    machine only, never in production), an admin, and with the local Telegram its stand-in
    of telegram-web-app.js (telegram.org may be out of reach)."""
    env["WEBAPP_BASE_URL"] = configured.WEBAPP_BASE_URL or f"http://{configured.WEBAPP_ADDR}"
    if not configured.WEBAPP_DEV_AUTH:
        env["WEBAPP_DEV_AUTH"] = "1"
    if not configured.ADMIN_IDS:
        env["ADMIN_IDS"] = LOCAL_ADMIN_ID
    if not configured.BOT_TOKEN and not configured.TELEGRAM_WEBAPP_JS_URL:
        stand_in = f"http://{configured.LOCAL_TELEGRAM_ADDR}/static/telegram-web-app.js"
        env["TELEGRAM_WEBAPP_JS_URL"] = stand_in


def cabinet_in_menu(env: dict[str, str]) -> None:
    """The local bot's menu button opens the cabinet, so the web chat opens it as Telegram
    would (the bot may set its own later)."""
    url = f"{env['TELEGRAM_API_URL']}/bot{env['BOT_TOKEN']}/setChatMenuButton"
    button = {"type": "web_app", "text": "Cabinet",
              "web_app": {"url": env["WEBAPP_BASE_URL"] + "/cabinet"}}  # fmt: skip
    body = json.dumps({"menu_button": button}).encode()
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            answer.read()
    except OSError as exc:
        print(f"the cabinet is not in the web chat's menu: {exc}", file=sys.stderr)


def print_summary(env: dict[str, str], configured: Configured) -> None:
    if configured.BOT_TOKEN:
        api = env.get("TELEGRAM_API_URL") or "https://api.telegram.org"
        telegram = f"  Telegram     BOT_TOKEN set: the bot talks to {api}\n"
    else:
        telegram = (
            f"  web chat     http://{configured.LOCAL_TELEGRAM_ADDR}/  (talk to the bot here;\n"
            f"               a local Bot API server at that address, no BOT_TOKEN needed)\n"
        )
    has_bot = any(name == "bot" for name, _, _ in PROCESSES)
    bot = "" if has_bot else "  bot          not in this build yet\n"
    base = env.get("WEBAPP_BASE_URL", "")
    web = f"  cabinet      {base}/cabinet  (from the web chat's menu button)\n"
    if env.get("WEBAPP_DEV_AUTH") == "1":
        admins = env.get("ADMIN_IDS") or configured.ADMIN_IDS
        web += (
            f"               or log in as anyone: {base}/auth/dev/<telegram id>\n"
            f"  admin page   {base}/auth/dev/{admins.split(',')[0]}?next=/admin"
            f"  (ADMIN_IDS={admins})\n"
        )
    print(
        "\nmediabot is up:\n"
        f"  billing_svc  grpc://{configured.BILLING_GRPC_ADDR}\n"
        f"  job_svc      grpc://{configured.JOBS_GRPC_ADDR} (one worker, "
        f"provider {env.get('PROVIDER')})\n"
        f"  S3           http://{env.get('MINIO_ENDPOINT')}\n"
        f"  Postgres     {redacted(env.get('DATABASE_URL') or configured.DATABASE_URL)}\n"
        f"  Redis        {env.get('REDIS_URL') or configured.REDIS_URL}\n"
        f"  secrets      {SECRETS} (SERVICE_TOKEN, ADMIN_API_TOKEN for grpcurl)\n"
        f"{telegram}{web}{bot}"
        "Ctrl-C stops everything.\n",
        flush=True,
    )


def supervise(children: list[tuple[str, subprocess.Popen[bytes]]]) -> int:
    """Wait for Ctrl-C (or SIGTERM), or for a child to die, which stops the rest."""
    stop = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    while not stop:
        for name, child in children:
            if child.poll() is not None:
                print(f"{name} exited with {child.returncode}; stopping", file=sys.stderr)
                return child.returncode or 1
        time.sleep(0.2)
    return 0


def migrate() -> int:
    url = Configured().DATABASE_URL
    if not url:
        print("config error: DATABASE_URL: required for make migrate", file=sys.stderr)
        return 2
    upgrade(url, MIGRATIONS)
    print("migrated", url.rpartition("@")[2])
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(prog="devstack", description=__doc__)
    parser.add_argument("command", choices=["up", "migrate"])
    return up() if parser.parse_args().command == "up" else migrate()


if __name__ == "__main__":
    raise SystemExit(main())
