"""The job queue: two Redis Streams (priority and normal lanes) read by one
consumer group, so a job held by a worker that died is claimed by another."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

LANES = ("priority", "normal")
GROUP = "workers"


def stream(lane: str) -> str:
    return f"jobs:queue:{lane}"


@dataclass(frozen=True)
class Delivery:
    """One queue entry handed to a worker."""

    lane: str
    entry_id: str
    job_id: str


class JobQueue:
    """Enqueue, read, acknowledge, keep alive and re-claim queue entries."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self._redis = redis

    async def ensure_groups(self) -> None:
        for lane in LANES:
            try:
                await self._redis.xgroup_create(stream(lane), GROUP, id="0", mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    async def enqueue(self, job_id: str, lane: str) -> None:
        await self._redis.xadd(stream(lane), {"job": job_id})

    async def read(self, consumer: str, count: int, block_ms: int) -> list[Delivery]:
        """New entries, priority lane first; blocks up to `block_ms` when both are empty."""
        found = await self._read(consumer, count, None, ["priority"])
        if len(found) < count:
            block = None if found else block_ms
            found += await self._read(consumer, count - len(found), block, list(LANES))
        return found

    async def _read(
        self, consumer: str, count: int, block: int | None, lanes: list[str]
    ) -> list[Delivery]:
        reply: Any = await self._redis.xreadgroup(
            GROUP, consumer, {stream(lane): ">" for lane in lanes}, count=count, block=block
        )
        return [
            Delivery(name.decode().rsplit(":", 1)[1], entry_id.decode(), fields[b"job"].decode())
            for name, entries in reply or ()
            for entry_id, fields in entries
            if fields
        ]

    async def prune_consumers(self, min_idle_ms: int) -> int:
        """Forget consumers (dead workers) that hold nothing and were idle that long."""
        pruned = 0
        for lane in LANES:
            try:
                consumers = await self._redis.xinfo_consumers(stream(lane), GROUP)
            except ResponseError as exc:
                if "no such key" not in str(exc) and "NOGROUP" not in str(exc):
                    raise
                continue  # Redis lost its data: nobody to forget; the readers recreate it
            for consumer in consumers:
                if consumer["pending"] == 0 and consumer["idle"] >= min_idle_ms:
                    await self._redis.xgroup_delconsumer(stream(lane), GROUP, consumer["name"])
                    pruned += 1
        return pruned

    async def job_ids(self) -> set[str]:
        """The jobs that have an entry in either lane (waiting or held by a worker)."""
        found: set[str] = set()
        for lane in LANES:
            start = "-"
            while True:
                batch: Any = await self._redis.xrange(stream(lane), start, "+", count=1000)
                found.update(fields[b"job"].decode() for _, fields in batch if fields)
                if len(batch) < 1000:
                    break
                start = "(" + batch[-1][0].decode()
        return found

    async def done(self, delivery: Delivery) -> None:
        """Acknowledge and drop an entry: the stream keeps only live work."""
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.xack(stream(delivery.lane), GROUP, delivery.entry_id)
            pipe.xdel(stream(delivery.lane), delivery.entry_id)
            await pipe.execute()

    async def touch(self, consumer: str, deliveries: list[Delivery]) -> None:
        """Reset the idle time of entries this worker still works on (its heartbeat)."""
        for lane in LANES:
            ids: list[Any] = [d.entry_id for d in deliveries if d.lane == lane]
            if ids:
                await self._redis.xclaim(stream(lane), GROUP, consumer, 0, ids, justid=True)

    async def reclaim(self, consumer: str, min_idle_ms: int, count: int) -> list[Delivery]:
        """Take over up to `count` entries whose worker stopped touching them, priority
        lane first, wherever they sit among the entries live workers hold."""
        taken: list[Delivery] = []
        for lane in LANES:
            start: Any = "0-0"
            while len(taken) < count:
                # Redis 6.2 answers [next, entries], 7.x [next, entries, deleted]; 7.x
                # looks at no more than 10 * count held entries per call: follow `next`.
                start, entries, *_ = await self._redis.xautoclaim(
                    stream(lane), GROUP, consumer, min_idle_ms, start, count=count - len(taken)
                )
                for entry_id, fields in entries:
                    if fields:  # a deleted entry comes back empty on 6.2
                        taken.append(Delivery(lane, entry_id.decode(), fields[b"job"].decode()))
                    else:
                        await self._redis.xack(stream(lane), GROUP, entry_id)
                if start in (b"0-0", "0-0"):
                    break
        return taken
