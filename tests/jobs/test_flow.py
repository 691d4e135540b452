"""Jobs end to end: create, watch, results, refusals, failures, retries, cancels."""

from __future__ import annotations

import asyncio
import io
import time

import av
import grpc
import httpx
import pytest
from mediabot.billing.v1 import billing_pb2 as bpb
from mediabot.jobs.v1 import jobs_pb2 as pb
from mediabot.jobs.v1 import jobs_pb2_grpc
from PIL import Image

from common.clients import authorized, channel, error_info
from job_svc.server import create_server as create_jobs_server
from job_svc.settings import JobSettings
from tests.support.ids import tg
from tests.support.jobs import (
    balance,
    money_is_exact,
    png,
    request,
    statuses,
    user_with,
    wait_for_status,
    wait_until_settled,
    watch,
)
from tests.support.settings import SERVICE_TOKEN, make_settings

USER = tg(4242)
LIFECYCLE = [pb.JOB_STATUS_QUEUED, pb.JOB_STATUS_RUNNING, pb.JOB_STATUS_SUCCEEDED]


async def fetch_result(jobs, job: pb.Job) -> tuple[bytes, str]:
    urls = await jobs.GetResultUrls(
        pb.GetResultUrlsRequest(job_id=job.id, telegram_id=job.telegram_id)
    )
    assert len(urls.urls) == 1
    async with httpx.AsyncClient() as client:
        answer = await client.get(urls.urls[0].url)
    assert answer.status_code == 200
    return answer.content, answer.headers["content-type"]


async def test_an_image_job_runs_through_its_lifecycle_and_its_url_serves_the_image(
    jobs, billing, billing_admin, start_worker, db
):
    await user_with(billing, billing_admin, USER, 10)
    created = (await jobs.CreateJob(request(USER, options=pb.JobOptions(aspect_ratio="16:9")))).job
    assert created.status == pb.JOB_STATUS_QUEUED and created.cost == 1
    assert await balance(billing, USER) == 9
    updates = await watch(jobs, created, after_first=start_worker)
    assert statuses(updates) == LIFECYCLE
    assert updates[0].queue_position >= 0
    assert any(0 < u.job.progress < 100 for u in updates), "progress is reported while running"
    final = updates[-1].job
    data, content_type = await fetch_result(jobs, final)
    picture = Image.open(io.BytesIO(data))
    assert content_type == "image/png" and picture.format == "PNG"
    assert picture.width > picture.height  # 16:9
    assert final.results[0].key.startswith(f"jobs/{final.id}/")
    await wait_until_settled(db)
    assert await balance(billing, USER) == 9
    await money_is_exact(db)


async def test_an_edit_job_transforms_the_input_image(
    jobs, billing, billing_admin, start_worker, db
):
    await user_with(billing, billing_admin, USER, 10)
    original = png(80, 60, "blue")
    created = (
        await jobs.CreateJob(
            request(USER, "make it sunset", kind=pb.JOB_KIND_EDIT, input_image=original)
        )
    ).job
    assert created.has_input
    updates = await watch(jobs, created, after_first=start_worker)
    assert statuses(updates) == LIFECYCLE
    data, _ = await fetch_result(jobs, updates[-1].job)
    edited = Image.open(io.BytesIO(data))
    edited.load()
    assert data != original and edited.size[0] > 0
    await wait_until_settled(db)
    assert await balance(billing, USER) == 10 - 2
    await money_is_exact(db)


async def test_a_video_job_makes_a_decodable_mp4(jobs, billing, billing_admin, start_worker, db):
    await user_with(billing, billing_admin, USER, 30)
    created = (
        await jobs.CreateJob(
            request(
                USER,
                "waves at night",
                kind=pb.JOB_KIND_VIDEO,
                options=pb.JobOptions(duration_seconds=4),
            )
        )
    ).job
    updates = await watch(jobs, created, after_first=start_worker)
    assert statuses(updates) == LIFECYCLE
    data, content_type = await fetch_result(jobs, updates[-1].job)
    assert content_type == "video/mp4"
    with av.open(io.BytesIO(data)) as container:
        frames = list(container.decode(video=0))
    assert len(frames) > 1
    await wait_until_settled(db)
    assert await balance(billing, USER) == 30 - 10
    await money_is_exact(db)


async def refusal(call) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call
    assert err.value.details()
    return err.value


async def nothing_happened(db, billing, credits: int) -> None:
    assert await db.fetchval("SELECT count(*) FROM jobs.jobs") == 0
    assert await db.fetchval("SELECT count(*) FROM billing.reservations") == 0
    assert await balance(billing, USER) == credits


