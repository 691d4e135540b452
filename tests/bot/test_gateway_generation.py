"""Generation through the bot, against the real services and a local Telegram that
enforces Telegram's flood limits: dialogs of every kind to a delivered result,
progress and cancel, refusals, duplicated updates, history, and restarts."""

from __future__ import annotations

import asyncio
import io
import os
from collections.abc import AsyncIterator

import pytest
from mediabot.billing.v1 import billing_pb2 as bpb
from mediabot.jobs.v1 import jobs_pb2 as pb
from PIL import Image

from devstack.telegram import Limits, LocalTelegram, Options
from job_svc.server import create_server as create_jobs_server
from job_svc.settings import JobSettings
from tests.support.dialogs import (
    NotModifiedWatch,
    callback,
    confirm,
    inject,
    press,
    result,
    results_in,
    say,
    text_of,
    to_confirmation,
    wait_shown,
)
from tests.support.gateway import Gateway, button, buttons, running_gateway
from tests.support.ids import tg
from tests.support.jobs import balance, png, request, user_with
from tests.support.settings import make_settings

ANN, BOB = tg(9201), tg(9202)


@pytest.fixture
async def gateway(gateway_env) -> AsyncIterator[Gateway]:
    """The gateway on a local Telegram that enforces Telegram's flood limits; Ann
    speaks English and Bob Russian, both with 20 credits."""
    async with LocalTelegram(Options(limits=Limits(enabled=True))) as telegram:
        async with running_gateway(telegram, gateway_env) as gw:
            edits = NotModifiedWatch()
            gw.bot.session.middleware(edits)
            await gw.users.user(ANN, "Ann", username="ann", language_code="en")
            await gw.users.user(BOB, "Bob", username="bob", language_code="ru")
            yield gw
            assert not telegram.rate_limit_hits, "the gateway kept Telegram's pace"
            assert not edits.seen, "the gateway never repeats what a message shows"


@pytest.fixture
async def people(billing, billing_admin) -> None:
    await user_with(billing, billing_admin, ANN, 20)
    await user_with(billing, billing_admin, BOB, 20)


async def jobs_of(jobs, user: int) -> list[pb.Job]:
    return list((await jobs.ListJobs(pb.ListJobsRequest(telegram_id=user))).jobs)


async def test_an_image_dialog_ends_in_a_photo_captioned_with_prompt_cost_and_time(
    gateway, people, start_worker, billing, jobs
):
    await start_worker(LOCAL_LATENCY_SECONDS=2.5)
    question = await say(gateway, ANN, "/image")
    assert "choose the quality" in question["text"]
    labels = [b["text"] for b in buttons(question)]
    assert labels == ["Standard · 1 cr.", "PRO · 3 cr. (finer)", "✖ Cancel"]
    ratio = await press(gateway, ANN, question, "PRO")
    assert ratio["message_id"] == question["message_id"], "the dialog edits its message"
    assert "🖼 Image · PRO" in ratio["text"] and "aspect ratio" in ratio["text"]
    prompt = await press(gateway, ANN, ratio, "16:9")
    assert "Describe the image" in prompt["text"] and "🖼 Image · PRO · 16:9" in prompt["text"]
    confirmation = await say(gateway, ANN, "a lighthouse at dawn")
    assert "«a lighthouse at dawn»" in confirmation["text"]
    assert "Price: 3 credits. Your balance: 20 credits." in confirmation["text"]
    after = await gateway.mark()
    status = await confirm(gateway, ANN, confirmation)
    assert status["message_id"] == confirmation["message_id"]
    assert "queue" in status["text"] or "Making it" in status["text"]
    assert [b["text"] for b in buttons(status)] == ["✖ Cancel"]
    running = await wait_shown(gateway, ANN, after, lambda m: "Making it" in text_of(m))
    assert running["message_id"] == status["message_id"]
    photo = await result(gateway, ANN, after)
    assert photo["caption"].startswith("«a lighthouse at dawn»")
    assert "🖼 Image · PRO · 16:9 · 3 cr. · made in" in photo["caption"]
    assert [b["text"] for b in buttons(photo)] == ["🔁 Repeat", "✏️ Vary"]
    assert await balance(billing, ANN) == 17
    # The chat showed that a photo is on its way while the job ran.
    found = await gateway.users.events(after, bot=gateway.bot.id, chat_id=ANN)
    assert any(e["kind"] == "action" and e["action"] == "upload_photo" for e in found["events"])
    # The status message made way for the result; the job is acknowledged.
    await gateway.users.wait_for(
        lambda e: e["kind"] == "delete" and e["message_id"] == status["message_id"],
        after=after, bot=gateway.bot.id, chat_id=ANN,
    )  # fmt: skip
    (job,) = await jobs_of(jobs, ANN)
    await asyncio.sleep(0.3)
    assert (await jobs.GetJob(pb.GetJobRequest(job_id=job.id, telegram_id=ANN))).job.delivered


