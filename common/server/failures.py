"""Which failures of a dependency (database, cache, network peer) mean "try again"."""

from __future__ import annotations

import asyncpg
import redis.exceptions

#: Failures of a database, cache or network peer: the same work may succeed later,
#: so a call that meets one answers UNAVAILABLE and a worker hands its job back.
DEPENDENCY_ERRORS = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.TooManyConnectionsError,
    asyncpg.CannotConnectNowError,
    asyncpg.InterfaceError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    # Two transactions waited on each other; Postgres rolled this one back whole.
    asyncpg.DeadlockDetectedError,
)
