"""Requests whose bytes are not a valid message: refused, never a traceback.

grpc.aio parses a request before it calls the handler; a parse error there is
answered UNKNOWN and logged by gRPC as an ERROR with its traceback, so anyone
who can reach the port could fill the logs. `tolerant(server)` stands in for the
server while a generated `add_*_to_server` registers its handlers and gives each
handler a parser that never raises: bytes that do not parse become an
`Undecodable`. The Guard refuses it (MalformedRequest: INVALID_ARGUMENT, reason
MALFORMED_REQUEST) once the credential passed, so a caller without one still
gets UNAUTHENTICATED first; on services without credentials (health,
reflection) the handler refuses it at once.
Refusals are logged as one short warning line at most every
`WARN_EVERY_SECONDS` per process, with how many were not logged since.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc

from common.errors import DomainError, MalformedRequest

log = logging.getLogger(__name__)

WARN_EVERY_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class Undecodable:
    """Stands in for request bytes that are not a valid `message` (a full type name)."""

    message: str

    def refusal(self) -> MalformedRequest:
        return MalformedRequest(f"the request is not a valid {self.message}")


#: Ends a call with the status of a refusal.
Refuse = Callable[[DomainError, grpc.aio.ServicerContext], Awaitable[None]]


class Warnings:
    """Logs the first refusal, then at most one every `every` seconds, each
    line counting the refusals that were not logged since the previous one."""

    def __init__(self, every: float = WARN_EVERY_SECONDS) -> None:
        self.every = every
        self.clock: Callable[[], float] = time.monotonic
        self._next = float("-inf")
        self._unlogged = 0

    def undecodable(self, method: str, size: int) -> None:
        now = self.clock()
        if now < self._next:
            self._unlogged += 1
            return
        self._next = now + self.every
        unlogged, self._unlogged = self._unlogged, 0
        log.warning(
            "undecodable request refused",
            extra={"method": method, "bytes": size, "unlogged_since_last": unlogged},
        )


#: One per process: the limit is on lines in this process's log.
WARNINGS = Warnings()


def tolerant(server: grpc.aio.Server, refuse: Refuse | None = None) -> Any:
    """`server` as a generated `add_*_to_server` should see it: handlers it adds
    parse requests without raising. Without `refuse` the service must be guarded:
    the Guard refuses an `Undecodable` after the credential check; with it, each
    handler refuses one itself (services without credentials)."""
    return _Registrar(server, refuse)


class _Registrar:
    def __init__(self, server: grpc.aio.Server, refuse: Refuse | None) -> None:
        self._server = server
        self._refuse = refuse

    def add_registered_method_handlers(self, service: str, handlers: dict[str, Any]) -> None:
        self._server.add_registered_method_handlers(
            service, {name: self._fix(f"/{service}/{name}", h) for name, h in handlers.items()}
        )

    def add_generic_rpc_handlers(self, generic_handlers: Any) -> None:
        self._server.add_generic_rpc_handlers(
            tuple(_Generic(g, self._fix) for g in generic_handlers)
        )

    def _fix(self, method: str, handler: Any) -> Any:
        parse = handler.request_deserializer
        if parse is None:  # raw bytes: nothing to parse
            return handler
        handler = handler._replace(request_deserializer=_parser(method, parse))
        return handler if self._refuse is None else _refusing(handler, self._refuse)


class _Generic(grpc.GenericRpcHandler):  # type: ignore[misc]
    """A generic handler whose method handlers are fixed like registered ones."""

    def __init__(self, inner: Any, fix: Callable[[str, Any], Any]) -> None:
        self._inner = inner
        self._fix = fix
        self._fixed: dict[str, Any] = {}

    def service(self, details: Any) -> Any:
        fixed = self._fixed.get(details.method)
        if fixed is None:
            handler = self._inner.service(details)
            if handler is None:
                return None
            fixed = self._fixed[details.method] = self._fix(details.method, handler)
        return fixed


def _parser(method: str, parse: Callable[[bytes], Any]) -> Callable[[bytes], Any]:
    descriptor = getattr(getattr(parse, "__self__", None), "DESCRIPTOR", None)
    marker = Undecodable(descriptor.full_name if descriptor else "message")

    def tolerant_parse(data: bytes) -> Any:
        try:
            return parse(data)
        except Exception:  # whatever the bytes make the parser raise, they are refused
            WARNINGS.undecodable(method, len(data))
            return marker

    return tolerant_parse


def _refusing(handler: Any, refuse: Refuse) -> Any:
    """`handler` refusing an `Undecodable` request before its behaviour sees it."""
    kind = ("stream_" if handler.request_streaming else "unary_") + (
        "stream" if handler.response_streaming else "unary"
    )
    behavior = getattr(handler, kind)

    async def checked(requests: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        async for request in requests:
            if isinstance(request, Undecodable):
                await refuse(request.refusal(), context)
            yield request

    async def admit(request: Any, context: grpc.aio.ServicerContext) -> Any:
        if handler.request_streaming:
            return checked(request, context)
        if isinstance(request, Undecodable):
            await refuse(request.refusal(), context)
        return request

    async def generator(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        async for item in behavior(await admit(request, context), context):
            yield item

    async def coroutine(request: Any, context: grpc.aio.ServicerContext) -> Any:
        return await behavior(await admit(request, context), context)

    if inspect.isasyncgenfunction(behavior):
        return handler._replace(**{kind: generator})
    if inspect.iscoroutinefunction(behavior):
        return handler._replace(**{kind: coroutine})
    return handler  # a sync behaviour runs in a thread; none is registered here
