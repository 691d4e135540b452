"""The user side, as JSON under `/_local/`: people (or tests) write to bots, press buttons,
block them, pay invoices, open Mini Apps, and read what the bots sent.

Bots are named by id or username (never by token). Refusals are `{"error": "…"}` with 400 (a
bad request) or 404 (an unknown bot, user, chat or message)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from devstack.telegram.args import Upload
from devstack.telegram.bot_api import store_upload
from devstack.telegram.errors import ApiError
from devstack.telegram.initdata import launch_url, sign_init_data
from devstack.telegram.state import Bot, Chat, Json, User, World, chat_instance, commands_key

Route = Callable[[web.Request], Awaitable[web.StreamResponse]]
WORLD = web.AppKey("world", World)


class Refused(Exception):
    """A user-side request that cannot be done: answered with `status` and the message."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def _guarded(route: Route) -> Route:
    async def guarded(request: web.Request) -> web.StreamResponse:
        try:
            return await route(request)
        except Refused as exc:
            return web.json_response({"error": str(exc)}, status=exc.status)
        except LookupError as exc:
            return web.json_response({"error": str(exc.args[0] if exc.args else exc)}, status=404)
        except ApiError as exc:  # e.g. a photo Telegram would refuse
            return web.json_response({"error": exc.description}, status=400)
        except (ValueError, TypeError) as exc:
            return web.json_response({"error": str(exc)}, status=400)

    return guarded


