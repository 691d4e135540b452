"""What keeps job_svc's heap cheap to collect with many WatchJob streams open:
an event fanned out to them leaves no object per message and no garbage for
the cycle collector, and a stream that ends is freed by reference counting,
its listener gone from the hub.

job_svc makes young garbage collections rare (job_svc/__main__.py): memory
stays bounded because what every event and every stream makes is freed
without them.
"""

from __future__ import annotations

import asyncio
import gc
import inspect
from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from typing import Any

from mediabot.jobs.v1 import jobs_pb2 as pb

from job_svc.events import Listener, publish_message
from job_svc.watch import Watching
from tests.support.ids import tg
from tests.support.jobs import request, user_with

WATCHERS = 20
EVENTS = 100


@contextmanager
def collector_off() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


class Watchers:
    """WATCHERS streams on one job, counting the messages after the first."""

    def __init__(self, jobs: Any, job: pb.Job) -> None:
        self.received = 0
        self._wanted = 0
        self._got_wanted = asyncio.Event()
        self._ready = 0
        self._all_ready = asyncio.Event()
        self._tasks = [asyncio.create_task(self._watch(jobs, job)) for _ in range(WATCHERS)]

    async def _watch(self, jobs: Any, job: pb.Job) -> None:
        first = True
        watch = pb.WatchJobRequest(job_id=job.id, telegram_id=job.telegram_id)
        async for _ in jobs.WatchJob(watch):
            if first:
                first = False
                self._ready += 1
                if self._ready == WATCHERS:
                    self._all_ready.set()
            else:
                self.received += 1
                if self.received == self._wanted:
                    self._got_wanted.set()

    async def ready(self) -> None:
        await asyncio.wait_for(self._all_ready.wait(), 30)

    def expect(self, messages: int) -> Awaitable[None]:
        """What to await for `messages` more, over every stream, from now on."""
        self._wanted = self.received + messages
        self._got_wanted.clear()
        return asyncio.wait_for(self._got_wanted.wait(), 30)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


async def publish_running(redis: Any, job: pb.Job, versions: range) -> None:
    """Events like a worker's, as the fan-out benchmark sends them."""
    for version in versions:
        event = pb.Job()
        event.CopyFrom(job)
        event.status = pb.JOB_STATUS_RUNNING
        event.version = version
        await publish_message(redis, event)
        await asyncio.sleep(0.002)


def alive(kind: type) -> int:
    return sum(1 for o in gc.get_objects() if type(o) is kind)


def streams_alive() -> int:
    """WatchJob streams whose generator still exists in this process."""
    follow = Watching.follow.__code__
    return sum(1 for o in gc.get_objects() if inspect.isasyncgen(o) and o.ag_code is follow)


async def test_events_fanned_out_to_watchers_are_freed_without_the_cycle_collector(
    jobs, billing, billing_admin, redis
):
    await user_with(billing, billing_admin, tg(521), 10)
    job = (await jobs.CreateJob(request(tg(521)))).job
    watchers = Watchers(jobs, job)
    try:
        await watchers.ready()
        arrived = watchers.expect(EVENTS * WATCHERS)
        await publish_running(redis, job, range(1_000_000, 1_000_000 + EVENTS))  # warm up
        await arrived
        # The suite's services run beside the test (a reconciler pass, other streams
        # ending) and add objects now and then; an object per message would be there
        # in every window, so the quietest of three windows is the one that counts.
        windows = []
        for window in range(3):
            with collector_off():
                before = len(gc.get_objects())
                arrived = watchers.expect(EVENTS * WATCHERS)
                first = 2_000_000 + window * EVENTS
                await publish_running(redis, job, range(first, first + EVENTS))
                await arrived
                windows.append((len(gc.get_objects()) - before, gc.collect()))
        grown, cyclic = min(windows)
    finally:
        await watchers.close()
    messages = EVENTS * WATCHERS
    # One object per message would be 2,000; what remains is noise (a few dozen).
    assert grown < messages // 4, f"{grown} objects more after {messages} messages"
    assert cyclic < messages // 4, f"{cyclic} objects in cycles after {messages} messages"


async def test_a_watch_stream_that_ends_is_freed_without_the_cycle_collector(
    jobs, billing, billing_admin, redis
):
    await user_with(billing, billing_admin, tg(522), 10)
    job = (await jobs.CreateJob(request(tg(522)))).job
    watchers = Watchers(jobs, job)
    await watchers.ready()
    arrived = watchers.expect(EVENTS * WATCHERS)
    await publish_running(redis, job, range(3_000_000, 3_000_000 + EVENTS))
    await arrived
    assert alive(Listener) >= WATCHERS and streams_alive() >= WATCHERS
    with collector_off():
        await watchers.close()
        for _ in range(100):  # the server learns of each cancellation in turn
            if not alive(Listener) and not streams_alive():
                break
            await asyncio.sleep(0.1)
        assert alive(Listener) == 0, "the hub or a cycle keeps listeners of ended streams"
        assert streams_alive() == 0, "a cycle keeps generators of ended streams"
