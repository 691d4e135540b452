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

import psutil
from mediabot.billing.v1 import billing_pb2 as bpb
from mediabot.billing.v1 import billing_pb2_grpc
from mediabot.jobs.v1 import jobs_pb2 as pb
from mediabot.jobs.v1 import jobs_pb2_grpc

from common.clients import authorized, channel
from devstack.embedded import free_ports
from tests.support.jobs import request, wait_for_status

ENGINES = ("DATABASE_URL", "REDIS_URL", "MINIO_ENDPOINT", "PROVIDER", "GEMINI_API_KEY")


#: The ports make up gives its embedded Redis and S3.
FIXED_PORTS = (6390, 8333)


async def test_make_up_runs_the_whole_system_and_ctrl_c_stops_it(tmp_path):
    for port in FIXED_PORTS:
        with socket.socket() as probe:
            taken = probe.connect_ex(("127.0.0.1", port)) == 0
        assert not taken, f"port {port} is in use: is a make up running on this machine?"
    billing_port, jobs_port = free_ports(2)
    env = {k: v for k, v in os.environ.items() if k not in ENGINES}
    env |= {"BILLING_GRPC_ADDR": f"127.0.0.1:{billing_port}",
            "JOBS_GRPC_ADDR": f"127.0.0.1:{jobs_port}", "LOG_LEVEL": "WARNING"}  # fmt: skip
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
            await billing.EnsureUser(bpb.EnsureUserRequest(telegram_id=42))
            created = (await jobs.CreateJob(request(42, "a lighthouse at dawn"))).job
            done = await wait_for_status(jobs, created, pb.JOB_STATUS_SUCCEEDED, seconds=60)
            assert done.results[0].mime_type == "image/png"
        finally:
            await to_billing.close()
            await to_jobs.close()
        # Redis, SeaweedFS, the three services and Postgres (which pg_ctl detaches).
        started = psutil.Process(up.pid).children(recursive=True) + _using(tmp_path)
        assert len(started) >= 6
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