async def test_an_edit_takes_the_photo_sent_as_a_photo_or_as_a_file(
    gateway, people, start_worker, billing, jobs
):
    await start_worker()
    for as_file in (False, True):
        confirmation = await to_confirmation(
            gateway, ANN, "edit", prompt="make it blue", photo=png(96, 64, "red"), as_file=as_file
        )
        assert (
            "With your photo." in confirmation["text"]
            and "Price: 2 credits" in confirmation["text"]
        )
        after = await gateway.mark()
        await confirm(gateway, ANN, confirmation)
        photo = await result(gateway, ANN, after)
        assert photo["caption"].startswith("«make it blue»") and "✏️ Edit" in photo["caption"]
    assert await balance(billing, ANN) == 16
    assert [j.has_input for j in await jobs_of(jobs, ANN)] == [True, True]


async def test_a_video_dialog_with_its_length_and_a_start_image_ends_in_a_video(
    gateway, people, start_worker, billing, jobs
):
    await start_worker()
    confirmation = await to_confirmation(
        gateway,
        BOB,
        "video",
        quality="Стандарт",
        ratio="9:16",
        duration="6 с",
        prompt="волны",
        photo=png(64, 96),
    )
    assert "🎬 Видео · Стандарт · 9:16 · 6 с" in confirmation["text"]
    after = await gateway.mark()
    await confirm(gateway, BOB, confirmation)
    video = await result(gateway, BOB, after)
    assert "video" in video and video["caption"].startswith("«волны»")
    assert "сделано за" in video["caption"]
    (job,) = await jobs_of(jobs, BOB)
    assert (job.options.aspect_ratio, job.options.duration_seconds, job.has_input) == (
        "9:16",
        6,
        True,
    )
    assert await balance(billing, BOB) == 10


async def test_cancel_from_the_status_message_stops_the_job_and_gives_the_credits_back(
    gateway, people, billing, jobs
):
    # No worker runs: the job waits in the queue.
    confirmation = await to_confirmation(gateway, ANN, "image", quality="PRO")
    status = await confirm(gateway, ANN, confirmation)
    assert "In the queue" in status["text"] or "Next in the queue" in status["text"]
    assert await balance(billing, ANN) == 17
    cancelled = await press(gateway, ANN, status, "Cancel")
    assert cancelled["message_id"] == status["message_id"]
    assert "Cancelled. The 3 credits are back on your balance." in cancelled["text"]
    assert not buttons(cancelled)
    assert await balance(billing, ANN) == 20
    (job,) = await jobs_of(jobs, ANN)
    assert job.status == pb.JOB_STATUS_CANCELLED


