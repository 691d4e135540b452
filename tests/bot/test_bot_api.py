"""The Bot API methods through the real aiogram client: answers, edits and Telegram's refusals."""

from __future__ import annotations

import aiohttp
import pytest
from aiogram import Bot, methods
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramUnauthorizedError,
)
from aiogram.types import (
    BotCommand,
    BotCommandScopeAllPrivateChats,
    BotCommandScopeChat,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    MenuButtonWebApp,
    ReactionTypeEmoji,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    ReplyParameters,
    WebAppInfo,
)

from devstack.telegram import LocalTelegram
from devstack.telegram.client import UserSide
from tests.bot.conftest import ANN, BOB, OTHER_TOKEN, TOKEN, make_bot

NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)


def keyboard(*pairs: tuple[str, str]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text=t, callback_data=d)] for t, d in pairs]
    )


async def test_get_me_answers_with_a_bot_named_after_any_token_of_the_right_shape(
    telegram: LocalTelegram, bot: Bot
) -> None:
    me = await bot.get_me()
    assert (me.id, me.username, me.is_bot) == (7012345678, "mediabot_local_bot", True)
    other = make_bot(telegram.url, OTHER_TOKEN)
    try:
        unknown = await other.get_me()
        assert unknown.id == 7098765432 and unknown.username == "local7098765432_bot"
    finally:
        await other.session.close()


async def test_a_wrong_token_or_method_gets_telegrams_401_and_404(telegram: LocalTelegram) -> None:
    impostor = make_bot(telegram.url, TOKEN.replace("AAH", "AAX"))  # the known id, another secret
    try:
        with pytest.raises(TelegramUnauthorizedError, match="Unauthorized"):
            await impostor.get_me()
    finally:
        await impostor.session.close()
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{telegram.url}/bot{TOKEN}/sendTelepathy") as response:
            assert response.status == 404
            assert await response.json() == {
                "ok": False,
                "error_code": 404,
                "description": "Not Found: method not found",
            }
        async with http.get(f"{telegram.url}/bot12345/getMe") as response:
            assert response.status == 401
            body = await response.json()
            assert body["description"] == "Unauthorized: invalid token specified"


