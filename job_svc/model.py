"""What a job is: its kinds, qualities, states, lanes and charge, and a stored job."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, fields
from datetime import datetime
from enum import StrEnum
from typing import Any, Self

import asyncpg


class Kind(StrEnum):
    """What a job makes."""

    #: An image from a prompt.
    IMAGE = "image"
    #: An image made from the user's image and a prompt.
    EDIT = "edit"
    #: A short video from a prompt, optionally from a start image.
    VIDEO = "video"


class Quality(StrEnum):
    """Which model tier a job runs on (and its price)."""

    #: The provider's standard model.
    STANDARD = "standard"
    #: The provider's better (and dearer) model.
    PRO = "pro"


class JobStatus(StrEnum):
    """Where a job is in its life."""

    #: Saved, its price not yet held: shown to its owner as queued.
    CREATING = "creating"
    #: Charged and waiting in the queue.
    QUEUED = "queued"
    #: Taken by a worker.
    RUNNING = "running"
    #: Finished with results; its hold is captured.
    SUCCEEDED = "succeeded"
    #: Finished without results; its hold is released.
    FAILED = "failed"
    #: Stopped by its owner; its hold is released.
    CANCELLED = "cancelled"


#: States a job never leaves.
TERMINAL = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED})
#: States that count against a user's queue limit.
UNFINISHED = frozenset({JobStatus.CREATING, JobStatus.QUEUED, JobStatus.RUNNING})


class Lane(StrEnum):
    """The queue a job waits in."""

    #: PRO users' jobs: workers read it first.
    PRIORITY = "priority"
    #: Everyone else's.
    NORMAL = "normal"


class Failure(StrEnum):
    """Why a job failed, for clients to tell people in their own language (the job's
    `error` keeps the provider's or the service's English words)."""

    #: The provider's safety rules refused the prompt or the picture.
    SAFETY_BLOCK = "safety_block"
    #: The model could not make anything of this prompt; rewording it may help.
    UNWORKABLE_PROMPT = "unworkable_prompt"
    #: The input picture could not be read, or an option is not offered.
    BAD_INPUT = "bad_input"
    #: The provider kept failing or did not answer in time.
    PROVIDER_UNAVAILABLE = "provider_unavailable"
    #: The provider refused for its own reasons (quota, credentials, model).
    PROVIDER_REFUSED = "provider_refused"
    #: The provider the job was priced for is no longer configured.
    PROVIDER_GONE = "provider_gone"
    #: Workers stopped on it again and again.
    TOO_MANY_ATTEMPTS = "too_many_attempts"
    #: It waited so long that its hold lapsed and the credits went back.
    EXPIRED = "expired"
    #: Our own code failed on it.
    INTERNAL = "internal"
    #: The model does not take prompts in this language (Stability's: English only).
    UNSUPPORTED_LANGUAGE = "unsupported_language"


class Charge(StrEnum):
    """What became of a job's price in billing."""

    #: Nothing held yet (the job is being created).
    PENDING = "pending"
    #: Held: to be captured on success or released otherwise.
    HELD = "held"
    #: Captured: the user paid for the result.
    CAPTURED = "captured"
    #: Released: the credits went back (or were never taken).
    RELEASED = "released"


@dataclass(frozen=True, slots=True)
class ResultFile:
    """One stored result of a job."""

    key: str
    mime_type: str
    size_bytes: int
    width: int
    height: int
    #: The Telegram file_id of the file as the bot sent it ("" until acknowledged).
    telegram_file_id: str = ""


@dataclass(frozen=True, slots=True)
class Job:
    """A job as stored in jobs.jobs."""

    id: uuid.UUID
    telegram_id: int
    client_key: str
    kind: Kind
    quality: Quality
    prompt: str
    aspect_ratio: str
    duration_seconds: int
    input_key: str | None
    provider: str
    lane: Lane
    status: JobStatus
    progress: int
    cost: int
    reservation_id: str | None
    charge: Charge
    error: str
    #: Why it failed (None unless FAILED).
    failure: Failure | None
    results: tuple[ResultFile, ...]
    #: Times a worker took the job up; only the latest attempt may finish it.
    attempts: int
    worker: str
    #: Bumped by every change that watchers see.
    version: int
    retry_of: uuid.UUID | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    delivered_at: datetime | None
    #: When the job's hold expires unless extended.
    hold_until: datetime | None
    #: The WatchDeliveries stream the finished job is leased to, and until when
    #: (None: nobody's; a lapsed lease is nobody's either).
    delivery_stream: uuid.UUID | None
    delivery_lease_until: datetime | None
    #: The gateway that took it last, then the one whose acknowledgement counted.
    delivery_gateway: str
    #: Times it was handed to a gateway's stream.
    delivery_attempts: int

    @classmethod
    def from_record(cls, row: asyncpg.Record) -> Self:
        raw = row["results"]
        results = json.loads(raw) if isinstance(raw, str) else raw
        return cls(
            **{
                **dict(row.items()),
                "kind": Kind(row["kind"]),
                "quality": Quality(row["quality"]),
                "lane": Lane(row["lane"]),
                "status": JobStatus(row["status"]),
                "charge": Charge(row["charge"]),
                "failure": Failure(row["failure"]) if row["failure"] else None,
                "results": tuple(ResultFile(**r) for r in results or ()),
            }
        )

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL


#: The stored columns of a job, in the order of `Job`'s fields.
COLUMNS = ", ".join(f.name for f in fields(Job))


@dataclass(frozen=True)
class NewJob:
    """A CreateJob request in domain terms (checked further by `Jobs.create`)."""

    telegram_id: int
    kind: Kind
    quality: Quality
    prompt: str
    image: bytes
    aspect_ratio: str
    duration_seconds: int
    client_key: str
    retry_of: uuid.UUID | None = None


def result_dicts(results: tuple[ResultFile, ...] | list[ResultFile]) -> list[dict[str, Any]]:
    """Results as the JSON the store keeps."""
    return [
        {
            "key": r.key,
            "mime_type": r.mime_type,
            "size_bytes": r.size_bytes,
            "width": r.width,
            "height": r.height,
            "telegram_file_id": r.telegram_file_id,
        }
        for r in results
    ]
