"""What the bot remembers of each job it showed, in Redis (so a restart forgets
nothing): the chat and its status message, the user's language, the input photo,
what the status message shows now, and the Telegram file_id of the sent result."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

#: How long the bot remembers a job (History re-sends results by file_id within it).
KEEP_SECONDS = 180 * 24 * 3600
#: Jobs whose status message is to be kept up to date (resumed after a restart).
_WATCHED = "bot:progress"


def _key(job_id: str) -> str:
    return f"bot:job:{job_id}"


def _text(value: bytes | str | None) -> str:
    if value is None:
        return ""
    return value.decode() if isinstance(value, bytes) else value


@dataclass(frozen=True)
class JobNote:
    """One job as the bot knows it."""

    job_id: str
    chat: int
    lang: str
    #: The status message (0: none, or no longer shown).
    message: int = 0
    #: A digest of what the status message shows, and the job version it showed.
    shown: str = ""
    version: int = 0
    #: The Telegram file_id of the input photo (for Repeat and Vary).
    input_file: str = ""
    #: The sent result: its file_id and how it was sent (photo, video, document, link).
    file_id: str = ""
    file_kind: str = ""
    #: The result (or the failure) reached the chat; only the acknowledgement may be missing.
    sent: bool = False


class JobMemory:
    """Per-job notes in Redis hashes `bot:job:<id>`, kept KEEP_SECONDS."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self._redis = redis

    async def get(self, job_id: str) -> JobNote | None:
        raw = await self._redis.hgetall(_key(job_id))
        if not raw:
            return None
        fields = {_text(k): _text(v) for k, v in raw.items()}
        if "chat" not in fields:
            return None
        return JobNote(
            job_id=job_id,
            chat=int(fields["chat"]),
            lang=fields.get("lang") or "en",
            message=int(fields.get("message") or 0),
            shown=fields.get("shown", ""),
            version=int(fields.get("version") or 0),
            input_file=fields.get("input", ""),
            file_id=fields.get("file_id", ""),
            file_kind=fields.get("file_kind", ""),
            sent=fields.get("sent") == "1",
        )

    async def _set(self, job_id: str, **fields: str | int) -> None:
        mapping: dict[Any, Any] = dict(fields)  # redis-py types its keys invariantly
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(_key(job_id), mapping=mapping)
            pipe.expire(_key(job_id), KEEP_SECONDS)
            await pipe.execute()

    async def bind(self, job_id: str, chat: int, lang: str, message: int, input_file: str) -> bool:
        """Make `message` the job's status message unless it already has another one
        (a duplicated update): whether it is this one."""
        key = _key(job_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hsetnx(key, "message", message)
            pipe.hget(key, "message")
            pipe.hset(key, mapping={"chat": chat, "lang": lang})
            if input_file:
                pipe.hset(key, "input", input_file)
            pipe.expire(key, KEEP_SECONDS)
            _, bound, *_ = await pipe.execute()
        return int(_text(bound) or 0) == message

    async def know(self, job_id: str, chat: int, lang: str) -> None:
        """Note a job the bot did not create (made elsewhere, or forgotten)."""
        await self._set(job_id, chat=chat, lang=lang)

    async def shown(self, job_id: str, digest: str, version: int) -> None:
        await self._set(job_id, shown=digest, version=version)

    async def drop_message(self, job_id: str) -> None:
        """The status message is gone (replaced by the result, or deleted by the user)."""
        await self._set(job_id, message=0)

    async def sent(self, job_id: str, file_id: str = "", file_kind: str = "") -> None:
        await self._set(job_id, sent=1, file_id=file_id, file_kind=file_kind)

    async def resent(self, job_id: str, file_id: str, file_kind: str) -> None:
        """A result sent again (from History) with a fresh file_id."""
        await self._set(job_id, file_id=file_id, file_kind=file_kind)

    # --- jobs whose status message is followed ------------------------------------

    async def watch(self, job_id: str) -> None:
        await self._redis.sadd(_WATCHED, job_id)

    async def unwatch(self, job_id: str) -> None:
        await self._redis.srem(_WATCHED, job_id)

    async def watched(self) -> list[str]:
        return sorted(_text(m) for m in await self._redis.smembers(_WATCHED))
