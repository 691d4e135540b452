"""The Bot API methods: each reads its arguments as telegram-bot-api does, refuses what
Telegram refuses with Telegram's words, and changes the World."""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from ipaddress import ip_address
from typing import Any

from devstack.telegram.args import Args, InputFile, Remote, Upload
from devstack.telegram.errors import ApiError, bad_request
from devstack.telegram.markup import format_text
from devstack.telegram.media import (
    BadDimensions,
    NotAPhoto,
    StoredFile,
    extension,
    guess_mime,
    photo_sizes,
    probe_video,
)
from devstack.telegram.state import (
    DEFAULT_UPDATES,
    SUBSCRIPTION_PERIOD,
    Bot,
    Chat,
    Invoice,
    Json,
    Message,
    Webhook,
    World,
    commands_key,
)

TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
PHOTO_LIMIT = 10 * 1024 * 1024
CALLBACK_DATA_LIMIT = 64
CHAT_ACTIONS = frozenset(
    "typing upload_photo record_video upload_video record_voice upload_voice upload_document "
    "choose_sticker find_location record_video_note upload_video_note".split()
)
BUTTON_ACTIONS = (
    "url", "callback_data", "web_app", "login_url", "switch_inline_query",
    "switch_inline_query_current_chat", "switch_inline_query_chosen_chat", "copy_text",
    "callback_game", "pay",
)  # fmt: skip
QUERY_TOO_OLD = "query is too old and response timeout expired or query ID is invalid"
CONFLICT_WEBHOOK = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)
CONFLICT_POLLING = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)


@dataclass
class Call:
    """One Bot API call: the world, the calling bot, its arguments."""

    world: World
    bot: Bot
    args: Args
    name: str
    #: Telegram adds a description to some answers ("Webhook was set").
    description: str = ""


Handler = Callable[[Call], Awaitable[Any]]
#: lower-case method name -> (the name as documented, handler)
METHODS: dict[str, tuple[str, Handler]] = {}


