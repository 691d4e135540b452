"""A test run leaves nothing behind: the embedded engines' data goes with them."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.support.settings import ROOT

PROBE = """
import os, pathlib

async def test_the_embedded_s3_keeps_its_data_under_dot_data(s3_endpoint):
    data = pathlib.Path(os.environ["PROBE_ROOT"]) / ".data" / f"test-{os.getpid()}"
    assert (data / "s3").is_dir()
"""


def test_a_run_with_embedded_s3_removes_its_data_folder(tmp_path):
    probe = tmp_path / "test_probe.py"
    probe.write_text(PROBE)
    env = {k: v for k, v in os.environ.items() if k != "MINIO_ENDPOINT"}  # S3 embedded
    run = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-q", "-c", "pyproject.toml", "-p", "no:cacheprovider",
         "-p", "tests.fixtures.engines", "-p", "tests.fixtures.services", str(probe)],
        cwd=ROOT, env={**env, "PROBE_ROOT": str(ROOT)}, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    output, _ = run.communicate(timeout=180)
    assert run.returncode == 0 and "1 passed" in output, output
    left = ROOT / ".data" / f"test-{run.pid}"
    assert not left.exists(), f"{left} left behind"
