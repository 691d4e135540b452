"""Creations that fail half way, jobs that never finish, holds that outlive a day:
whatever happens, a job is charged once or not at all, and leaves nothing behind."""

from __future__ import annotations

import asyncio
import uuid

import grpc
import pytest
from mediabot.jobs.v1 import jobs_pb2 as pb

from common.errors import Internal
from tests.support.ids import tg
from tests.support.jobs import (
    age,
    balance,
    domain,
    money_is_exact,
    png,
    request,
    saved_not_charged,
    user_with,
    wait_for_status,
    wait_until_settled,
)


def new_job(telegram_id: int, **fields: object):
    from job_svc.jobs import NewJob

    values = {"telegram_id": telegram_id, "kind": "image", "quality": "standard",
              "prompt": "a fox", "image": b"", "aspect_ratio": "1:1", "duration_seconds": 0,
              "client_key": uuid.uuid4().hex, **fields}  # fmt: skip
    return NewJob(**values)  # type: ignore[arg-type]


async def test_billing_refusing_the_hold_leaves_no_job_to_be_charged_later(
    billing, billing_admin, job_env, db
):
    await user_with(billing, billing_admin, tg(801), 10)
    # A replica with a wrong credential: billing refuses its calls as UNAUTHENTICATED.
    async with domain(job_env, SERVICE_TOKEN="a-wrong-service-token-0123456789") as found:
        with pytest.raises(Internal, match="UNAUTHENTICATED"):
            await found.jobs.create(new_job(tg(801)))
    assert await db.fetchval("SELECT count(*) FROM jobs.jobs") == 0
    assert await db.fetchval("SELECT count(*) FROM billing.reservations") == 0
    assert await balance(billing, tg(801)) == 10


async def test_a_refused_or_repeated_edit_leaves_no_input_image_behind(
    jobs, billing, billing_admin, job_env
):
    await user_with(billing, billing_admin, tg(802), 0)
    async with domain(job_env) as found:
        before = set(await found.objects.keys("jobs/"))
        edit = request(tg(802), "make it blue", kind=pb.JOB_KIND_EDIT, input_image=png())
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await jobs.CreateJob(edit)
        assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert set(await found.objects.keys("jobs/")) == before

        await user_with(billing, billing_admin, tg(802), 10)
        first = (await jobs.CreateJob(edit)).job
        again = (await jobs.CreateJob(edit)).job
        assert again.id == first.id
        added = set(await found.objects.keys("jobs/")) - before
        assert added == {f"jobs/{first.id}/input.png"}
    assert await balance(billing, tg(802)) == 10 - 2  # COST_EDIT_STANDARD, once


async def test_a_job_saved_before_its_input_was_stored_is_rolled_back(
    billing, billing_admin, job_env, db
):
    await user_with(billing, billing_admin, tg(803), 10)
    async with domain(job_env) as found:
        # A crash after the row was saved and before the input image was uploaded.
        job_id = uuid.uuid4()
        await saved_not_charged(found, tg(803), "k", id=job_id, kind="edit",
                                input_key=f"jobs/{job_id}/input.png")  # fmt: skip
        await age(db, 60)
        await found.reconciler.reconcile()
    assert await db.fetchval("SELECT count(*) FROM jobs.jobs") == 0
    assert await db.fetchval("SELECT count(*) FROM billing.reservations") == 0
    assert await balance(billing, tg(803)) == 10


async def test_a_job_that_outlived_its_attempts_fails_and_is_refunded(
    jobs, billing, billing_admin, start_worker, db
):
    await user_with(billing, billing_admin, tg(804), 10)
    created = (await jobs.CreateJob(request(tg(804)))).job
    # Five workers took it up and died with it (e.g. it exhausted their memory).
    await db.execute("UPDATE jobs.jobs SET attempts = 5 WHERE id = $1", uuid.UUID(created.id))
    await start_worker(LOCAL_LATENCY_SECONDS=0, MAX_ATTEMPTS=5)
    failed = await wait_for_status(jobs, created, pb.JOB_STATUS_FAILED)
    assert "could not be completed in 5 attempts" in failed.error
    assert failed.failure == pb.JOB_FAILURE_TOO_MANY_ATTEMPTS
    assert not failed.results
    await wait_until_settled(db)
    assert await balance(billing, tg(804)) == 10
    await money_is_exact(db)


