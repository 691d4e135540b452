"""Deliveries, admin calls, credentials and the reconciler of job_svc."""

from __future__ import annotations

import asyncio
import uuid

import grpc
import pytest
from mediabot.jobs.v1 import jobs_pb2 as pb
from mediabot.jobs.v1 import jobs_pb2_grpc

from common.clients import authorized, channel
from tests.support.ids import tg
from tests.support.jobs import (
    age,
    balance,
    domain,
    money_is_exact,
    request,
    saved_not_charged,
    user_with,
    wait_for_status,
    wait_until_settled,
)


async def next_deliveries(stream, count: int) -> list[pb.Job]:
    found = []
    async for answer in stream:
        found.append(answer.job)
        if len(found) == count:
            break
    return found


async def test_deliveries_include_jobs_finished_while_nobody_listened(
    jobs, billing, billing_admin, start_worker
):
    await user_with(billing, billing_admin, tg(701), 10)
    await start_worker(LOCAL_LATENCY_SECONDS=0)
    early = (await jobs.CreateJob(request(tg(701), "early"))).job
    await wait_for_status(jobs, early, pb.JOB_STATUS_SUCCEEDED)

    stream = jobs.WatchDeliveries(pb.WatchDeliveriesRequest())
    try:
        first = await asyncio.wait_for(next_deliveries(stream, 1), 10)
        assert [j.id for j in first] == [early.id]
        late = (await jobs.CreateJob(request(tg(701), "something forbidden"))).job
        second = await asyncio.wait_for(next_deliveries(stream, 1), 10)
        assert [(j.id, j.status) for j in second] == [(late.id, pb.JOB_STATUS_FAILED)]
    finally:
        stream.cancel()
    for job in (early, late):
        await jobs.AckDelivery(pb.AckDeliveryRequest(job_id=job.id))
    again = jobs.WatchDeliveries(pb.WatchDeliveriesRequest())
    try:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(next_deliveries(again, 1), 1.5)
    finally:
        again.cancel()
    got = (await jobs.GetJob(pb.GetJobRequest(job_id=early.id, telegram_id=tg(701)))).job
    assert got.delivered


async def test_admin_calls_show_stats_list_and_retry(
    jobs, jobs_admin, billing, billing_admin, start_worker, db
):
    await user_with(billing, billing_admin, tg(702), 10)
    await start_worker(LOCAL_LATENCY_SECONDS=0)
    good = (await jobs.CreateJob(request(tg(702), "a calm sea"))).job
    bad = (await jobs.CreateJob(request(tg(702), "forbidden fruit"))).job
    await wait_for_status(jobs, good, pb.JOB_STATUS_SUCCEEDED)
    await wait_for_status(jobs, bad, pb.JOB_STATUS_FAILED)

    stats = await jobs_admin.GetJobStats(pb.GetJobStatsRequest())
    counts = {(c.kind, c.status): c.count for c in stats.counts}
    assert counts[(pb.JOB_KIND_IMAGE, pb.JOB_STATUS_SUCCEEDED)] == 1
    assert counts[(pb.JOB_KIND_IMAGE, pb.JOB_STATUS_FAILED)] == 1
    local = {p.provider: p for p in stats.providers}["local"]
    assert (local.finished, local.failed, local.failure_rate) == (2, 1, 0.5)

    failed = await jobs_admin.ListAllJobs(pb.ListAllJobsRequest(status=pb.JOB_STATUS_FAILED))
    assert [j.id for j in failed.jobs] == [bad.id]
    page = await jobs_admin.ListAllJobs(pb.ListAllJobsRequest(telegram_id=tg(702), page_size=1))
    rest = await jobs_admin.ListAllJobs(
        pb.ListAllJobsRequest(telegram_id=tg(702), page_size=1, page_token=page.next_page_token)
    )
    assert {page.jobs[0].id, rest.jobs[0].id} == {good.id, bad.id}

    retried = (await jobs_admin.RetryJob(pb.RetryJobRequest(job_id=bad.id))).job
    assert retried.retry_of == bad.id and retried.id != bad.id
    again = (await jobs_admin.RetryJob(pb.RetryJobRequest(job_id=bad.id))).job
    assert again.id == retried.id, "a retry is idempotent"
    holds = await db.fetch(
        "SELECT amount FROM billing.reservations WHERE purpose = $1", f"job:{retried.id}"
    )
    assert [h["amount"] for h in holds] == [1], "the retry is charged once"
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await jobs_admin.RetryJob(pb.RetryJobRequest(job_id=good.id))
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    await wait_for_status(jobs, retried, pb.JOB_STATUS_FAILED)  # still forbidden
    await wait_until_settled(db)
    await money_is_exact(db)


