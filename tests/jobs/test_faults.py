"""Crashes, kills and replicas: no job is lost, charged twice or finished twice."""

from __future__ import annotations

import asyncio
import random
import signal
import uuid

from mediabot.jobs.v1 import jobs_pb2 as pb
from minio import Minio

from tests.support.ids import tg
from tests.support.jobs import (
    balance,
    domain,
    money_is_exact,
    request,
    spawn_worker,
    stop,
    user_with,
    wait_for_status,
    wait_until_settled,
    watch,
)


def object_keys(job_env: dict[str, str], prefix: str) -> list[str]:
    client = Minio(job_env["MINIO_ENDPOINT"], job_env["MINIO_ACCESS_KEY"],
                   job_env["MINIO_SECRET_KEY"], secure=False, region="us-east-1")  # fmt: skip
    objects = client.list_objects(job_env["MINIO_BUCKET"], prefix=prefix, recursive=True)
    return [o.object_name for o in objects]


async def test_a_job_of_a_worker_killed_mid_job_is_finished_once_by_another(
    jobs, billing, billing_admin, job_env, db
):
    await user_with(billing, billing_admin, tg(501), 10)
    first = spawn_worker(job_env, LOCAL_LATENCY_SECONDS=2)
    second = None
    try:
        created = (await jobs.CreateJob(request(tg(501)))).job
        await wait_for_status(jobs, created, pb.JOB_STATUS_RUNNING)
        first.send_signal(signal.SIGKILL)
        first.wait()
        second = spawn_worker(job_env, LOCAL_LATENCY_SECONDS=0.5)
        final = await wait_for_status(jobs, created, pb.JOB_STATUS_SUCCEEDED, seconds=60)
    finally:
        stop(first)
        if second is not None:
            stop(second)
    assert final.attempts == 2
    assert len(final.results) == 1
    assert object_keys(job_env, f"jobs/{final.id}/") == [final.results[0].key]
    await wait_until_settled(db)
    assert await balance(billing, tg(501)) == 9
    unfinished = await db.fetchval(
        "SELECT count(*) FROM jobs.jobs WHERE status IN ('creating', 'queued', 'running')"
    )
    assert unfinished == 0
    await money_is_exact(db)


