"""The admin commands through the bot, against the real services and a local Telegram:
stats, users, grants, bans, refunds, jobs and broadcasts; the audit log names the
admin; everyone else gets no hint that these commands exist."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiogram.types import Update
from mediabot.billing.v1 import billing_pb2 as bpb
from mediabot.jobs.v1 import jobs_pb2 as jpb

from devstack.telegram import Limits, LocalTelegram, Options
from tests.bot.conftest import eventually
from tests.support.gateway import BOT_USERNAME, TOKEN, Gateway, running_gateway
from tests.support.ids import tg
from tests.support.jobs import png, request, user_with

ADMIN, ANN = tg(9301), tg(9302)
UNKNOWN = "I don't know that command. /help lists what I can do."
Json = dict[str, Any]


def gateway_env(job_env: dict[str, str], jobs_service: Any) -> dict[str, str]:
    return job_env | {"JOBS_GRPC_ADDR": f"127.0.0.1:{jobs_service.port}", "ADMIN_IDS": str(ADMIN)}


@pytest.fixture
async def gateway(job_env, jobs_service) -> AsyncIterator[Gateway]:
    """The gateway on a local Telegram without flood limits, at a brisk pace (the
    broadcast test below keeps the real limits and pace)."""
    async with LocalTelegram(Options(limits=Limits(enabled=False))) as telegram:
        env = gateway_env(job_env, jobs_service)
        brisk = {"SEND_PER_CHAT_PER_SECOND": 20, "THROTTLE_UPDATES": 100}
        async with running_gateway(telegram, env, **brisk) as gw:
            await gw.users.user(ADMIN, "Ada", username="ada", language_code="en")
            await gw.users.user(ANN, "Ann", username="ann", language_code="en")
            await gw.say(ADMIN, "/start")
            await gw.say(ANN, "/start")
            yield gw


async def admin_actions(billing_admin: Any, telegram_id: int) -> list[tuple[str, str]]:
    """(actor, action) of the admin actions on a user, oldest first."""
    log = await billing_admin.ListAuditLog(bpb.ListAuditLogRequest(telegram_id=telegram_id))
    return [(e.actor, e.action) for e in reversed(log.entries) if e.actor.startswith("admin:")]


async def bought(gw: Gateway, user_id: int, product: str) -> str:
    """`user_id` buys the pack labelled `product` through /buy; its charge id."""
    invoice = await gw.press(user_id, await gw.say(user_id, "/buy"), product)
    after = await gw.mark()
    paid = await gw.users.pay(gw.bot.id, user_id, message_id=invoice["message_id"])
    assert "Payment received" in (await gw.next_message(user_id, after))["text"]
    return str(paid["charge_id"])


async def test_admin_commands_give_everyone_else_no_hint_and_change_nothing(gateway, billing):
    for command in ("/admin", "/stats", f"/user {ADMIN}", f"/grant {ANN} 500 gift", f"/ban {ADMIN}",
                    f"/unban {ANN}", "/refund stx123", f"/job {ANN}", f"/retry {ANN}",
                    "/broadcast"):  # fmt: skip
        assert (await gateway.say(ANN, command))["text"] == UNKNOWN, command
    ann = (await billing.GetUser(bpb.GetUserRequest(telegram_id=ANN))).user
    admin = (await billing.GetUser(bpb.GetUserRequest(telegram_id=ADMIN))).user
    assert (ann.balance, admin.banned) == (10, False)
    assert "/stats" in (await gateway.say(ADMIN, "/admin"))["text"]


async def test_stats_user_grant_ban_and_unban_are_audited_under_the_admins_name(
    gateway, billing, billing_admin
):
    await bought(gateway, ANN, "50 credits")
    stats = (await gateway.say(ADMIN, "/stats"))["text"]
    assert "Users: 2 (+2 in 24 h), banned 0" in stats
    assert "Paying users: 1; active subscriptions: 0" in stats
    assert "Stars revenue: 50 ⭐ from 1 payment" in stats
    assert "Jobs: queued 0, running 0, succeeded 0, failed 0, cancelled 0" in stats
    assert "Queue depth: 0; failure rate: 0.0%" in stats

    card = (await gateway.say(ADMIN, "/user @ann"))["text"]
    assert f"User {ANN} (@ann), language en" in card
    assert "Balance: 60 credits; free tier" in card and "Not banned." in card
    assert "pack_starter: 50 ⭐, +50 credits, charge stx" in card
    assert (await gateway.say(ADMIN, f"/user {ANN}"))["text"] == card
    assert (await gateway.say(ADMIN, "/user @nobody"))["text"] == "Nobody matches @nobody."
    assert (await gateway.say(ADMIN, "/user"))["text"] == "Usage: /user <id|@username>"

    after = await gateway.mark()
    command = await gateway.users.send_text(gateway.bot.id, ADMIN, f"/grant {ANN} 25 ticket 7")
    granted = await gateway.next_message(ADMIN, after)
    assert granted["text"] == f"Granted 25 credits to {ANN}. Balance: 85."
    redelivered = Update.model_validate(
        {"update_id": 10**9, "message": command}, context={"bot": gateway.bot}
    )
    await gateway.dp.feed_update(gateway.bot, redelivered)  # grants nothing twice
    assert (await billing.GetBalance(bpb.GetBalanceRequest(telegram_id=ANN))).balance == 85
    taken = await gateway.say(ADMIN, f"/grant {ANN} -5 correction")
    assert taken["text"] == f"Granted -5 credits to {ANN}. Balance: 80."
    assert (await gateway.say(ADMIN, f"/grant {ANN} 5"))["text"].startswith("Usage: /grant")
    missing = await gateway.say(ADMIN, f"/grant {tg(9399)} 5 gift")
    assert missing["text"] == f"No user {tg(9399)}: they never started the bot."

    assert (await gateway.say(ADMIN, f"/ban {ANN} spam"))["text"] == f"User {ANN} is banned."
    assert (await billing.GetUser(bpb.GetUserRequest(telegram_id=ANN))).user.banned
    assert "Banned." in (await gateway.say(ADMIN, f"/user {ANN}"))["text"]
    assert (await gateway.say(ADMIN, f"/unban {ANN}"))["text"] == f"User {ANN} is unbanned."
    assert not (await billing.GetUser(bpb.GetUserRequest(telegram_id=ANN))).user.banned

    assert await admin_actions(billing_admin, ANN) == [
        (f"admin:tg:{ADMIN}", action)
        for action in ("credits:grant", "grant", "credits:grant", "grant", "ban", "unban")
    ]


async def test_a_refund_returns_the_stars_once_and_none_when_the_credits_are_spent(
    gateway, billing, billing_admin
):
    charge = await bought(gateway, ANN, "50 credits")
    after = await gateway.mark()
    done = await gateway.say(ADMIN, f"/refund {charge} asked within a day")
    assert done["text"] == f"Refunded: 50 ⭐ went back to {ANN}, 50 credits were taken back."
    told = await gateway.next_message(ANN, after)
    assert told["text"].startswith("Your payment was refunded: 50 ⭐ went back to you")
    again = await gateway.say(ADMIN, f"/refund {charge}")
    assert (
        again["text"]
        == f"The payment {charge} of {ANN} was refunded already; nothing more was done."
    )
    stars = {p["charge_id"]: p["refunded"] for p in await local_payments(gateway)}
    assert stars == {charge: True}
    assert (await billing.GetBalance(bpb.GetBalanceRequest(telegram_id=ANN))).balance == 10
    assert (f"admin:tg:{ADMIN}", "refund") in await admin_actions(billing_admin, ANN)
    refunds = [e for e in (await billing_admin.ListAuditLog(bpb.ListAuditLogRequest(
        telegram_id=ANN))).entries if e.action == "refund"]  # fmt: skip
    assert len(refunds) == 1

    spent = await bought(gateway, ANN, "50 credits")
    await billing_admin.GrantCredits(bpb.GrantCreditsRequest(
        telegram_id=ANN, amount=-20, reason="spent", idempotency_key="spent-1"))  # fmt: skip
    refused = await gateway.say(ADMIN, f"/refund {spent}")
    assert refused["text"] == (
        "Not refunded: the payment's 50 credits are partly spent (balance 40). "
        "Telegram was not asked, so no Stars went back."
    )
    stars = {p["charge_id"]: p["refunded"] for p in await local_payments(gateway)}
    assert stars[spent] is False
    unknown = await gateway.say(ADMIN, "/refund stx-nope")
    assert unknown["text"] == "No payment with the charge id stx-nope."


async def local_payments(gw: Gateway) -> list[Json]:
    async with gw.users.session.get(f"{gw.users.base_url}/_local/payments") as response:
        return list(await response.json())


async def test_an_admin_reads_and_retries_any_users_job(
    gateway, jobs, billing, billing_admin, jobs_admin
):
    await user_with(billing, billing_admin, ANN, 10)
    job = (await jobs.CreateJob(request(ANN, "a lighthouse at dawn"))).job
    await jobs.CancelJob(jpb.CancelJobRequest(job_id=job.id, telegram_id=ANN))
    card = (await gateway.say(ADMIN, f"/job {job.id}"))["text"]
    assert f"Job {job.id} of {ANN}: image, standard" in card
    assert "Status: cancelled; provider local; cost 1; attempts 0" in card
    assert "Prompt: a lighthouse at dawn" in card
    retried = await gateway.say(ADMIN, f"/retry {job.id}")
    new = (await jobs_admin.ListAllJobs(jpb.ListAllJobsRequest(telegram_id=ANN))).jobs[0]
    assert new.retry_of == job.id
    assert retried["text"] == (
        f"Job {job.id} runs again as {new.id} (queued), charged to its owner."
    )
    assert f"Retries job {job.id}" in (await gateway.say(ADMIN, f"/job {new.id}"))["text"]
    twice = await gateway.say(ADMIN, f"/retry {new.id}")
    assert twice["text"] == "Only a failed or cancelled job can be retried; this one is queued."
    nothing = "00000000-0000-0000-0000-000000000000"
    assert (await gateway.say(ADMIN, f"/job {nothing}"))["text"] == f"No job {nothing}."


async def test_a_broadcast_draft_is_shown_back_and_can_be_dropped(gateway, redis):
    asked = await gateway.say(ADMIN, "/broadcast")
    assert asked["text"].startswith("Send the message for every user: text or a photo")
    assert (await gateway.say(ADMIN, "/stats"))["text"].startswith("Users: 2")  # still a command
    preview = await gateway.say(ADMIN, "Old news, *never* mind")  # as people will see it
    assert preview["text"] == "Old news, *never* mind"
    confirm = await gateway.next_message(ADMIN)
    assert "about 2 users" in confirm["text"]
    dropped = await gateway.press(ADMIN, confirm, "Drop it")
    assert dropped["text"] == "The broadcast is dropped."
    assert await redis.get("bot:broadcast") is None
    assert (await gateway.say(ANN, "Old news"))["text"].startswith("Choose what to make")


async def test_a_broadcast_stopped_midway_resumes_and_reaches_everyone_exactly_once(
    job_env, jobs_service, billing, billing_admin
):
    env = gateway_env(job_env, jobs_service)
    people = [tg(9310 + n) for n in range(20)]
    blocked, banned, stranger = people[:2], people[2], tg(9399)  # stranger: unknown to Telegram
    async with LocalTelegram(Options(limits=Limits(enabled=True))) as telegram:
        bot = telegram.add_bot(TOKEN, BOT_USERNAME, "mediabot")
        for person in [ADMIN, *people]:
            user = telegram.world.upsert_user(person, f"User {person}")
            telegram.world.private_chat(bot, user)  # they have started the bot
            await billing.EnsureUser(bpb.EnsureUserRequest(telegram_id=person))
        await billing.EnsureUser(bpb.EnsureUserRequest(telegram_id=stranger))
        await billing_admin.SetBanned(bpb.SetBannedRequest(telegram_id=banned, banned=True))
        reached = [p for p in people if p not in (*blocked, banned)]

        def news_in(chat: int) -> int:
            chat_messages = telegram.world.bots[bot.id].chats[chat].messages.values()
            return sum(m.outgoing and "Big news" in (m.data.get("caption") or "")
                       for m in chat_messages)  # fmt: skip

        async with running_gateway(telegram, env, BROADCAST_PER_SECOND=6) as gw:
            for person in blocked:
                await gw.users.block(bot.id, person)
            assert "send the message" in (await gw.say(ADMIN, "/broadcast"))["text"].lower()
            after = await gw.mark()
            await gw.users.send_file(
                bot.id,
                ADMIN,
                png(),
                kind="photo",
                filename="news.png",
                content_type="image/png",
                caption="Big news: faster videos",
            )
            preview = await gw.next_message(ADMIN, after)
            assert preview["photo"] and preview["caption"] == "Big news: faster videos"
            confirm = await gw.next_message(ADMIN)
            assert "about 21 users" in confirm["text"]  # the admin and 20 people, less one ban
            started = await gw.press(ADMIN, confirm, "Send to everyone")
            assert started["text"].startswith("The broadcast has started.")
            await eventually(lambda: sum(news_in(p) for p in reached) >= 5, timeout=10)
            running = await gw.say(ADMIN, "/broadcast")
            assert running["text"].startswith("A broadcast is running: sent ")
        before_restart = sum(news_in(p) for p in reached)
        assert before_restart < len(reached), "stopped midway"

        async with running_gateway(telegram, env, BROADCAST_PER_SECOND=6) as gw:
            report = await gw.users.wait_for(
                lambda e: e["kind"] == "message" and e["outgoing"]
                and "broadcast is finished" in (e["message"].get("text") or ""),
                bot=bot.id, chat_id=ADMIN, timeout=20,
            )  # fmt: skip
        assert report["message"]["text"] == (
            f"The broadcast is finished: sent {len(reached) + 1}, failed 1, blocked 2."
        )
        assert [news_in(p) for p in reached] == [1] * len(reached)
        assert [news_in(p) for p in (*blocked, banned)] == [0, 0, 0]
        assert news_in(ADMIN) == 2  # the preview and the broadcast
        assert not telegram.rate_limit_hits, "the broadcast kept Telegram's limits"