async def test_refusals_create_no_job_and_charge_nothing(jobs, billing, billing_admin, job_env, db):
    await user_with(billing, billing_admin, USER, 2)
    poor = await refusal(jobs.CreateJob(request(USER, quality=pb.QUALITY_PRO)))
    assert poor.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "not enough credits" in poor.details()
    await nothing_happened(db, billing, 2)

    unknown = await refusal(jobs.CreateJob(request(999_999)))
    assert unknown.code() == grpc.StatusCode.NOT_FOUND

    await billing_admin.SetBanned(
        __import__("mediabot.billing.v1.billing_pb2", fromlist=["x"]).SetBannedRequest(
            telegram_id=USER, banned=True
        )
    )
    banned = await refusal(jobs.CreateJob(request(USER)))
    assert banned.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "blocked" in banned.details()
    await nothing_happened(db, billing, 2)


async def test_a_full_queue_refuses_without_charging(jobs, billing, billing_admin, db):
    await user_with(billing, billing_admin, USER, 100)
    for _ in range(5):  # MAX_USER_QUEUE=5 and no worker runs
        await jobs.CreateJob(request(USER))
    full = await refusal(jobs.CreateJob(request(USER)))
    assert full.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "unfinished" in full.details()
    assert await db.fetchval("SELECT count(*) FROM jobs.jobs") == 5
    assert await balance(billing, USER) == 95


async def test_concurrent_creations_never_overshoot_the_queue_limit(
    jobs, billing, billing_admin, db
):
    await user_with(billing, billing_admin, USER, 100)
    outcomes = await asyncio.gather(
        *(jobs.CreateJob(request(USER)) for _ in range(20)), return_exceptions=True
    )
    created = [o for o in outcomes if not isinstance(o, Exception)]
    assert len(created) == 5
    assert all(
        o.code() == grpc.StatusCode.FAILED_PRECONDITION
        for o in outcomes
        if isinstance(o, Exception)
    )
    assert await balance(billing, USER) == 95


async def used_up_rate(redis, telegram_id: int) -> None:
    """Every creation of the user's last minute taken (far more than the limit)."""
    now = time.time() * 1000
    await redis.zadd(f"jobs:rate:{telegram_id}", {f"earlier-{n}": now for n in range(1000)})


async def test_the_creation_rate_limit_refuses_without_charging(
    jobs, billing, billing_admin, job_env, db, redis
):
    await user_with(billing, billing_admin, USER, 100)
    await used_up_rate(redis, USER)
    limited = await refusal(jobs.CreateJob(request(USER)))
    assert limited.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    await nothing_happened(db, billing, 100)
    # A blocked user is told so first, and an unknown one that they are unknown.
    await user_with(billing, billing_admin, USER + 1, 100)
    await billing_admin.SetBanned(bpb.SetBannedRequest(telegram_id=USER + 1, banned=True,
                                                       reason="t"))  # fmt: skip
    await used_up_rate(redis, USER + 1)
    blocked = await refusal(jobs.CreateJob(request(USER + 1)))
    assert blocked.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "blocked" in blocked.details()
    await used_up_rate(redis, 999999)
    unknown = await refusal(jobs.CreateJob(request(tg(999999))))
    assert unknown.code() == grpc.StatusCode.NOT_FOUND
    await nothing_happened(db, billing, 100)


async def test_the_creation_rate_counts_the_last_sixty_seconds_whenever_the_minute_began(
    job_env, billing, billing_admin, redis
):
    await user_with(billing, billing_admin, USER, 100)
    strict = await create_jobs_server(
        make_settings(JobSettings, job_env, CREATE_RATE_PER_MINUTE=2), "127.0.0.1:0"
    )
    await strict.start()
    opened = channel(f"127.0.0.1:{strict.port}")
    try:
        stub = authorized(jobs_pb2_grpc.JobServiceStub(opened), SERVICE_TOKEN)
        # One creation 59.5 s ago (whatever calendar minute that was) and one now.
        await redis.zadd(f"jobs:rate:{USER}", {"earlier": time.time() * 1000 - 59_500})
        await stub.CreateJob(request(USER, "now"))
        for _ in range(3):  # refused attempts take no slot: the wait does not grow
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await stub.CreateJob(request(USER, "one too many"))
            limited = error_info(refused.value)
            assert limited is not None and limited.reason == "RATE_LIMITED"
            assert limited.metadata["limit_per_minute"] == "2"
            assert limited.metadata["retry_after_seconds"] == "1"
        await asyncio.sleep(0.6)  # the earlier creation leaves the window
        await stub.CreateJob(request(USER, "in the freed slot"))
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.CreateJob(request(USER, "too many again"))
        limited = error_info(refused.value)
        assert limited is not None and limited.reason == "RATE_LIMITED"
        assert 58 <= int(limited.metadata["retry_after_seconds"]) <= 60
    finally:
        await opened.close()
        await strict.stop(0)
    assert await balance(billing, USER) == 98


