"""The Redis client every process uses: callers wait for a free connection."""

from __future__ import annotations

import redis.asyncio as aioredis


def redis_client(url: str, connections: int = 64, wait_seconds: float = 30) -> aioredis.Redis:
    """A client whose callers wait (up to `wait_seconds`) for a free connection
    instead of failing when a burst needs more than `connections` at once."""
    pool = aioredis.BlockingConnectionPool.from_url(
        url, max_connections=connections, timeout=wait_seconds
    )
    return aioredis.Redis(connection_pool=pool)
