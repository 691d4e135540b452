"""What the local Bot API server holds in memory: bots, users, chats, messages, updates,
invoices and payments, and the user-side actions that make updates."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import json
import re
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from devstack.telegram.errors import (
    CHAT_NOT_FOUND,
    UNAUTHORIZED,
    ApiError,
    bad_request,
    forbidden,
    too_many_requests,
)
from devstack.telegram.limits import Limiter, Limits, RateLimitHit
from devstack.telegram.markup import find_entities
from devstack.telegram.media import Files

Json = dict[str, Any]

#: Update kinds a bot gets when it never chose (or chose an empty list).
DEFAULT_UPDATES = frozenset(
    {
        "message", "edited_message", "channel_post", "edited_channel_post", "inline_query",
        "chosen_inline_result", "callback_query", "shipping_query", "pre_checkout_query",
        "poll", "poll_answer", "my_chat_member", "chat_join_request", "chat_boost",
        "removed_chat_boost", "purchased_paid_media", "business_connection",
        "business_message", "edited_business_message", "deleted_business_messages",
    }
)  # fmt: skip
TOKEN_SHAPE = re.compile(r"[0-9]{1,16}:[A-Za-z0-9_-]{30,60}")
MEDIA_KEYS = ("photo", "video", "document", "animation", "audio", "voice", "video_note", "sticker")
CONTENT_KEYS = ("text", "entities", "caption", "caption_entities", "invoice", *MEDIA_KEYS)
SUBSCRIPTION_PERIOD = 2592000


@dataclass(frozen=True)
class Options:
    """How the server behaves.

    `local_mode` is telegram-bot-api's `--local`: uploads up to 2000 MB instead of 50 MB,
    getFile without the 20 MB cap, and webhooks on any http(s) address and port."""

    local_mode: bool = False
    limits: Limits = field(default_factory=Limits)
    #: Seconds a callback query may still be answered.
    callback_query_ttl: float = 15.0
    #: Seconds Telegram waits for answerPreCheckoutQuery before the payment fails.
    pre_checkout_timeout: float = 10.0
    #: Longest getUpdates wait, whatever `timeout` asks.
    max_poll_seconds: float = 50.0

    @property
    def upload_limit(self) -> int:
        return (2000 if self.local_mode else 50) * 1024 * 1024

    @property
    def download_limit(self) -> int | None:
        return None if self.local_mode else 20 * 1024 * 1024


@dataclass
class User:
    id: int
    first_name: str
    last_name: str = ""
    username: str = ""
    language_code: str = ""
    is_premium: bool = False

    def json(self) -> Json:
        data: Json = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        for key in ("last_name", "username", "language_code"):
            if value := getattr(self, key):
                data[key] = value
        if self.is_premium:
            data["is_premium"] = True
        return data


@dataclass
class Message:
    """A message as the bot sees it, with its earlier versions."""

    data: Json
    outgoing: bool
    edits: list[Json] = field(default_factory=list)
    deleted: bool = False
    invoice: Invoice | None = None
    paid: bool = False

    @property
    def id(self) -> int:
        return int(self.data["message_id"])

    def content(self) -> Json:
        return {k: self.data[k] for k in CONTENT_KEYS if k in self.data}

    def transcript(self) -> Json:
        return {
            "message": self.data,
            "outgoing": self.outgoing,
            "deleted": self.deleted,
            "edits": self.edits,
            "paid": self.paid,
        }


@dataclass
class Chat:
    """One chat of one bot: a private chat with a user, or a group the bot is in."""

    id: int
    type: str
    user: User | None = None
    title: str = ""
    username: str = ""
    messages: dict[int, Message] = field(default_factory=dict)
    next_message_id: int = 1
    #: A private chat whose user blocked the bot.
    blocked: bool = False
    #: The bot's status in a group: member, administrator, left or kicked.
    bot_status: str = "member"
    members: dict[int, User] = field(default_factory=dict)
    #: The reply keyboard the bot last showed (None: none shown).
    keyboard: Json | None = None
    action: str = ""
    action_until: float = 0.0

    @property
    def is_group(self) -> bool:
        return self.type in ("group", "supergroup")

    def json(self) -> Json:
        if self.user is not None:
            data = self.user.json()
            for key in ("is_bot", "language_code", "is_premium"):
                data.pop(key, None)
            return {**data, "type": "private"}
        data = {"id": self.id, "title": self.title, "type": self.type}
        if self.username:
            data["username"] = self.username
        return data

    def full_json(self) -> Json:
        """ChatFullInfo, what getChat answers."""
        return {
            **self.json(),
            "accent_color_id": self.id % 7,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": True,
                "limited_gifts": True,
                "unique_gifts": True,
                "premium_subscription": True,
                "gifts_from_channels": True,
            },
        }

    def new_message_id(self) -> int:
        number = self.next_message_id
        self.next_message_id += 1
        return number


@dataclass
class Invoice:
    """What a sendInvoice message or a createInvoiceLink link sells."""

    bot_id: int
    title: str
    description: str
    payload: str
    currency: str
    prices: list[Json]
    start_parameter: str = ""
    photo_url: str = ""
    subscription_period: int = 0
    link: str = ""

    @property
    def total(self) -> int:
        return sum(int(p["amount"]) for p in self.prices)

    def json(self) -> Json:
        return {
            "title": self.title,
            "description": self.description,
            "start_parameter": self.start_parameter,
            "currency": self.currency,
            "total_amount": self.total,
        }


@dataclass
class Payment:
    charge_id: str
    bot_id: int
    user: User
    invoice: Invoice
    amount: int
    date: int
    subscription_expiration: int = 0
    is_first_recurring: bool = False
    canceled: bool = False
    refunded: bool = False
    #: The first payment of the subscription this renewal continues.
    first_charge_id: str = ""

    def successful_payment(self) -> Json:
        data: Json = {
            "currency": self.invoice.currency,
            "total_amount": self.amount,
            "invoice_payload": self.invoice.payload,
            "telegram_payment_charge_id": self.charge_id,
            "provider_payment_charge_id": "",
        }
        if self.subscription_expiration:
            data |= {
                "subscription_expiration_date": self.subscription_expiration,
                "is_recurring": True,
                "is_first_recurring": self.is_first_recurring,
            }
        return data


@dataclass
class PendingQuery:
    """A callback or pre-checkout query waiting for the bot's answer."""

    id: str
    bot_id: int
    chat_id: int
    user: User
    created: float
    answer: asyncio.Future[Json]


