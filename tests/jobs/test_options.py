"""CreateJob checks aspect ratio and duration against what the kind's provider accepts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from mediabot.jobs.v1 import jobs_pb2 as pb
from mediabot.jobs.v1 import jobs_pb2_grpc

from common.clients import authorized, channel
from job_svc.server import create_server
from job_svc.settings import JobSettings
from tests.fakes.gemini import API_KEY, FakeGemini, start_fake_gemini
from tests.fakes.stability import API_KEY as STABILITY_KEY
from tests.fakes.stability import start_fake_stability
from tests.support.ids import tg
from tests.support.jobs import balance, png, request, user_with, wait_for_status
from tests.support.settings import SERVICE_TOKEN, make_settings

USER = tg(5151)
ALL_RATIOS = "1:1, 16:9, 9:16, 4:3 or 3:4"


@pytest.fixture
async def gemini_jobs(job_env: dict[str, str]) -> AsyncIterator[tuple[Any, FakeGemini]]:
    """A JobService whose every kind runs on gemini (a fake), and the fake."""
    async with start_fake_gemini() as (fake, base_url):
        settings = make_settings(
            JobSettings,
            job_env,
            PROVIDER="gemini",
            GEMINI_API_KEY=API_KEY,
            GEMINI_BASE_URL=base_url,
        )
        service = await create_server(settings, "127.0.0.1:0")
        await service.start()
        opened = channel(f"127.0.0.1:{service.port}")
        try:
            yield authorized(jobs_pb2_grpc.JobServiceStub(opened), SERVICE_TOKEN), fake
        finally:
            await opened.close()
            await service.stop(0)


def video(aspect_ratio: str = "", duration_seconds: int = 0) -> pb.CreateJobRequest:
    options = pb.JobOptions(aspect_ratio=aspect_ratio, duration_seconds=duration_seconds)
    return request(USER, "a lighthouse in a storm", kind=pb.JOB_KIND_VIDEO, options=options)


async def refused(call: Any) -> str:
    """The details of an INVALID_ARGUMENT refusal."""
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, err.value.details()
    return str(err.value.details())


@pytest.mark.parametrize("ratio", ["1:1", "4:3", "3:4"])
async def test_gemini_video_refuses_what_veo_cannot_render(
    gemini_jobs: tuple[Any, FakeGemini], billing: Any, billing_admin: Any, db: Any, ratio: str
) -> None:
    jobs, fake = gemini_jobs
    await user_with(billing, billing_admin, USER, 100)
    details = await refused(jobs.CreateJob(video(ratio)))
    assert details == (
        f"aspect_ratio {ratio} is not available for video on gemini; choose 16:9 or 9:16"
    )
    assert await db.fetchval("SELECT count(*) FROM jobs.jobs") == 0
    assert await db.fetchval("SELECT count(*) FROM billing.reservations") == 0
    assert await balance(billing, USER) == 100
    assert fake.requests == []


async def test_gemini_refuses_a_duration_veo_lacks(
    gemini_jobs: tuple[Any, FakeGemini], billing: Any, billing_admin: Any, db: Any
) -> None:
    jobs, _fake = gemini_jobs
    await user_with(billing, billing_admin, USER, 100)
    details = await refused(jobs.CreateJob(video("16:9", 5)))
    assert details == "duration_seconds 5 is not available for video on gemini; choose 4, 6 or 8"
    assert await balance(billing, USER) == 100


async def test_gemini_accepts_what_it_declares_and_defaults_to_landscape(
    gemini_jobs: tuple[Any, FakeGemini], billing: Any, billing_admin: Any
) -> None:
    jobs, _fake = gemini_jobs
    await user_with(billing, billing_admin, USER, 100)
    portrait = (await jobs.CreateJob(video("9:16", 4))).job
    assert (portrait.options.aspect_ratio, portrait.options.duration_seconds) == ("9:16", 4)
    default = (await jobs.CreateJob(video())).job
    assert (default.options.aspect_ratio, default.options.duration_seconds) == ("16:9", 8)
    assert default.provider == "gemini"
    # Images and edits on gemini keep every ratio they had.
    tall = (await jobs.CreateJob(request(USER, options=pb.JobOptions(aspect_ratio="3:4")))).job
    assert tall.options.aspect_ratio == "3:4"
    edit = request(
        USER, kind=pb.JOB_KIND_EDIT, input_image=png(), options=pb.JobOptions(aspect_ratio="1:1")
    )
    assert (await jobs.CreateJob(edit)).job.options.aspect_ratio == "1:1"
    refusal = await refused(
        jobs.CreateJob(request(USER, options=pb.JobOptions(aspect_ratio="2:1")))
    )
    assert refusal == f"aspect_ratio 2:1 is not available for image on gemini; choose {ALL_RATIOS}"


async def test_local_keeps_accepting_every_ratio_and_duration(
    jobs: Any, billing: Any, billing_admin: Any
) -> None:
    await user_with(billing, billing_admin, USER, 1000)
    for ratio in ("1:1", "16:9", "9:16", "4:3", "3:4"):
        for seconds in (4, 6, 8):
            job = (await jobs.CreateJob(video(ratio, seconds))).job
            assert (job.provider, job.options.aspect_ratio) == ("local", ratio)
            assert job.options.duration_seconds == seconds
            # Cancelled at once: a FREE user may have only a few unfinished jobs.
            await jobs.CancelJob(pb.CancelJobRequest(job_id=job.id, telegram_id=USER))
    default = (await jobs.CreateJob(video())).job
    assert (default.options.aspect_ratio, default.options.duration_seconds) == ("1:1", 4)
    details = await refused(jobs.CreateJob(video("7:5")))
    assert details == f"aspect_ratio 7:5 is not available for video on local; choose {ALL_RATIOS}"
    details = await refused(jobs.CreateJob(video("1:1", 5)))
    assert details == "duration_seconds 5 is not available for video on local; choose 4, 6 or 8"


async def test_offers_tell_prices_and_what_each_provider_accepts(jobs, gemini_jobs):
    local = {(o.kind, o.quality): o for o in (await jobs.ListOffers(pb.ListOffersRequest())).offers}
    assert len(local) == 6
    image = local[(pb.JOB_KIND_IMAGE, pb.QUALITY_STANDARD)]
    assert (image.price, image.provider, image.input_image) == (1, "local", "none")
    assert list(image.aspect_ratios) == ["1:1", "16:9", "9:16", "4:3", "3:4"]
    assert not image.durations_seconds
    assert local[(pb.JOB_KIND_VIDEO, pb.QUALITY_PRO)].price == 25
    assert local[(pb.JOB_KIND_EDIT, pb.QUALITY_STANDARD)].input_image == "required"

    stub, _ = gemini_jobs
    veo = {(o.kind, o.quality): o for o in (await stub.ListOffers(pb.ListOffersRequest())).offers}
    clip = veo[(pb.JOB_KIND_VIDEO, pb.QUALITY_STANDARD)]
    assert clip.provider == "gemini" and clip.input_image == "optional"
    assert set(clip.aspect_ratios) == {"16:9", "9:16"}
    assert sorted(clip.durations_seconds) == [4, 6, 8]


async def test_images_and_edits_on_stability_with_videos_elsewhere(
    job_env: dict[str, str], start_worker: Any, billing: Any, billing_admin: Any
) -> None:
    async with start_fake_stability() as (fake, base_url):
        overrides = {
            "PROVIDER": "stability",
            "PROVIDER_VIDEO": "local",
            "STABILITY_API_KEY": STABILITY_KEY,
            "STABILITY_BASE_URL": base_url,
        }
        service = await create_server(make_settings(JobSettings, job_env, **overrides),
                                      "127.0.0.1:0")  # fmt: skip
        await service.start()
        opened = channel(f"127.0.0.1:{service.port}")
        try:
            jobs = authorized(jobs_pb2_grpc.JobServiceStub(opened), SERVICE_TOKEN)
            await start_worker(**overrides)
            await user_with(billing, billing_admin, USER, 100)
            offers = {(o.kind, o.quality): o
                      for o in (await jobs.ListOffers(pb.ListOffersRequest())).offers}  # fmt: skip
            image = offers[(pb.JOB_KIND_IMAGE, pb.QUALITY_PRO)]
            assert image.provider == "stability" and "21:9" in image.aspect_ratios
            assert offers[(pb.JOB_KIND_VIDEO, pb.QUALITY_STANDARD)].provider == "local"
            wide = (await jobs.CreateJob(request(
                USER, "a wide valley", quality=pb.QUALITY_PRO,
                options=pb.JobOptions(aspect_ratio="21:9"),
            ))).job  # fmt: skip
            done = await wait_for_status(jobs, wide, pb.JOB_STATUS_SUCCEEDED)
            assert (done.results[0].width, done.results[0].height) == (64, 27)
            assert fake.requests[-1].path == "/v2beta/stable-image/generate/ultra"
            blocked = (await jobs.CreateJob(request(USER, "a fox moderation"))).job
            failed = await wait_for_status(jobs, blocked, pb.JOB_STATUS_FAILED)
            assert failed.failure == pb.JOB_FAILURE_SAFETY_BLOCK
            russian = (await jobs.CreateJob(request(USER, "лиса в снегу language"))).job
            failed = await wait_for_status(jobs, russian, pb.JOB_STATUS_FAILED)
            assert failed.failure == pb.JOB_FAILURE_UNSUPPORTED_LANGUAGE
            assert await balance(billing, USER) == 100 - image.price
        finally:
            await opened.close()
            await service.stop(0)
