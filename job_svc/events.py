"""Job status events over Redis pub/sub, fanned out inside each job_svc replica.

Each change is published once, as the serialized Job. Every replica keeps one
subscription and hands each event to the local watchers of that job, so any
number of watchers costs one Redis connection per replica.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager

import redis.asyncio as aioredis
from mediabot.jobs.v1 import jobs_pb2 as pb
from redis.exceptions import RedisError

from job_svc.messages import job_message
from job_svc.model import Job

log = logging.getLogger(__name__)

EVENTS = "jobs:events"
CANCELS = "jobs:cancel"
#: Given to a listener when events may have been lost: re-read the job.
RESYNC = pb.Job()
_QUEUE_SIZE = 64


async def publish(redis: aioredis.Redis, job: Job) -> None:
    """Publish a change of a job."""
    await publish_message(redis, job_message(job))


async def publish_message(redis: aioredis.Redis, message: pb.Job) -> None:
    """Publish a change; a lost event is logged, as watchers re-read on their own."""
    try:
        await redis.publish(EVENTS, message.SerializeToString())
    except RedisError as exc:
        log.warning("event not published", extra={"job": message.id, "error": repr(exc)})


async def publish_cancel(redis: aioredis.Redis, job_id: str) -> None:
    await redis.publish(CANCELS, job_id)


class Listener:
    """The events of one listener in order, to `get` one at a time.

    A replica holds one per WatchJob stream for the stream's whole life, and
    every event passes through it, so it is kept small: a list and one timer,
    where an asyncio.Queue costs 3.2 KiB (three deques and an Event) and a
    timeout per wait (asyncio.timeout) makes six objects per event. The timer
    is re-armed when it fires while events keep coming, not on every event.
    """

    __slots__ = ("_events", "_timer", "_wait_until", "_waiter")

    def __init__(self) -> None:
        self._events: list[pb.Job] = []
        self._waiter: asyncio.Future[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._wait_until = 0.0

    def put(self, job: pb.Job) -> None:
        if len(self._events) >= _QUEUE_SIZE:  # a slow reader: drop the backlog, make it re-read
            self._events.clear()
            job = RESYNC
        self._events.append(job)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def get(self, timeout: float | None = None) -> pb.Job:
        """The next event, or RESYNC when none came within `timeout` seconds."""
        if not self._events:
            loop = asyncio.get_running_loop()
            self._waiter = loop.create_future()
            if timeout is not None:
                self._wait_until = loop.time() + timeout
                if self._timer is None or self._timer.when() > self._wait_until:
                    self.close()
                    self._timer = loop.call_at(self._wait_until, self._wake)
            try:
                await self._waiter
            finally:
                self._waiter = None
            if not self._events:
                return RESYNC
        return self._events.pop(0)

    def _wake(self) -> None:
        self._timer = None
        if self._waiter is None or self._waiter.done():
            return  # the next wait arms a timer again
        loop = self._waiter.get_loop()
        if loop.time() < self._wait_until:  # events came since it was armed
            self._timer = loop.call_at(self._wait_until, self._wake)
        else:
            self._waiter.set_result(None)

    def close(self) -> None:
        """Stop the timer (before re-arming it, or for good)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


class EventHub:
    """One subscription to the event channel, many local listeners."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self._redis = redis
        self._by_job: dict[str, set[Listener]] = defaultdict(set)
        self._all: set[Listener] = set()
        self.ready = asyncio.Event()

    @contextmanager
    def listen(self, job_id: str | None) -> Iterator[Listener]:
        """The events of one job (or of every job when None)."""
        listener = Listener()
        group = self._all if job_id is None else self._by_job[job_id]
        group.add(listener)
        try:
            yield listener
        finally:
            listener.close()
            group.discard(listener)
            if job_id is not None and not group:
                self._by_job.pop(job_id, None)

    def _dispatch(self, job: pb.Job) -> None:
        for listener in self._by_job.get(job.id, ()):
            listener.put(job)
        for listener in self._all:
            listener.put(job)

    def _resync_everyone(self) -> None:
        for group in [*self._by_job.values(), self._all]:
            for listener in group:
                listener.put(RESYNC)

    async def run(self) -> None:
        """Forward events forever, re-subscribing after a lost connection."""
        while True:
            pubsub = self._redis.pubsub()
            try:
                await pubsub.subscribe(EVENTS)
                self.ready.set()
                self._resync_everyone()  # whatever happened while we were away
                async for message in pubsub.listen():
                    if message["type"] == "message":
                        job = pb.Job()
                        job.ParseFromString(message["data"])
                        self._dispatch(job)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("event subscription lost; reconnecting")
                await asyncio.sleep(0.5)
            finally:
                await pubsub.aclose()
