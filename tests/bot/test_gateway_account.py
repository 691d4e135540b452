"""The bot's front door against the real services through a local Telegram: /start
with and without a referral, language, balance, help, groups, floods, stale buttons,
and a service that is down."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from mediabot.billing.v1 import billing_pb2 as bpb

from common import cabinet_token
from devstack.telegram import Limits, LocalTelegram, Options
from tests.support.gateway import WEBAPP_SECRET, Gateway, button, buttons, running_gateway
from tests.support.ids import tg

ANN, BOB = tg(9101), tg(9102)


@pytest.fixture
async def gateway(gateway_env) -> AsyncIterator[Gateway]:
    """The gateway on a local Telegram that enforces Telegram's flood limits."""
    async with LocalTelegram(Options(limits=Limits(enabled=True))) as telegram:
        env = gateway_env | {"ADMIN_IDS": str(BOB)}
        async with running_gateway(telegram, env) as gw:
            await gw.users.user(ANN, "Ann", username="ann", language_code="ru")
            await gw.users.user(BOB, "Bob", username="bob", language_code="en")
            yield gw
            assert not telegram.rate_limit_hits, "the gateway kept Telegram's pace"


async def test_start_creates_the_account_once_and_shows_balance_prices_and_menu(gateway, billing):
    hello = await gateway.say(BOB, "/start")
    assert "Hi, Bob!" in hello["text"] and "Balance: 10 credits" in hello["text"]
    assert "Image: 1 · PRO 3" in hello["text"] and "Video: 10 · PRO 25" in hello["text"]
    labels = [b["text"] for b in buttons(hello)]
    for label in ("Image", "Edit", "Video", "Balance", "Buy", "History", "Cabinet", "Language",
                  "Help"):  # fmt: skip
        assert any(label in x for x in labels), label
    cabinet = button(hello, "Cabinet")["web_app"]["url"]
    assert cabinet_token.verify(WEBAPP_SECRET, cabinet.split("auth=")[1]) == BOB
    again = await gateway.say(BOB, "/start")
    assert "Welcome back, Bob!" in again["text"] and "Balance: 10 credits" in again["text"]
    user = (await billing.GetUser(bpb.GetUserRequest(telegram_id=BOB))).user
    assert (user.balance, user.username, user.language) == (10, "bob", "en")


async def test_a_referral_link_links_the_new_user_to_the_referrer(gateway, billing):
    await gateway.say(BOB, "/start")
    code = (await billing.GetUser(bpb.GetUserRequest(telegram_id=BOB))).user.referral_code
    hello = await gateway.say(ANN, f"/start ref_{code}")
    assert "Привет, Ann!" in hello["text"] and "по ссылке друга" in hello["text"]
    ann = (await billing.GetUser(bpb.GetUserRequest(telegram_id=ANN))).user
    assert ann.referrer_id == BOB
    balance = await gateway.say(BOB, "/balance")
    assert f"https://t.me/mediabot_local_bot?start=ref_{code}" in balance["text"]
    assert "Joined through your link: 1" in balance["text"]


async def test_the_language_follows_telegram_first_and_then_the_choice(gateway, billing):
    hello = await gateway.say(ANN, "/start")
    assert "Баланс: 10" in hello["text"]
    choose = await gateway.say(ANN, "/language")
    done = await gateway.press(ANN, choose, "English")
    assert done["text"] == "Done: I will speak English."
    assert (await billing.GetUser(bpb.GetUserRequest(telegram_id=ANN))).user.language == "en"
    assert "Commands:" in (await gateway.say(ANN, "/help"))["text"]
    back = await gateway.say(ANN, "/start")
    assert "Welcome back, Ann!" in back["text"]


async def test_in_a_group_the_bot_answers_a_command_with_a_link_to_a_private_chat(gateway):
    group = -100_555
    await gateway.users.add_to_group(gateway.bot.id, BOB, group, "friends")
    after = await gateway.mark()
    await gateway.users.send_text(gateway.bot.id, BOB, "/start", chat_id=group)
    reply = await gateway.next_message(group, after)
    assert "https://t.me/mediabot_local_bot" in reply["text"]


async def test_unknown_commands_stray_text_and_stale_buttons_get_short_answers(gateway):
    await gateway.say(BOB, "/start")
    assert "don't know that command" in (await gateway.say(BOB, "/frobnicate"))["text"]
    assert "/help" in (await gateway.say(BOB, "hello there"))["text"]
    # A message an older version of the bot sent, with a button this one does not know.
    stale = InlineKeyboardButton(text="old", callback_data="v0:gallery")
    old = await gateway.bot.send_message(
        BOB, "an old menu", reply_markup=InlineKeyboardMarkup(inline_keyboard=[[stale]])
    )
    pressed = await gateway.users.press(gateway.bot.id, BOB, old.message_id, "v0:gallery", wait=5)
    assert pressed["answer"]["text"] == "This button has expired."


async def test_a_flood_of_updates_is_cut_with_one_notice(gateway, job_env):
    await gateway.say(BOB, "/start")
    after = await gateway.mark()
    for n in range(30):
        await gateway.users.send_text(gateway.bot.id, BOB, f"spam {n}")
    notice = await gateway.users.wait_for(
        lambda e: e["kind"] == "message" and e["outgoing"]
        and "slow down" in (e["message"].get("text") or ""),
        after=after, bot=gateway.bot.id, chat_id=BOB, timeout=20,
    )  # fmt: skip
    assert notice


async def test_a_service_that_is_down_is_told_as_temporarily_unavailable(job_env, jobs_service):
    down = job_env | {"BILLING_GRPC_ADDR": "127.0.0.1:9", "JOBS_GRPC_ADDR": "127.0.0.1:9"}
    async with LocalTelegram(Options(limits=Limits(enabled=False))) as telegram:
        async with running_gateway(telegram, down) as gw:
            await gw.users.user(BOB, "Bob", language_code="en")
            reply = await gw.say(BOB, "/start")
            assert reply["text"] == "The service is temporarily unavailable. Try again in a minute."
