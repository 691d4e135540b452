"""The Redis client every process uses: callers wait for a free connection."""

from __future__ import annotations

import redis.asyncio as aioredis


def redis_client(url: str, connections: int = 64) -> aioredis.Redis:
    """A client whose callers wait (up to 30 s) for a free connection instead of
    failing when a burst needs more than `connections` at once."""
    pool = aioredis.BlockingConnectionPool.from_url(url, max_connections=connections, timeout=30)
    return aioredis.Redis(connection_pool=pool)
