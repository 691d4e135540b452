"""`make up` on a fresh checkout: embedded engines, every service, a job end to end,
and Ctrl-C stops it all."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import psutil
from mediabot.billing.v1 import billing_pb2 as bpb
from mediabot.billing.v1 import billing_pb2_grpc
from mediabot.jobs.v1 import jobs_pb2 as pb
from mediabot.jobs.v1 import jobs_pb2_grpc

from common.clients import authorized, channel
from devstack.embedded import free_ports
from devstack.telegram.client import UserSide
from tests.support.ids import tg
from tests.support.jobs import request, wait_for_status
from tests.support.settings import ROOT

ENGINES = ("DATABASE_URL", "REDIS_URL", "MINIO_ENDPOINT", "PROVIDER", "GEMINI_API_KEY")


#: The ports make up gives its embedded Redis and S3.
FIXED_PORTS = (6390, 8333)


async def test_make_up_runs_the_whole_system_and_ctrl_c_stops_it(tmp_path):
    for port in FIXED_PORTS:
        with socket.socket() as probe:
            taken = probe.connect_ex(("127.0.0.1", port)) == 0
        assert not taken, f"port {port} is in use: is a make up running on this machine?"
    billing_port, jobs_port, telegram_port = free_ports(3)
    env = {k: v for k, v in os.environ.items() if k not in ENGINES and k != "BOT_TOKEN"}
    env |= {"BILLING_GRPC_ADDR": f"127.0.0.1:{billing_port}",
            "JOBS_GRPC_ADDR": f"127.0.0.1:{jobs_port}", "LOG_LEVEL": "WARNING",
            "LOCAL_TELEGRAM_ADDR": f"127.0.0.1:{telegram_port}"}  # fmt: skip
    up = await asyncio.to_thread(
        subprocess.Popen, [sys.executable, "-m", "devstack", "up"], cwd=tmp_path, env=env,
        stdout=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        summary = await asyncio.wait_for(asyncio.to_thread(_read_until_up, up), 120)
        assert f"grpc://127.0.0.1:{jobs_port}" in summary
        assert "provider local" in summary
        secrets = dict(
            line.split("=", 1)
            for line in (tmp_path / ".data" / "dev-secrets.env").read_text().splitlines()
        )
        token = secrets["SERVICE_TOKEN"]
        to_billing, to_jobs = channel(f"127.0.0.1:{billing_port}"), channel(env["JOBS_GRPC_ADDR"])
        try:
            billing = authorized(billing_pb2_grpc.BillingServiceStub(to_billing), token)
            jobs = authorized(jobs_pb2_grpc.JobServiceStub(to_jobs), token)
            await billing.EnsureUser(bpb.EnsureUserRequest(telegram_id=tg(42)))
            created = (await jobs.CreateJob(request(tg(42), "a lighthouse at dawn"))).job
            done = await wait_for_status(jobs, created, pb.JOB_STATUS_SUCCEEDED, seconds=60)
            assert done.results[0].mime_type == "image/png"
        finally:
            await to_billing.close()
            await to_jobs.close()
        # Without a BOT_TOKEN the bot runs against the local Telegram: a person says /start.
        async with UserSide(f"http://127.0.0.1:{telegram_port}") as people:
            bot = (await people.bot("mediabot_local_bot"))["id"]
            await people.user(tg(43), "Dana", language_code="en")
            await people.send_text(bot, tg(43), "/start")
            greeting = await people.wait_for(
                lambda e: e["kind"] == "message" and e["outgoing"], bot=bot, chat_id=tg(43),
                timeout=30,
            )  # fmt: skip
            assert "Hi, Dana!" in greeting["message"]["text"]
        tour = await asyncio.to_thread(_run_the_readme_tour, tmp_path, billing_port, jobs_port)
        assert tour.returncode == 0, tour.stderr
        assert "JOB_STATUS_SUCCEEDED" in tour.stdout
        assert "lighthouse.png: PNG image data" in tour.stdout
        assert '"reason":"USER_NOT_FOUND"' in tour.stderr
        # Redis, SeaweedFS, the services, the local Telegram, the bot and Postgres (which
        # pg_ctl detaches).
        started = psutil.Process(up.pid).children(recursive=True) + _using(tmp_path)
        assert len(started) >= 8
        os.killpg(up.pid, signal.SIGINT)  # Ctrl-C reaches the whole foreground group
        assert await asyncio.to_thread(up.wait, 60) == 0
        _, alive = psutil.wait_procs(started, timeout=30)
        assert not alive, f"left running: {alive}"
    finally:
        if up.poll() is None:  # a failure above: leave nothing behind for the next run
            leftovers = psutil.Process(up.pid).children(recursive=True) + _using(tmp_path)
            up.kill()
            up.wait()
            for process in leftovers:
                with contextlib.suppress(psutil.Error):
                    process.kill()


def _run_the_readme_tour(
    folder: Path, billing_port: int, jobs_port: int
) -> subprocess.CompletedProcess[str]:
    """The README's grpcurl tour as printed, in a checkout at `folder` (its .venv
    is this one), against the services on this test's ports."""
    readme = (ROOT / "README.md").read_text()
    block = readme.split("<!-- tour -->\n```sh\n", 1)[1].split("```", 1)[0]
    block = block.replace("127.0.0.1:50051", f"127.0.0.1:{billing_port}")
    block = block.replace("127.0.0.1:50052", f"127.0.0.1:{jobs_port}")
    (folder / ".venv").symlink_to(Path(sys.executable).parent.parent)
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", block], cwd=folder, capture_output=True, text=True,
        timeout=120, env={k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")},
    )  # fmt: skip


def _using(folder) -> list[psutil.Process]:
    """Processes whose command line names `folder` (the embedded Postgres)."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        if any(str(folder) in part for part in process.info["cmdline"] or ()):
            found.append(process)
    return found


def _read_until_up(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    seen = []
    for line in process.stdout:
        seen.append(line)
        if line.startswith("Ctrl-C stops everything"):
            return "".join(seen)
    raise AssertionError(f"make up ended early:\n{''.join(seen)}")
