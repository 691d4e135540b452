"""billing_svc as a real process: config errors, reflection and grpcurl, SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from devstack.embedded import free_port, wait_for_port
from tests.support.ids import tg
from tests.support.settings import SERVICE_TOKEN

GRPCURL = str(Path(sys.executable).parent / "grpcurl")


def clean_env(**values: str) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    return {**keep, **values}


def test_a_missing_secret_stops_the_process_with_one_line_naming_it(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "billing_svc"], env=clean_env(SERVICE_TOKEN="short"),
        capture_output=True, text=True, timeout=30, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert (
        "config error: SERVICE_TOKEN: must be at least 16 characters (use a random secret)" in lines
    )
    assert any(line.startswith("config error: ADMIN_API_TOKEN:") for line in lines)
    assert "Traceback" not in result.stderr


SECRETS = {"SERVICE_TOKEN": "s" * 20, "ADMIN_API_TOKEN": "a" * 20, "INVOICE_SECRET": "i" * 20}


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"DATABASE_URL": "postgresql://mediabot:hunter2-secret@127.0.0.1:1/mediabot"},
         "startup error: DATABASE_URL: cannot connect to postgresql://mediabot:***@127.0.0.1:1"),
        ({"BILLING_GRPC_ADDR": "no-such-host.invalid:50051"},
         "config error: BILLING_GRPC_ADDR: cannot listen on 'no-such-host.invalid:50051'"),
    ],
)  # fmt: skip
def test_an_unusable_database_or_address_stops_the_process_with_one_line(
    base_env, tmp_path, settings, expected
):
    env = clean_env(**{**SECRETS, "DATABASE_URL": base_env["DATABASE_URL"], **settings})
    result = subprocess.run(
        [sys.executable, "-m", "billing_svc"], env=env,
        capture_output=True, text=True, timeout=30, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 1
    assert expected in result.stderr
    assert "Traceback" not in result.stderr
    assert "hunter2" not in result.stderr


@pytest.fixture
def billing_process(base_env, tmp_path):
    port = free_port()
    env = clean_env(**base_env, BILLING_GRPC_ADDR=f"127.0.0.1:{port}")
    process = subprocess.Popen(
        [sys.executable, "-m", "billing_svc"], env=env, cwd=tmp_path,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    wait_for_port(port, 30, process)  # type: ignore[arg-type]
    yield f"127.0.0.1:{port}", process
    if process.poll() is None:
        process.kill()
        process.wait()


def grpcurl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([GRPCURL, "-plaintext", *args], capture_output=True, text=True,
                          timeout=30)  # fmt: skip


async def test_grpcurl_lists_the_services_and_calls_with_the_credential(billing_process, billing):
    from mediabot.billing.v1 import billing_pb2 as pb

    address, process = billing_process
    listed = grpcurl(address, "list")
    assert listed.returncode == 0, listed.stderr
    assert {"mediabot.billing.v1.BillingService", "grpc.health.v1.Health"} <= set(
        listed.stdout.split()
    )
    health = grpcurl(address, "grpc.health.v1.Health/Check")
    assert json.loads(health.stdout)["status"] == "SERVING"

    await billing.EnsureUser(pb.EnsureUserRequest(telegram_id=tg(77)))
    call = [
        "-d",
        f'{{"telegram_id": {tg(77)}}}',
        address,
        "mediabot.billing.v1.BillingService/GetBalance",
    ]
    answer = grpcurl("-H", f"authorization: Bearer {SERVICE_TOKEN}", *call)
    assert answer.returncode == 0, answer.stderr
    assert json.loads(answer.stdout) == {"balance": "10", "tier": "TIER_FREE"}
    refused = grpcurl(*call)
    assert refused.returncode != 0 and "Unauthenticated" in refused.stderr

    process.send_signal(signal.SIGTERM)
    assert process.wait(30) == 0
    logs = [json.loads(line) for line in process.stderr.read().splitlines() if line]
    assert [e["event"] for e in logs] == ["serving", "stopping"]
    assert SERVICE_TOKEN not in json.dumps(logs)
