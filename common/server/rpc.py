"""gRPC server plumbing shared by the services: credentials, error mapping,
health, reflection and graceful shutdown."""

from __future__ import annotations

import asyncio
import contextvars
import hmac
import inspect
import logging
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf import any_pb2
from google.protobuf.descriptor import ServiceDescriptor
from google.rpc import error_details_pb2, status_pb2
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection, reflection_pb2_grpc
from grpc_status import rpc_status

from common.errors import (
    DOMAIN,
    AlreadyExists,
    DomainError,
    FailedPrecondition,
    Internal,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    Unauthenticated,
    Unavailable,
)
from common.server.decoding import Undecodable, tolerant
from common.server.failures import DEPENDENCY_ERRORS

log = logging.getLogger(__name__)

#: The status code each category of refusal becomes.
_STATUS: dict[type[DomainError], grpc.StatusCode] = {
    InvalidArgument: grpc.StatusCode.INVALID_ARGUMENT,
    NotFound: grpc.StatusCode.NOT_FOUND,
    FailedPrecondition: grpc.StatusCode.FAILED_PRECONDITION,
    AlreadyExists: grpc.StatusCode.ALREADY_EXISTS,
    ResourceExhausted: grpc.StatusCode.RESOURCE_EXHAUSTED,
    Unavailable: grpc.StatusCode.UNAVAILABLE,
    Internal: grpc.StatusCode.INTERNAL,
    Unauthenticated: grpc.StatusCode.UNAUTHENTICATED,
    PermissionDenied: grpc.StatusCode.PERMISSION_DENIED,
}


def status_code(error: DomainError) -> grpc.StatusCode:
    """The status code of a refusal: that of the nearest category it belongs to."""
    for cls in type(error).__mro__:
        if cls in _STATUS:
            return _STATUS[cls]
    return grpc.StatusCode.INTERNAL


def rich_status(error: DomainError) -> grpc.Status:
    """The refusal as a status whose details hold its `google.rpc.ErrorInfo`."""
    info = any_pb2.Any()
    info.Pack(
        error_details_pb2.ErrorInfo(reason=error.reason, domain=DOMAIN, metadata=error.figures)
    )
    code = status_code(error)
    return rpc_status.to_status(
        status_pb2.Status(code=code.value[0], message=str(error), details=[info])
    )


#: Who is calling the current RPC: "service" or "admin:<x-actor>"; set by the
#: Guard, read by servicers, which pass it on to the domain as an argument.
current_actor: contextvars.ContextVar[str] = contextvars.ContextVar("actor", default="system")

_ACTOR_MAX = 64


@dataclass(frozen=True)
class Credentials:
    """The two bearer tokens a server accepts."""

    service_token: str
    admin_token: str