async def test_bad_input_is_invalid_and_changes_nothing(jobs, billing, billing_admin, db):
    await user_with(billing, billing_admin, USER, 100)
    huge = png(10, 10) + b"\0" * (30 * 1024 * 1024)
    cases = {
        "empty prompt": request(USER, "   "),
        "10,000-character prompt": request(USER, "x" * 10_000),
        "prompt with a NUL": request(USER, "a fox\x00 in the snow"),
        "not an image": request(USER, kind=pb.JOB_KIND_EDIT, input_image=b"hello, not a png"),
        "truncated image": request(USER, kind=pb.JOB_KIND_EDIT, input_image=png()[:60]),
        "30 MB image": request(USER, kind=pb.JOB_KIND_EDIT, input_image=huge),
        "too many pixels": request(USER, kind=pb.JOB_KIND_EDIT, input_image=png(5000, 10)),
        "edit without image": request(USER, kind=pb.JOB_KIND_EDIT),
        "image with image": request(USER, input_image=png()),
        "unknown aspect ratio": request(USER, options=pb.JobOptions(aspect_ratio="7:5")),
        "negative duration": request(
            USER, kind=pb.JOB_KIND_VIDEO, options=pb.JobOptions(duration_seconds=-4)
        ),
        "unsupported duration": request(
            USER, kind=pb.JOB_KIND_VIDEO, options=pb.JobOptions(duration_seconds=3600)
        ),
        "duration on an image": request(USER, options=pb.JobOptions(duration_seconds=4)),
        "no kind": request(USER, kind=pb.JOB_KIND_UNSPECIFIED),
        "no quality": request(USER, quality=pb.QUALITY_UNSPECIFIED),
        "no client key": request(USER, client_key=""),
        "bad user id": request(-1),
    }
    for name, bad in cases.items():
        error = await refusal(jobs.CreateJob(bad))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, name
    await nothing_happened(db, billing, 100)
    for call in (
        jobs.GetJob(pb.GetJobRequest(job_id="nope", telegram_id=USER)),
        jobs.CancelJob(pb.CancelJobRequest(job_id="", telegram_id=USER)),
        jobs.ListJobs(pb.ListJobsRequest(telegram_id=USER, page_token="garbage")),
        jobs.GetResultUrls(pb.GetResultUrlsRequest(job_id="x", telegram_id=USER)),
    ):
        assert (await refusal(call)).code() == grpc.StatusCode.INVALID_ARGUMENT
    missing = "00000000-0000-0000-0000-000000000000"
    error = await refusal(jobs.GetJob(pb.GetJobRequest(job_id=missing, telegram_id=USER)))
    assert error.code() == grpc.StatusCode.NOT_FOUND


async def test_the_same_client_key_creates_one_job_and_one_charge(jobs, billing, billing_admin, db):
    await user_with(billing, billing_admin, USER, 10)
    same = request(USER, client_key="tap-1")
    answers = await asyncio.gather(*(jobs.CreateJob(same) for _ in range(10)))
    assert len({a.job.id for a in answers}) == 1
    assert await db.fetchval("SELECT count(*) FROM jobs.jobs") == 1
    assert await balance(billing, USER) == 9


async def test_a_permanent_failure_fails_with_its_reason_and_refunds_once(
    jobs, billing, billing_admin, start_worker, db
):
    await user_with(billing, billing_admin, USER, 10)
    await start_worker()
    created = (await jobs.CreateJob(request(USER, "something forbidden"))).job
    updates = await watch(jobs, created)
    final = updates[-1].job
    assert final.status == pb.JOB_STATUS_FAILED
    assert "safety" in final.error
    assert final.failure == pb.JOB_FAILURE_SAFETY_BLOCK  # what clients tell people by
    assert final.attempts == 1
    await wait_until_settled(db)
    assert await balance(billing, USER) == 10
    await money_is_exact(db)


async def test_two_transient_failures_then_success_charge_once_with_one_result(
    jobs, billing, billing_admin, start_worker, db
):
    await user_with(billing, billing_admin, USER, 10)
    await start_worker(LOCAL_LATENCY_SECONDS=0)
    created = (await jobs.CreateJob(request(USER, "a shy cat flaky:2"))).job
    final = (await watch(jobs, created))[-1].job
    assert final.status == pb.JOB_STATUS_SUCCEEDED
    assert len(final.results) == 1
    await wait_until_settled(db)
    assert await balance(billing, USER) == 9
    await money_is_exact(db)


