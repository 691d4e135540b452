"""The per-stream event listener of the hub: order, quiet periods, slow readers."""

from __future__ import annotations

import asyncio

from mediabot.jobs.v1 import jobs_pb2 as pb

from job_svc.events import _QUEUE_SIZE, RESYNC, Listener


def event(version: int) -> pb.Job:
    return pb.Job(id="j", version=version)


async def test_events_come_out_in_order_and_a_quiet_wait_ends_with_resync():
    listener = Listener()
    listener.put(event(1))
    listener.put(event(2))
    assert (await listener.get(0.01)).version == 1
    assert (await listener.get(0.01)).version == 2
    assert await listener.get(0.01) is RESYNC
    listener.put(event(3))
    assert (await listener.get()).version == 3
    listener.close()


async def test_a_waiting_reader_is_woken_by_the_next_event():
    listener = Listener()
    waiting = asyncio.create_task(listener.get(30))
    await asyncio.sleep(0.01)
    listener.put(event(7))
    assert (await asyncio.wait_for(waiting, 5)).version == 7
    listener.close()


async def test_events_coming_before_each_timeout_never_end_in_resync():
    listener = Listener()
    got = []

    async def publish() -> None:
        for version in range(20):
            await asyncio.sleep(0.01)
            listener.put(event(version))

    publishing = asyncio.create_task(publish())
    for _ in range(20):
        got.append(await listener.get(0.5))
    await publishing
    assert [e.version for e in got] == list(range(20))
    listener.close()


async def test_a_shorter_timeout_than_the_last_one_applies_at_once():
    listener = Listener()
    listener.put(event(1))
    first = asyncio.create_task(listener.get(30))
    assert (await first).version == 1
    slow = asyncio.create_task(listener.get(30))
    await asyncio.sleep(0.01)
    listener.put(event(2))
    assert (await slow).version == 2
    # The 30 s timer is still armed; a 0.05 s wait must not wait for it.
    assert await asyncio.wait_for(listener.get(0.05), 5) is RESYNC
    listener.close()


async def test_a_reader_that_falls_behind_gets_resync_instead_of_the_backlog():
    listener = Listener()
    for version in range(_QUEUE_SIZE + 3):
        listener.put(event(version))
    assert await listener.get() is RESYNC
    assert [(await listener.get()).version for _ in range(2)] == [
        _QUEUE_SIZE + 1,
        _QUEUE_SIZE + 2,
    ]
    listener.close()


async def test_a_cancelled_wait_leaves_the_listener_usable():
    listener = Listener()
    waiting = asyncio.create_task(listener.get(30))
    await asyncio.sleep(0.01)
    waiting.cancel()
    await asyncio.gather(waiting, return_exceptions=True)
    listener.put(event(4))
    assert (await listener.get(1)).version == 4
    listener.close()