async def test_arguments_arrive_as_query_string_form_json_or_multipart(
    telegram: LocalTelegram, ann_chat: int
) -> None:
    base = f"{telegram.url}/bot{TOKEN}"
    markup = '{"inline_keyboard":[[{"text":"A","callback_data":"a"}]]}'
    async with aiohttp.ClientSession() as http:
        sent = []
        async with http.get(f"{base}/sendMessage", params={"chat_id": ANN, "text": "by GET"}) as r:
            sent.append(await r.json())
        async with http.post(
            f"{base}/SENDMESSAGE",
            data={"chat_id": str(ANN), "text": "by form", "reply_markup": markup},
        ) as r:
            sent.append(await r.json())
        body = {
            "chat_id": ANN,
            "text": "by JSON",
            "reply_markup": {"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]},
        }
        async with http.post(f"{base}/sendMessage", json=body) as r:
            sent.append(await r.json())
        form = aiohttp.FormData()
        form.add_field("chat_id", str(ANN))
        form.add_field("text", "by multipart")
        form.add_field("reply_markup", markup, content_type="application/json")
        async with http.post(f"{base}/sendMessage", data=form) as r:
            sent.append(await r.json())
    assert [s["ok"] for s in sent] == [True] * 4
    assert [s["result"]["text"] for s in sent] == ["by GET", "by form", "by JSON", "by multipart"]
    assert [s["result"].get("reply_markup") for s in sent[1:]] == [
        {"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]}
    ] * 3
    assert [s["result"]["message_id"] for s in sent] == [2, 3, 4, 5]  # /start was message 1


async def test_html_is_parsed_into_entities_and_unbalanced_tags_are_refused(
    bot: Bot, ann_chat: int
) -> None:
    sent = await bot.send_message(
        ANN,
        '<b>Bold</b> <i>and <a href="https://t.me/x">link</a></i> &amp; /help',
        parse_mode="HTML",
    )
    assert sent.text == "Bold and link & /help"
    assert [(e.type, e.offset, e.length) for e in sent.entities or []] == [
        ("bold", 0, 4), ("italic", 5, 8), ("text_link", 9, 4), ("bot_command", 16, 5),
    ]  # fmt: skip
    refusals = {
        "<b>never closed": "Can't find end tag corresponding to start tag b",
        "<b>crossed</i>": 'Unmatched end tag at byte offset 10, expected "</b>", found "</i>"',
        "closed</b>": "Unexpected end tag at byte offset 6",
        "<blink>x</blink>": 'Unsupported start tag "blink" at byte offset 0',
    }
    for text, reason in refusals.items():
        with pytest.raises(TelegramBadRequest) as caught:
            await bot.send_message(ANN, text, parse_mode="HTML")
        assert caught.value.message == f"Bad Request: can't parse entities: {reason}"
    with pytest.raises(TelegramBadRequest, match=r"Character '\.' is reserved"):
        await bot.send_message(ANN, "1. item", parse_mode="MarkdownV2")
    assert (await bot.send_message(ANN, "*1\\. item*", parse_mode="MarkdownV2")).text == "1. item"


async def test_text_and_caption_lengths_and_callback_data_are_checked(
    bot: Bot, ann_chat: int
) -> None:
    assert len((await bot.send_message(ANN, "я" * 4096)).text or "") == 4096
    with pytest.raises(TelegramBadRequest, match="Bad Request: message is too long"):
        await bot.send_message(ANN, "я" * 4097)
    with pytest.raises(TelegramBadRequest, match="Bad Request: message text is empty"):
        await bot.send_message(ANN, "   ")
    with pytest.raises(TelegramBadRequest, match="Bad Request: BUTTON_DATA_INVALID"):
        await bot.send_message(ANN, "x", reply_markup=keyboard(("too long", "д" * 33)))
    assert (
        await bot.send_message(ANN, "x", reply_markup=keyboard(("fits", "d" * 64)))
    ).reply_markup
    with pytest.raises(TelegramBadRequest, match="Text buttons are unallowed"):
        await bot.send_message(
            ANN,
            "x",
            reply_markup=InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="?")]]),
        )


