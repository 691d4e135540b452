"""The suite's fixtures, as plugins: engines (Postgres, Redis, S3, the money
invariants checked after every test), services (billing_svc, job_svc, workers) and
a headless Chromium.
Helpers that tests import live in tests/support."""

from __future__ import annotations

import asyncio
import io
import sys
from collections.abc import AsyncIterator
from typing import Any

import pytest

pytest_plugins = ["tests.fixtures.engines", "tests.fixtures.services", "tests.fixtures.browser"]


@pytest.fixture(autouse=True)
async def report_stuck_tasks(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """Shortly before pytest-timeout stops a test, print what every asyncio task is
    awaiting: its own report shows only threads, and the loop they share is idle."""
    marker = request.node.get_closest_marker("timeout")
    limit = float(marker.args[0] if marker else request.config.getini("timeout") or 0)
    if not limit:
        yield
        return

    def report() -> None:
        out = io.StringIO()
        for task in asyncio.all_tasks():
            print(f"--- {task.get_name()}", file=out)
            awaiting: Any = task.get_coro()
            while awaiting is not None:  # the chain of awaits, outermost first
                frame = getattr(awaiting, "cr_frame", None) or getattr(awaiting, "ag_frame", None)
                if frame is not None:
                    print(f"    {frame.f_code.co_filename}:{frame.f_lineno}", file=out)
                awaiting = getattr(awaiting, "cr_await", None) or getattr(
                    awaiting, "ag_await", None
                )
        sys.stderr.write(f"\n+++ asyncio tasks of {request.node.nodeid}\n{out.getvalue()}")

    reporting = asyncio.get_running_loop().call_later(max(limit - 10, limit * 0.9), report)
    yield
    reporting.cancel()
