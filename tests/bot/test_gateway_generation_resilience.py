"""The generation part of the bot under stress: restarts (graceful and kill -9),
a hundred people at once within Telegram's flood limits, and garbage of every kind."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiogram import Bot
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.methods import EditMessageText, TelegramMethod
from mediabot.jobs.v1 import jobs_pb2 as pb

from devstack.telegram import Limits, LocalTelegram, Options
from devstack.telegram.client import UserSide
from job_svc.server import create_server as create_jobs_server
from job_svc.settings import JobSettings
from tests.support.dialogs import (
    Json,
    NotModifiedWatch,
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


class SlowEdits(BaseRequestMiddleware):
    """Telegram taking a second to answer each edit."""

    async def __call__(
        self, make_request: NextRequestMiddlewareType[Any], bot: Bot, method: TelegramMethod[Any]
    ) -> Any:
        if isinstance(method, EditMessageText):
            await asyncio.sleep(1)
        return await make_request(bot, method)


async def test_a_shutdown_lets_the_update_under_way_finish_so_its_job_is_followed(
    telegram, gateway_env, people, start_worker, jobs
):
    async with running_gateway(telegram, gateway_env) as gw:
        await gw.users.user(ANN, "Ann", language_code="en")
        confirmation = await to_confirmation(gw, ANN, "image", prompt="a fox at closing time")
        gw.bot.session.middleware(SlowEdits())
        data = button(confirmation, "✅")["callback_data"]
        await gw.users.press(gw.bot.id, ANN, confirmation["message_id"], data)
        deadline = time.monotonic() + 10
        while not await jobs_of(jobs, ANN):  # created: the press is now at its slow edit
            assert time.monotonic() < deadline, "no job was created"
            await asyncio.sleep(0.02)
    # The gateway stopped midway through that press; the next one follows the job.
    await start_worker(LOCAL_LATENCY_SECONDS=3)
    async with running_gateway(telegram, gateway_env) as gw:
        after = await gw.mark()
        running = await wait_shown(gw, ANN, after, lambda m: "Making it" in text_of(m))
        assert running["message_id"] == confirmation["message_id"], "the status message"


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
        edits = NotModifiedWatch()
        gw.bot.session.middleware(edits)
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
        assert not edits.seen
        logging.getLogger(__name__).info("100 people served in %.1f s", took)


_numbers = itertools.count(10**6)


def _message(user: Json, **content: object) -> Json:
    """A private message from `user` as Telegram sends it to the bot."""
    chat = {"id": user["id"], "type": "private", "first_name": user["first_name"]}
    return {"message_id": next(_numbers), "date": int(time.time()), "chat": chat, "from": user,
            **content}  # fmt: skip


_FILE = {"file_id": "BQACAgIAAxkBAAIfake" + "x" * 40, "file_unique_id": "AQADfake"}
#: What people send at the prompt of an Edit dialog, and what the bot's answer says.
AT_PROMPT: list[tuple[str, Any, str]] = [
    ("text", "a" * 4096, "too long: 4096 characters, at most 2000"),
    ("text", "/", "don't know that command"),
    ("text", "/image@some_other_bot", "don't know that command"),
    ("raw", {"text": "\u0000\u0001 \u0007"}, "describe it in words"),
    ("raw", {"text": "   \n\t  "}, "describe it in words"),
    ("raw", {"sticker": {**_FILE, "type": "regular", "width": 512, "height": 512,
                         "is_animated": False, "is_video": False}}, "describe it in words"),
]  # fmt: skip
#: What people send when the photo to edit is asked for.
AT_PHOTO: list[tuple[str, Any, str]] = [
    ("raw", {"location": {"latitude": 52.5, "longitude": 13.4}}, "JPEG, PNG or WebP"),
    ("raw", {"contact": {"phone_number": "+100", "first_name": "X"}}, "JPEG, PNG or WebP"),
    ("raw", {"venue": {"location": {"latitude": 1.0, "longitude": 2.0}, "title": "t",
                       "address": "a"}}, "JPEG, PNG or WebP"),
    ("raw", {"dice": {"emoji": "🎲", "value": 3}}, "JPEG, PNG or WebP"),
    ("raw", {"voice": {**_FILE, "duration": 2}}, "JPEG, PNG or WebP"),
    ("raw", {"audio": {**_FILE, "duration": 2}}, "JPEG, PNG or WebP"),
    ("raw", {"video_note": {**_FILE, "length": 240, "duration": 2}}, "JPEG, PNG or WebP"),
    ("raw", {"animation": {**_FILE, "width": 1, "height": 1, "duration": 1},
             "document": {**_FILE, "mime_type": "video/mp4"}}, "JPEG, PNG or WebP"),
    ("raw", {"poll": {"id": "1", "question": "q?", "total_voter_count": 0, "is_closed": False,
                      "options": [{"persistent_id": "a", "text": "a", "voter_count": 0}],
                      "is_anonymous": True, "type": "regular", "allows_multiple_answers": False,
                      "allows_revoting": False, "members_only": False}}, "JPEG, PNG or WebP"),
    ("raw", {"text": "forwarded", "forward_origin": {"type": "hidden_user", "date": 1,
                                                     "sender_user_name": "someone"}},
     "JPEG, PNG or WebP"),
    ("raw", {"document": {**_FILE, "file_name": "big.png", "mime_type": "image/png",
                          "file_size": 30 * 1024 * 1024}}, "too large: at most 10 MB"),
    ("raw", {"photo": [{**_FILE, "width": 9000, "height": 900,
                        "file_size": 11 * 1024 * 1024}]}, "too large: at most 10 MB"),
    ("file", ("document", b"PK\x03\x04zip", "a.zip", "application/zip"), "JPEG, PNG or WebP"),
    ("file", ("video", b"\x00\x00\x00\x18ftypmp42", "v.mp4", "video/mp4"),
     "JPEG, PNG or WebP"),
    ("text", "words instead of a photo", "JPEG, PNG or WebP"),
]  # fmt: skip


async def test_garbage_of_every_kind_changes_nothing_and_crashes_nothing(
    telegram, gateway_env, billing, billing_admin, jobs, caplog
):
    caplog.set_level(logging.WARNING, logger="bot_gateway")
    crowd = [ANN, tg(9303), tg(9304)]
    for person in [*crowd, BOB]:
        await user_with(billing, billing_admin, person, 20)
    bobs = (await jobs.CreateJob(request(BOB, "bob's fox"))).job  # queued: no worker runs
    # The throttle (its own test) would cut this deliberate flood short.
    async with running_gateway(telegram, gateway_env, THROTTLE_UPDATES=1000) as gw:
        edits = NotModifiedWatch()
        gw.bot.session.middleware(edits)
        people = {p: await gw.users.user(p, f"P{p % 100}", language_code="en") for p in crowd}
        await gw.users.user(BOB, "Bob", language_code="en")
        await say(gw, BOB, "/start")
        before = {p: await balance(billing, p) for p in [*crowd, BOB]}
        oddities = "Z̷̢̛a̸l̵g̶o 👨‍👩‍👧‍👦 مرحبا \u202e\u200b"

        async def send(person: int, how: str, what: Any, expected: str) -> None:
            after = await gw.mark()
            if how == "text":
                await gw.users.send_text(gw.bot.id, person, what)
            elif how == "file":
                kind, data, name, mime = what
                await gw.users.send_file(gw.bot.id, person, data, kind=kind, filename=name,
                                         content_type=mime)  # fmt: skip
            else:
                inject(telegram, "message", _message(people[person], **what))
            answer = text_of(await wait_shown(gw, person, after))
            assert expected in answer, (what, answer)

        async def through(person: int, n: int) -> Json:
            """An Edit dialog with its share of the garbage; the photo question."""
            question = await say(gw, person, "/edit")
            question = await press(gw, person, question, "Standard")
            await press(gw, person, question, "1:1")
            for how, what, expected in AT_PROMPT[n :: len(crowd)]:
                await send(person, how, what, expected)
            after = await gw.mark()
            mine = await gw.users.send_text(gw.bot.id, person, oddities)
            asked = await wait_shown(gw, person, after)
            assert "send the photo" in text_of(asked)
            await gw.users.edit_text(gw.bot.id, person, mine["message_id"], "edited afterwards")
            for how, what, expected in AT_PHOTO[n :: len(crowd)]:
                await send(person, how, what, expected)
            return asked

        asked = await asyncio.gather(*(through(p, n) for n, p in enumerate(crowd)))

        # Buttons: another user's job, garbled, stale, unknown, or without a message.
        async def press_forged(data: str) -> str:
            after = await gw.mark()
            payload = callback(telegram, ANN, asked[0], data)
            inject(telegram, "callback_query", payload)
            found = await gw.users.wait_for(
                lambda e: e["kind"] == "callback_answer" and e["id"] == payload["id"],
                after=after, bot=gw.bot.id, chat_id=ANN, timeout=10,
            )  # fmt: skip
            return str(found["text"])

        for action in ("cancel", "repeat", "vary", "again"):
            answer = await press_forged(f"j:{action}:{bobs.id}")
            assert answer == "This job is not yours or no longer exists."
        for data in ("j:cancel:not-a-uuid", "j:cancel", "g:deadbeef:confirm:", "h:notanint",
                     "h:-5", "h:99", "zzz", "g:" + "x" * 60):  # fmt: skip
            assert await press_forged(data) == "This button has expired."
        inline = callback(telegram, ANN, asked[0], "m:image")
        del inline["message"]
        inline["inline_message_id"] = "AAAAAA"
        ann = people[ANN]
        # Updates of other kinds and from other chats; a blocked and unblocked bot.
        inject(telegram, "callback_query", inline)
        inject(telegram, "edited_message", {**_message(ann, text="edit"), "edit_date": 1})
        inject(
            telegram,
            "channel_post",
            {
                "message_id": 1,
                "date": 1,
                "text": "/image",
                "chat": {"id": -1001, "type": "channel", "title": "c"},
            },
        )
        inject(
            telegram,
            "poll",
            {
                "id": "1",
                "question": "q?",
                "options": [],
                "total_voter_count": 0,
                "is_closed": True,
                "is_anonymous": True,
                "type": "regular",
                "allows_multiple_answers": False,
                "allows_revoting": False,
                "members_only": False,
            },
        )
        inject(
            telegram,
            "poll_answer",
            {"poll_id": "1", "user": ann, "option_ids": [0], "option_persistent_ids": ["a"]},
        )
        inject(
            telegram,
            "message_reaction",
            {
                "chat": {"id": ANN, "type": "private"},
                "message_id": 1,
                "user": ann,
                "date": 1,
                "old_reaction": [],
                "new_reaction": [],
            },
        )
        inject(telegram, "inline_query", {"id": "7", "from": ann, "query": "fox", "offset": ""})
        await gw.users.add_to_group(gw.bot.id, BOB, -1002, "g")
        await gw.users.send_text(gw.bot.id, BOB, "/image", chat_id=-1002)
        await gw.users.block(gw.bot.id, ANN)
        await gw.users.block(gw.bot.id, ANN, blocked=False)
        await asyncio.sleep(1)  # fmt: skip

        # After it all every dialog still works, and nothing was charged or created.
        async def finish(person: int) -> None:
            confirmation = await send_photo(gw, person, png())
            assert "Price: 2 credits" in confirmation["text"]
            assert oddities.strip() in confirmation["text"]
            assert (await press(gw, person, confirmation, "Cancel"))["text"] == "Cancelled."

        await asyncio.gather(*(finish(p) for p in crowd))
        assert (await say(gw, ANN, "/history"))["text"].startswith("You have no jobs yet")
        assert {p: await balance(billing, p) for p in [*crowd, BOB]} == before
        for person in crowd:
            assert await jobs_of(jobs, person) == []
        (still,) = await jobs_of(jobs, BOB)
        assert still.status == pb.JOB_STATUS_QUEUED
        for person in [*crowd, BOB]:
            for message in await gw.users.bot_messages(gw.bot.id, person):
                assert "went wrong" not in text_of(message), message
        assert len(AT_PROMPT) + len(AT_PHOTO) + 12 + 10 >= 40
        assert not edits.seen
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