async def test_job_calls_need_the_right_credential(jobs, jobs_service):
    for admin_call in (
        jobs.GetJobStats(pb.GetJobStatsRequest()),
        jobs.ListAllJobs(pb.ListAllJobsRequest()),
        jobs.RetryJob(pb.RetryJobRequest(job_id=str(uuid.uuid4()))),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await admin_call
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    opened = channel(f"127.0.0.1:{jobs_service.port}")
    try:
        anonymous = jobs_pb2_grpc.JobServiceStub(opened)
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await anonymous.CreateJob(request(1))
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
        stream = anonymous.WatchJob(pb.WatchJobRequest(job_id=str(uuid.uuid4()), telegram_id=1))
        with pytest.raises(grpc.aio.AioRpcError) as err:
            async for _ in stream:
                pass
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    finally:
        await opened.close()


async def test_another_users_job_is_not_found(jobs, billing, billing_admin):
    await user_with(billing, billing_admin, tg(703), 10)
    mine = (await jobs.CreateJob(request(tg(703)))).job
    for call in (
        jobs.GetJob(pb.GetJobRequest(job_id=mine.id, telegram_id=tg(704))),
        jobs.CancelJob(pb.CancelJobRequest(job_id=mine.id, telegram_id=tg(704))),
        jobs.GetResultUrls(pb.GetResultUrlsRequest(job_id=mine.id, telegram_id=tg(704))),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await call
        assert err.value.code() == grpc.StatusCode.NOT_FOUND
    listed = await jobs.ListJobs(pb.ListJobsRequest(telegram_id=tg(704)))
    assert not listed.jobs


async def test_an_admin_reads_any_users_job_without_naming_the_owner(
    jobs, jobs_admin, billing, billing_admin
):
    await user_with(billing, billing_admin, tg(705), 10)
    mine = (await jobs.CreateJob(request(tg(705)))).job
    read = (await jobs_admin.GetJob(pb.GetJobRequest(job_id=mine.id))).job
    assert (read.id, read.telegram_id) == (mine.id, tg(705))
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await jobs_admin.GetJob(pb.GetJobRequest(job_id=mine.id, telegram_id=tg(706)))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as err:  # the service credential names the owner
        await jobs.GetJob(pb.GetJobRequest(job_id=mine.id))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_a_presigned_url_expires_and_cannot_be_tampered_with(
    jobs, billing, billing_admin, start_worker
):
    import httpx

    await user_with(billing, billing_admin, tg(705), 10)
    await start_worker(LOCAL_LATENCY_SECONDS=0)
    job = (await jobs.CreateJob(request(tg(705)))).job
    await wait_for_status(jobs, job, pb.JOB_STATUS_SUCCEEDED)
    urls = await jobs.GetResultUrls(
        pb.GetResultUrlsRequest(job_id=job.id, telegram_id=tg(705), expires_in_seconds=60)
    )
    url = urls.urls[0].url
    assert "X-Amz-Expires=60" in url
    async with httpx.AsyncClient() as client:
        assert (await client.get(url)).status_code == 200
        tampered = url.replace("result.png", "input.png")
        assert (await client.get(tampered)).status_code == 403
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await jobs.GetResultUrls(
            pb.GetResultUrlsRequest(job_id=job.id, telegram_id=tg(705), expires_in_seconds=10)
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_the_reconciler_rolls_forward_a_job_saved_but_not_charged(
    billing, billing_admin, job_env, db, start_worker, jobs
):
    await user_with(billing, billing_admin, tg(706), 10)
    async with domain(job_env) as found:
        # A crash right after the job was saved: no hold, not queued.
        row = await saved_not_charged(found, tg(706), "k")
        # A crash right after the hold was made: held, not queued.
        held = await saved_not_charged(found, tg(706), "k2")
        await found.billing.reserve(tg(706), 1, str(held.id))
        assert not any((await found.reconciler.reconcile()).values())
        await age(db, 60)
        assert (await found.reconciler.reconcile())["rolled_forward"] == 2
    await start_worker(LOCAL_LATENCY_SECONDS=0)
    for job_id in (row.id, held.id):
        await wait_for_status(jobs, pb.Job(id=str(job_id), telegram_id=tg(706)),
                              pb.JOB_STATUS_SUCCEEDED)  # fmt: skip
    await wait_until_settled(db)
    assert await balance(billing, tg(706)) == 8
    await money_is_exact(db)


async def test_the_reconciler_rolls_back_a_job_that_cannot_be_charged(
    billing, billing_admin, job_env, db
):
    await user_with(billing, billing_admin, tg(707), 0)
    async with domain(job_env) as found:
        await saved_not_charged(found, tg(707), "k")
        await age(db, 60)
        assert (await found.reconciler.reconcile())["rolled_back"] == 1
    assert await db.fetchval("SELECT count(*) FROM jobs.jobs") == 0
    assert await db.fetchval("SELECT count(*) FROM billing.reservations") == 0


async def test_the_reconciler_settles_a_job_finished_before_a_crash(
    jobs, billing, billing_admin, job_env, db
):
    await user_with(billing, billing_admin, tg(708), 10)
    created = (await jobs.CreateJob(request(tg(708)))).job
    async with domain(job_env) as found:
        job_id = uuid.UUID(created.id)
        claimed = await found.store.claim(job_id, "crashing-worker")
        # The worker records success and dies before capturing the hold.
        await found.store.finish(job_id, claimed.attempts, "succeeded", [], "", None)
        await age(db, 60)
        assert (await found.reconciler.reconcile())["settled"] == 1
        assert (await found.reconciler.reconcile())["settled"] == 0
    assert await balance(billing, tg(708)) == 9
    await money_is_exact(db)


async def test_unfinished_counts_come_back_to_zero(jobs, billing, billing_admin, start_worker, db):
    await user_with(billing, billing_admin, tg(709), 20)
    await start_worker(LOCAL_LATENCY_SECONDS=0)
    created = [(await jobs.CreateJob(request(tg(709), f"p{i}"))).job for i in range(5)]
    for job in created:
        await wait_for_status(jobs, job, pb.JOB_STATUS_SUCCEEDED)
    more = (await jobs.CreateJob(request(tg(709), "one more"))).job  # the limit of 5 is free again
    await wait_for_status(jobs, more, pb.JOB_STATUS_SUCCEEDED)
    await wait_until_settled(db)
    await money_is_exact(db)


async def test_jobs_whose_queue_entries_were_lost_are_enqueued_again(
    jobs, billing, billing_admin, job_env, db, redis, start_worker
):
    await user_with(billing, billing_admin, tg(710), 10)
    waiting = (await jobs.CreateJob(request(tg(710), "queued one"))).job
    async with domain(job_env) as found:
        claimed = (await jobs.CreateJob(request(tg(710), "running one"))).job
        await found.store.claim(uuid.UUID(claimed.id), "worker-that-vanished")
        await redis.delete("jobs:queue:normal", "jobs:queue:priority")  # Redis lost its data
        await found.queue.ensure_groups()
        assert (await found.reconciler.reconcile())["requeued"] == 0  # too fresh to call lost
        await age(db, 60)
        assert (await found.reconciler.reconcile())["requeued"] == 2
        assert (await found.reconciler.reconcile())["requeued"] == 0
    await start_worker(LOCAL_LATENCY_SECONDS=0)
    for job in (waiting, claimed):
        done = await wait_for_status(jobs, job, pb.JOB_STATUS_SUCCEEDED)
        assert len(done.results) == 1
    await wait_until_settled(db)
    assert await balance(billing, tg(710)) == 8
    await money_is_exact(db)


async def test_consumers_of_dead_workers_are_forgotten_once_they_hold_nothing(redis):
    from job_svc.queue import JobQueue, stream

    queue = JobQueue(redis)
    await queue.ensure_groups()
    await queue.enqueue("job-done", "normal")
    await queue.enqueue("job-held", "normal")
    finished = await queue.read("ghost-worker", 1, block_ms=10)
    await queue.done(finished[0])  # then the worker died, holding nothing
    held = await queue.read("busy-worker", 1, block_ms=10)
    assert [d.job_id for d in held] == ["job-held"]
    assert await queue.prune_consumers(0) == 1
    names = {c["name"] for c in await redis.xinfo_consumers(stream("normal"), "workers")}
    assert names == {b"busy-worker"}, "a consumer holding entries is kept"
    await redis.flushdb()  # Redis lost its data: there is nobody left to forget
    assert await queue.prune_consumers(0) == 0


async def test_a_burst_of_2500_watchers_is_served_without_refusals(
    jobs, jobs_service, billing, billing_admin
):
    from tests.support.settings import SERVICE_TOKEN

    await user_with(billing, billing_admin, tg(711), 10)
    job = (await jobs.CreateJob(request(tg(711)))).job  # stays queued: no worker runs
    opened = channel(f"127.0.0.1:{jobs_service.port}")
    stub = authorized(jobs_pb2_grpc.JobServiceStub(opened), SERVICE_TOKEN)
    first = asyncio.Event()
    got = 0

    async def watcher() -> None:
        nonlocal got
        async for answer in stub.WatchJob(pb.WatchJobRequest(job_id=job.id, telegram_id=tg(711))):
            assert answer.job.id == job.id
            got += 1
            if got == 2500:
                first.set()
            await asyncio.sleep(3600)

    tasks = [asyncio.create_task(watcher()) for _ in range(2500)]
    try:
        await asyncio.wait_for(first.wait(), 60)
    finally:
        for task in tasks:
            task.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        await opened.close()
    failures = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert not failures, f"{len(failures)} refused, e.g. {failures[0].code()}"
    assert got == 2500