async def test_the_hold_of_a_job_waiting_long_is_extended_before_it_expires(
    jobs, billing, billing_admin, job_env, db
):
    await user_with(billing, billing_admin, tg(805), 10)
    created = (await jobs.CreateJob(request(tg(805)))).job
    # 23 hours later, still queued: the hold has one hour left.
    await db.execute("UPDATE billing.reservations SET expires_at = now() + interval '1 hour'")
    await db.execute("UPDATE jobs.jobs SET hold_until = now() + interval '1 hour'")
    async with domain(job_env) as found:
        await found.reconciler.reconcile()
    left = await db.fetchval("SELECT expires_at - now() FROM billing.reservations")
    assert left.total_seconds() > 23 * 3600
    hold_until = await db.fetchval("SELECT hold_until - now() FROM jobs.jobs")
    assert hold_until.total_seconds() > 23 * 3600
    job = (await jobs.GetJob(pb.GetJobRequest(job_id=created.id, telegram_id=tg(805)))).job
    assert job.status == pb.JOB_STATUS_QUEUED
    assert await balance(billing, tg(805)) == 9


async def test_a_job_whose_hold_expired_anyway_fails_and_is_refunded_once(
    jobs, billing, billing_admin, job_env, db, start_worker
):
    from billing_svc.reservations import Reservations

    await user_with(billing, billing_admin, tg(806), 10)
    created = (await jobs.CreateJob(request(tg(806)))).job
    # Nobody extended the hold (job_svc was down a day): billing's sweeper refunds it.
    await db.execute("UPDATE billing.reservations SET expires_at = now() - interval '1 second'")
    assert await Reservations(db).sweep_expired() == 1
    assert await balance(billing, tg(806)) == 10
    await db.execute("UPDATE jobs.jobs SET hold_until = now() - interval '1 second'")
    async with domain(job_env) as found:
        await found.reconciler.reconcile()
    failed = (await jobs.GetJob(pb.GetJobRequest(job_id=created.id, telegram_id=tg(806)))).job
    assert failed.status == pb.JOB_STATUS_FAILED
    assert "waited too long" in failed.error
    assert failed.failure == pb.JOB_FAILURE_EXPIRED
    await start_worker(LOCAL_LATENCY_SECONDS=0)  # its queue entry leads nowhere
    await wait_until_settled(db)
    assert await db.fetchval("SELECT charge FROM jobs.jobs") == "released"
    assert await balance(billing, tg(806)) == 10
    await money_is_exact(db)


async def test_a_full_worker_told_to_stop_hands_back_its_jobs_and_says_so(
    jobs, billing, billing_admin, job_env, redis, db
):
    from job_svc.events import EVENTS
    from job_svc.worker import Worker

    await user_with(billing, billing_admin, tg(807), 10)
    events = redis.pubsub()
    await events.subscribe(EVENTS)
    async with domain(job_env, LOCAL_LATENCY_SECONDS=60, WORKER_CONCURRENCY=1) as found:
        full = Worker.from_domain(found, "full-worker")
        run = asyncio.create_task(full.run(grace_seconds=0.2))
        created = (await jobs.CreateJob(request(tg(807)))).job
        await wait_for_status(jobs, created, pb.JOB_STATUS_RUNNING)
        full.stop()
        await asyncio.wait_for(run, 10)  # not after the 60 s job
        seen = []
        async with asyncio.timeout(5):
            while pb.JOB_STATUS_QUEUED not in seen:
                message = await events.get_message(ignore_subscribe_messages=True, timeout=1)
                if message is not None:
                    event = pb.Job.FromString(message["data"])
                    if event.id == created.id:
                        seen.append(event.status)
    await events.aclose()
    back = (await jobs.GetJob(pb.GetJobRequest(job_id=created.id, telegram_id=tg(807)))).job
    assert back.status == pb.JOB_STATUS_QUEUED
    assert await balance(billing, tg(807)) == 9


async def test_a_job_runs_on_the_provider_it_was_priced_for_or_is_refunded(
    jobs, billing, billing_admin, start_worker, db
):
    await user_with(billing, billing_admin, tg(808), 10)
    created = (await jobs.CreateJob(request(tg(808)))).job
    # Created under a configuration whose provider this worker does not have.
    await db.execute("UPDATE jobs.jobs SET provider = 'runway' WHERE id = $1",
                     uuid.UUID(created.id))  # fmt: skip
    await start_worker(LOCAL_LATENCY_SECONDS=0)
    failed = await wait_for_status(jobs, created, pb.JOB_STATUS_FAILED)
    assert "runway" in failed.error
    await wait_until_settled(db)
    assert await balance(billing, tg(808)) == 10
    await money_is_exact(db)


async def test_a_refund_goes_through_whatever_the_failure_reason_holds(
    billing, billing_admin, job_env
):
    await user_with(billing, billing_admin, tg(809), 10)
    async with domain(job_env) as found:
        hold = (await found.billing.reserve(tg(809), 3, str(uuid.uuid4()))).id
        # A provider's error text, terminal colours and a NUL included.
        await found.billing.release(hold, "upstream said \x1b[31mno\x1b[0m\x00 (code 7)\r")
    assert await balance(billing, tg(809)) == 10