async def test_500_jobs_survive_a_worker_killed_and_restarted_at_random(
    jobs, billing, billing_admin, job_env, db
):
    users = [tg(n) for n in range(600, 700)]
    for user in users:
        await user_with(billing, billing_admin, user, 20)
    settings = {"LOCAL_LATENCY_SECONDS": 0.05, "LOCAL_FAILURE_RATE": 0.1,
                "WORKER_CONCURRENCY": 16, "CLAIM_IDLE_SECONDS": 1.5}  # fmt: skip
    workers = [spawn_worker(job_env, **settings), spawn_worker(job_env, **settings)]
    rng = random.Random(7)

    async def chaos(stop_event: asyncio.Event) -> int:
        kills = 0
        while not stop_event.is_set():
            await asyncio.sleep(rng.uniform(0.5, 2.5))
            workers[0].send_signal(signal.SIGKILL)
            workers[0].wait()
            kills += 1
            workers[0] = spawn_worker(job_env, **settings)
        return kills

    async def submit(index: int) -> pb.Job:
        user = users[index % len(users)]
        prompt = "a forbidden lake" if index % 50 == 0 else f"scene {index}"
        return (await jobs.CreateJob(request(user, prompt, client_key=f"chaos-{index}"))).job

    done = asyncio.Event()
    chaos_task = asyncio.create_task(chaos(done))
    try:
        created = await asyncio.gather(*(submit(i) for i in range(500)))
        for job in created[3::40]:  # some owners change their minds
            await jobs.CancelJob(pb.CancelJobRequest(job_id=job.id, telegram_id=job.telegram_id))
        deadline = asyncio.get_running_loop().time() + 60
        while await db.fetchval(
            "SELECT count(*) FROM jobs.jobs WHERE status IN ('creating', 'queued', 'running')"
        ):
            if asyncio.get_running_loop().time() > deadline:
                stuck = await db.fetch(
                    "SELECT status, charge, attempts, worker, count(*) FROM jobs.jobs "
                    "WHERE status IN ('creating', 'queued', 'running') GROUP BY 1, 2, 3, 4"
                )
                raise AssertionError(f"jobs got stuck: {[dict(r) for r in stuck]}")
            await asyncio.sleep(0.2)
    finally:
        done.set()
        kills = await chaos_task
        for worker in workers:
            stop(worker)
    assert kills >= 3
    await wait_until_settled(db)
    counts = dict(await db.fetch("SELECT status, count(*) FROM jobs.jobs GROUP BY status"))
    assert sum(counts.values()) == 500
    assert counts.get("succeeded", 0) > 350
    assert counts.get("failed", 0) >= 10  # the forbidden ones at least
    duplicates = await db.fetchval(
        "SELECT count(*) FROM jobs.jobs WHERE status = 'succeeded' "
        "AND jsonb_array_length(results) <> 1"
    )
    assert duplicates == 0
    ours = {str(r["id"]) for r in await db.fetch("SELECT id FROM jobs.jobs")}
    stored = [k for k in object_keys(job_env, "jobs/") if k.split("/")[1] in ours]
    kept = {
        r["key"]
        for r in await db.fetch(
            "SELECT jsonb_array_elements(results)->>'key' AS key FROM jobs.jobs"
        )
    }
    assert sorted(stored) == sorted(kept), "exactly one stored object per result, no leftovers"
    assert len(kept) == counts["succeeded"]
    await money_is_exact(db)
    spent = await db.fetchval(
        "SELECT coalesce(sum(cost), 0) FROM jobs.jobs WHERE status = 'succeeded'"
    )
    total = sum([await balance(billing, u) for u in users])
    assert total == 20 * len(users) - spent


async def test_a_watcher_on_one_replica_sees_every_event_of_a_job_run_through_another(
    jobs, billing, billing_admin, job_env, start_worker, db
):
    from mediabot.jobs.v1 import jobs_pb2_grpc

    from common.clients import authorized, channel
    from job_svc.server import create_server
    from job_svc.settings import JobSettings
    from tests.support.settings import SERVICE_TOKEN, make_settings

    await user_with(billing, billing_admin, tg(502), 10)
    replica = await create_server(make_settings(JobSettings, job_env), "127.0.0.1:0")
    await replica.start()
    opened = channel(f"127.0.0.1:{replica.port}")
    try:
        other = authorized(jobs_pb2_grpc.JobServiceStub(opened), SERVICE_TOKEN)
        created = (await jobs.CreateJob(request(tg(502)))).job
        updates = await watch(other, created, after_first=start_worker)
    finally:
        await opened.close()
        await replica.stop(0)
    versions = [u.job.version for u in updates]
    assert versions == sorted(set(versions)), "each state once, in order"
    assert [u.job.status for u in updates][-1] == pb.JOB_STATUS_SUCCEEDED
    assert pb.JOB_STATUS_RUNNING in [u.job.status for u in updates]
    progress = [u.job.progress for u in updates if u.job.status == pb.JOB_STATUS_RUNNING]
    assert progress == sorted(progress) and max(progress) > 0
    final = await db.fetchval("SELECT version FROM jobs.jobs WHERE id = $1", uuid.UUID(created.id))
    assert versions[-1] == final


async def test_a_watcher_arriving_after_the_end_gets_the_final_state_and_the_stream_ends(
    jobs, billing, billing_admin, start_worker
):
    await user_with(billing, billing_admin, tg(503), 10)
    await start_worker(LOCAL_LATENCY_SECONDS=0)
    created = (await jobs.CreateJob(request(tg(503)))).job
    await wait_for_status(jobs, created, pb.JOB_STATUS_SUCCEEDED)
    updates = await watch(jobs, created, timeout=5)
    assert [u.job.status for u in updates] == [pb.JOB_STATUS_SUCCEEDED]


