"""Stopping background tasks within a bound."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

#: How often a task that is still running is cancelled again.
_RECANCEL_SECONDS = 0.1


async def cancel_and_wait(tasks: Iterable[asyncio.Task[Any]], timeout: float) -> None:
    """Cancel `tasks` and wait, at most `timeout` seconds, for them to end.

    On Python 3.11 a cancellation can be lost: `asyncio.wait_for` (redis-py waits for
    its writes with it) swallows one that arrives as the awaited write completes, and
    the task carries on as if nothing happened. So a task still running is cancelled
    again every tenth of a second until it ends or the time is up.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    pending = {task for task in tasks if not task.done()}
    while pending and (left := deadline - loop.time()) > 0:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=min(_RECANCEL_SECONDS, left))