async def test_replicas_take_turns_at_the_periodic_repair(job_env, redis):
    async with domain(job_env) as first, domain(job_env) as second:
        await redis.delete("jobs:reconciler")
        ran = await asyncio.gather(
            first.reconciler.reconcile_in_turn(0.5), second.reconciler.reconcile_in_turn(0.5)
        )
        assert sorted(ran) == [False, True]
        assert not await first.reconciler.reconcile_in_turn(0.5)
        await asyncio.sleep(0.5)  # the lease (80% of the interval) has lapsed
        assert await second.reconciler.reconcile_in_turn(0.5)


async def test_a_hold_made_for_a_job_removed_meanwhile_is_given_back(
    billing, billing_admin, job_env, db
):
    from common.errors import Unavailable

    await user_with(billing, billing_admin, tg(810), 10)
    async with domain(job_env) as found:
        row = await saved_not_charged(found, tg(810), "k")
        # Another attempt at the same job held the price, then was refused and removed
        # the job (its refusal raced with a top-up): this attempt finds the hold again.
        await found.billing.reserve(tg(810), 1, str(row.id))
        await found.store.delete_creating(row.id)
        with pytest.raises(Unavailable, match="withdrawn"):
            await found.jobs.charge_and_queue(row)
    assert await db.fetchval("SELECT status FROM billing.reservations") == "released"
    assert await balance(billing, tg(810)) == 10


async def test_removing_a_job_never_removes_one_that_was_charged_meanwhile(
    billing, billing_admin, job_env, db
):
    await user_with(billing, billing_admin, tg(811), 0)
    async with domain(job_env) as found:
        job_id = uuid.uuid4()
        key = f"jobs/{job_id}/input.png"
        row = await saved_not_charged(found, tg(811), "k", id=job_id, kind="edit", input_key=key)
        await found.objects.put(key, png(), "image/png")
        # CreateJob's hold was refused (no credits); before it removes the job, the
        # user tops up and the reconciler charges and queues the job.
        await user_with(billing, billing_admin, tg(811), 10)
        await age(db, 60)
        await found.reconciler.reconcile()
        assert not await found.jobs.discard(row)
        assert key in await found.objects.keys(f"jobs/{job_id}/")
    assert await db.fetchval("SELECT status FROM jobs.jobs") == "queued"
    assert await balance(billing, tg(811)) == 10 - 1


async def test_a_job_whose_hold_expired_before_it_was_queued_is_rolled_back(
    billing, billing_admin, job_env, db
):
    from billing_svc.reservations import Reservations

    await user_with(billing, billing_admin, tg(812), 10)
    async with domain(job_env) as found:
        row = await saved_not_charged(found, tg(812), "k")
        # The hold was made but its answer lost, and billing stayed out of reach a day.
        await found.billing.reserve(tg(812), 1, str(row.id))
        await db.execute("UPDATE billing.reservations SET expires_at = now() - interval '1 s'")
        assert await Reservations(db).sweep_expired() == 1
        await age(db, 60)
        await found.reconciler.reconcile()
    assert await db.fetchval("SELECT count(*) FROM jobs.jobs") == 0
    assert await balance(billing, tg(812)) == 10


async def test_holds_billing_does_not_know_are_settled_as_nothing_taken(
    jobs, billing, billing_admin, job_env, db
):
    await user_with(billing, billing_admin, tg(813), 10)
    broken = (await jobs.CreateJob(request(tg(813), "broken"))).job
    fine = (await jobs.CreateJob(request(tg(813), "fine"))).job
    async with domain(job_env) as found:
        for job in (broken, fine):
            claimed = await found.store.claim(uuid.UUID(job.id), "a-worker-that-died")
            await found.store.finish(uuid.UUID(job.id), claimed.attempts, "succeeded", [], "", None)
        # A hold billing does not know (e.g. its database was restored from a backup).
        await db.execute("UPDATE jobs.jobs SET reservation_id = $1 WHERE id = $2",
                         str(uuid.uuid4()), uuid.UUID(broken.id))  # fmt: skip
        await age(db, 60)
        await found.reconciler.reconcile()
        # A job queued by a release without hold_until gets one on the next pass.
        queued = (await jobs.CreateJob(request(tg(813), "queued"))).job
        await db.execute("UPDATE jobs.jobs SET hold_until = NULL WHERE id = $1",
                         uuid.UUID(queued.id))  # fmt: skip
        await found.reconciler.reconcile()
    charges = dict(await db.fetch("SELECT id::text, charge FROM jobs.jobs"))
    assert charges[fine.id] == "captured" and charges[broken.id] == "released"
    left = await db.fetchval("SELECT hold_until - now() FROM jobs.jobs WHERE id = $1",
                             uuid.UUID(queued.id))  # fmt: skip
    assert left.total_seconds() > 23 * 3600
