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
#: Put in a watcher's queue when events may have been lost: re-read the job.
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


class EventHub:
    """One subscription to the event channel, many local listeners."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self._redis = redis
        self._by_job: dict[str, set[asyncio.Queue[pb.Job]]] = defaultdict(set)
        self._all: set[asyncio.Queue[pb.Job]] = set()
        self.ready = asyncio.Event()

    @contextmanager
    def listen(self, job_id: str | None) -> Iterator[asyncio.Queue[pb.Job]]:
        """A queue of the events of one job (or of every job when None)."""
        queue: asyncio.Queue[pb.Job] = asyncio.Queue(_QUEUE_SIZE)
        group = self._all if job_id is None else self._by_job[job_id]
        group.add(queue)
        try:
            yield queue
        finally:
            group.discard(queue)
            if job_id is not None and not group:
                self._by_job.pop(job_id, None)

    def _deliver(self, queue: asyncio.Queue[pb.Job], job: pb.Job) -> None:
        try:
            queue.put_nowait(job)
        except asyncio.QueueFull:  # a slow reader: drop the backlog, make it re-read
            while not queue.empty():
                queue.get_nowait()
            queue.put_nowait(RESYNC)

    def _dispatch(self, job: pb.Job) -> None:
        for queue in self._by_job.get(job.id, ()):
            self._deliver(queue, job)
        for queue in self._all:
            self._deliver(queue, job)

    def _resync_everyone(self) -> None:
        for group in [*self._by_job.values(), self._all]:
            for queue in group:
                self._deliver(queue, RESYNC)

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