def _int(value: Any, name: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise Refused(400, f"{name} must be an integer") from None


def _optional_int(value: Any, name: str) -> int | None:
    return None if value in (None, "") else _int(value, name)


async def _body(request: web.Request) -> dict[str, Any]:
    if request.content_type == "application/json":
        body = await request.json()
        if not isinstance(body, dict):
            raise Refused(400, "the body must be a JSON object")
        return body
    if request.content_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
        form = await request.post()
        return dict(form.items())
    return {}


def _user(world: World, body: dict[str, Any]) -> User:
    user_id = _int(body.get("user_id"), "user_id")
    user = world.users.get(user_id)
    if user is None:
        raise LookupError(f"no user {user_id}: create it with POST /_local/users")
    return user


def _bot(request: web.Request) -> Bot:
    return request.app[WORLD].find_bot(request.match_info["bot"])


def _chat(world: World, bot: Bot, user: User, body: dict[str, Any]) -> Chat:
    chat_id = _optional_int(body.get("chat_id"), "chat_id")
    if chat_id is None or chat_id == user.id:
        return world.private_chat(bot, user)
    chat = bot.chats.get(chat_id)
    if chat is None:
        raise LookupError(f"bot {bot.username} is not in chat {chat_id}")
    return chat


# --- people and bots -----------------------------------------------------------


async def list_bots(request: web.Request) -> web.Response:
    return web.json_response([b.summary() for b in request.app[WORLD].bots.values()])


async def add_bot(request: web.Request) -> web.Response:
    body = await _body(request)
    bot = request.app[WORLD].add_bot(
        str(body.get("token", "")), str(body.get("username", "")), str(body.get("first_name", ""))
    )
    return web.json_response(bot.summary())


async def show_bot(request: web.Request) -> web.Response:
    bot = _bot(request)
    return web.json_response(
        {
            **bot.summary(),
            "commands": {key: value for key, value in bot.commands.items()},
            "menu_button": bot.menu_buttons.get(0) or {"type": "commands"},
            "chats": [c.json() for c in bot.chats.values()],
        }
    )


async def list_users(request: web.Request) -> web.Response:
    return web.json_response([u.json() for u in request.app[WORLD].users.values()])


async def upsert_user(request: web.Request) -> web.Response:
    body = await _body(request)
    user_id = _int(body.get("id"), "id")
    if not 0 < user_id < 2**53:
        raise Refused(400, "id must be a positive integer below 2^53")
    user = request.app[WORLD].upsert_user(
        user_id,
        str(body.get("first_name") or ""),
        last_name=body.get("last_name"),
        username=body.get("username"),
        language_code=body.get("language_code"),
        is_premium=body.get("is_premium"),
    )
    return web.json_response(user.json())


# --- writing to a bot --------------------------------------------------------------


async def send_message(request: web.Request) -> web.Response:
    """Text (JSON or form) or a file (multipart with `file` and `kind`: photo, document, video)."""
    world, bot = request.app[WORLD], _bot(request)
    body = await _body(request)
    user = _user(world, body)
    chat_id = _optional_int(body.get("chat_id"), "chat_id")
    reply_to = _optional_int(body.get("reply_to_message_id"), "reply_to_message_id") or 0
    upload = body.get("file")
    if isinstance(upload, web.FileField):
        kind = str(body.get("kind") or "photo")
        if kind not in ("photo", "document", "video"):
            raise Refused(400, "kind must be photo, document or video")
        data = upload.file.read()
        if not data:
            raise Refused(400, "the file is empty")
        stored = Upload("file", upload.filename or kind, upload.content_type or "", data)
        content = await store_upload(world, kind, stored, {})
        message = world.user_sends_media(
            bot, user, content, str(body.get("caption") or ""), chat_id, reply_to
        )
    else:
        text = str(body.get("text") or "")
        if not text.strip():
            raise Refused(400, "text is empty")
        if len(text) > 4096:
            raise Refused(400, "text is longer than 4096 characters")
        message = world.user_sends_text(bot, user, text, chat_id, reply_to)
    return web.json_response({"message": message.data})


async def edit_message(request: web.Request) -> web.Response:
    world, bot = request.app[WORLD], _bot(request)
    body = await _body(request)
    user = _user(world, body)
    chat = _chat(world, bot, user, body)
    message = world.user_edits(
        bot, user, chat, _int(body.get("message_id"), "message_id"), str(body.get("text") or "")
    )
    return web.json_response({"message": message.data})


async def press_button(request: web.Request) -> web.Response:
    """A press on an inline button; with `wait` (seconds), also the bot's answer."""
    world, bot = request.app[WORLD], _bot(request)
    body = await _body(request)
    user = _user(world, body)
    chat = _chat(world, bot, user, body)
    query = world.press_button(
        bot, user, chat, _int(body.get("message_id"), "message_id"), str(body["callback_data"])
    )
    answer = None
    wait = float(body.get("wait") or 0)
    if wait > 0:
        try:
            answer = await asyncio.wait_for(asyncio.shield(query.answer), wait)
        except TimeoutError:
            answer = None
    return web.json_response({"callback_query_id": query.id, "answer": answer})


async def block(request: web.Request) -> web.Response:
    world, bot = request.app[WORLD], _bot(request)
    body = await _body(request)
    user = _user(world, body)
    blocked = body.get("blocked", True)
    world.set_blocked(bot, user, blocked not in (False, "false", "0", 0))
    return web.json_response({"blocked": world.private_chat(bot, user).blocked})


async def add_to_group(request: web.Request) -> web.Response:
    world, bot = request.app[WORLD], _bot(request)
    body = await _body(request)
    user = _user(world, body)
    chat_id = _int(body.get("chat_id"), "chat_id")
    if chat_id >= 0:
        raise Refused(400, "group ids are negative, e.g. -1001234567890")
    chat = world.add_to_group(
        bot, user, chat_id, str(body.get("title") or ""), str(body.get("username") or "")
    )
    return web.json_response(chat.json())


# --- payments ----------------------------------------------------------------------


async def pay(request: web.Request) -> web.Response:
    """Pay an invoice message (`message_id`) or an invoice link (`link`); answers when
    Telegram would tell the payer: paid, declined (with the bot's error_message) or timeout."""
    world, bot = request.app[WORLD], _bot(request)
    body = await _body(request)
    user = _user(world, body)
    link = str(body.get("link") or "")
    message = None
    if link:
        slug = link.rsplit("$", 1)[-1]
        invoice = world.invoice_links.get(slug)
        if invoice is None or invoice.bot_id != bot.id:
            raise LookupError(f"no invoice link {link!r} of bot {bot.username}")
    else:
        chat = _chat(world, bot, user, body)
        message = world.message(chat, _int(body.get("message_id"), "message_id"))
        if message is None or message.invoice is None:
            raise LookupError(f"no invoice message {body.get('message_id')} in chat {chat.id}")
        invoice = message.invoice
    return web.json_response(await world.pay(bot, user, invoice, message))


async def renew(request: web.Request) -> web.Response:
    """The next period of a Stars subscription, charged as Telegram does every 30 days."""
    outcome = request.app[WORLD].renew(request.match_info["charge_id"])
    return web.json_response(outcome)


async def list_payments(request: web.Request) -> web.Response:
    world = request.app[WORLD]
    return web.json_response(
        [
            {
                "charge_id": p.charge_id,
                "bot_id": p.bot_id,
                "user_id": p.user.id,
                "amount": p.amount,
                "invoice_payload": p.invoice.payload,
                "date": p.date,
                "subscription_expiration_date": p.subscription_expiration,
                "canceled": p.canceled,
                "refunded": p.refunded,
            }
            for p in world.payments.values()
        ]
    )


# --- Mini Apps ---------------------------------------------------------------------


async def open_web_app(request: web.Request) -> web.Response:
    """The URL a web_app button opens: `url` with tgWebAppData signed with the bot's token."""
    world, bot = request.app[WORLD], _bot(request)
    body = await _body(request)
    user = _user(world, body)
    url = str(body.get("url") or "")
    if not url.startswith(("http://", "https://")):
        raise Refused(400, "url must be an http(s) URL")
    chat = bot.chats.get(user.id) or Chat(user.id, "private", user=user)
    init_data = sign_init_data(
        bot.token,
        user.json() | {"allows_write_to_pm": True},
        chat_type="private",
        chat_instance=chat_instance(bot, chat),
        start_param=str(body.get("start_param") or ""),
    )
    return web.json_response({"url": launch_url(url, init_data), "init_data": init_data})


# --- reading -----------------------------------------------------------------------


def effective_commands(bot: Bot, chat: Chat, language: str) -> list[Json]:
    """The command menu a user sees in a chat, as Telegram picks it among the scopes."""
    scopes: list[Json] = [{"type": "chat", "chat_id": chat.id}]
    scopes += [{"type": "all_group_chats"}] if chat.is_group else [{"type": "all_private_chats"}]
    scopes.append({"type": "default"})
    for scope in scopes:
        for lang in (language, ""):
            found = bot.commands.get(commands_key(scope, lang))
            if found:
                return found
    return []


async def transcript(request: web.Request) -> web.Response:
    """A chat as its user sees it: every message with its edits and deletion, the reply
    keyboard, the chat action under way, the menu button and the command menu."""
    world, bot = request.app[WORLD], _bot(request)
    chat_id = _int(request.match_info["chat_id"], "chat_id")
    chat = bot.chats.get(chat_id)
    if chat is None:  # a user who never wrote: an empty chat, not one the bot may write to
        user = world.users.get(chat_id)
        if user is None:
            raise LookupError(f"no chat {chat_id}")
        chat = Chat(user.id, "private", user=user)
    language = chat.user.language_code if chat.user else ""
    return web.json_response(
        {
            "chat": chat.json(),
            "blocked": chat.blocked,
            "messages": [m.transcript() for m in chat.messages.values()],
            "keyboard": chat.keyboard,
            "action": chat.action if chat.action_until > time.time() else "",
            "menu_button": bot.menu_buttons.get(chat.id)
            or bot.menu_buttons.get(0)
            or {"type": "commands"},
            "commands": effective_commands(bot, chat, language),
            "last_seq": world.events.last_seq,
        }
    )


async def events(request: web.Request) -> web.Response:
    """Events after `after` (of `bot` and `chat_id` if given), waiting up to `timeout` s."""
    world = request.app[WORLD]
    query = request.query
    after = _int(query.get("after", "0"), "after")
    timeout = min(float(query.get("timeout", "0")), 60.0)
    bot_id = world.find_bot(query["bot"]).id if query.get("bot") else None
    chat_id = _optional_int(query.get("chat_id"), "chat_id")
    found = await world.events.wait(after, timeout, bot_id, chat_id)
    return web.json_response({"events": found, "last_seq": world.events.last_seq})


async def rate_limits(request: web.Request) -> web.Response:
    hits = request.app[WORLD].limiter.hits
    return web.json_response({"hits": [vars(h) for h in hits]})


async def file_bytes(request: web.Request) -> web.Response:
    stored = request.app[WORLD].files.get(request.match_info["file_id"])
    if stored is None:
        raise LookupError("no such file")
    return web.Response(
        body=stored.data,
        content_type=stored.mime_type or "application/octet-stream",
        headers={"Cache-Control": "max-age=3600"},
    )


def add_routes(app: web.Application) -> None:
    table: list[tuple[str, str, Route]] = [
        ("GET", "/_local/bots", list_bots),
        ("POST", "/_local/bots", add_bot),
        ("GET", "/_local/bots/{bot}", show_bot),
        ("GET", "/_local/users", list_users),
        ("POST", "/_local/users", upsert_user),
        ("POST", "/_local/bots/{bot}/messages", send_message),
        ("POST", "/_local/bots/{bot}/edit", edit_message),
        ("POST", "/_local/bots/{bot}/press", press_button),
        ("POST", "/_local/bots/{bot}/block", block),
        ("POST", "/_local/bots/{bot}/groups", add_to_group),
        ("POST", "/_local/bots/{bot}/pay", pay),
        ("POST", "/_local/bots/{bot}/web_app", open_web_app),
        ("GET", "/_local/bots/{bot}/chats/{chat_id}", transcript),
        ("GET", "/_local/payments", list_payments),
        ("POST", "/_local/payments/{charge_id}/renew", renew),
        ("GET", "/_local/events", events),
        ("GET", "/_local/rate_limits", rate_limits),
        ("GET", "/_local/files/{file_id}", file_bytes),
    ]
    for verb, path, route in table:
        app.router.add_route(verb, path, _guarded(route))


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
