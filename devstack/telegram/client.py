"""A client of the user side (`/_local/`), for tests and scripts: people writing to a bot."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from types import TracebackType
from typing import Any

import aiohttp

Json = dict[str, Any]


class UserSideError(RuntimeError):
    """The user side refused a request (its `error` text and HTTP status)."""

    def __init__(self, status: int, message: str):
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


class UserSide:
    """Talks to a local Telegram's user side at `base_url` (its Bot API address)."""

    def __init__(self, base_url: str, session: aiohttp.ClientSession | None = None):
        self.base_url = base_url.rstrip("/")
        self._session = session
        self._own_session = session is None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            # A long poll asks for at most 60 s; anything slower is a stuck server.
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=90))
        return self._session

    async def close(self) -> None:
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> UserSide:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def _request(self, verb: str, path: str, **kwargs: Any) -> Any:
        async with self.session.request(verb, self.base_url + path, **kwargs) as response:
            body = await response.json()
            if response.status >= 400:
                raise UserSideError(response.status, str(body.get("error", body)))
            return body

    async def _post(self, path: str, body: Json) -> Any:
        clean = {k: v for k, v in body.items() if v is not None}
        return await self._request("POST", path, json=clean)

    # --- people and bots ---------------------------------------------------------

    async def user(
        self,
        user_id: int,
        first_name: str,
        *,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = None,
        is_premium: bool | None = None,
    ) -> Json:
        """Create (or update) a Telegram user."""
        return dict(
            await self._post(
                "/_local/users",
                {
                    "id": user_id,
                    "first_name": first_name,
                    "last_name": last_name,
                    "username": username,
                    "language_code": language_code,
                    "is_premium": is_premium,
                },
            )
        )

    async def bot(self, bot: int | str) -> Json:
        return dict(await self._request("GET", f"/_local/bots/{bot}"))

    # --- writing -----------------------------------------------------------------

    async def send_text(
        self,
        bot: int | str,
        user_id: int,
        text: str,
        *,
        chat_id: int | None = None,
        reply_to_message_id: int | None = None,
    ) -> Json:
        """The user writes `text` (commands get their bot_command entities); the message."""
        body = {
            "user_id": user_id,
            "text": text,
            "chat_id": chat_id,
            "reply_to_message_id": reply_to_message_id,
        }
        return dict((await self._post(f"/_local/bots/{bot}/messages", body))["message"])

    async def send_file(
        self,
        bot: int | str,
        user_id: int,
        data: bytes,
        *,
        kind: str = "photo",
        filename: str = "photo.jpg",
        content_type: str = "image/jpeg",
        caption: str = "",
        chat_id: int | None = None,
    ) -> Json:
        """The user sends a photo, document or video; the message (photo sizes made)."""
        form = aiohttp.FormData()
        form.add_field("user_id", str(user_id))
        form.add_field("kind", kind)
        if caption:
            form.add_field("caption", caption)
        if chat_id is not None:
            form.add_field("chat_id", str(chat_id))
        form.add_field("file", data, filename=filename, content_type=content_type)
        answer = await self._request("POST", f"/_local/bots/{bot}/messages", data=form)
        return dict(answer["message"])

    async def edit_text(
        self, bot: int | str, user_id: int, message_id: int, text: str, chat_id: int | None = None
    ) -> Json:
        body = {"user_id": user_id, "message_id": message_id, "text": text, "chat_id": chat_id}
        return dict((await self._post(f"/_local/bots/{bot}/edit", body))["message"])

    async def press(
        self,
        bot: int | str,
        user_id: int,
        message_id: int,
        callback_data: str,
        *,
        chat_id: int | None = None,
        wait: float = 0,
    ) -> Json:
        """Press an inline button: {"callback_query_id", "answer"} (the answer if the bot
        answered within `wait` seconds, else None)."""
        body = {
            "user_id": user_id,
            "message_id": message_id,
            "callback_data": callback_data,
            "chat_id": chat_id,
            "wait": wait,
        }
        return dict(await self._post(f"/_local/bots/{bot}/press", body))

    async def block(self, bot: int | str, user_id: int, blocked: bool = True) -> None:
        await self._post(f"/_local/bots/{bot}/block", {"user_id": user_id, "blocked": blocked})

    async def add_to_group(
        self, bot: int | str, user_id: int, chat_id: int, title: str, username: str = ""
    ) -> Json:
        body = {"user_id": user_id, "chat_id": chat_id, "title": title, "username": username}
        return dict(await self._post(f"/_local/bots/{bot}/groups", body))

    # --- payments and Mini Apps ------------------------------------------------------

    async def pay(
        self,
        bot: int | str,
        user_id: int,
        *,
        message_id: int | None = None,
        link: str | None = None,
    ) -> Json:
        """Pay an invoice message or link: {"status": "paid", "charge_id", "message"}, or
        "declined" with the bot's error_message, "timeout", or "refused"."""
        body = {"user_id": user_id, "message_id": message_id, "link": link}
        return dict(await self._post(f"/_local/bots/{bot}/pay", body))

    async def renew(self, charge_id: str) -> Json:
        """Charge the next 30 days of the subscription `charge_id` started or renewed."""
        return dict(await self._post(f"/_local/payments/{charge_id}/renew", {}))

    async def web_app(self, bot: int | str, user_id: int, url: str, start_param: str = "") -> Json:
        """{"url", "init_data"}: what a web_app button opens, signed with the bot's token."""
        body = {"user_id": user_id, "url": url, "start_param": start_param or None}
        return dict(await self._post(f"/_local/bots/{bot}/web_app", body))

    # --- reading -------------------------------------------------------------------

    async def transcript(self, bot: int | str, chat_id: int) -> Json:
        return dict(await self._request("GET", f"/_local/bots/{bot}/chats/{chat_id}"))

    async def events(
        self,
        after: int = 0,
        *,
        timeout: float = 0,
        bot: int | str | None = None,
        chat_id: int | None = None,
    ) -> Json:
        params: dict[str, str] = {"after": str(after), "timeout": str(timeout)}
        if bot is not None:
            params["bot"] = str(bot)
        if chat_id is not None:
            params["chat_id"] = str(chat_id)
        return dict(await self._request("GET", "/_local/events", params=params))

    async def wait_for(
        self,
        predicate: Callable[[Json], bool],
        *,
        after: int = 0,
        timeout: float = 5,
        bot: int | str | None = None,
        chat_id: int | None = None,
    ) -> Json:
        """The first event after `after` that matches, waiting up to `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            found = await self.events(after, timeout=remaining, bot=bot, chat_id=chat_id)
            for event in found["events"]:
                if predicate(event):
                    return dict(event)
            after = found["last_seq"]
        raise TimeoutError(f"no matching event within {timeout} s")

    async def bot_messages(self, bot: int | str, chat_id: int) -> list[Json]:
        """What the bot sent to the chat and did not delete, current versions."""
        chat = await self.transcript(bot, chat_id)
        return [m["message"] for m in chat["messages"] if m["outgoing"] and not m["deleted"]]

    async def rate_limit_hits(self) -> list[Json]:
        return list((await self._request("GET", "/_local/rate_limits"))["hits"])


class EventFeed:
    """Every event of one bot, read by one long poll and kept by chat.

    Many people waiting at once, each long-polling the user side, would make the
    server scan its whole event log once per waiter and event; with a feed the
    server is asked once, and each waiter looks only at its own chat."""

    def __init__(self, users: UserSide, bot: int | str) -> None:
        self._users = users
        self._bot = bot
        self.last = 0
        self._chats: dict[int, list[Json]] = defaultdict(list)
        self._changed = asyncio.Event()

    @classmethod
    @contextlib.asynccontextmanager
    async def running(cls, users: UserSide, bot: int | str) -> AsyncIterator[EventFeed]:
        """A feed of what happens from now on, read while inside."""
        feed = cls(users, bot)
        feed.last = (await users.events(0, bot=bot))["last_seq"]
        task = asyncio.create_task(feed._run())
        try:
            yield feed
        finally:
            task.cancel()
            await asyncio.wait([task], timeout=5)

    async def _run(self) -> None:
        while True:
            found = await self._users.events(self.last, timeout=5, bot=self._bot)
            for event in found["events"]:
                self._chats[event["chat_id"]].append(event)
                self.last = max(self.last, event["seq"])
            self._changed.set()
            self._changed = asyncio.Event()

    async def wait_for(
        self, check: Callable[[Json], bool], after: int, chat_id: int, timeout: float
    ) -> Json:
        """The first event of `chat_id` after `after` that passes `check`."""
        deadline = time.monotonic() + timeout
        while True:
            for event in self._chats[chat_id]:
                if event["seq"] > after and check(event):
                    return event
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no matching event within {timeout} s")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(left):
                    await self._changed.wait()
