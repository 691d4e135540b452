"""The user side: groups and privacy mode, edits, blocking, button presses, the transcript and
its events, Mini App launch data, and the standalone server with its web chat."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import urllib.parse

import aiohttp
import pytest
from aiogram import Bot
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.web_app import check_webapp_signature, safe_parse_webapp_init_data

from devstack.telegram import sign_init_data
from devstack.telegram.client import UserSide, UserSideError
from tests.bot.conftest import ANN, BOB, OTHER_TOKEN, TOKEN, make_bot, only

GROUP = -1001234567890


async def test_in_a_group_the_bot_sees_only_commands_mentions_and_replies(
    bot: Bot, users: UserSide
) -> None:
    await users.add_to_group(bot.id, ANN, GROUP, "Artists")
    joined = await bot.get_updates()
    assert [u.event_type for u in joined] == ["my_chat_member", "message"]
    member = joined[0].my_chat_member
    assert member and (member.old_chat_member.status, member.new_chat_member.status) == (
        "left",
        "member",
    )
    assert joined[1].message and joined[1].message.new_chat_members
    offset = joined[-1].update_id + 1
    hello = await bot.send_message(GROUP, "hello, group")
    for text in ("just chatting", "/help@someone_else_bot", "/help@mediabot_local_bot", "/start"):
        await users.send_text(bot.id, ANN, text, chat_id=GROUP)
    await users.send_text(bot.id, BOB, "hey @mediabot_local_bot", chat_id=GROUP)
    await users.send_text(
        bot.id, BOB, "a reply to you", chat_id=GROUP, reply_to_message_id=hello.message_id
    )
    seen = await bot.get_updates(offset=offset)
    assert [u.message.text for u in seen if u.message] == [
        "/help@mediabot_local_bot",
        "/start",
        "hey @mediabot_local_bot",
        "a reply to you",
    ]
    assert {u.message.chat.type for u in seen if u.message} == {"supergroup"}


async def test_edits_blocks_and_unblocks_reach_the_bot_as_telegram_sends_them(
    bot: Bot, users: UserSide
) -> None:
    sent = await users.send_text(bot.id, ANN, "a cat")
    await users.edit_text(bot.id, ANN, sent["message_id"], "a black cat")
    await users.block(bot.id, ANN)
    await users.block(bot.id, ANN, blocked=False)
    updates = await bot.get_updates()
    assert [u.event_type for u in updates] == [
        "message",
        "edited_message",
        "my_chat_member",
        "my_chat_member",
    ]
    edited = updates[1].edited_message
    assert edited and edited.text == "a black cat" and edited.message_id == sent["message_id"]
    assert edited.edit_date
    blocked, unblocked = updates[2].my_chat_member, updates[3].my_chat_member
    assert blocked and blocked.new_chat_member.status == "kicked"
    assert unblocked and unblocked.new_chat_member.status == "member"


async def test_a_press_is_a_callback_query_and_waits_for_the_answer(
    bot: Bot, users: UserSide, ann_chat: int
) -> None:
    markup = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="Image", callback_data="gen:image")]]
    )
    sent = await bot.send_message(ANN, "What shall we make?", reply_markup=markup)
    with pytest.raises(UserSideError, match="no button with callback_data 'gen:video'"):
        await users.press(bot.id, ANN, sent.message_id, "gen:video")

    async def answer() -> None:
        update = only(await bot.get_updates(timeout=5))
        query = update.callback_query
        assert query and query.message and query.message.message_id == sent.message_id
        await bot.answer_callback_query(query.id, text="Send me a prompt")

    answering = asyncio.create_task(answer())
    pressed = await users.press(bot.id, ANN, sent.message_id, "gen:image", wait=5)
    await answering
    assert pressed["answer"]["text"] == "Send me a prompt"
    unanswered = await users.press(bot.id, ANN, sent.message_id, "gen:image", wait=0.2)
    assert unanswered["answer"] is None


async def test_the_transcript_and_events_follow_the_chat_live(
    bot: Bot, users: UserSide, ann_chat: int
) -> None:
    mark = (await users.events())["last_seq"]
    waiting = asyncio.create_task(users.events(mark, timeout=10, bot=bot.id, chat_id=ANN))
    await asyncio.sleep(0.1)
    started = time.monotonic()
    status = await bot.send_message(ANN, "Queued…")
    found = (await asyncio.wait_for(waiting, 2))["events"]
    assert time.monotonic() - started < 1
    assert [(e["kind"], e["message"]["text"]) for e in found] == [("message", "Queued…")]
    await bot.send_chat_action(ANN, "upload_photo")
    await bot.edit_message_text("Done", chat_id=ANN, message_id=status.message_id)
    await bot.delete_message(ANN, status.message_id)
    later = (await users.events(found[-1]["seq"], bot=bot.id, chat_id=ANN))["events"]
    assert [e["kind"] for e in later] == ["action", "edit", "delete"]
    chat = await users.transcript(bot.id, ANN)
    assert [(m["outgoing"], m["deleted"]) for m in chat["messages"]] == [
        (False, False),
        (True, True),
    ]
    assert chat["messages"][1]["message"]["text"] == "Done"
    assert (await users.transcript(bot.id, BOB))["messages"] == []  # Bob never wrote
    with pytest.raises(Exception, match="bot can't initiate conversation"):
        await bot.send_message(BOB, "reading Bob's empty chat did not open it")


async def test_a_web_app_opens_with_init_data_aiogram_accepts(
    bot: Bot, users: UserSide, ann_chat: int
) -> None:
    opened = await users.web_app(bot.id, ANN, "http://127.0.0.1:8080/cabinet", start_param="buy")
    url, _, fragment = opened["url"].partition("#")
    assert url == "http://127.0.0.1:8080/cabinet"
    params = dict(urllib.parse.parse_qsl(fragment))
    assert params["tgWebAppData"] == opened["init_data"]
    data = safe_parse_webapp_init_data(TOKEN, opened["init_data"])
    assert data.user and (data.user.id, data.user.first_name, data.user.username) == (
        ANN,
        "Ann",
        "ann",
    )
    assert data.start_param == "buy" and data.chat_type == "private"
    assert abs(data.auth_date.timestamp() - time.time()) < 5
    assert not check_webapp_signature(OTHER_TOKEN, opened["init_data"])
    forged = opened["init_data"].replace(str(ANN), str(BOB))
    with pytest.raises(ValueError):
        safe_parse_webapp_init_data(TOKEN, forged)
    signed = sign_init_data(TOKEN, {"id": BOB, "first_name": "Bob"}, auth_date=1700000000)
    assert check_webapp_signature(TOKEN, signed)
    assert safe_parse_webapp_init_data(TOKEN, signed).auth_date.timestamp() == 1700000000


async def test_python_m_devstack_telegram_serves_the_api_and_the_web_chat() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "devstack.telegram", "--port", "0",
        "--bot", f"{TOKEN}=mediabot_local_bot",
        stdout=subprocess.PIPE, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    try:
        assert process.stdout is not None
        first = (await asyncio.wait_for(process.stdout.readline(), 20)).decode()
        second = (await asyncio.wait_for(process.stdout.readline(), 5)).decode()
        url = first.split()[4]
        assert first.startswith("local Telegram: Bot API  http://127.0.0.1:")
        assert second.strip() == f"web chat {url}/"
        bot = make_bot(url)
        try:
            assert (await bot.get_me()).username == "mediabot_local_bot"
        finally:
            await bot.session.close()
        async with aiohttp.ClientSession() as http:
            async with http.get(url + "/") as page:
                assert page.status == 200 and "<title>Local Telegram</title>" in await page.text()
            async with http.get(url + "/static/chat.js") as script:
                assert script.status == 200 and "/_local/events" in await script.text()
        process.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(process.wait(), 10) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