async def test_not_enough_credits_leads_to_the_buy_button_and_the_dialog_stays(
    gateway, billing, billing_admin, jobs
):
    await user_with(billing, billing_admin, ANN, 2)
    confirmation = await to_confirmation(gateway, ANN, "image", quality="PRO")
    refused = await press(gateway, ANN, confirmation, "✅")
    assert refused["text"] == "Not enough credits: you have 2, this costs 3. Top up with /buy."
    assert button(refused, "Buy credits")["callback_data"] == "m:buy"
    assert await jobs_of(jobs, ANN) == []
    # Once there are credits, the same confirmation works.
    await user_with(billing, billing_admin, ANN, 5)
    status = await press(gateway, ANN, confirmation, "✅")
    assert status["message_id"] == confirmation["message_id"] and "queue" in status["text"]
    assert len(await jobs_of(jobs, ANN)) == 1


async def test_start_leaves_the_dialog_under_way(gateway, people, jobs):
    question = await say(gateway, ANN, "/image")
    ratio = await press(gateway, ANN, question, "Standard")
    prompt = await press(gateway, ANN, ratio, "1:1")
    assert "Describe the image" in prompt["text"]
    assert "Welcome back" in (await say(gateway, ANN, "/start"))["text"]
    stray = await say(gateway, ANN, "a red fox in the snow")
    assert stray["text"] == "Choose what to make with the buttons below, or send /help."
    assert await jobs_of(jobs, ANN) == []


async def test_refusals_are_told_by_reason_with_a_way_forward(
    gateway, people, billing, billing_admin, jobs
):
    # Queue full: five unfinished jobs (no worker runs) and a sixth.
    for _ in range(5):
        await jobs.CreateJob(request(ANN))
    confirmation = await to_confirmation(gateway, ANN, "image")
    refused = await press(gateway, ANN, confirmation, "✅")
    assert "You already have 5 jobs in progress (at most 5)" in refused["text"]
    assert button(refused, "My jobs")["callback_data"] == "m:history"
    # Banned: a clear message.
    await billing_admin.SetBanned(bpb.SetBannedRequest(telegram_id=BOB, banned=True, reason="spam"))
    confirmation = await to_confirmation(gateway, BOB, "image", quality="Стандарт")
    refused = await press(gateway, BOB, confirmation, "✅")
    assert refused["text"] == "Ваш аккаунт заблокирован. Если это ошибка, напишите в поддержку."


async def test_the_same_update_delivered_twice_makes_one_job(
    gateway, people, start_worker, billing, jobs
):
    confirmation = await to_confirmation(gateway, ANN, "image", prompt="one fox only")
    data = button(confirmation, "✅")["callback_data"]
    after = await gateway.mark()
    # Telegram delivers the press twice (a retried webhook, a restart before the offset moved).
    inject(gateway.telegram, "callback_query", callback(gateway.telegram, ANN, confirmation, data),
           times=2)  # fmt: skip
    await wait_shown(gateway, ANN, after, lambda m: "queue" in text_of(m))
    await start_worker()
    await result(gateway, ANN, after)
    await asyncio.sleep(1.5)
    assert len(await jobs_of(jobs, ANN)) == 1
    assert len([m for m in await results_in(gateway, ANN)]) == 1
    assert await balance(billing, ANN) == 19


