"""job_svc as a real process: the garbage collector it serves with."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

from devstack.embedded import free_port
from job_svc.__main__ import YOUNG_COLLECTION_EVERY


def test_job_svc_freezes_its_start_up_heap_and_spaces_young_collections(job_env, tmp_path):
    port = free_port()
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    env = {**keep, **job_env, "JOBS_GRPC_ADDR": f"127.0.0.1:{port}", "LOG_LEVEL": "INFO"}
    process = subprocess.Popen(
        [sys.executable, "-m", "job_svc"], env=env, cwd=tmp_path,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert process.stderr is not None
    logs, lines = [], []
    try:
        for line in process.stderr:  # until it serves (and so handles SIGTERM)
            lines.append(line)
            if line.startswith("{"):
                logs.append(json.loads(line))
                if logs[-1]["event"] == "serving":
                    break
        process.send_signal(signal.SIGTERM)
        _, rest = process.communicate(timeout=30)
        lines += rest.splitlines()
        logs += [json.loads(line) for line in rest.splitlines() if line.startswith("{")]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, lines
    settled = [e for e in logs if e["event"] == "garbage collector set"]
    assert len(settled) == 1, logs
    assert settled[0]["thresholds"][0] == YOUNG_COLLECTION_EVERY
    assert settled[0]["frozen"] > 10_000  # modules, the server, the pools