class Guard:
    """Checks the caller's credential and turns domain errors into statuses.

    Every RPC needs `authorization: Bearer <token>`: the service token for the
    ordinary calls, the admin token for the admin ones (it also opens the
    ordinary calls). `guard` wraps each RPC method of a servicer; that costs
    less per call than a grpc.aio interceptor, which rebuilds handlers. A
    request whose bytes did not parse (common/server/decoding.py) is refused
    as MALFORMED_REQUEST once the credential passed.
    """

    def __init__(self, credentials: Credentials) -> None:
        self._service = credentials.service_token.encode()
        self._admin = credentials.admin_token.encode()

    def _check(self, context: grpc.aio.ServicerContext, admin_only: bool) -> str:
        """The caller's actor name; a refusal when the credential does not open the call."""
        token, actor = b"", ""
        for key, value in context.invocation_metadata() or ():
            if key == "authorization" and isinstance(value, str):
                token = value.removeprefix("Bearer ").encode()
            elif key == "x-actor" and isinstance(value, str):
                actor = value[:_ACTOR_MAX]
        if hmac.compare_digest(token, self._admin):
            return f"admin:{actor or 'api'}"
        if hmac.compare_digest(token, self._service) and not admin_only:
            return "service"
        if hmac.compare_digest(token, self._service):
            raise PermissionDenied("this call needs the admin credential")
        raise Unauthenticated("missing or wrong credential")

    def guard(self, servicer: Any, methods: Iterable[str], admin_methods: Iterable[str]) -> None:
        """Replace each RPC method of `servicer` with its guarded version."""
        admin = set(admin_methods)
        for name in methods:
            method = getattr(servicer, name)
            wrap = self._stream if inspect.isasyncgenfunction(method) else self._unary
            setattr(servicer, name, wrap(method, name in admin, name))

    def _unary(self, method: Any, admin_only: bool, name: str) -> Any:
        async def unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
            try:
                current_actor.set(self._check(context, admin_only))
                if isinstance(request, Undecodable):
                    raise request.refusal()
                return await method(request, context)
            except grpc.aio.AbortError:
                raise
            except Exception as exc:
                await _abort_on(exc, context, name)

        return unary

    def _stream(self, method: Any, admin_only: bool, name: str) -> Any:
        async def stream(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            try:
                current_actor.set(self._check(context, admin_only))
                if isinstance(request, Undecodable):
                    raise request.refusal()
                async for item in method(request, context):
                    yield item
            except grpc.aio.AbortError:
                raise
            except Exception as exc:
                await _abort_on(exc, context, name)

        return stream


async def _abort_on(exc: Exception, context: grpc.aio.ServicerContext, method: str) -> None:
    """End the call with the status of `exc`: its refusal, UNAVAILABLE for a failed
    dependency, INTERNAL (logged with its traceback) for anything else."""
    if not isinstance(exc, DomainError):
        if isinstance(exc, DEPENDENCY_ERRORS):
            log.warning("dependency unavailable", extra={"method": method, "error": repr(exc)})
            exc = Unavailable("a dependency is unavailable; try again")
        else:
            log.exception("unhandled error", extra={"method": method})
            exc = Internal("internal error; it has been logged")
    await context.abort_with_status(rich_status(exc))


async def _refuse(error: DomainError, context: grpc.aio.ServicerContext) -> None:
    """Refuse a call of a service without credentials (health, reflection)."""
    await context.abort_with_status(rich_status(error))


@dataclass
class ServiceBinding:
    """One servicer to mount: its generated `add_*_to_server` and full name."""

    add_to_server: Callable[[Any, grpc.aio.Server], None]
    servicer: Any
    descriptor: ServiceDescriptor
    admin_methods: tuple[str, ...] = ()

    @property
    def full_name(self) -> str:
        return str(self.descriptor.full_name)


@dataclass
class Service:
    """A built gRPC server with what runs beside it and what it must close."""

    server: grpc.aio.Server
    port: int
    health: health.aio.HealthServicer
    names: list[str]
    #: Loops that run while the server runs (sweepers, relays).
    background: list[Callable[[], Coroutine[Any, Any, None]]] = field(default_factory=list)
    #: Called after the server stopped, in order (pools, clients).
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def start(self) -> None:
        await self.server.start()
        for name in ["", *self.names]:
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        self._tasks = [asyncio.create_task(loop()) for loop in self.background]

    async def stop(self, grace_seconds: float = 10.0) -> None:
        """Refuse new calls, let in-flight ones finish, then close everything."""
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace_seconds)
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            # A cancel can get lost inside redis-py's pub/sub reader (redis-py #2028):
            # never let a background loop keep a stopping service alive.
            await asyncio.wait(self._tasks, timeout=5)
        for close in self.closers:
            await close()


def create_grpc_server(
    bindings: list[ServiceBinding], credentials: Credentials, address: str, setting: str
) -> Service:
    """Build a server with the servicers, health and reflection, bound to `address`
    (the value of the variable named `setting`)."""
    guard = Guard(credentials)
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", 32 * 1024 * 1024),
            ("grpc.max_send_message_length", 32 * 1024 * 1024),
            ("grpc.so_reuseport", 0),
            # A gateway watches many jobs over one connection; HTTP/2's usual
            # cap of 100 streams would leave the rest waiting.
            ("grpc.max_concurrent_streams", 16384),
            # gRPC core refuses (as CANCELLED) calls that arrive faster than the
            # asyncio server picks them up once 1,000 wait; 3,000 waiting refuses
            # all. A burst of watchers or creations is normal here: let it queue.
            # Waiting calls still expire after 30 s in the core.
            ("grpc.server.max_pending_requests", 20_000),
            ("grpc.server.max_pending_requests_hard_limit", 40_000),
        ],
    )
    health_servicer = health.aio.HealthServicer()
    # Handlers are added through `tolerant`, so bytes that are not a valid
    # request are refused without a traceback (common/server/decoding.py).
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, tolerant(server, _refuse))
    for binding in bindings:
        methods = binding.descriptor.methods_by_name
        guard.guard(binding.servicer, methods, binding.admin_methods)
        binding.add_to_server(binding.servicer, tolerant(server))
    names = [b.full_name for b in bindings]
    # What reflection.enable_server_reflection does for an aio server.
    reflection_pb2_grpc.add_ServerReflectionServicer_to_server(
        reflection.aio.ReflectionServicer([*names, health.SERVICE_NAME, reflection.SERVICE_NAME]),
        tolerant(server, _refuse),
    )
    try:
        port = server.add_insecure_port(address)
    except RuntimeError:  # grpcio raises where older versions returned 0
        port = 0
    if port == 0:
        raise SystemExit(f"config error: {setting}: cannot listen on {address!r}")
    return Service(server, port, health_servicer, names)


async def run_until_signalled(service: Service, grace_seconds: float = 10.0) -> None:
    """Run a service until SIGTERM or SIGINT, then stop it gracefully."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await service.start()
    log.info("serving", extra={"port": service.port, "services": service.names})
    try:
        await stop.wait()
    finally:
        log.info("stopping")
        await service.stop(grace_seconds)


async def every(seconds: float, work: Callable[[], Awaitable[object]], name: str) -> None:
    """Run `work` every `seconds` forever; a failure is logged, not fatal."""
    while True:
        try:
            await work()
        except Exception:
            log.exception("background task failed", extra={"task": name})
        await asyncio.sleep(seconds)