def method(*names: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        for name in names:
            METHODS[name.lower()] = (name, handler)
        return handler

    return register


async def call_method(world: World, bot: Bot, name: str, args: Args) -> tuple[Any, str]:
    """Run a method by its name (any case); the result and the answer's description."""
    found = METHODS.get(name.lower())
    if found is None:
        raise ApiError(404, "Not Found: method not found")
    call = Call(world, bot, args, found[0])
    result = await found[1](call)
    return result, call.description


# --- shared pieces -----------------------------------------------------------


def _markup(call: Call, chat: Chat | None, *, inline_only: bool = False) -> Json | None:
    raw = call.args.parsed("reply_markup", "reply keyboard markup")
    return check_markup(raw, chat, inline_only=inline_only)


def check_markup(raw: Any, chat: Chat | None, *, inline_only: bool = False) -> Json | None:
    """A reply_markup as Telegram stores it, or the refusal Telegram gives."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise bad_request("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" in raw:
        rows = raw["inline_keyboard"]
        if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
            raise bad_request(
                'can\'t parse inline keyboard button: Field "inline_keyboard" of the '
                "InlineKeyboardMarkup should be an Array of Arrays"
            )
        clean_rows = []
        for row in rows:
            clean_row = []
            for button in row:
                clean_row.append(_check_button(button, chat))
            if clean_row:
                clean_rows.append(clean_row)
        return {"inline_keyboard": clean_rows}
    if inline_only:
        raise bad_request("reply markup must be an inline keyboard")
    if "keyboard" in raw:
        rows = raw["keyboard"]
        if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
            raise bad_request('can\'t parse keyboard button: Field "keyboard" must be an Array')
        keyboard = [[b if isinstance(b, dict) else {"text": str(b)} for b in row] for row in rows]
        return {**{k: v for k, v in raw.items() if v is not None}, "keyboard": keyboard}
    if raw.get("remove_keyboard") or raw.get("force_reply"):
        return {k: v for k, v in raw.items() if v is not None}
    raise bad_request("can't parse reply keyboard markup JSON object")


def _check_button(button: Any, chat: Chat | None) -> Json:
    if not isinstance(button, dict) or not isinstance(button.get("text"), str):
        raise bad_request(
            'can\'t parse inline keyboard button: Field "text" must be of type String'
        )
    clean = {k: v for k, v in button.items() if v is not None}
    actions = [k for k in BUTTON_ACTIONS if k in clean]
    if not actions:
        raise bad_request(
            "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"
        )
    if "callback_data" in clean:
        data = clean["callback_data"]
        if not isinstance(data, str) or not 1 <= len(data.encode()) <= CALLBACK_DATA_LIMIT:
            raise bad_request("BUTTON_DATA_INVALID")
    if "url" in clean:
        url = str(clean["url"])
        if urllib.parse.urlsplit(url).scheme not in ("http", "https", "tg") or " " in url:
            raise bad_request("BUTTON_URL_INVALID")
    if "web_app" in clean:
        if chat is not None and chat.type != "private":
            raise bad_request("BUTTON_TYPE_INVALID")
        url = str((clean["web_app"] or {}).get("url", ""))
        # The test environment's rule (http allowed), so a Mini App on 127.0.0.1 opens.
        if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
            raise bad_request(
                f"inline keyboard button Web App URL '{url}' is invalid: "
                "Only HTTPS links are allowed"
            )
    return clean


def _reply_to(call: Call, chat: Chat) -> Message | None:
    params = call.args.parsed("reply_parameters", "reply parameters")
    message_id = call.args.integer("reply_to_message_id")
    allow = call.args.flag("allow_sending_without_reply")
    if isinstance(params, dict):
        message_id = int(params.get("message_id") or 0)
        allow = bool(params.get("allow_sending_without_reply"))
    if not message_id:
        return None
    target = call.world.message(chat, message_id)
    if target is None and not allow:
        raise bad_request("message to be replied not found")
    return target


def _caption(call: Call, source: Json | None = None) -> Json:
    """caption/parse_mode/caption_entities from the call or from an InputMedia object."""
    if source is None:
        text = call.args.get("caption")
        mode = call.args.get("parse_mode")
        raw_entities = call.args.parsed("caption_entities", "caption entities")
    else:
        text = str(source.get("caption") or "")
        mode = str(source.get("parse_mode") or "")
        raw_entities = source.get("caption_entities")
    if not text:
        return {}
    text, entities = format_text(text, mode, raw_entities)
    if len(text) > CAPTION_LIMIT:
        raise bad_request("message caption is too long")
    content: Json = {"caption": text} if text else {}
    if entities:
        content["caption_entities"] = entities
    return content


def _text(call: Call) -> Json:
    raw = call.args.get("text")
    if not raw:
        raise bad_request("message text is empty")
    text, entities = format_text(
        raw, call.args.get("parse_mode"), call.args.parsed("entities", "entities")
    )
    if not text:
        raise bad_request("message text is empty")
    if len(text) > TEXT_LIMIT:
        raise bad_request("message is too long")
    content: Json = {"text": text}
    if entities:
        content["entities"] = entities
    return content


def _send_extra(call: Call) -> Json:
    extra: Json = {}
    if call.args.flag("protect_content"):
        extra["has_protected_content"] = True
    if call.args.flag("show_caption_above_media"):
        extra["show_caption_above_media"] = True
    if call.args.flag("has_spoiler"):
        extra["has_media_spoiler"] = True
    return extra


# --- files -------------------------------------------------------------------


_KIND_NAMES = {"photo": "Photo", "video": "Video", "document": "Document", "animation": "Animation"}


async def media_content(world: World, kind: str, source: InputFile | None, facts: Json) -> Json:
    """The message content for a photo, video, animation or document the bot sends."""
    if source is None:
        raise bad_request(f"there is no {kind} in the request")
    if isinstance(source, Remote):
        if source.is_url:
            raise bad_request("failed to get HTTP URL content")
        return _reuse(world, kind, source.value)
    if not source.data:
        raise bad_request("file must be non-empty")
    if len(source.data) > world.options.upload_limit:
        raise ApiError(413, "Request Entity Too Large")
    return await store_upload(world, kind, source, facts)


def _reuse(world: World, kind: str, file_id: str) -> Json:
    """Content that re-sends a stored file by its file_id."""
    if kind == "photo":
        sizes = world.files.photos.get(file_id)
        if sizes is not None:
            return {"photo": sizes}
    stored = world.files.get(file_id)
    if stored is None or stored.kind == "thumbnail":
        raise bad_request("wrong file identifier/HTTP URL specified")
    if stored.kind == "photo":
        raise bad_request(f"can't use file of type Photo as {_KIND_NAMES[kind]}")
    if kind != stored.kind and not (kind == "document" and stored.kind in ("video", "animation")):
        raise bad_request(
            f"can't use file of type {_KIND_NAMES[stored.kind]} as {_KIND_NAMES[kind]}"
        )
    return file_content(world, kind, stored)


def file_content(world: World, kind: str, stored: StoredFile) -> Json:
    data: Json = {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id}
    if kind in ("video", "animation"):
        data |= {"width": stored.width, "height": stored.height, "duration": stored.duration}
    if stored.file_name:
        data["file_name"] = stored.file_name
    if stored.mime_type:
        data["mime_type"] = stored.mime_type
    data["file_size"] = stored.size
    thumbnail = world.files.get(stored.thumbnail_id)
    if thumbnail is not None:
        data["thumbnail"] = thumbnail.photo_size_json()
    if kind == "animation":
        document = {k: v for k, v in data.items() if k not in ("width", "height", "duration")}
        return {"animation": data, "document": document}
    return {kind: data}


async def store_upload(world: World, kind: str, upload: Upload, facts: Json) -> Json:
    """Store an uploaded file as Telegram would: photo sizes, or a video with its facts."""
    if kind == "photo":
        if len(upload.data) > PHOTO_LIMIT:
            raise bad_request("PHOTO_SAVE_FILE_INVALID")
        try:
            sizes = await asyncio.to_thread(photo_sizes, upload.data)
        except NotAPhoto:
            raise bad_request("IMAGE_PROCESS_FAILED") from None
        except BadDimensions:
            raise bad_request("PHOTO_INVALID_DIMENSIONS") from None
        stored = [
            world.files.add(jpeg, "photo", "jpg", width=w, height=h, mime_type="image/jpeg")
            for jpeg, w, h in sizes
        ]
        photo = [s.photo_size_json() for s in stored]
        for s in stored:
            world.files.photos[s.file_id] = photo
        return {"photo": photo}
    mime = upload.content_type
    if not mime or mime == "application/octet-stream":
        mime = guess_mime(upload.filename, "video/mp4" if kind == "video" else "")
    details: Json = {"file_name": upload.filename, "mime_type": mime}
    if kind in ("video", "animation"):
        probed = await asyncio.to_thread(probe_video, upload.data)
        details |= {
            "width": int(facts.get("width") or (probed.width if probed else 0)),
            "height": int(facts.get("height") or (probed.height if probed else 0)),
            "duration": int(facts.get("duration") or (probed.duration if probed else 0)),
        }
        if probed is not None and probed.thumbnail:
            jpeg, width, height = probed.thumbnail
            thumbnail = world.files.add(jpeg, "thumbnail", "jpg", width=width, height=height)
            details["thumbnail_id"] = thumbnail.file_id
    saved = world.files.add(upload.data, kind, extension(upload.filename, mime, "bin"), **details)
    return file_content(world, kind, saved)


@method("getFile")
async def get_file(call: Call) -> Json:
    stored = call.world.files.get(call.args.get("file_id"))
    if stored is None:
        raise bad_request("wrong file_id or the file is temporarily unavailable")
    limit = call.world.options.download_limit
    if limit is not None and stored.size > limit:
        raise bad_request("file is too big")
    return stored.file_json()


# --- getting updates -----------------------------------------------------------


@method("getMe")
async def get_me(call: Call) -> Json:
    return call.bot.me_json()


@method("logOut", "close")
async def log_out(call: Call) -> bool:
    return True


@method("getUpdates")
async def get_updates(call: Call) -> list[Json]:
    bot, args, world = call.bot, call.args, call.world
    if bot.webhook is not None:
        raise ApiError(409, CONFLICT_WEBHOOK)
    allowed = args.parsed("allowed_updates", "allowed updates")
    if isinstance(allowed, list):
        bot.allowed_updates = frozenset(map(str, allowed)) if allowed else DEFAULT_UPDATES
    world.confirm(bot, args.integer("offset"))
    limit = args.integer("limit", 100, 1, 100)
    deadline = time.monotonic() + min(args.integer("timeout", 0, 0), world.options.max_poll_seconds)
    bot.poll_generation += 1
    generation = bot.poll_generation
    bot.wake()  # an earlier getUpdates still waiting learns it was replaced
    while True:
        if bot.webhook is not None:
            raise ApiError(409, "Conflict: terminated by setWebhook request")
        if generation != bot.poll_generation:
            raise ApiError(409, CONFLICT_POLLING)
        remaining = deadline - time.monotonic()
        if bot.updates or remaining <= 0 or world.closing:
            return list(bot.updates)[:limit]
        changed = bot.changed
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(changed.wait(), remaining)


@method("setWebhook")
async def set_webhook(call: Call) -> bool:
    bot, args, world = call.bot, call.args, call.world
    url = args.get("url")
    if not url:
        return await delete_webhook(call)
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise bad_request("invalid webhook URL specified")
    secret = args.get("secret_token")
    if len(secret) > 256:
        raise bad_request("secret token is too long")
    if secret and not all(c.isalnum() or c in "_-" for c in secret):
        raise bad_request("secret token contains unallowed characters")
    if not world.options.local_mode:
        if parsed.scheme != "https":
            raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        if (parsed.port or 443) not in (443, 80, 88, 8443):
            raise bad_request(
                "bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443"
            )
        with contextlib.suppress(ValueError):
            address = ip_address(parsed.hostname)
            if not address.is_global:
                raise bad_request(f"bad webhook: IP address {address} is reserved")
        if parsed.hostname == "localhost":
            raise bad_request("bad webhook: IP address 127.0.0.1 is reserved")
    if args.flag("drop_pending_updates"):
        bot.updates.clear()
    allowed = args.parsed("allowed_updates", "allowed updates")
    if isinstance(allowed, list):
        bot.allowed_updates = frozenset(map(str, allowed)) if allowed else DEFAULT_UPDATES
    old = bot.webhook
    bot.webhook = Webhook(
        url=url,
        secret_token=secret,
        max_connections=args.integer("max_connections", 40, 1, 100),
    )
    if old is not None and old.task is not None:
        old.task.cancel()
    bot.poll_generation += 1
    bot.wake()
    if world.webhook_runner is not None:
        bot.webhook.task = world.webhook_runner(bot)
    call.description = "Webhook was set"
    return True


@method("deleteWebhook")
async def delete_webhook(call: Call) -> bool:
    bot = call.bot
    if call.args.flag("drop_pending_updates"):
        bot.updates.clear()
    if bot.webhook is None:
        call.description = "Webhook is already deleted"
        return True
    if bot.webhook.task is not None:
        bot.webhook.task.cancel()
    bot.webhook = None
    bot.wake()
    call.description = "Webhook was deleted"
    return True


@method("getWebhookInfo")
async def get_webhook_info(call: Call) -> Json:
    bot = call.bot
    info: Json = {
        "url": bot.webhook.url if bot.webhook else "",
        "has_custom_certificate": False,
        "pending_update_count": len(bot.updates),
    }
    if bot.webhook is not None:
        info["max_connections"] = bot.webhook.max_connections
        if bot.allowed_updates != DEFAULT_UPDATES:
            info["allowed_updates"] = sorted(bot.allowed_updates)
        if bot.webhook.last_error_date:
            info["last_error_date"] = bot.webhook.last_error_date
            info["last_error_message"] = bot.webhook.last_error_message
    return info


# --- sending -------------------------------------------------------------------


@method("sendMessage")
async def send_message(call: Call) -> Json:
    chat = call.world.writable_chat(call.bot, call.args.get("chat_id"))
    content = _text(call)
    markup = _markup(call, chat)
    reply_to = _reply_to(call, chat)
    call.world.spend(call.bot, chat, call.name)
    message = call.world.post(
        call.bot, chat, content, reply_markup=markup, reply_to=reply_to, extra=_send_extra(call)
    )
    return message.data


async def _send_file(call: Call, kind: str) -> Json:
    chat = call.world.writable_chat(call.bot, call.args.get("chat_id"))
    caption = _caption(call)
    markup = _markup(call, chat)
    reply_to = _reply_to(call, chat)
    facts = {k: call.args.integer(k) for k in ("width", "height", "duration")}
    content = await media_content(call.world, kind, call.args.input_file(kind), facts)
    call.world.spend(call.bot, chat, call.name)
    message = call.world.post(
        call.bot,
        chat,
        {**content, **caption},
        reply_markup=markup,
        reply_to=reply_to,
        extra=_send_extra(call),
    )
    return message.data


@method("sendPhoto")
async def send_photo(call: Call) -> Json:
    return await _send_file(call, "photo")


@method("sendVideo")
async def send_video(call: Call) -> Json:
    return await _send_file(call, "video")


@method("sendAnimation")
async def send_animation(call: Call) -> Json:
    return await _send_file(call, "animation")


@method("sendDocument")
async def send_document(call: Call) -> Json:
    return await _send_file(call, "document")


@method("sendMediaGroup")
async def send_media_group(call: Call) -> list[Json]:
    chat = call.world.writable_chat(call.bot, call.args.get("chat_id"))
    raw = call.args.parsed("media", "media")
    if raw is None:
        raise bad_request('parameter "media" is required')
    if not isinstance(raw, list):
        raise bad_request("expected an Array of InputMedia")
    if not raw:
        raise bad_request("there are no messages to send")
    if len(raw) > 10:
        raise bad_request("too many messages to send as an album")
    kinds = []
    for item in raw:
        if not isinstance(item, dict) or not isinstance(item.get("type"), str):
            raise bad_request("can't parse InputMedia: expected an Object")
        if item["type"] not in ("photo", "video", "document", "audio"):
            raise bad_request(
                f"can't parse InputMedia: type \"{item['type']}\" can't be used in sendMediaGroup"
            )
        kinds.append(item["type"])
    if "document" in kinds and set(kinds) != {"document"}:
        raise bad_request("can't use the media of the specified type in the album")
    reply_to = _reply_to(call, chat)
    contents = []
    for item in raw:
        source = call.args.resolve_file(str(item.get("media") or ""))
        if source is None:
            raise bad_request("can't parse InputMedia: media not found")
        facts = {k: item.get(k) for k in ("width", "height", "duration")}
        content = await media_content(call.world, item["type"], source, facts)
        contents.append({**content, **_caption(call, item)})
    call.world.spend(call.bot, chat, call.name, len(contents))
    group = str(secrets.randbits(62))
    return [
        call.world.post(
            call.bot, chat, content, reply_to=reply_to, extra={"media_group_id": group}
        ).data
        for content in contents
    ]


@method("sendChatAction")
async def send_chat_action(call: Call) -> bool:
    chat = call.world.writable_chat(call.bot, call.args.get("chat_id"))
    action = call.args.get("action")
    if not action:
        raise bad_request('parameter "action" is required')
    if action not in CHAT_ACTIONS:
        raise bad_request("wrong parameter action in request")
    chat.action, chat.action_until = action, time.time() + 5
    call.world.events.emit("action", call.bot, chat.id, action=action, until=chat.action_until)
    return True


def _source(call: Call, what: str) -> tuple[Chat, Message]:
    chat = call.world.readable_chat(call.bot, call.args.get("from_chat_id"))
    message = call.world.message(chat, call.args.integer("message_id"))
    if message is None:
        raise bad_request(f"message to {what} not found")
    return chat, message


@method("forwardMessage")
async def forward_message(call: Call) -> Json:
    target = call.world.writable_chat(call.bot, call.args.get("chat_id"))
    _, source = _source(call, "forward")
    content = source.content()
    if not content or "invoice" in content:
        raise bad_request("message can't be forwarded")
    call.world.spend(call.bot, target, call.name)
    origin = {"type": "user", "sender_user": source.data["from"], "date": source.data["date"]}
    message = call.world.post(call.bot, target, content, extra={"forward_origin": origin})
    return message.data


@method("copyMessage")
async def copy_message(call: Call) -> Json:
    target = call.world.writable_chat(call.bot, call.args.get("chat_id"))
    _, source = _source(call, "copy")
    content = source.content()
    if not content or "invoice" in content:
        raise bad_request("message can't be copied")
    if call.args.has("caption") and "text" not in content:
        content = {k: v for k, v in content.items() if k not in ("caption", "caption_entities")}
        content |= _caption(call)
    markup = _markup(call, target)
    call.world.spend(call.bot, target, call.name)
    message = call.world.post(call.bot, target, content, reply_markup=markup)
    return {"message_id": message.id}


@method("deleteMessage")
async def delete_message(call: Call) -> bool:
    chat = call.world.readable_chat(call.bot, call.args.get("chat_id"))
    message = call.world.message(chat, call.args.integer("message_id"))
    if message is None:
        raise bad_request("message to delete not found")
    if chat.is_group and not message.outgoing and chat.bot_status != "administrator":
        raise bad_request("message can't be deleted")
    call.world.delete(call.bot, chat, message)
    return True


@method("deleteMessages")
async def delete_messages(call: Call) -> bool:
    chat = call.world.readable_chat(call.bot, call.args.get("chat_id"))
    ids = call.args.parsed("message_ids", "message identifiers")
    if not isinstance(ids, list) or not 1 <= len(ids) <= 100:
        raise bad_request("too many message identifiers specified")
    for message_id in ids:
        message = call.world.message(chat, int(message_id))
        if message is not None:
            call.world.delete(call.bot, chat, message)
    return True


@method("setMessageReaction")
async def set_message_reaction(call: Call) -> bool:
    chat = call.world.readable_chat(call.bot, call.args.get("chat_id"))
    message = call.world.message(chat, call.args.integer("message_id"))
    if message is None:
        raise bad_request("message to react not found")
    reaction = call.args.parsed("reaction", "reaction types") or []
    call.world.events.emit("reaction", call.bot, chat.id, message_id=message.id, reaction=reaction)
    return True


# --- editing -------------------------------------------------------------------


def _editable(call: Call) -> tuple[Chat, Message]:
    if call.args.has("inline_message_id") and not call.args.has("chat_id"):
        raise bad_request("MESSAGE_ID_INVALID")
    chat = call.world.writable_chat(call.bot, call.args.get("chat_id"))
    message = call.world.message(chat, call.args.integer("message_id"))
    if message is None:
        raise bad_request("message to edit not found")
    if not message.outgoing:
        raise bad_request("message can't be edited")
    return chat, message


def _not_modified() -> ApiError:
    return bad_request(
        "message is not modified: specified new message content and reply markup are exactly "
        "the same as a current content and reply markup of the message"
    )


def _edited(call: Call, chat: Chat, message: Message, changes: Json, drop: tuple[str, ...]) -> Json:
    current = {k: message.data.get(k) for k in (*drop, "reply_markup")}
    proposed = {k: changes.get(k) for k in (*drop, "reply_markup")}
    if current == proposed:
        raise _not_modified()
    call.world.spend(call.bot, chat, call.name)
    data = {k: v for k, v in message.data.items() if k not in (*drop, "reply_markup")}
    data |= {k: v for k, v in changes.items() if v is not None}
    data["edit_date"] = int(time.time())
    call.world.replace(call.bot, chat, message, data)
    return data


@method("editMessageText")
async def edit_message_text(call: Call) -> Json:
    chat, message = _editable(call)
    if "text" not in message.data:
        raise bad_request("there is no text in the message to edit")
    content = _text(call)
    markup = _markup(call, chat, inline_only=True)
    return _edited(call, chat, message, {**content, "reply_markup": markup}, ("text", "entities"))


@method("editMessageCaption")
async def edit_message_caption(call: Call) -> Json:
    chat, message = _editable(call)
    if not any(k in message.data for k in ("photo", "video", "document", "animation", "audio")):
        raise bad_request("there is no caption in the message to edit")
    caption = _caption(call)
    markup = _markup(call, chat, inline_only=True)
    return _edited(
        call, chat, message, {**caption, "reply_markup": markup}, ("caption", "caption_entities")
    )


@method("editMessageReplyMarkup")
async def edit_message_reply_markup(call: Call) -> Json:
    chat, message = _editable(call)
    markup = _markup(call, chat, inline_only=True)
    return _edited(call, chat, message, {"reply_markup": markup}, ())


@method("editMessageMedia")
async def edit_message_media(call: Call) -> Json:
    chat, message = _editable(call)
    if not any(k in message.data for k in ("photo", "video", "document", "animation", "audio")):
        raise bad_request("there is no media in the message to edit")
    raw = call.args.parsed("media", "input media")
    if not isinstance(raw, dict) or raw.get("type") not in _KIND_NAMES:
        raise bad_request("can't parse InputMedia: media not found")
    source = call.args.resolve_file(str(raw.get("media") or ""))
    facts = {k: raw.get(k) for k in ("width", "height", "duration")}
    content = await media_content(call.world, str(raw["type"]), source, facts)
    content |= _caption(call, raw)
    markup = _markup(call, chat, inline_only=True)
    drop = ("photo", "video", "document", "animation", "audio", "caption", "caption_entities")
    return _edited(call, chat, message, {**content, "reply_markup": markup}, drop)


# --- callback queries, commands, menu, chats ---------------------------------------


@method("answerCallbackQuery")
async def answer_callback_query(call: Call) -> bool:
    query = call.world.callbacks.get(call.args.get("callback_query_id"))
    expired = query is not None and (
        time.monotonic() - query.created > call.world.options.callback_query_ttl
    )
    if query is None or query.bot_id != call.bot.id or query.answer.done() or expired:
        raise bad_request(QUERY_TOO_OLD)
    text = call.args.get("text")
    if len(text) > 200:
        raise bad_request("MESSAGE_TOO_LONG")
    answer = {
        "text": text,
        "show_alert": call.args.flag("show_alert"),
        "url": call.args.get("url"),
        "cache_time": call.args.integer("cache_time", 0, 0),
    }
    query.answer.set_result(answer)
    call.world.events.emit("callback_answer", call.bot, query.chat_id, id=query.id, **answer)
    return True


def _scope(call: Call) -> Json | None:
    scope = call.args.parsed("scope", "BotCommandScope")
    if scope is not None and (not isinstance(scope, dict) or "type" not in scope):
        raise bad_request('can\'t parse BotCommandScope: Field "type" must be of type String')
    return scope


@method("setMyCommands")
async def set_my_commands(call: Call) -> bool:
    commands = call.args.parsed("commands", "commands")
    if not isinstance(commands, list):
        raise bad_request("can't parse commands JSON object")
    if len(commands) > 100:
        raise bad_request("too many commands specified")
    clean = []
    for command in commands:
        if not isinstance(command, dict):
            raise bad_request("can't parse BotCommand: expected an Object")
        name = str(command.get("command", "")).lstrip("/")
        description = str(command.get("description", "")).strip()
        if (
            not name
            or len(name) > 32
            or not all(c.isascii() and (c.isalnum() or c == "_") for c in name)
        ):
            raise bad_request("BOT_COMMAND_INVALID")
        if not 1 <= len(description) <= 256:
            raise bad_request("command description must be non-empty")
        clean.append({"command": name.lower(), "description": description})
    key = commands_key(_scope(call), call.args.get("language_code"))
    if clean:
        call.bot.commands[key] = clean
    else:
        call.bot.commands.pop(key, None)
    return True


@method("getMyCommands")
async def get_my_commands(call: Call) -> list[Json]:
    return call.bot.commands.get(commands_key(_scope(call), call.args.get("language_code")), [])


@method("deleteMyCommands")
async def delete_my_commands(call: Call) -> bool:
    call.bot.commands.pop(commands_key(_scope(call), call.args.get("language_code")), None)
    return True


@method("setChatMenuButton")
async def set_chat_menu_button(call: Call) -> bool:
    chat_id = 0
    if call.args.has("chat_id"):
        chat_id = call.world.readable_chat(call.bot, call.args.get("chat_id")).id
    button = call.args.parsed("menu_button", "menu button") or {"type": "default"}
    if not isinstance(button, dict) or button.get("type") not in ("commands", "web_app", "default"):
        raise bad_request("can't parse menu button: MenuButton must be an Object")
    if button["type"] == "web_app":
        url = str((button.get("web_app") or {}).get("url", ""))
        if not button.get("text") or urllib.parse.urlsplit(url).scheme not in ("http", "https"):
            raise bad_request("can't parse menu button: invalid Web App URL or text")
    if button["type"] == "default":
        call.bot.menu_buttons.pop(chat_id, None)
    else:
        call.bot.menu_buttons[chat_id] = button
    return True


@method("getChatMenuButton")
async def get_chat_menu_button(call: Call) -> Json:
    chat_id = 0
    if call.args.has("chat_id"):
        chat_id = call.world.readable_chat(call.bot, call.args.get("chat_id")).id
    buttons = call.bot.menu_buttons
    return buttons.get(chat_id) or buttons.get(0) or {"type": "commands"}


@method("getChat")
async def get_chat(call: Call) -> Json:
    return call.world.readable_chat(call.bot, call.args.get("chat_id")).full_json()


# --- payments ------------------------------------------------------------------


def _invoice(call: Call, *, link: bool) -> Invoice:
    args = call.args
    title = args.required("title")
    description = args.required("description")
    payload = args.required("payload")
    currency = args.required("currency")
    raw_prices = args.required("prices")
    try:
        prices = json.loads(raw_prices)
    except ValueError:
        raise bad_request("can't parse prices JSON object") from None
    if not isinstance(prices, list) or not all(
        isinstance(p, dict) and isinstance(p.get("label"), str) and isinstance(p.get("amount"), int)
        for p in prices
    ):
        raise bad_request("can't parse labeled price: expected an Object with label and amount")
    if not 1 <= len(title) <= 32:
        raise bad_request("INVOICE_TITLE_INVALID")
    if not 1 <= len(description) <= 255:
        raise bad_request("INVOICE_DESCRIPTION_INVALID")
    if not 1 <= len(payload.encode()) <= 128:
        raise bad_request("INVOICE_PAYLOAD_INVALID")
    if currency != "XTR" or args.get("provider_token"):
        # Only Telegram Stars: no payment provider exists here.
        raise bad_request("PAYMENT_PROVIDER_INVALID")
    if len(prices) != 1:
        raise bad_request("STARS_INVOICE_INVALID")
    if not 1 <= prices[0]["amount"] <= 10000:
        raise bad_request("CURRENCY_TOTAL_AMOUNT_INVALID")
    period = args.integer("subscription_period", 0, 0) if link else 0
    if period and period != SUBSCRIPTION_PERIOD:
        raise bad_request("SUBSCRIPTION_PERIOD_INVALID")
    return Invoice(
        bot_id=call.bot.id,
        title=title,
        description=description,
        payload=payload,
        currency=currency,
        prices=[{"label": p["label"], "amount": p["amount"]} for p in prices],
        start_parameter=args.get("start_parameter"),
        photo_url=args.get("photo_url"),
        subscription_period=period,
    )


@method("sendInvoice")
async def send_invoice(call: Call) -> Json:
    chat = call.world.writable_chat(call.bot, call.args.get("chat_id"))
    invoice = _invoice(call, link=False)
    markup = _markup(call, chat, inline_only=True)
    if markup is not None:
        first = markup["inline_keyboard"][0][0] if markup["inline_keyboard"] else {}
        if not first.get("pay"):
            raise bad_request("REPLY_MARKUP_BUY_EMPTY")
    reply_to = _reply_to(call, chat)
    call.world.spend(call.bot, chat, call.name)
    message = call.world.post(
        call.bot,
        chat,
        {"invoice": invoice.json()},
        reply_markup=markup,
        reply_to=reply_to,
        invoice=invoice,
    )
    return message.data


@method("createInvoiceLink")
async def create_invoice_link(call: Call) -> str:
    invoice = _invoice(call, link=True)
    slug = secrets.token_urlsafe(24)
    invoice.link = f"https://t.me/${slug}"
    call.world.invoice_links[slug] = invoice
    return invoice.link


@method("answerPreCheckoutQuery")
async def answer_pre_checkout_query(call: Call) -> bool:
    query = call.world.checkouts.get(call.args.get("pre_checkout_query_id"))
    if query is None or query.bot_id != call.bot.id or query.answer.done():
        raise bad_request(QUERY_TOO_OLD)
    ok = call.args.flag("ok")
    error = "" if ok else call.args.required("error_message")
    query.answer.set_result({"ok": ok, "error_message": error})
    return True


def _user_id(call: Call) -> int:
    user_id = call.args.integer("user_id", 0)
    if user_id <= 0:
        raise bad_request("invalid user_id specified")
    return user_id


@method("refundStarPayment")
async def refund_star_payment(call: Call) -> bool:
    user_id = _user_id(call)
    charge_id = call.args.required("telegram_payment_charge_id")
    call.world.refund(call.bot, user_id, charge_id)
    return True


@method("editUserStarSubscription")
async def edit_user_star_subscription(call: Call) -> bool:
    user_id = _user_id(call)
    charge_id = call.args.required("telegram_payment_charge_id")
    payment = call.world.payments.get(charge_id)
    if (
        payment is None
        or payment.bot_id != call.bot.id
        or payment.user.id != user_id
        or not payment.subscription_expiration
    ):
        raise bad_request("CHARGE_NOT_FOUND")
    canceled = call.args.flag("is_canceled")
    for other in call.world.payments.values():
        if other.first_charge_id == payment.first_charge_id:
            other.canceled = canceled
    return True


@method("getStarTransactions")
async def get_star_transactions(call: Call) -> Json:
    offset = call.args.integer("offset", 0, 0)
    limit = call.args.integer("limit", 100, 1, 100)
    return {"transactions": call.bot.star_transactions[offset : offset + limit]}


@method("getMyStarBalance")
async def get_my_star_balance(call: Call) -> Json:
    return {"amount": call.world.star_balance(call.bot)}