async def test_sigterm_lets_a_worker_finish_its_job_before_it_exits(
    jobs, billing, billing_admin, job_env, db
):
    await user_with(billing, billing_admin, tg(504), 10)
    worker = spawn_worker(job_env, LOCAL_LATENCY_SECONDS=1.5)
    try:
        created = (await jobs.CreateJob(request(tg(504)))).job
        await wait_for_status(jobs, created, pb.JOB_STATUS_RUNNING)
        worker.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(worker.wait, 30) == 0
    finally:
        stop(worker)
    final = (await jobs.GetJob(pb.GetJobRequest(job_id=created.id, telegram_id=tg(504)))).job
    assert final.status == pb.JOB_STATUS_SUCCEEDED
    await wait_until_settled(db)
    await money_is_exact(db)


async def test_a_worker_out_of_grace_hands_its_job_back_to_the_queue(
    jobs, billing, billing_admin, job_env, start_worker, db
):
    from job_svc.worker import Worker

    await user_with(billing, billing_admin, tg(505), 10)
    async with domain(job_env, LOCAL_LATENCY_SECONDS=30) as found:
        leaving = Worker.from_domain(found, "leaving-worker")
        run = asyncio.create_task(leaving.run(grace_seconds=0.2))
        created = (await jobs.CreateJob(request(tg(505)))).job
        await wait_for_status(jobs, created, pb.JOB_STATUS_RUNNING)
        leaving.stop()
        await asyncio.wait_for(run, 10)
    back = (await jobs.GetJob(pb.GetJobRequest(job_id=created.id, telegram_id=tg(505)))).job
    assert back.status == pb.JOB_STATUS_QUEUED
    await start_worker(LOCAL_LATENCY_SECONDS=0)
    final = await wait_for_status(jobs, created, pb.JOB_STATUS_SUCCEEDED)
    assert final.attempts == 2 and len(final.results) == 1
    await wait_until_settled(db)
    assert await balance(billing, tg(505)) == 9
    await money_is_exact(db)


async def test_one_worker_holds_hundreds_of_jobs_in_flight(
    jobs, billing, billing_admin, start_worker, db
):
    users = [tg(n) for n in range(800, 860)]
    for user in users:
        await user_with(billing, billing_admin, user, 10)
    await start_worker(LOCAL_LATENCY_SECONDS=6, WORKER_CONCURRENCY=300, PROVIDER_CONCURRENCY=300)
    created = await asyncio.gather(
        *(jobs.CreateJob(request(users[i % 60], f"crowd {i}")) for i in range(300))
    )
    peak = 0
    for _ in range(300):
        running = await db.fetchval("SELECT count(*) FROM jobs.jobs WHERE status = 'running'")
        peak = max(peak, running)
        if peak >= 250:
            break
        await asyncio.sleep(0.05)
    assert peak >= 250, f"only {peak} jobs ran at once"
    for answer in created:
        await wait_for_status(jobs, answer.job, pb.JOB_STATUS_SUCCEEDED, seconds=60)
    await wait_until_settled(db)
    await money_is_exact(db)


async def test_a_worker_survives_redis_losing_its_data(
    jobs, billing, billing_admin, job_env, start_worker, redis, db
):
    await user_with(billing, billing_admin, tg(506), 10)
    await start_worker(LOCAL_LATENCY_SECONDS=0)
    await asyncio.sleep(0.3)  # the worker is blocked reading the queue
    await redis.flushdb()  # streams, groups and all: as after a restart without persistence
    created = (await jobs.CreateJob(request(tg(506)))).job
    await db.execute("UPDATE jobs.jobs SET created_at = created_at - interval '1 minute'")
    async with domain(job_env) as found:
        await (
            found.reconciler.reconcile()
        )  # the job has an entry again (or still): either way it runs
    final = await wait_for_status(jobs, created, pb.JOB_STATUS_SUCCEEDED)
    assert len(final.results) == 1
    await wait_until_settled(db)
    await money_is_exact(db)
