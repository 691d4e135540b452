"""The generation part of the bot under stress: restarts (graceful and kill -9),
a hundred people at once within Telegram's flood limits, and garbage of every kind."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator

import pytest
from aiogram import Bot
from mediabot.jobs.v1 import jobs_pb2 as pb

from devstack.telegram import Limits, LocalTelegram, Options
from devstack.telegram.client import UserSide
from job_svc.server import create_server as create_jobs_server
from job_svc.settings import JobSettings
from tests.support.dialogs import (
    callback,
    confirm,
    feeding,
    gateway_process,
    inject,
    mark,
    press,
    result,
    results_in,
    say,
    send_photo,
    text_of,
    to_confirmation,
    wait_shown,
)
from tests.support.gateway import BOT_USERNAME, TOKEN, Gateway, button, running_gateway
from tests.support.ids import tg
from tests.support.jobs import balance, png, request, user_with, wait_for_status
from tests.support.settings import make_settings

ANN, BOB = tg(9301), tg(9302)


@pytest.fixture
def gateway_env(job_env, jobs_service) -> dict[str, str]:
    return job_env | {"JOBS_GRPC_ADDR": f"127.0.0.1:{jobs_service.port}"}


@pytest.fixture
async def telegram() -> AsyncIterator[LocalTelegram]:
    async with LocalTelegram(Options(limits=Limits(enabled=True))) as telegram:
        telegram.add_bot(TOKEN, BOT_USERNAME, "mediabot")
        yield telegram
        assert not telegram.rate_limit_hits, "the gateway kept Telegram's pace"


@pytest.fixture
async def people(billing, billing_admin) -> None:
    await user_with(billing, billing_admin, ANN, 20)
    await user_with(billing, billing_admin, BOB, 20)


async def jobs_of(jobs, user: int) -> list[pb.Job]:
    return list((await jobs.ListJobs(pb.ListJobsRequest(telegram_id=user))).jobs)


async def test_a_restart_keeps_dialogs_and_resumes_status_messages(
    telegram, gateway_env, people, start_worker, jobs
):
    async with running_gateway(telegram, gateway_env) as gw:
        await gw.users.user(ANN, "Ann", language_code="en")
        question = await say(gw, ANN, "/image")
        question = await press(gw, ANN, question, "Standard")
    async with running_gateway(telegram, gateway_env) as gw:  # a new process, same Redis
        question = await press(gw, ANN, question, "4:3")
        confirmation = await say(gw, ANN, "a fox after a restart")
        status = await confirm(gw, ANN, confirmation)
        assert "queue" in status["text"]
    await start_worker(LOCAL_LATENCY_SECONDS=4)
    (job,) = await jobs_of(jobs, ANN)
    await wait_for_status(jobs, job, pb.JOB_STATUS_RUNNING)
    async with running_gateway(telegram, gateway_env) as gw:
        after = await gw.mark()
        running = await wait_shown(gw, ANN, after, lambda m: "Making it" in text_of(m))
        assert running["message_id"] == status["message_id"], "the status message resumed"
        photo = await result(gw, ANN, after)
        assert photo["caption"].startswith("«a fox after a restart»")
        assert "🖼 Image · Standard · 4:3" in photo["caption"]


async def test_a_gateway_killed_while_a_job_runs_delivers_its_result_exactly_once(
    telegram, gateway_env, people, start_worker, jobs, tmp_path
):
    async with UserSide(telegram.url) as users:
        await users.user(ANN, "Ann", language_code="en")
        gw = Gateway(Bot(TOKEN), None, telegram, users, None)  # type: ignore[arg-type]
        log = tmp_path / "gateway.log"
        with gateway_process(telegram, gateway_env, log) as first:
            await say(gw, ANN, "/history", timeout=30)  # up and polling
            confirmation = await to_confirmation(gw, ANN, "image", prompt="a fox, killed")
            await start_worker(LOCAL_LATENCY_SECONDS=3)
            after = await gw.mark()
            status = await confirm(gw, ANN, confirmation)
            await wait_shown(gw, ANN, after, lambda m: "Making it" in text_of(m))
            first.kill()  # kill -9 while the job runs
        (job,) = await jobs_of(jobs, ANN)
        await wait_for_status(jobs, job, pb.JOB_STATUS_SUCCEEDED)
        assert await results_in(gw, ANN) == [], "it finished while no gateway ran"
        with gateway_process(telegram, gateway_env, log):
            photo = await result(gw, ANN, after, timeout=40)
            assert photo["caption"].startswith("«a fox, killed»")
            await gw.users.wait_for(
                lambda e: e["kind"] == "delete" and e["message_id"] == status["message_id"],
                after=after, bot=gw.bot.id, chat_id=ANN, timeout=15,
            )  # fmt: skip
            await asyncio.sleep(3)
        assert len(await results_in(gw, ANN)) == 1, "delivered exactly once"
        current = await jobs.GetJob(pb.GetJobRequest(job_id=job.id, telegram_id=ANN))
        assert current.job.delivered
        assert "Traceback" not in log.read_text()


async def test_a_hundred_people_generating_at_once_all_get_their_results_without_a_429(
    telegram, gateway_env, start_worker, billing, billing_admin, jobs
):
    crowd = [tg(9400 + n) for n in range(100)]
    await start_worker(LOCAL_LATENCY_SECONDS=0.2)
    # Every service, the worker, Telegram and the people share this process's one event
    # loop: calls get the production deadline rather than the tests' short one.
    async with running_gateway(telegram, gateway_env, SERVICE_DEADLINE_SECONDS=15) as gw:
        for n, person in enumerate(crowd):
            await gw.users.user(person, f"Person {n}", language_code="en")
            await user_with(billing, billing_admin, person, 3)

        async def generate(person: int) -> dict:
            confirmation = await to_confirmation(gw, person, "image", prompt=f"fox {person}")
            after = await mark(gw)
            await confirm(gw, person, confirmation)
            return await result(gw, person, after, timeout=120)

        started = time.monotonic()
        async with feeding(gw):
            photos = await asyncio.gather(*(generate(person) for person in crowd))
        took = time.monotonic() - started
        assert [p["caption"].split("»")[0] for p in photos] == [f"«fox {p}" for p in crowd]
        await asyncio.sleep(2)
        for person in crowd:
            assert len(await results_in(gw, person)) == 1
        assert [await balance(billing, p) for p in crowd] == [2] * 100
        logging.getLogger(__name__).info("100 people served in %.1f s", took)


def _message(user: dict, chat_id: int, **content: object) -> dict:
    return {"message_id": int(time.time() * 1000) % 10**9, "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private", "first_name": user["first_name"]},
            "from": user, **content}  # fmt: skip


async def test_garbage_of_every_kind_changes_nothing_and_crashes_nothing(
    telegram, gateway_env, people, billing, jobs, caplog
):
    caplog.set_level(logging.WARNING, logger="bot_gateway")
    bobs = (await jobs.CreateJob(request(BOB, "bob's fox"))).job  # queued: no worker runs
    async with running_gateway(telegram, gateway_env, THROTTLE_UPDATES=1000) as gw:
        ann = await gw.users.user(ANN, "Ann", language_code="en")
        await gw.users.user(BOB, "Bob", language_code="en")
        await say(gw, BOB, "/start")
        before = {ANN: await balance(billing, ANN), BOB: await balance(billing, BOB)}
        # Ann is in an Edit dialog, at the prompt.
        question = await say(gw, ANN, "/edit")
        question = await press(gw, ANN, question, "Standard")
        await press(gw, ANN, question, "1:1")
        file_id = "AgACAgIAAxkBAAIfake" + "x" * 40

        answers: list[str] = []

        async def said(text: str) -> None:
            answers.append(text_of(await say(gw, ANN, text)))

        async def raw(kind: str, payload: dict, user: int = ANN) -> None:
            after = await gw.mark()
            inject(telegram, kind, payload)
            if kind == "message" and payload["chat"]["id"] == user:
                answers.append(text_of(await wait_shown(gw, user, after)))
            else:
                await asyncio.sleep(0.3)

        async def forged(data: str, on: dict) -> None:
            after = await gw.mark()
            payload = callback(telegram, ANN, on, data)
            inject(telegram, "callback_query", payload)
            found = await gw.users.wait_for(
                lambda e: e["kind"] == "callback_answer" and e["id"] == payload["id"],
                after=after, bot=gw.bot.id, chat_id=ANN, timeout=10,
            )  # fmt: skip
            answers.append(found["text"])

        # 1-6: texts at the prompt step.
        await said("a" * 4096)
        assert "too long: 4096 characters, at most 2000" in answers[-1]
        await said("/")
        await said("/image@some_other_bot")
        await raw("message", _message(ann, ANN, text="\u0000\u0001 \u0007"))
        assert "describe it in words" in answers[-1]
        await raw("message", _message(ann, ANN, text="   \n\t  "))
        await raw("message", _message(ann, ANN, sticker={
            "file_id": "CAACfake", "file_unique_id": "u1", "type": "regular", "width": 512,
            "height": 512, "is_animated": False, "is_video": False}))  # fmt: skip
        assert "describe it in words" in answers[-1]
        # 7-8: a prompt of unicode oddities, edited afterwards (edits change nothing).
        oddities = "Z̷̢̛a̸l̵g̶o 👨‍👩‍👧‍👦 مرحبا \u202e\u200b"
        after = await gw.mark()
        mine = await gw.users.send_text(gw.bot.id, ANN, oddities)
        image_step = await wait_shown(gw, ANN, after)
        assert "send the photo" in text_of(image_step)
        await gw.users.edit_text(gw.bot.id, ANN, mine["message_id"], "edited to something else")
        await asyncio.sleep(0.3)
        # Now at the photo step: 9-18, everything that is not an image.
        await raw("message", _message(ann, ANN, location={"latitude": 52.5, "longitude": 13.4}))
        await raw(
            "message", _message(ann, ANN, contact={"phone_number": "+100", "first_name": "X"})
        )
        await raw(
            "message",
            _message(
                ann,
                ANN,
                venue={
                    "location": {"latitude": 1.0, "longitude": 2.0},
                    "title": "t",
                    "address": "a",
                },
            ),
        )
        await raw("message", _message(ann, ANN, dice={"emoji": "🎲", "value": 3}))
        await raw(
            "message",
            _message(
                ann, ANN, voice={"file_id": "AwACfake", "file_unique_id": "u2", "duration": 2}
            ),
        )
        await raw(
            "message",
            _message(
                ann, ANN, audio={"file_id": "CQACfake", "file_unique_id": "u3", "duration": 2}
            ),
        )
        await raw(
            "message",
            _message(
                ann,
                ANN,
                video_note={
                    "file_id": "DQACfake",
                    "file_unique_id": "u4",
                    "length": 240,
                    "duration": 2,
                },
            ),
        )
        await raw("message", _message(ann, ANN, animation={
            "file_id": "CgACfake", "file_unique_id": "u5", "width": 1, "height": 1,
            "duration": 1}, document={"file_id": "CgACfake", "file_unique_id": "u5",
            "mime_type": "video/mp4"}))  # fmt: skip
        await raw("message", _message(ann, ANN, poll={
            "id": "1", "question": "q?", "options": [
                {"persistent_id": "a", "text": "a", "voter_count": 0},
                {"persistent_id": "b", "text": "b", "voter_count": 0}],
            "total_voter_count": 0, "is_closed": False, "is_anonymous": True, "type": "regular",
            "allows_multiple_answers": False, "allows_revoting": False,
            "members_only": False}))  # fmt: skip
        after = await gw.mark()
        await gw.users.send_file(gw.bot.id, ANN, b"PK\x03\x04zipzip", kind="document",
                                 filename="a.zip", content_type="application/zip")  # fmt: skip
        answers.append(text_of(await wait_shown(gw, ANN, after)))
        assert "JPEG, PNG or WebP" in answers[-1]
        # 19-20: an image file that is too large (as Telegram reports it), a video.
        await raw("message", _message(ann, ANN, document={
            "file_id": file_id, "file_unique_id": "u6", "file_name": "big.png",
            "mime_type": "image/png", "file_size": 30 * 1024 * 1024}))  # fmt: skip
        assert "too large: at most 10 MB" in answers[-1]
        await raw("message", _message(ann, ANN, photo=[{
            "file_id": file_id, "file_unique_id": "u7", "width": 9000, "height": 900,
            "file_size": 11 * 1024 * 1024}]))  # fmt: skip
        assert "too large" in answers[-1]
        after = await gw.mark()
        await gw.users.send_file(gw.bot.id, ANN, b"\x00\x00\x00\x18ftypmp42", kind="video",
                                 filename="v.mp4", content_type="video/mp4")  # fmt: skip
        answers.append(text_of(await wait_shown(gw, ANN, after)))
        # 21-30: buttons: another user's job, garbled, stale, unknown, without a message.
        for action in ("cancel", "repeat", "vary", "again"):
            await forged(f"j:{action}:{bobs.id}", image_step)
            assert answers[-1] == "This job is not yours or no longer exists."
        for data in ("j:cancel:not-a-uuid", "j:cancel", "g:deadbeef:confirm:", "h:notanint",
                     "h:-5", "h:99", "zzz", "g:" + "x" * 60):  # fmt: skip
            await forged(data, image_step)
            assert answers[-1] == "This button has expired."
        no_message = callback(telegram, ANN, image_step, "m:image")
        del no_message["message"]
        no_message["inline_message_id"] = "AAAAAA"
        await raw("callback_query", no_message)
        # 31-38: updates of other kinds, other chats, and a blocked bot.
        await raw("edited_message", {**_message(ann, ANN, text="edit"), "edit_date": 1})
        await raw(
            "channel_post",
            {
                "message_id": 1,
                "date": 1,
                "text": "/image",
                "chat": {"id": -1001, "type": "channel", "title": "c"},
            },
        )
        await raw("poll", {"id": "1", "question": "q?", "options": [], "total_voter_count": 0,
                           "is_closed": True, "is_anonymous": True, "type": "regular",
                           "allows_multiple_answers": False, "allows_revoting": False,
                           "members_only": False})  # fmt: skip
        await raw(
            "poll_answer",
            {"poll_id": "1", "user": ann, "option_ids": [0], "option_persistent_ids": ["a"]},
        )
        await raw(
            "message_reaction",
            {
                "chat": {"id": ANN, "type": "private"},
                "message_id": 1,
                "user": ann,
                "date": 1,
                "old_reaction": [],
                "new_reaction": [{"type": "emoji", "emoji": "👍"}],
            },
        )
        await gw.users.add_to_group(gw.bot.id, BOB, -1002, "g")
        await gw.users.send_text(gw.bot.id, BOB, "/image", chat_id=-1002)
        await raw(
            "message",
            _message(
                ann,
                ANN,
                text="forwarded",
                forward_origin={"type": "hidden_user", "sender_user_name": "someone", "date": 1},
            ),
        )
        await gw.users.block(gw.bot.id, ANN)
        await gw.users.block(gw.bot.id, ANN, blocked=False)
        await asyncio.sleep(0.5)
        # After it all: the dialog still works, nothing was charged or created.
        confirmation = await send_photo(gw, ANN, png())
        assert (
            "Price: 2 credits" in confirmation["text"] and oddities.strip() in confirmation["text"]
        )
        cancelled = await press(gw, ANN, confirmation, "Cancel")
        assert cancelled["text"] == "Cancelled."
        history = await say(gw, ANN, "/history")
        assert history["text"].startswith("You have no jobs yet")
        assert {ANN: await balance(billing, ANN), BOB: await balance(billing, BOB)} == before
        assert await jobs_of(jobs, ANN) == []
        (still,) = await jobs_of(jobs, BOB)
        assert still.status == pb.JOB_STATUS_QUEUED
        for person in (ANN, BOB):
            for message in await gw.users.bot_messages(gw.bot.id, person):
                assert "went wrong" not in text_of(message), message
        assert len(answers) >= 30
        bad = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert not bad, [r.getMessage() for r in bad]


async def test_job_svc_restarting_while_a_job_runs_loses_nothing(
    telegram, job_env, people, start_worker, jobs
):
    settings = make_settings(JobSettings, job_env)
    first = await create_jobs_server(settings, "127.0.0.1:0")
    await first.start()
    port = first.port
    second = None
    try:
        env = job_env | {"JOBS_GRPC_ADDR": f"127.0.0.1:{port}"}
        async with running_gateway(telegram, env) as gw:
            await gw.users.user(ANN, "Ann", language_code="en")
            confirmation = await to_confirmation(gw, ANN, "image", prompt="through a restart")
            await start_worker(LOCAL_LATENCY_SECONDS=3)
            after = await mark(gw)
            status = await confirm(gw, ANN, confirmation)
            await wait_shown(gw, ANN, after, lambda m: "Making it" in text_of(m))
            await first.stop(0)  # job_svc goes away while the job runs
            # Meanwhile a new job cannot be made: the user is told so, in a few seconds.
            other = await to_confirmation(gw, ANN, "image", prompt="while it is down")
            before = await mark(gw)
            await gw.users.press(
                gw.bot.id, ANN, other["message_id"], button(other, "✅")["callback_data"]
            )
            refused = await wait_shown(
                gw, ANN, before, lambda m: m["message_id"] > other["message_id"]
            )
            assert (
                refused["text"] == "The service is temporarily unavailable. Try again in a minute."
            )
            (job,) = await jobs_of(jobs, ANN)
            await wait_for_status(jobs, job, pb.JOB_STATUS_SUCCEEDED)
            second = await create_jobs_server(settings, f"127.0.0.1:{port}")
            await second.start()
            photo = await result(gw, ANN, after, timeout=30)
            assert photo["caption"].startswith("«through a restart»")
            await gw.users.wait_for(
                lambda e: e["kind"] == "delete" and e["message_id"] == status["message_id"],
                after=after, bot=gw.bot.id, chat_id=ANN, timeout=15,
            )  # fmt: skip
            # The dialog left waiting works once job_svc is back.
            again = await mark(gw)
            await gw.users.press(
                gw.bot.id, ANN, other["message_id"], button(other, "✅")["callback_data"]
            )
            made = await wait_shown(
                gw, ANN, again, lambda m: m["message_id"] == other["message_id"]
            )
            assert "queue" in made["text"] or "Making it" in made["text"]
            await result(gw, ANN, again, timeout=30)
            await asyncio.sleep(1)
            assert len(await results_in(gw, ANN)) == 2, "each result once"
    finally:
        await first.stop(0)
        if second is not None:
            await second.stop(0)
