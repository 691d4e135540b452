"""Domain errors, each tied to the gRPC status code it becomes at the edge."""

from __future__ import annotations

import asyncpg
import grpc
import redis.exceptions


class DomainError(RuntimeError):
    """An error whose message a person can act on; `code` is its gRPC status."""

    code: grpc.StatusCode = grpc.StatusCode.FAILED_PRECONDITION


class InvalidArgument(DomainError):
    """The request itself is wrong: fix it and send it again."""

    code = grpc.StatusCode.INVALID_ARGUMENT


class NotFound(DomainError):
    """The thing named does not exist (or is not the caller's)."""

    code = grpc.StatusCode.NOT_FOUND


class FailedPrecondition(DomainError):
    """The request is valid but the state does not allow it now."""

    code = grpc.StatusCode.FAILED_PRECONDITION


class AlreadyExists(DomainError):
    """An idempotency key was reused for a different request."""

    code = grpc.StatusCode.ALREADY_EXISTS


class ResourceExhausted(DomainError):
    """A rate or size limit was hit: wait and try again."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class Unavailable(DomainError):
    """A dependency is down: the same request may succeed later."""

    code = grpc.StatusCode.UNAVAILABLE


class Internal(DomainError):
    """Something on our side is wrong (a bug or a misconfiguration), not the request."""

    code = grpc.StatusCode.INTERNAL


#: Failures of a database, cache or network peer: the same work may succeed later.
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