async def test_a_provider_that_keeps_failing_fails_the_job_as_unavailable_and_refunds(
    jobs, billing, billing_admin, start_worker, db
):
    await user_with(billing, billing_admin, USER, 10)
    await start_worker(LOCAL_LATENCY_SECONDS=0, MAX_RETRIES=1, RETRY_BASE_SECONDS=0.01)
    created = (await jobs.CreateJob(request(USER, "a shy cat flaky:5"))).job
    final = (await watch(jobs, created))[-1].job
    assert final.status == pb.JOB_STATUS_FAILED
    assert final.failure == pb.JOB_FAILURE_PROVIDER_UNAVAILABLE
    assert final.error.startswith("the provider kept failing")
    await wait_until_settled(db)
    assert await balance(billing, USER) == 10
    await money_is_exact(db)


async def test_cancelling_a_queued_job_refunds_it_at_once(jobs, billing, billing_admin, db):
    await user_with(billing, billing_admin, USER, 10)
    created = (await jobs.CreateJob(request(USER))).job
    cancelled = await jobs.CancelJob(pb.CancelJobRequest(job_id=created.id, telegram_id=USER))
    assert cancelled.job.status == pb.JOB_STATUS_CANCELLED
    assert await balance(billing, USER) == 10
    again = await jobs.CancelJob(pb.CancelJobRequest(job_id=created.id, telegram_id=USER))
    assert again.job.status == pb.JOB_STATUS_CANCELLED
    await wait_until_settled(db)
    await money_is_exact(db)


async def test_cancelling_a_running_job_stops_the_worker_and_refunds_once(
    jobs, billing, billing_admin, start_worker, db
):
    await user_with(billing, billing_admin, USER, 10)
    worker = await start_worker(LOCAL_LATENCY_SECONDS=30)
    created = (await jobs.CreateJob(request(USER))).job
    for _ in range(100):
        if (
            await jobs.GetJob(pb.GetJobRequest(job_id=created.id, telegram_id=USER))
        ).job.status == pb.JOB_STATUS_RUNNING:
            break
        await asyncio.sleep(0.05)
    assert worker.running, "the worker holds the job"
    cancelled = await jobs.CancelJob(pb.CancelJobRequest(job_id=created.id, telegram_id=USER))
    assert cancelled.job.status == pb.JOB_STATUS_CANCELLED
    for _ in range(100):
        if not worker.running:
            break
        await asyncio.sleep(0.05)
    assert not worker.running, "the worker stopped working on it"
    await wait_until_settled(db)
    assert await balance(billing, USER) == 10
    final = (await jobs.GetJob(pb.GetJobRequest(job_id=created.id, telegram_id=USER))).job
    assert final.status == pb.JOB_STATUS_CANCELLED and not final.results
    await money_is_exact(db)


async def make_pro(billing, telegram_id: int) -> None:
    from mediabot.billing.v1 import billing_pb2 as bpb

    invoice = await billing.CreateInvoice(
        bpb.CreateInvoiceRequest(telegram_id=telegram_id, product_id="sub_monthly")
    )
    await billing.CompletePayment(
        bpb.CompletePaymentRequest(
            telegram_id=telegram_id,
            invoice_payload=invoice.payload,
            currency="XTR",
            total_amount=invoice.amount,
            telegram_payment_charge_id=f"sub-{telegram_id}",
            is_recurring=True,
        )
    )


async def test_pro_users_get_a_higher_queue_limit_and_the_priority_lane(
    jobs, billing, billing_admin, start_worker, db
):
    await user_with(billing, billing_admin, USER, 100)
    await user_with(billing, billing_admin, USER + 1, 100)
    await make_pro(billing, USER + 1)
    free_jobs = [(await jobs.CreateJob(request(USER, f"free {i}"))).job for i in range(5)]
    pro_jobs = [(await jobs.CreateJob(request(USER + 1, f"pro {i}"))).job for i in range(7)]
    lanes = dict(await db.fetch("SELECT telegram_id, array_agg(DISTINCT lane) FROM jobs.jobs "
                                "GROUP BY telegram_id"))  # fmt: skip
    assert lanes == {USER: ["normal"], USER + 1: ["priority"]}
    await start_worker(LOCAL_LATENCY_SECONDS=0, WORKER_CONCURRENCY=1)
    for job in [*free_jobs, *pro_jobs]:
        await wait_for_status(jobs, job, pb.JOB_STATUS_SUCCEEDED)
    order = await db.fetch("SELECT telegram_id FROM jobs.jobs ORDER BY started_at")
    assert [r["telegram_id"] for r in order][:7] == [USER + 1] * 7, "PRO jobs start first"
    await wait_until_settled(db)
    await money_is_exact(db)
