"""Flood limits like Telegram's: token buckets per chat and per bot, and a record of every 429."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Limits:
    """How fast a bot may send and edit messages.

    Telegram asks bots to stay under about one message a second in a chat (short bursts are
    tolerated), 20 a minute in a group and about 30 a second overall."""

    enabled: bool = True
    chat_per_second: float = 1.0
    chat_burst: int = 3
    group_per_minute: float = 20.0
    group_burst: int = 5
    bot_per_second: float = 30.0
    bot_burst: int = 30


@dataclass
class TokenBucket:
    """`burst` tokens that refill at `rate` a second."""

    rate: float
    burst: float
    tokens: float = -1.0
    updated: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        if self.tokens < 0:
            self.tokens = self.burst

    def wait(self, now: float, count: int = 1) -> float:
        """Seconds until `count` tokens are there (0 when they are now)."""
        self.tokens = min(self.burst, self.tokens + max(0.0, now - self.updated) * self.rate)
        self.updated = max(self.updated, now)
        missing = min(count, self.burst) - self.tokens
        return missing / self.rate if missing > 1e-9 else 0.0

    def take(self, count: int = 1) -> None:
        self.tokens -= count


@dataclass(frozen=True)
class RateLimitHit:
    """One 429 the server answered."""

    at: float
    bot_id: int
    chat_id: int
    method: str
    scope: str  #: "chat" or "bot": which limit was exceeded
    retry_after: int


class Limiter:
    """Buckets per (bot, chat) and per bot, and the list of 429s given."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._chats: dict[tuple[int, int], TokenBucket] = {}
        self._bots: dict[int, TokenBucket] = {}
        self.hits: list[RateLimitHit] = []

    def check(self, bot_id: int, chat_id: int, is_group: bool, count: int = 1) -> tuple[str, float]:
        """("", 0) and the tokens taken when `count` messages may go now; otherwise the scope
        exceeded and the seconds to wait, with nothing taken."""
        if not self.limits.enabled:
            return "", 0.0
        now = time.monotonic()
        chat = self._chats.get((bot_id, chat_id))
        if chat is None:
            chat = (
                TokenBucket(self.limits.group_per_minute / 60, self.limits.group_burst)
                if is_group
                else TokenBucket(self.limits.chat_per_second, self.limits.chat_burst)
            )
            self._chats[(bot_id, chat_id)] = chat
        bot = self._bots.setdefault(
            bot_id, TokenBucket(self.limits.bot_per_second, self.limits.bot_burst)
        )
        chat_wait, bot_wait = chat.wait(now, count), bot.wait(now, count)
        if chat_wait > 0 or bot_wait > 0:
            return ("chat", chat_wait) if chat_wait >= bot_wait else ("bot", bot_wait)
        chat.take(count)
        bot.take(count)
        return "", 0.0

    def record(self, hit: RateLimitHit) -> None:
        self.hits.append(hit)