async def test_a_safety_block_tells_the_reason_and_that_the_credits_came_back(
    gateway, people, start_worker, billing, jobs
):
    await start_worker()
    confirmation = await to_confirmation(gateway, ANN, "image", prompt="something forbidden")
    after = await gateway.mark()
    await confirm(gateway, ANN, confirmation)
    failed = await wait_shown(gateway, ANN, after, lambda m: "❌" in text_of(m))
    assert failed["message_id"] == confirmation["message_id"] and not buttons(failed)
    reason = "the provider's safety rules refused the prompt or the picture"
    assert f"It could not be made: {reason}." in failed["text"]
    assert "The 1 credit is back on your balance." in failed["text"]
    assert await balance(billing, ANN) == 20
    (job,) = await jobs_of(jobs, ANN)
    await asyncio.sleep(0.5)
    assert (await jobs.GetJob(pb.GetJobRequest(job_id=job.id, telegram_id=ANN))).job.delivered
    assert await results_in(gateway, ANN) == []
    # Told by the failure's code in each person's language, not in the provider's words.
    confirmation = await to_confirmation(
        gateway, BOB, "image", quality="Стандарт", prompt="что-то forbidden"
    )
    after = await gateway.mark()
    await confirm(gateway, BOB, confirmation)
    failed = await wait_shown(gateway, BOB, after, lambda m: "❌" in text_of(m))
    reason = "правила безопасности сервиса отклонили запрос или картинку"
    assert f"Не получилось: {reason}.\n1 кредит вернулся на баланс." in failed["text"]
    assert "safety" not in failed["text"]


async def test_history_pages_and_sends_a_result_again_by_its_file_id(
    gateway, people, start_worker, jobs, redis
):
    menu = await say(gateway, ANN, "/start")
    await start_worker()
    for n in range(6):  # one at a time: at most 5 may be unfinished
        after = await gateway.mark()
        await jobs.CreateJob(request(ANN, f"fox number {n}"))
        await result(gateway, ANN, after)
    first = await press(gateway, ANN, menu, "History")  # the menu's button, as /history
    assert first["text"].startswith("🗂 Your jobs, page 1:")
    assert "«fox number 5»" in first["text"] and "«fox number 1»" in first["text"]
    assert "«fox number 0»" not in first["text"] and "✅ done" in first["text"]
    assert [b["text"] for b in buttons(first)][-1] == "Older ▶"
    assert (await say(gateway, ANN, "/history"))["text"] == first["text"]
    second = await press(gateway, ANN, first, "Older ▶")
    assert second["message_id"] == first["message_id"] and "page 2" in second["text"]
    assert "«fox number 0»" in second["text"] and "6." in second["text"]
    back = await press(gateway, ANN, second, "◀ Newer")
    assert "page 1" in back["text"]
    second = await press(gateway, ANN, back, "Older ▶")
    delivered = {m["caption"]: m for m in await results_in(gateway, ANN)}
    files = len(gateway.telegram.world.files.by_id)
    again = await press(gateway, ANN, second, "📥 6")
    assert again["caption"].startswith("«fox number 0»")
    original = delivered[again["caption"]]
    assert again["photo"][-1]["file_id"] == original["photo"][-1]["file_id"]
    assert len(gateway.telegram.world.files.by_id) == files, "no second upload"
    # job_svc keeps the file_ids AckDelivery recorded: the bot's own notes may go.
    (job,) = [j for j in await jobs_of(jobs, ANN) if j.prompt == "fox number 0"]
    assert job.results[0].telegram_file_id == original["photo"][-1]["file_id"]
    await redis.delete(f"bot:job:{job.id}")
    once_more = await press(gateway, ANN, second, "📥 6")
    assert once_more["photo"][-1]["file_id"] == original["photo"][-1]["file_id"]
    assert len(gateway.telegram.world.files.by_id) == files, "no upload either"


def noise_png(side: int) -> bytes:
    """A PNG that hardly compresses: a large input (and a large edited result)."""
    out = io.BytesIO()
    Image.frombytes("RGB", (side, side), os.urandom(side * side * 3)).save(
        out, "PNG", compress_level=1
    )
    return out.getvalue()