@dataclass
class Webhook:
    url: str
    secret_token: str = ""
    max_connections: int = 40
    last_error_date: int = 0
    last_error_message: str = ""
    task: asyncio.Task[None] | None = None


class Bot:
    """A bot account: its updates, webhook, commands and chats."""

    def __init__(self, token: str, username: str, first_name: str):
        self.token = token
        self.id = int(token.split(":", 1)[0])
        self.username = username
        self.first_name = first_name
        self.updates: deque[Json] = deque()
        self.next_update_id = 100_000_000 + secrets.randbelow(800_000_000)
        self.allowed_updates: frozenset[str] = DEFAULT_UPDATES
        self.webhook: Webhook | None = None
        self.commands: dict[str, list[Json]] = {}
        self.menu_buttons: dict[int, Json] = {}
        self.chats: dict[int, Chat] = {}
        self.star_transactions: list[Json] = []
        self.poll_generation = 0
        self.changed = asyncio.Event()

    def user_json(self) -> Json:
        return {
            "id": self.id,
            "is_bot": True,
            "first_name": self.first_name,
            "username": self.username,
        }

    def me_json(self) -> Json:
        return {
            **self.user_json(),
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    def wake(self) -> None:
        """Tell every waiting getUpdates and the webhook sender that something changed."""
        self.changed.set()
        self.changed = asyncio.Event()

    def summary(self) -> Json:
        return {
            "id": self.id,
            "username": self.username,
            "first_name": self.first_name,
            "webhook": self.webhook.url if self.webhook else "",
            "pending_updates": len(self.updates),
        }


def commands_key(scope: Json | None, language_code: str) -> str:
    scope = scope or {"type": "default"}
    return json.dumps(scope, sort_keys=True) + "|" + language_code


class Events:
    """What happened, in order, for the web chat and tests to follow (bounded)."""

    def __init__(self, keep: int = 20000) -> None:
        self.items: deque[Json] = deque(maxlen=keep)
        self._seq = itertools.count(1)
        self._changed = asyncio.Event()

    @property
    def last_seq(self) -> int:
        return int(self.items[-1]["seq"]) if self.items else 0

    def emit(self, kind: str, bot: Bot, chat_id: int | None, **data: Any) -> Json:
        event = {
            "seq": next(self._seq),
            "time": time.time(),
            "kind": kind,
            "bot_id": bot.id,
            "chat_id": chat_id,
            **data,
        }
        self.items.append(event)
        self._changed.set()
        self._changed = asyncio.Event()
        return event

    def after(self, seq: int, bot_id: int | None = None, chat_id: int | None = None) -> list[Json]:
        return [
            e
            for e in self.items
            if e["seq"] > seq
            and (bot_id is None or e["bot_id"] == bot_id)
            and (chat_id is None or e["chat_id"] == chat_id)
        ]

    async def wait(
        self, seq: int, timeout: float, bot_id: int | None = None, chat_id: int | None = None
    ) -> list[Json]:
        """Events after `seq` (of one bot or chat), waiting up to `timeout` for the first."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.after(seq, bot_id, chat_id)
            remaining = deadline - time.monotonic()
            if found or remaining <= 0:
                return found
            changed = self._changed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), remaining)

    def wake_all(self) -> None:
        self._changed.set()


class World:
    """Everything the server knows, and the rules that change it."""

    def __init__(self, options: Options | None = None) -> None:
        self.options = options or Options()
        self.bots: dict[int, Bot] = {}
        self.users: dict[int, User] = {}
        self.files = Files()
        self.limiter = Limiter(self.options.limits)
        self.events = Events()
        self.invoice_links: dict[str, Invoice] = {}
        self.payments: dict[str, Payment] = {}
        self.callbacks: dict[str, PendingQuery] = {}
        self.checkouts: dict[str, PendingQuery] = {}
        self.closing = False
        #: Starts delivering a bot's updates to its webhook (set by the server).
        self.webhook_runner: Callable[[Bot], asyncio.Task[None]] | None = None

    # --- bots ----------------------------------------------------------------

    def add_bot(self, token: str, username: str = "", first_name: str = "") -> Bot:
        """Register a bot; any token of the right shape works, named after its id by default."""
        if not TOKEN_SHAPE.fullmatch(token):
            raise ValueError(f"not a bot token: {token!r}")
        bot_id = int(token.split(":", 1)[0])
        known = self.bots.get(bot_id)
        if known is not None:
            if known.token != token:
                raise ValueError(f"bot {bot_id} already has another token")
            return known
        if username and not first_name:
            first_name = username.removesuffix("_bot").replace("_", " ").title()
        bot = Bot(token, username or f"local{bot_id}_bot", first_name or f"Local bot {bot_id}")
        self.bots[bot_id] = bot
        return bot

    def bot_for_token(self, token: str) -> Bot:
        """The bot a request's token names, as telegram-bot-api checks it."""
        head, sep, _ = token.partition(":")
        if not sep or token.startswith("0") or len(token) > 80 or "/" in token:
            raise ApiError(401, "Unauthorized: invalid token specified")
        if not head.isdigit() or not 0 < int(head) < 2**54:
            raise ApiError(401, "Unauthorized: invalid token specified")
        if not TOKEN_SHAPE.fullmatch(token):
            raise UNAUTHORIZED
        known = self.bots.get(int(head))
        if known is not None and known.token != token:
            raise UNAUTHORIZED
        return known or self.add_bot(token)

    def find_bot(self, key: str | int) -> Bot:
        """A bot by id or username (the user side names bots so, never by token)."""
        text = str(key).lstrip("@")
        for bot in self.bots.values():
            if str(bot.id) == text or bot.username.lower() == text.lower():
                return bot
        raise LookupError(f"no bot {key!r}")

    # --- updates -------------------------------------------------------------

    def push_update(self, bot: Bot, kind: str, payload: Json) -> Json | None:
        """Queue an update for the bot (unless it chose not to receive that kind)."""
        if kind not in bot.allowed_updates:
            return None
        update = {"update_id": bot.next_update_id, kind: payload}
        bot.next_update_id += 1
        bot.updates.append(update)
        bot.wake()
        self.events.emit("update", bot, _chat_of(payload), update_id=update["update_id"], type=kind)
        return update

    def confirm(self, bot: Bot, offset: int) -> None:
        """Forget updates before `offset` (a negative offset keeps only the last -offset)."""
        if offset > 0:
            while bot.updates and bot.updates[0]["update_id"] < offset:
                bot.updates.popleft()
        elif offset < 0:
            while len(bot.updates) > -offset:
                bot.updates.popleft()

    # --- users and chats -----------------------------------------------------

    def upsert_user(self, user_id: int, first_name: str = "", **details: Any) -> User:
        user = self.users.get(user_id)
        if user is None:
            user = User(user_id, first_name or f"User {user_id}")
            self.users[user_id] = user
        elif first_name:
            user.first_name = first_name
        for key, value in details.items():
            if value is not None and hasattr(user, key):
                setattr(user, key, value)
        return user

    def private_chat(self, bot: Bot, user: User) -> Chat:
        chat = bot.chats.get(user.id)
        if chat is None:
            chat = Chat(user.id, "private", user=user)
            bot.chats[user.id] = chat
        return chat

    def find_chat(self, bot: Bot, chat_id: str) -> Chat | None:
        text = chat_id.strip()
        if text.startswith("@"):
            for chat in bot.chats.values():
                if chat.username and chat.username.lower() == text[1:].lower():
                    return chat
            return None
        try:
            return bot.chats.get(int(text))
        except ValueError:
            return None

    def readable_chat(self, bot: Bot, chat_id: str) -> Chat:
        if not chat_id.strip():
            raise bad_request("chat_id is empty")
        chat = self.find_chat(bot, chat_id)
        if chat is None:
            raise CHAT_NOT_FOUND
        return chat

    def writable_chat(self, bot: Bot, chat_id: str) -> Chat:
        """The chat a bot sends to, refused as Telegram refuses it."""
        if not chat_id.strip():
            raise bad_request("chat_id is empty")
        chat = self.find_chat(bot, chat_id)
        if chat is None:
            with contextlib.suppress(ValueError):
                if int(chat_id) in self.users:
                    raise forbidden("bot can't initiate conversation with a user")
            raise CHAT_NOT_FOUND
        if chat.type == "private" and chat.blocked:
            raise forbidden("bot was blocked by the user")
        if chat.is_group and chat.bot_status == "kicked":
            raise forbidden("bot was kicked from the group chat")
        if chat.is_group and chat.bot_status == "left":
            raise forbidden("bot is not a member of the group chat")
        return chat

    def spend(self, bot: Bot, chat: Chat, method: str, count: int = 1) -> None:
        """Count a send or edit against the flood limits; 429 when one is exceeded."""
        scope, wait = self.limiter.check(bot.id, chat.id, chat.is_group, count)
        if not scope:
            return
        error = too_many_requests(wait)
        retry_after = int(error.parameters["retry_after"]) if error.parameters else 1
        hit = RateLimitHit(time.time(), bot.id, chat.id, method, scope, retry_after)
        self.limiter.record(hit)
        self.events.emit(
            "rate_limited", bot, chat.id, method=method, scope=scope, retry_after=retry_after
        )
        raise error

    # --- messages ------------------------------------------------------------

    def post(
        self,
        bot: Bot,
        chat: Chat,
        content: Json,
        *,
        reply_markup: Json | None = None,
        reply_to: Message | None = None,
        invoice: Invoice | None = None,
        extra: Json | None = None,
    ) -> Message:
        """A message from the bot, stored and shown to the user side."""
        data: Json = {
            "message_id": chat.new_message_id(),
            "from": bot.user_json(),
            "chat": chat.json(),
            "date": int(time.time()),
            **(extra or {}),
            **content,
        }
        if reply_to is not None:
            data["reply_to_message"] = _without_reply(reply_to.data)
        if reply_markup is not None:
            if "inline_keyboard" in reply_markup:
                data["reply_markup"] = reply_markup
            elif "keyboard" in reply_markup:
                chat.keyboard = reply_markup
            elif reply_markup.get("remove_keyboard"):
                chat.keyboard = None
        message = Message(data, outgoing=True, invoice=invoice)
        chat.messages[message.id] = message
        chat.action = ""
        self.events.emit(
            "message", bot, chat.id, message=data, outgoing=True, keyboard=chat.keyboard
        )
        return message

    def incoming(self, bot: Bot, chat: Chat, user: User, content: Json, **extra: Any) -> Message:
        """A message from a user, stored, shown and delivered to the bot."""
        data: Json = {
            "message_id": chat.new_message_id(),
            "from": user.json(),
            "chat": chat.json(),
            "date": int(time.time()),
            **extra,
            **content,
        }
        message = Message(data, outgoing=False)
        chat.messages[message.id] = message
        self.events.emit("message", bot, chat.id, message=data, outgoing=False)
        if chat.type == "private" or self._bot_sees(bot, chat, data):
            self.push_update(bot, "message", data)
        return message

    def _bot_sees(self, bot: Bot, chat: Chat, data: Json) -> bool:
        """Privacy mode: in groups a bot sees commands, mentions of it and replies to it."""
        text = data.get("text") or data.get("caption") or ""
        for entity in data.get("entities") or data.get("caption_entities") or []:
            part = text.encode("utf-16-le")[
                2 * entity["offset"] : 2 * (entity["offset"] + entity["length"])
            ]
            word = part.decode("utf-16-le")
            if entity["type"] == "bot_command" and (
                "@" not in word or word.split("@", 1)[1].lower() == bot.username.lower()
            ):
                return True
            if entity["type"] == "mention" and word[1:].lower() == bot.username.lower():
                return True
        replied = data.get("reply_to_message")
        return bool(replied and replied.get("from", {}).get("id") == bot.id)

    def message(self, chat: Chat, message_id: int) -> Message | None:
        message = chat.messages.get(message_id)
        return None if message is None or message.deleted else message

    def replace(self, bot: Bot, chat: Chat, message: Message, data: Json) -> None:
        """A new version of a message (an edit), keeping the old one."""
        message.edits.append(message.data)
        message.data = data
        self.events.emit("edit", bot, chat.id, message=data, outgoing=message.outgoing)

    def delete(self, bot: Bot, chat: Chat, message: Message) -> None:
        message.deleted = True
        self.events.emit("delete", bot, chat.id, message_id=message.id)

    # --- the user side -------------------------------------------------------

    def user_chat(self, bot: Bot, user: User, chat_id: int | None) -> Chat:
        """The chat a user writes in: their private chat with the bot, or a group."""
        if chat_id is None or chat_id == user.id:
            chat = self.private_chat(bot, user)
            if chat.blocked:
                self.set_blocked(bot, user, False)
            return chat
        group = bot.chats.get(chat_id)
        if group is None or not group.is_group:
            raise LookupError(f"bot {bot.username} is not in chat {chat_id}")
        group.members.setdefault(user.id, user)
        return group

    def user_sends_text(
        self, bot: Bot, user: User, text: str, chat_id: int | None = None, reply_to: int = 0
    ) -> Message:
        chat = self.user_chat(bot, user, chat_id)
        content: Json = {"text": text}
        if entities := find_entities(text):
            content["entities"] = entities
        return self.incoming(bot, chat, user, content, **self._reply_extra(chat, reply_to))

    def user_sends_media(
        self,
        bot: Bot,
        user: User,
        content: Json,
        caption: str = "",
        chat_id: int | None = None,
        reply_to: int = 0,
    ) -> Message:
        chat = self.user_chat(bot, user, chat_id)
        if caption:
            content = {**content, "caption": caption}
            if entities := find_entities(caption):
                content["caption_entities"] = entities
        return self.incoming(bot, chat, user, content, **self._reply_extra(chat, reply_to))

    def _reply_extra(self, chat: Chat, reply_to: int) -> Json:
        target = self.message(chat, reply_to) if reply_to else None
        return {"reply_to_message": _without_reply(target.data)} if target else {}

    def user_edits(self, bot: Bot, user: User, chat: Chat, message_id: int, text: str) -> Message:
        message = self.message(chat, message_id)
        if message is None or message.outgoing or message.data["from"]["id"] != user.id:
            raise LookupError(f"user {user.id} has no message {message_id} in chat {chat.id}")
        data = {**message.data, "text": text, "edit_date": int(time.time())}
        data.pop("entities", None)
        if entities := find_entities(text):
            data["entities"] = entities
        self.replace(bot, chat, message, data)
        if chat.type == "private" or self._bot_sees(bot, chat, data):
            self.push_update(bot, "edited_message", data)
        return message

    def press_button(
        self, bot: Bot, user: User, chat: Chat, message_id: int, data: str
    ) -> PendingQuery:
        """A press on an inline button with callback_data: a callback_query for the bot."""
        message = self.message(chat, message_id)
        if message is None:
            raise LookupError(f"no message {message_id} in chat {chat.id}")
        buttons = [
            b
            for row in message.data.get("reply_markup", {}).get("inline_keyboard", [])
            for b in row
        ]
        if not any(b.get("callback_data") == data for b in buttons):
            raise LookupError(f"message {message_id} has no button with callback_data {data!r}")
        query = PendingQuery(
            str(secrets.randbits(63)), bot.id, chat.id, user, time.monotonic(), _future()
        )
        self.callbacks[query.id] = query
        self.push_update(
            bot,
            "callback_query",
            {
                "id": query.id,
                "from": user.json(),
                "message": message.data,
                "chat_instance": chat_instance(bot, chat),
                "data": data,
            },
        )
        self.events.emit("callback_query", bot, chat.id, id=query.id, data=data, user_id=user.id)
        return query

    def set_blocked(self, bot: Bot, user: User, blocked: bool) -> None:
        """The user blocks (or unblocks) the bot: a my_chat_member update, as Telegram sends."""
        chat = self.private_chat(bot, user)
        if chat.blocked == blocked:
            return
        chat.blocked = blocked
        member, kicked = (
            {"user": bot.user_json(), "status": "member"},
            {"user": bot.user_json(), "status": "kicked", "until_date": 0},
        )
        old, new = (member, kicked) if blocked else (kicked, member)
        self.push_update(
            bot,
            "my_chat_member",
            {
                "chat": chat.json(),
                "from": user.json(),
                "date": int(time.time()),
                "old_chat_member": old,
                "new_chat_member": new,
            },
        )
        self.events.emit("blocked" if blocked else "unblocked", bot, chat.id, user_id=user.id)

    def add_to_group(
        self, bot: Bot, user: User, chat_id: int, title: str, username: str = ""
    ) -> Chat:
        """A user adds the bot to a group: my_chat_member and new_chat_members updates."""
        chat = bot.chats.get(chat_id)
        old = "left"
        if chat is None:
            chat = Chat(chat_id, "supergroup" if str(chat_id).startswith("-100") else "group")
            chat.title, chat.username = title or f"Group {chat_id}", username
            bot.chats[chat_id] = chat
        else:
            old = chat.bot_status
        chat.members[user.id] = user
        chat.bot_status = "member"
        self.push_update(
            bot,
            "my_chat_member",
            {
                "chat": chat.json(),
                "from": user.json(),
                "date": int(time.time()),
                "old_chat_member": {"user": bot.user_json(), "status": old},
                "new_chat_member": {"user": bot.user_json(), "status": "member"},
            },
        )
        message_id = chat.new_message_id()
        data: Json = {
            "message_id": message_id,
            "from": user.json(),
            "chat": chat.json(),
            "date": int(time.time()),
            "new_chat_members": [bot.user_json()],
            "new_chat_member": bot.user_json(),
            "new_chat_participant": bot.user_json(),
        }
        chat.messages[message_id] = Message(data, outgoing=False)
        self.events.emit("message", bot, chat.id, message=data, outgoing=False)
        self.push_update(bot, "message", data)
        return chat

    # --- payments ------------------------------------------------------------

    async def pay(self, bot: Bot, user: User, invoice: Invoice, message: Message | None) -> Json:
        """The user pays: a pre_checkout_query, then (if the bot agrees within the time
        Telegram gives it) a successful_payment message in the private chat."""
        if message is not None and message.paid:
            return {"status": "refused", "error_message": "this invoice is already paid"}
        if invoice.subscription_period and self.active_subscription(bot, user, invoice):
            return {"status": "refused", "error_message": "already subscribed"}
        chat = self.private_chat(bot, user)
        query = PendingQuery(
            str(secrets.randbits(63)), bot.id, chat.id, user, time.monotonic(), _future()
        )
        self.checkouts[query.id] = query
        self.push_update(
            bot,
            "pre_checkout_query",
            {
                "id": query.id,
                "from": user.json(),
                "currency": invoice.currency,
                "total_amount": invoice.total,
                "invoice_payload": invoice.payload,
            },
        )
        self.events.emit("pre_checkout_query", bot, chat.id, id=query.id, amount=invoice.total)
        try:
            answer = await asyncio.wait_for(
                asyncio.shield(query.answer), self.options.pre_checkout_timeout
            )
        except TimeoutError:
            self.events.emit("payment_failed", bot, chat.id, reason="timeout")
            return {"status": "timeout"}
        finally:
            self.checkouts.pop(query.id, None)
        if not answer.get("ok"):
            error = str(answer.get("error_message", ""))
            self.events.emit("payment_failed", bot, chat.id, reason="declined", error_message=error)
            return {"status": "declined", "error_message": error}
        if message is not None:
            message.paid = True
        now = int(time.time())
        payment = Payment(
            _charge_id(), bot.id, user, invoice, invoice.total, now,
            subscription_expiration=now + invoice.subscription_period
            if invoice.subscription_period else 0,
            is_first_recurring=bool(invoice.subscription_period),
        )  # fmt: skip
        payment.first_charge_id = payment.charge_id
        return self._complete(bot, payment)

    def renew(self, charge_id: str) -> Json:
        """The next period of a subscription: Telegram charges it without a pre-checkout."""
        first = self.payments.get(charge_id)
        if first is None or not first.subscription_expiration:
            raise LookupError(f"no subscription payment {charge_id!r}")
        chain = [p for p in self.payments.values() if p.first_charge_id == first.first_charge_id]
        last = max(chain, key=lambda p: p.subscription_expiration)
        if any(p.canceled for p in chain) or any(p.refunded for p in chain):
            return {"status": "refused", "error_message": "the subscription is canceled"}
        bot = self.bots[first.bot_id]
        expiration = last.subscription_expiration + first.invoice.subscription_period
        payment = Payment(
            _charge_id(), bot.id, first.user, first.invoice, first.invoice.total,
            int(time.time()), subscription_expiration=expiration,
            first_charge_id=first.first_charge_id,
        )  # fmt: skip
        return self._complete(bot, payment)

    def _complete(self, bot: Bot, payment: Payment) -> Json:
        self.payments[payment.charge_id] = payment
        source: Json = {
            "type": "user",
            "transaction_type": "invoice_payment",
            "user": payment.user.json(),
            "invoice_payload": payment.invoice.payload,
        }
        if payment.invoice.subscription_period:
            source["subscription_period"] = payment.invoice.subscription_period
        bot.star_transactions.append(
            {
                "id": payment.charge_id,
                "amount": payment.amount,
                "date": payment.date,
                "source": source,
            }
        )
        chat = self.private_chat(bot, payment.user)
        message = self.incoming(
            bot, chat, payment.user, {"successful_payment": payment.successful_payment()}
        )
        return {"status": "paid", "charge_id": payment.charge_id, "message": message.data}

    def active_subscription(self, bot: Bot, user: User, invoice: Invoice) -> Payment | None:
        now = time.time()
        for payment in self.payments.values():
            if (
                payment.bot_id == bot.id
                and payment.user.id == user.id
                and payment.invoice.link == invoice.link
                and payment.subscription_expiration > now
                and not payment.canceled
                and not payment.refunded
            ):
                return payment
        return None

    def refund(self, bot: Bot, user_id: int, charge_id: str) -> None:
        payment = self.payments.get(charge_id)
        if payment is None or payment.bot_id != bot.id or payment.user.id != user_id:
            raise bad_request("CHARGE_NOT_FOUND")
        if payment.refunded:
            raise bad_request("CHARGE_ALREADY_REFUNDED")
        payment.refunded = True
        bot.star_transactions.append(
            {
                "id": charge_id,
                "amount": payment.amount,
                "date": int(time.time()),
                "receiver": {
                    "type": "user",
                    "transaction_type": "invoice_payment",
                    "user": payment.user.json(),
                    "invoice_payload": payment.invoice.payload,
                },
            }
        )
        chat = self.private_chat(bot, payment.user)
        refunded = {
            "currency": payment.invoice.currency,
            "total_amount": payment.amount,
            "invoice_payload": payment.invoice.payload,
            "telegram_payment_charge_id": charge_id,
        }
        self.incoming(bot, chat, payment.user, {"refunded_payment": refunded})

    def star_balance(self, bot: Bot) -> int:
        return sum(t["amount"] if "source" in t else -t["amount"] for t in bot.star_transactions)


def _future() -> asyncio.Future[Json]:
    return asyncio.get_running_loop().create_future()


def _charge_id() -> str:
    return "stx" + secrets.token_urlsafe(36)


def chat_instance(bot: Bot, chat: Chat) -> str:
    digest = hashlib.sha256(f"{bot.id}:{chat.id}".encode()).digest()
    return str(int.from_bytes(digest[:8], "big") >> 1)


def _without_reply(data: Json) -> Json:
    return {k: v for k, v in data.items() if k != "reply_to_message"}


def _chat_of(payload: Json) -> int | None:
    if "chat" in payload:
        return int(payload["chat"]["id"])
    if "message" in payload and isinstance(payload["message"], dict):
        return int(payload["message"]["chat"]["id"])
    if "from" in payload:
        return int(payload["from"]["id"])
    return None
