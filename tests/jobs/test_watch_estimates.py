"""WatchJob's estimates are real times ahead, or absent: never the epoch, never past."""

from __future__ import annotations

import time

from mediabot.jobs.v1 import jobs_pb2 as pb
from mediabot.jobs.v1 import jobs_pb2_grpc

from common.clients import authorized, channel
from job_svc.server import create_server
from job_svc.settings import JobSettings
from tests.support.ids import tg
from tests.support.jobs import request, user_with
from tests.support.settings import SERVICE_TOKEN, make_settings

#: Clocks of the test and the service are one host's, but messages take a moment.
SLACK_SECONDS = 1.0


async def watched_on_a_new_replica(
    job_env: dict[str, str], jobs, telegram_id: int
) -> list[tuple[float, pb.WatchJobResponse]]:
    """Every message of a new job's life with its time of arrival, watched through a
    replica of its own (no run times cached from earlier jobs)."""
    replica = await create_server(make_settings(JobSettings, job_env), "127.0.0.1:0")
    await replica.start()
    opened = channel(f"127.0.0.1:{replica.port}")
    seen: list[tuple[float, pb.WatchJobResponse]] = []
    try:
        watcher = authorized(jobs_pb2_grpc.JobServiceStub(opened), SERVICE_TOKEN)
        job = (await jobs.CreateJob(request(telegram_id))).job
        watch = watcher.WatchJob(pb.WatchJobRequest(job_id=job.id, telegram_id=telegram_id))
        async for update in watch:
            seen.append((time.time(), update))
    finally:
        await opened.close()
        await replica.stop(0)
    statuses = [u.job.status for _, u in seen]
    assert statuses.count(pb.JOB_STATUS_RUNNING) >= 2, "progress makes several RUNNING messages"
    assert statuses[-1] == pb.JOB_STATUS_SUCCEEDED
    return seen


def estimates_ahead(seen: list[tuple[float, pb.WatchJobResponse]]) -> int:
    """How many estimates the messages carry; each must be a time still ahead."""
    estimated = 0
    for received, update in seen:
        for name in ("estimated_start_at", "estimated_finish_at"):
            if update.HasField(name):
                estimated += 1
                at = getattr(update, name).ToNanoseconds() / 1e9
                assert at > received - SLACK_SECONDS, (name, at, received, update)
        if update.job.status == pb.JOB_STATUS_SUCCEEDED:
            assert not update.HasField("estimated_finish_at")
    return estimated


async def test_every_message_of_a_watched_job_has_estimates_ahead_or_none(
    jobs, billing, billing_admin, start_worker, job_env
):
    user = tg(4301)
    await user_with(billing, billing_admin, user, 20)
    await start_worker(LOCAL_LATENCY_SECONDS=1.5)
    first = await watched_on_a_new_replica(job_env, jobs, user)
    assert estimates_ahead(first) == 0, "nothing of this kind ran before: no estimate"
    second = await watched_on_a_new_replica(job_env, jobs, user)
    assert estimates_ahead(second) > 0, "a kind that ran before gets estimates"