async def test_a_result_past_the_upload_limit_comes_as_a_link_to_the_cabinet(
    gateway_env, people, start_worker, jobs
):
    await start_worker(LOCAL_IMAGE_SIZE=1500)
    async with LocalTelegram(Options(limits=Limits(enabled=True))) as telegram:
        async with running_gateway(telegram, gateway_env, TELEGRAM_UPLOAD_LIMIT_MB=1) as gw:
            await gw.users.user(ANN, "Ann", language_code="en")
            big = noise_png(1500)  # 6.7 MB: within the 10 MB an input may have
            confirmation = await to_confirmation(
                gw, ANN, "edit", prompt="make it blue", photo=big, as_file=True
            )
            after = await gw.mark()
            await confirm(gw, ANN, confirmation)
            link = await wait_shown(gw, ANN, after, lambda m: "too large" in text_of(m), 30)
            (job,) = await jobs_of(jobs, ANN)
            assert job.results[0].size_bytes > 1024 * 1024
            assert link["text"].startswith("«make it blue»")
            assert "download it from your cabinet" in link["text"]
            assert button(link, "Cabinet")["web_app"]["url"].endswith(f"&job={job.id}")
            assert [b["text"] for b in buttons(link)][1:] == ["🔁 Repeat", "✏️ Vary"]
            assert await results_in(gw, ANN) == []


async def test_repeat_and_vary_make_new_jobs_with_the_same_settings_and_photo(
    gateway, people, start_worker, billing, jobs
):
    await start_worker()
    confirmation = await to_confirmation(
        gateway, ANN, "edit", quality="PRO", ratio="3:4", prompt="make it blue", photo=png()
    )
    after = await gateway.mark()
    await confirm(gateway, ANN, confirmation)
    first = await result(gateway, ANN, after)
    # Repeat: the same settings and the same photo, at once (no dialog).
    after = await gateway.mark()
    status = await press(gateway, ANN, first, "Repeat")
    assert status["message_id"] > first["message_id"] and "«make it blue»" in status["text"]
    again = await result(gateway, ANN, after)
    assert (
        again["caption"].startswith("«make it blue»") and "✏️ Edit · PRO · 3:4" in again["caption"]
    )
    # Vary: a new prompt for the same settings and photo.
    ask = await press(gateway, ANN, again, "Vary")
    assert "The last prompt: «make it blue»" in ask["text"]
    confirmation = await say(gateway, ANN, "make it green")
    assert (
        "✏️ Edit · PRO · 3:4" in confirmation["text"] and "With your photo." in confirmation["text"]
    )
    after = await gateway.mark()
    await confirm(gateway, ANN, confirmation)
    varied = await result(gateway, ANN, after)
    assert varied["caption"].startswith("«make it green»")
    made = await jobs_of(jobs, ANN)
    assert [(j.prompt, j.options.aspect_ratio, j.has_input) for j in made] == [
        ("make it green", "3:4", True), ("make it blue", "3:4", True),
        ("make it blue", "3:4", True),
    ]  # fmt: skip
    assert await balance(billing, ANN) == 20 - 3 * 4


async def test_too_many_jobs_a_minute_are_told_when_to_try_again(
    gateway_env, people, job_env, jobs
):
    settings = make_settings(JobSettings, job_env, CREATE_RATE_PER_MINUTE=1)
    strict = await create_jobs_server(settings, "127.0.0.1:0")
    await strict.start()
    try:
        env = gateway_env | {"JOBS_GRPC_ADDR": f"127.0.0.1:{strict.port}"}
        async with LocalTelegram(Options(limits=Limits(enabled=True))) as telegram:
            async with running_gateway(telegram, env) as gw:
                await gw.users.user(ANN, "Ann", language_code="en")
                await jobs.CreateJob(request(ANN))  # this minute's one job
                menu = await say(gw, ANN, "/start")
                question = await press(gw, ANN, menu, "Image")  # the menu's button, as /image
                assert "choose the quality" in question["text"]
                question = await press(gw, ANN, question, "Standard")
                question = await press(gw, ANN, question, "1:1")
                confirmation = await say(gw, ANN, "one more fox")
                refused = await press(gw, ANN, confirmation, "✅")
                assert refused["text"].startswith("Too many requests. Try again in ")
                assert len(await jobs_of(jobs, ANN)) == 1
    finally:
        await strict.stop(0)
