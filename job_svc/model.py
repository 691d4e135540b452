"""Job kinds, qualities and states, and a stored job as a protobuf message."""

from __future__ import annotations

import json
from typing import Any

import asyncpg
from mediabot.jobs.v1 import jobs_pb2 as pb

from common.convert import timestamp

KINDS = {pb.JOB_KIND_IMAGE: "image", pb.JOB_KIND_EDIT: "edit", pb.JOB_KIND_VIDEO: "video"}
QUALITIES = {pb.QUALITY_STANDARD: "standard", pb.QUALITY_PRO: "pro"}
STATUSES = {
    "creating": pb.JOB_STATUS_QUEUED,  # not yet charged: to its owner it is queued
    "queued": pb.JOB_STATUS_QUEUED,
    "running": pb.JOB_STATUS_RUNNING,
    "succeeded": pb.JOB_STATUS_SUCCEEDED,
    "failed": pb.JOB_STATUS_FAILED,
    "cancelled": pb.JOB_STATUS_CANCELLED,
}
STATUS_NAMES = {v: k for k, v in STATUSES.items() if k != "creating"}
KIND_CODES = {v: k for k, v in KINDS.items()}
QUALITY_CODES = {v: k for k, v in QUALITIES.items()}
TERMINAL = ("succeeded", "failed", "cancelled")
TERMINAL_CODES = frozenset(STATUSES[s] for s in TERMINAL)

COLUMNS = """id, telegram_id, client_key, kind, quality, prompt, aspect_ratio, duration_seconds,
    input_key, provider, lane, status, progress, cost, reservation_id, charge, error, results,
    attempts, worker, version, retry_of, created_at, started_at, finished_at, delivered_at,
    hold_until"""


def results_of(row: asyncpg.Record) -> list[dict[str, Any]]:
    raw = row["results"]
    return list(json.loads(raw) if isinstance(raw, str) else raw)


def job_message(row: asyncpg.Record) -> pb.Job:
    """The API view of a stored job."""
    return pb.Job(
        id=str(row["id"]),
        telegram_id=row["telegram_id"],
        kind=KIND_CODES[row["kind"]],
        quality=QUALITY_CODES[row["quality"]],
        prompt=row["prompt"],
        options=pb.JobOptions(
            aspect_ratio=row["aspect_ratio"], duration_seconds=row["duration_seconds"]
        ),
        status=STATUSES[row["status"]],
        progress=row["progress"],
        cost=row["cost"],
        provider=row["provider"],
        error=row["error"],
        results=[pb.ResultFile(**r) for r in results_of(row)],
        attempts=row["attempts"],
        created_at=timestamp(row["created_at"]),
        started_at=timestamp(row["started_at"]),
        finished_at=timestamp(row["finished_at"]),
        client_key=row["client_key"],
        has_input=row["input_key"] is not None,
        delivered=row["delivered_at"] is not None,
        retry_of=str(row["retry_of"] or ""),
        version=row["version"],
    )
