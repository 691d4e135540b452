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
from google.protobuf.descriptor import ServiceDescriptor
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection, reflection_pb2_grpc

from common.decoding import Undecodable, refuse, tolerant
from common.errors import DEPENDENCY_ERRORS, DomainError

log = logging.getLogger(__name__)

#: Who is calling the current RPC: "service" or "admin:<x-actor>".
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
    request whose bytes did not parse (common/decoding.py) is refused as
    INVALID_ARGUMENT once the credential passed.
    """

    def __init__(self, credentials: Credentials) -> None:
        self._service = credentials.service_token.encode()
        self._admin = credentials.admin_token.encode()

    def _check(self, context: grpc.aio.ServicerContext, admin_only: bool) -> str | None:
        """The caller's actor name, or None after choosing the refusal."""
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
            context.set_code(grpc.StatusCode.PERMISSION_DENIED)
            context.set_details("this call needs the admin credential")
        else:
            context.set_code(grpc.StatusCode.UNAUTHENTICATED)
            context.set_details("missing or wrong credential")
        return None

    def guard(self, servicer: Any, methods: Iterable[str], admin_methods: Iterable[str]) -> None:
        """Replace each RPC method of `servicer` with its guarded version."""
        admin = set(admin_methods)
        for name in methods:
            method = getattr(servicer, name)
            wrap = self._stream if inspect.isasyncgenfunction(method) else self._unary
            setattr(servicer, name, wrap(method, name in admin, name))

    def _unary(self, method: Any, admin_only: bool, name: str) -> Any:
        async def unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
            actor = self._check(context, admin_only)
            if actor is None:
                await context.abort(context.code(), context.details())
            if isinstance(request, Undecodable):
                await refuse(request, context)
            current_actor.set(actor)  # type: ignore[arg-type]
            try:
                return await method(request, context)
            except grpc.aio.AbortError:
                raise
            except Exception as exc:
                await _abort_on(exc, context, name)

        return unary

    def _stream(self, method: Any, admin_only: bool, name: str) -> Any:
        async def stream(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            actor = self._check(context, admin_only)
            if actor is None:
                await context.abort(context.code(), context.details())
            if isinstance(request, Undecodable):
                await refuse(request, context)
            current_actor.set(actor)  # type: ignore[arg-type]
            try:
                async for item in method(request, context):
                    yield item
            except grpc.aio.AbortError:
                raise
            except Exception as exc:
                await _abort_on(exc, context, name)

        return stream


async def _abort_on(exc: Exception, context: grpc.aio.ServicerContext, method: str) -> None:
    if isinstance(exc, DomainError):
        await context.abort(exc.code, str(exc))
    if isinstance(exc, DEPENDENCY_ERRORS):
        log.warning("dependency unavailable", extra={"method": method, "error": repr(exc)})
        await context.abort(grpc.StatusCode.UNAVAILABLE, "a dependency is unavailable; try again")
    log.exception("unhandled error", extra={"method": method})
    await context.abort(grpc.StatusCode.INTERNAL, "internal error; it has been logged")


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
        await asyncio.gather(*self._tasks, return_exceptions=True)
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
    # request are refused without a traceback (common/decoding.py).
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, tolerant(server, guarded=False))
    for binding in bindings:
        methods = binding.descriptor.methods_by_name
        guard.guard(binding.servicer, methods, binding.admin_methods)
        binding.add_to_server(binding.servicer, tolerant(server))
    names = [b.full_name for b in bindings]
    # What reflection.enable_server_reflection does for an aio server.
    reflection_pb2_grpc.add_ServerReflectionServicer_to_server(
        reflection.aio.ReflectionServicer([*names, health.SERVICE_NAME, reflection.SERVICE_NAME]),
        tolerant(server, guarded=False),
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
