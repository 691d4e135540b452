"""Deliveries of finished jobs to the bot gateways: leases that hand each job to one
gateway stream at a time, their release, and the acknowledgements that record
what was sent (the Telegram file_ids of the results).

A lease belongs to one WatchDeliveries stream (an id of its own), not to a
gateway's name: two streams never hold the same job, whichever gateways or
job_svc replicas they belong to, since leases are taken by guarded UPDATEs in
Postgres. A lease that lapses makes the job free for another stream; a stream
that ends releases its leases at once. The first acknowledgement counts,
whoever sends it; later ones change nothing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import redis.asyncio as aioredis

from common import validate
from common.errors import InvalidArgument, JobNotFound
from job_svc.events import publish
from job_svc.model import Job
from job_svc.store import Holding, JobStore

#: A lease when the gateway asks for none, and the longest one it may ask for.
DEFAULT_LEASE_SECONDS = 60
MAX_LEASE_SECONDS = 3600
#: Unacknowledged jobs a stream holds at most when the gateway does not say, and
#: the most it may ask for.
DEFAULT_MAX_UNACKED = 100
MAX_UNACKED = 1000
_GATEWAY_MAX = 64
_FILE_ID_MAX = 256


@dataclass(frozen=True)
class Terms:
    """What a gateway's stream asked for (checked, defaults filled in)."""

    gateway: str
    lease_seconds: int
    max_unacked: int


@dataclass(frozen=True)
class SentFile:
    """A result file as the bot sent it: its key and Telegram's file_id for it."""

    key: str
    telegram_file_id: str


@dataclass(frozen=True)
class Acknowledgement:
    """What an acknowledgement did: the job as stored after it, and whether it had
    been acknowledged before (then this one changed nothing)."""

    job: Job
    already_delivered: bool


def _gateway(name: str) -> str:
    return validate.text(name, "gateway", max_len=_GATEWAY_MAX, single_line=True)


class Deliveries:
    """Leases and acknowledgements of deliveries; the streams themselves are
    `watch.DeliveryFeed`s."""

    def __init__(self, store: JobStore, redis: aioredis.Redis) -> None:
        self._store = store
        self._redis = redis

    @staticmethod
    def terms(gateway: str, lease_seconds: int, max_unacked: int) -> Terms:
        """A stream's terms: 0 means the default; a wrong value is refused."""
        lease = lease_seconds or DEFAULT_LEASE_SECONDS
        unacked = max_unacked or DEFAULT_MAX_UNACKED
        return Terms(
            gateway=_gateway(gateway),
            lease_seconds=validate.int_range(lease, "lease_seconds", 1, MAX_LEASE_SECONDS),
            max_unacked=validate.int_range(unacked, "max_unacked", 1, MAX_UNACKED),
        )

    async def lease(
        self, stream: uuid.UUID, terms: Terms, limit: int, job_id: uuid.UUID | None = None
    ) -> list[Job]:
        """Lease up to `limit` jobs to `stream` (only `job_id` when given), oldest first."""
        if limit <= 0:
            return []
        return await self._store.lease_deliveries(
            stream, terms.gateway, float(terms.lease_seconds), limit, job_id
        )

    async def holding(self, stream: uuid.UUID, terms: Terms) -> Holding:
        return await self._store.holding(stream, float(terms.lease_seconds))

    async def release(self, stream: uuid.UUID) -> int:
        """End the leases of a stream that ended, and tell the other streams (on every
        replica) at once, so that they take the jobs without waiting for the leases
        to lapse. Returns how many were released."""
        released = await self._store.release_deliveries(stream)
        for job in released:
            await publish(self._redis, job)  # its version is unchanged: watchers skip it
        return len(released)

    async def acknowledge(self, job_id: str, gateway: str, sent: list[SentFile]) -> Acknowledgement:
        """Record that a finished job reached its user, with the file_ids of what was
        sent. The first acknowledgement counts (it bumps the job's version and is
        published); a later one changes nothing and says so."""
        jid = validate.uuid_text(job_id, "job_id")
        name = _gateway(gateway)
        job = await self._store.get(jid)
        if job is None or not job.finished:
            raise JobNotFound(f"finished job {job_id} not found", job_id=job_id)
        keys = {r.key for r in job.results}
        file_ids: dict[str, str] = {}
        for file in sent:
            if file.key not in keys:
                raise InvalidArgument(
                    f"sent_files: {file.key[:200]!r} is not a result of job {job_id}",
                    field="sent_files",
                )
            if file.key in file_ids:
                raise InvalidArgument(
                    f"sent_files: {file.key!r} is given twice", field="sent_files"
                )
            file_ids[file.key] = validate.text(
                file.telegram_file_id,
                "sent_files.telegram_file_id",
                max_len=_FILE_ID_MAX,
                required=True,
                single_line=True,
            )
        done = await self._store.mark_delivered(jid, name, file_ids)
        if done is not None:
            await publish(self._redis, done)  # the streams count it as acknowledged
            return Acknowledgement(done, already_delivered=False)
        current = await self._store.get(jid)
        if current is None:
            raise JobNotFound(f"finished job {job_id} not found", job_id=job_id)
        return Acknowledgement(current, already_delivered=True)
