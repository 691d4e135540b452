"""A dead worker's jobs are taken over within CLAIM_IDLE_SECONDS, ahead of any backlog."""

from __future__ import annotations

import asyncio
import signal

from mediabot.jobs.v1 import jobs_pb2 as pb

from tests.support.ids import tg
from tests.support.jobs import (
    money_is_exact,
    request,
    spawn_worker,
    stop,
    user_with,
    wait_until_settled,
)

CLAIM_IDLE = 2.0
RUN_TIME = 1.0  # LOCAL_LATENCY_SECONDS: one job's run time


async def test_a_killed_workers_jobs_run_again_ahead_of_a_backlog(
    jobs, billing, billing_admin, job_env, db
):
    users = [tg(n) for n in range(1100, 1175)]  # 4 jobs each, under MAX_USER_QUEUE
    for user in users:
        await user_with(billing, billing_admin, user, 10)
    settings = {"WORKER_CONCURRENCY": 4, "LOCAL_LATENCY_SECONDS": RUN_TIME,
                "CLAIM_IDLE_SECONDS": CLAIM_IDLE}  # fmt: skip
    victim = spawn_worker(job_env, **settings)
    survivor = spawn_worker(job_env, **settings)
    loop = asyncio.get_running_loop()
    try:
        created = await asyncio.gather(
            *(jobs.CreateJob(request(users[i % len(users)], f"backlog {i}")) for i in range(300))
        )
        held_by = "SELECT count(*) FROM jobs.jobs WHERE status = 'running' AND worker LIKE $1"
        deadline = loop.time() + 30
        while await db.fetchval(held_by, f"%-{victim.pid}-%") < 4:
            assert loop.time() < deadline, "the victim never held 4 jobs"
            await asyncio.sleep(0.02)
        victim.send_signal(signal.SIGKILL)
        killed_at = loop.time()
        victim.wait()
        held = await db.fetch(
            "SELECT id, attempts FROM jobs.jobs WHERE status = 'running' AND worker LIKE $1",
            f"%-{victim.pid}-%",
        )
        assert len(held) >= 3, "the victim held its slots when it died"
        queued = await db.fetchval("SELECT count(*) FROM jobs.jobs WHERE status = 'queued'")
        assert queued >= 200, "a backlog waits behind the dead worker's jobs"

        # Each job of the dead worker runs again, under the survivor, with a new attempt.
        bound = CLAIM_IDLE + RUN_TIME + 2
        attempts = {row["id"]: row["attempts"] for row in held}
        took: dict[object, float] = {}
        while len(took) < len(held) and loop.time() - killed_at < bound:
            for row in await db.fetch(
                "SELECT id, attempts, worker FROM jobs.jobs WHERE id = ANY($1)", list(attempts)
            ):
                if row["id"] not in took and row["attempts"] > attempts[row["id"]]:
                    assert row["worker"].split("-")[-2] == str(survivor.pid)
                    took[row["id"]] = loop.time() - killed_at
            await asyncio.sleep(0.02)
        late = len(held) - len(took)
        assert not late, f"{late} of {len(held)} jobs not taken over within {bound} s: {took}"

        # Enough shown: cancel the backlog and let the taken-over jobs finish.
        taken_over = {str(job_id) for job_id in attempts}
        await asyncio.gather(
            *(
                jobs.CancelJob(pb.CancelJobRequest(job_id=a.job.id, telegram_id=a.job.telegram_id))
                for a in created
                if a.job.id not in taken_over
            )
        )
        await wait_until_settled(db)
    finally:
        stop(victim)
        stop(survivor)
    finals = await db.fetch(
        "SELECT status, attempts, jsonb_array_length(results) AS results FROM jobs.jobs "
        "WHERE id = ANY($1)",
        list(attempts),
    )
    for final in finals:
        assert (final["status"], final["attempts"], final["results"]) == ("succeeded", 2, 1)
    await money_is_exact(db)


async def test_a_dead_workers_entry_is_found_behind_many_live_ones(redis):
    from job_svc.queue import JobQueue

    queue = JobQueue(redis)
    await queue.ensure_groups()
    for i in range(30):
        await queue.enqueue(f"job-{i}", "normal")
    live = await queue.read("live-worker", 29, block_ms=0)
    dead = await queue.read("dead-worker", 1, block_ms=0)
    await asyncio.sleep(0.3)
    await queue.touch("live-worker", live)  # its heartbeat; the dead worker's entry stays idle
    # Redis 7 looks at no more than 10 * COUNT held entries per XAUTOCLAIM call.
    assert await queue.reclaim("new-worker", 200, 1) == dead
    assert await queue.reclaim("new-worker", 200, 1) == []
