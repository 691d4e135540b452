"""Login sessions in Redis: the only state the web app keeps.

A session is a random id (the cookie) naming a small JSON record: the Telegram id,
the CSRF token of that login and the language. Every login makes a new id; a session
lives SESSION_TTL_SECONDS from its login and then the person logs in again.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import asdict, dataclass

import redis.asyncio as aioredis

_PREFIX = "web:session:"
#: Session ids are 43 URL-safe characters (256 random bits).
_ID_BYTES = 32


@dataclass(frozen=True)
class Session:
    """One login: who, its CSRF token, the language pages speak."""

    id: str
    telegram_id: int
    csrf: str
    language: str
    created_at: float


class SessionStore:
    """Creates, reads and ends sessions."""

    def __init__(self, redis: aioredis.Redis, ttl_seconds: int) -> None:
        self._redis = redis
        self.ttl_seconds = ttl_seconds

    async def create(self, telegram_id: int, language: str) -> Session:
        session = Session(
            id=secrets.token_urlsafe(_ID_BYTES),
            telegram_id=telegram_id,
            csrf=secrets.token_urlsafe(_ID_BYTES),
            language=language,
            created_at=time.time(),
        )
        record = {k: v for k, v in asdict(session).items() if k != "id"}
        await self._redis.set(_PREFIX + session.id, json.dumps(record), ex=self.ttl_seconds)
        return session

    async def get(self, session_id: str) -> Session | None:
        """The live session of that id; None when unknown, expired or malformed."""
        if not session_id or len(session_id) > 64:
            return None
        raw = await self._redis.get(_PREFIX + session_id)
        if raw is None:
            return None
        try:
            record = json.loads(raw)
            return Session(
                id=session_id,
                telegram_id=int(record["telegram_id"]),
                csrf=str(record["csrf"]),
                language=str(record["language"]),
                created_at=float(record["created_at"]),
            )
        except (ValueError, KeyError, TypeError):
            return None

    async def set_language(self, session: Session, language: str) -> Session:
        changed = Session(
            session.id, session.telegram_id, session.csrf, language, session.created_at
        )
        record = {k: v for k, v in asdict(changed).items() if k != "id"}
        await self._redis.set(_PREFIX + session.id, json.dumps(record), keepttl=True, xx=True)
        return changed

    async def delete(self, session_id: str) -> None:
        if session_id and len(session_id) <= 64:
            await self._redis.delete(_PREFIX + session_id)