async def test_edits_keep_history_and_refuse_what_telegram_refuses(
    bot: Bot, users: UserSide, ann_chat: int
) -> None:
    sent = await bot.send_message(ANN, "Queued", reply_markup=keyboard(("Cancel", "cancel:1")))
    edited = await bot.edit_message_text(
        "Running 40%",
        chat_id=ANN,
        message_id=sent.message_id,
        reply_markup=keyboard(("Cancel", "cancel:1")),
    )
    assert isinstance(edited, type(sent)) and edited.text == "Running 40%" and edited.edit_date
    with pytest.raises(TelegramBadRequest) as caught:
        await bot.edit_message_text(
            "Running 40%",
            chat_id=ANN,
            message_id=sent.message_id,
            reply_markup=keyboard(("Cancel", "cancel:1")),
        )
    assert caught.value.message == NOT_MODIFIED
    # Omitting reply_markup in an edit removes the keyboard, as in Telegram.
    done = await bot.edit_message_text("Done", chat_id=ANN, message_id=sent.message_id)
    assert done.reply_markup is None
    with pytest.raises(TelegramBadRequest, match="Bad Request: message to edit not found"):
        await bot.edit_message_text("x", chat_id=ANN, message_id=999)
    with pytest.raises(TelegramBadRequest, match="there is no caption in the message to edit"):
        await bot.edit_message_caption(chat_id=ANN, message_id=sent.message_id, caption="c")
    mine = await users.send_text(bot.id, ANN, "hello")
    with pytest.raises(TelegramBadRequest, match="message can't be edited"):
        await bot.edit_message_text("hijacked", chat_id=ANN, message_id=mine["message_id"])
    markup_only = await bot.edit_message_reply_markup(
        chat_id=ANN, message_id=sent.message_id, reply_markup=keyboard(("Again", "again"))
    )
    assert markup_only.text == "Done"
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_reply_markup(
            chat_id=ANN, message_id=sent.message_id, reply_markup=keyboard(("Again", "again"))
        )
    chat = await users.transcript(bot.id, ANN)
    record = next(m for m in chat["messages"] if m["message"]["message_id"] == sent.message_id)
    assert [v["text"] for v in record["edits"]] == ["Queued", "Running 40%", "Done"]
    assert record["message"]["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "again"


async def test_deleted_messages_are_gone_for_edits_and_second_deletes(
    bot: Bot, users: UserSide, ann_chat: int
) -> None:
    sent = await bot.send_message(ANN, "soon gone")
    assert await bot.delete_message(ANN, sent.message_id) is True
    with pytest.raises(TelegramBadRequest, match="Bad Request: message to delete not found"):
        await bot.delete_message(ANN, sent.message_id)
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_text("x", chat_id=ANN, message_id=sent.message_id)
    record = (await users.transcript(bot.id, ANN))["messages"][-1]
    assert record["deleted"] is True and record["message"]["text"] == "soon gone"


async def test_unknown_unstarted_and_blocking_chats_are_refused(bot: Bot, users: UserSide) -> None:
    with pytest.raises(TelegramBadRequest, match="Bad Request: chat not found"):
        await bot.send_message(5550001112, "hi")
    with pytest.raises(TelegramForbiddenError, match="bot can't initiate conversation with a user"):
        await bot.send_message(BOB, "hi")  # Bob exists but never wrote to the bot
    await users.send_text(bot.id, BOB, "/start")
    await bot.send_message(BOB, "welcome")
    await users.block(bot.id, BOB)
    with pytest.raises(TelegramForbiddenError) as caught:
        await bot.send_message(BOB, "are you there?")
    assert caught.value.message == "Forbidden: bot was blocked by the user"
    with pytest.raises(TelegramForbiddenError, match="blocked"):
        await bot.send_chat_action(BOB, "typing")
    await users.send_text(bot.id, BOB, "/start")  # restarting unblocks
    assert (await bot.send_message(BOB, "welcome back")).text == "welcome back"


async def test_reply_parameters_reply_keyboards_and_chat_actions_reach_the_transcript(
    bot: Bot, users: UserSide, ann_chat: int
) -> None:
    question = await users.send_text(bot.id, ANN, "what can you do?")
    answer = await bot.send_message(
        ANN,
        "Pick one",
        reply_parameters=ReplyParameters(message_id=question["message_id"]),
        reply_markup=ReplyKeyboardMarkup(
            keyboard=[[KeyboardButton(text="🖼 Image")]], resize_keyboard=True
        ),
    )
    assert answer.reply_to_message and answer.reply_to_message.text == "what can you do?"
    assert answer.reply_markup is None  # reply keyboards are not part of the message
    with pytest.raises(TelegramBadRequest, match="message to be replied not found"):
        await bot.send_message(ANN, "x", reply_parameters=ReplyParameters(message_id=777))
    assert await bot.send_chat_action(ANN, "upload_photo") is True
    with pytest.raises(TelegramBadRequest, match="wrong parameter action in request"):
        await bot.send_chat_action(ANN, "dancing")  # type: ignore[arg-type]
    chat = await users.transcript(bot.id, ANN)
    assert chat["keyboard"]["keyboard"] == [[{"text": "🖼 Image"}]]
    assert chat["action"] == "upload_photo"
    await bot.send_message(ANN, "bye keyboard", reply_markup=ReplyKeyboardRemove())
    chat = await users.transcript(bot.id, ANN)
    assert chat["keyboard"] is None and chat["action"] == ""


async def test_commands_per_scope_and_language_and_the_menu_button(
    bot: Bot, users: UserSide, ann_chat: int
) -> None:
    english = [
        BotCommand(command="start", description="Start"),
        BotCommand(command="buy", description="Buy credits"),
    ]
    russian = [BotCommand(command="start", description="Начать")]
    assert await bot.set_my_commands(english)
    assert await bot.set_my_commands(russian, language_code="ru")
    admin = [BotCommand(command="stats", description="Stats")]
    assert await bot.set_my_commands(admin, scope=BotCommandScopeChat(chat_id=BOB))
    assert [c.command for c in await bot.get_my_commands()] == ["start", "buy"]
    assert [c.description for c in await bot.get_my_commands(language_code="ru")] == ["Начать"]
    assert await bot.get_my_commands(scope=BotCommandScopeAllPrivateChats()) == []
    chat = await users.transcript(bot.id, ANN)  # Ann speaks Russian
    assert chat["commands"] == [{"command": "start", "description": "Начать"}]
    assert await bot.delete_my_commands(language_code="ru")
    chat = await users.transcript(bot.id, ANN)
    assert [c["command"] for c in chat["commands"]] == ["start", "buy"]
    with pytest.raises(TelegramBadRequest, match="BOT_COMMAND_INVALID"):
        await bot.set_my_commands([BotCommand(command="Bad-Name", description="x")])
    cabinet = MenuButtonWebApp(
        text="Cabinet", web_app=WebAppInfo(url="http://127.0.0.1:8080/cabinet")
    )
    assert await bot.set_chat_menu_button(menu_button=cabinet)
    assert (await bot.get_chat_menu_button()).type == "web_app"
    assert (await users.transcript(bot.id, ANN))["menu_button"]["web_app"]["url"].endswith(
        "/cabinet"
    )


async def test_get_chat_forward_copy_and_reactions(
    bot: Bot, users: UserSide, ann_chat: int
) -> None:
    info = await bot.get_chat(ANN)
    assert (info.id, info.type, info.first_name, info.username) == (ANN, "private", "Ann", "ann")
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.get_chat(-1009999999999)
    original = await users.send_text(bot.id, ANN, "keep this")
    forwarded = await bot.forward_message(ANN, ANN, original["message_id"])
    assert forwarded.text == "keep this"
    assert forwarded.forward_origin is not None and forwarded.forward_origin.type == "user"
    copied = await bot.copy_message(ANN, ANN, original["message_id"])
    messages = await users.bot_messages(bot.id, ANN)
    assert [m["message_id"] for m in messages] == [forwarded.message_id, copied.message_id]
    assert "forward_origin" not in messages[-1] and messages[-1]["text"] == "keep this"
    with pytest.raises(TelegramBadRequest, match="message to forward not found"):
        await bot.forward_message(ANN, ANN, 4040)
    assert await bot.set_message_reaction(
        ANN, original["message_id"], [ReactionTypeEmoji(emoji="👍")]
    )
    assert await bot.log_out() is True and await bot.close() is True


async def test_a_web_app_button_is_refused_outside_private_chats(bot: Bot, users: UserSide) -> None:
    await users.add_to_group(bot.id, ANN, -1001234567890, "Artists")
    button = InlineKeyboardButton(text="Open", web_app=WebAppInfo(url="https://example.org/app"))
    with pytest.raises(TelegramBadRequest, match="BUTTON_TYPE_INVALID"):
        await bot.send_message(
            -1001234567890, "x", reply_markup=InlineKeyboardMarkup(inline_keyboard=[[button]])
        )
    sent = await bot.send_message(-1001234567890, "hello, group")
    assert sent.chat.type == "supergroup" and sent.chat.title == "Artists"


async def test_every_method_the_issue_names_is_served(telegram: LocalTelegram) -> None:
    from devstack.telegram.bot_api import METHODS

    named = """getMe getUpdates setWebhook deleteWebhook getWebhookInfo logOut close sendMessage
    editMessageText editMessageCaption editMessageReplyMarkup deleteMessage sendPhoto sendVideo
    sendDocument sendAnimation sendMediaGroup sendChatAction answerCallbackQuery getFile
    sendInvoice createInvoiceLink answerPreCheckoutQuery refundStarPayment
    editUserStarSubscription getStarTransactions setMyCommands getMyCommands deleteMyCommands
    setChatMenuButton getChat forwardMessage copyMessage setMessageReaction""".split()
    assert {name.lower() for name in named} <= set(METHODS)
    aiogram_names = {getattr(getattr(methods, n), "__api_method__", None) for n in dir(methods)}
    assert set(named) <= aiogram_names  # the names aiogram sends, letter for letter
