"""A job as the API's message: the contract's enums and the stored job's view.

The Job message is also the payload of status events, so that a replica fans an
event out to its watchers without reading the job again.
"""

from __future__ import annotations

from mediabot.jobs.v1 import jobs_pb2 as pb

from common.convert import timestamp
from job_svc.model import Failure, Job, JobStatus, Kind, Quality

KINDS = {pb.JOB_KIND_IMAGE: Kind.IMAGE, pb.JOB_KIND_EDIT: Kind.EDIT, pb.JOB_KIND_VIDEO: Kind.VIDEO}
QUALITIES = {pb.QUALITY_STANDARD: Quality.STANDARD, pb.QUALITY_PRO: Quality.PRO}
STATUS_CODES = {
    JobStatus.CREATING: pb.JOB_STATUS_QUEUED,  # not yet charged: to its owner it is queued
    JobStatus.QUEUED: pb.JOB_STATUS_QUEUED,
    JobStatus.RUNNING: pb.JOB_STATUS_RUNNING,
    JobStatus.SUCCEEDED: pb.JOB_STATUS_SUCCEEDED,
    JobStatus.FAILED: pb.JOB_STATUS_FAILED,
    JobStatus.CANCELLED: pb.JOB_STATUS_CANCELLED,
}
STATUSES = {code: status for status, code in STATUS_CODES.items() if status != JobStatus.CREATING}
KIND_CODES = {kind: code for code, kind in KINDS.items()}
QUALITY_CODES = {quality: code for code, quality in QUALITIES.items()}
FAILURE_CODES = {failure: getattr(pb, f"JOB_FAILURE_{failure.name}") for failure in Failure}
TERMINAL_CODES = frozenset({pb.JOB_STATUS_SUCCEEDED, pb.JOB_STATUS_FAILED, pb.JOB_STATUS_CANCELLED})


def job_message(job: Job) -> pb.Job:
    """The API view of a stored job."""
    return pb.Job(
        id=str(job.id),
        telegram_id=job.telegram_id,
        kind=KIND_CODES[job.kind],
        quality=QUALITY_CODES[job.quality],
        prompt=job.prompt,
        options=pb.JobOptions(aspect_ratio=job.aspect_ratio, duration_seconds=job.duration_seconds),
        status=STATUS_CODES[job.status],
        progress=job.progress,
        cost=job.cost,
        provider=job.provider,
        error=job.error,
        failure=FAILURE_CODES[job.failure] if job.failure else pb.JOB_FAILURE_UNSPECIFIED,
        results=[
            pb.ResultFile(
                key=r.key,
                mime_type=r.mime_type,
                size_bytes=r.size_bytes,
                width=r.width,
                height=r.height,
                telegram_file_id=r.telegram_file_id,
            )
            for r in job.results
        ],
        attempts=job.attempts,
        created_at=timestamp(job.created_at),
        started_at=timestamp(job.started_at),
        finished_at=timestamp(job.finished_at),
        client_key=job.client_key,
        has_input=job.input_key is not None,
        delivered=job.delivered_at is not None,
        retry_of=str(job.retry_of or ""),
        version=job.version,
    )
