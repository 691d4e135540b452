"""A job, live: server-sent events fed by job_svc's WatchJob, one stream per page.

The first state is read before the response starts, so that a job that is not the
person's is a plain 404; then every change follows as an `update` event until the job
ends (an `end` event), with a comment every HEARTBEAT seconds to keep proxies open.
When the page goes away the WatchJob call is cancelled.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc
from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from mediabot.jobs.v1 import jobs_pb2 as jpb

from webapp import models
from webapp.deps import SessionDep, WebDep
from webapp.errors import ERROR_RESPONSES
from webapp.routes.api import JobId

router = APIRouter(prefix="/api", tags=["cabinet"], responses=ERROR_RESPONSES)

HEARTBEAT_SECONDS = 15.0


def event(update: jpb.WatchJobResponse) -> bytes:
    data = models.update_of(update).model_dump_json()
    name = "end" if update.job.status in TERMINAL_CODES else "update"
    return f"event: {name}\ndata: {data}\n\n".encode()


TERMINAL_CODES = (jpb.JOB_STATUS_SUCCEEDED, jpb.JOB_STATUS_FAILED, jpb.JOB_STATUS_CANCELLED)


async def _follow(call: Any, first: jpb.WatchJobResponse) -> AsyncIterator[bytes]:
    pending: asyncio.Future[Any] | None = None
    try:
        yield b"retry: 2000\n\n" + event(first)
        if first.job.status in TERMINAL_CODES:
            return
        while True:
            if pending is None:
                pending = asyncio.ensure_future(call.read())
            done, _ = await asyncio.wait((pending,), timeout=HEARTBEAT_SECONDS)
            if not done:
                yield b": keep-alive\n\n"
                continue
            update, pending = pending.result(), None
            if update is grpc.aio.EOF:
                return
            yield event(update)
            if update.job.status in TERMINAL_CODES:
                return
    except grpc.aio.AioRpcError:
        return  # the service went away: the browser reconnects and reads the state again
    finally:
        if pending is not None:
            pending.cancel()
        call.cancel()


@router.get(
    "/jobs/{job_id}/events",
    summary="The job, live (server-sent events)",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "`update` events, then one `end` event; data is a JobUpdate",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        }
    },
)
async def job_events(job_id: JobId, session: SessionDep, web: WebDep) -> StreamingResponse:
    call = web.services.watch.WatchJob(
        jpb.WatchJobRequest(job_id=job_id, telegram_id=session.telegram_id)
    )
    try:
        first = await call.read()
    except BaseException:
        call.cancel()
        raise
    if first is grpc.aio.EOF:
        call.cancel()
        answer = await web.services.jobs.GetJob(
            jpb.GetJobRequest(job_id=job_id, telegram_id=session.telegram_id)
        )
        first = jpb.WatchJobResponse(job=answer.job)
    return StreamingResponse(
        _follow(call, first),
        media_type="text/event-stream",
        headers={"cache-control": "no-store", "x-accel-buffering": "no"},
    )
