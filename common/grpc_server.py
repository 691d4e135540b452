"""gRPC server plumbing shared by the services: credentials, error mapping,
health, reflection and graceful shutdown."""

from __future__ import annotations

import asyncio
import contextvars
import hmac
import logging
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from common.errors import DomainError

log = logging.getLogger(__name__)

#: Who is calling the current RPC: "service" or "admin:<x-actor>".
current_actor: contextvars.ContextVar[str] = contextvars.ContextVar("actor", default="system")

_PUBLIC_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")
_ACTOR_MAX = 64


@dataclass(frozen=True)
class Credentials:
    """The two bearer tokens a server accepts."""

    service_token: str
    admin_token: str


class GuardInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Checks the caller's credential and turns domain errors into statuses.

    Every RPC needs `authorization: Bearer <token>`: the service token for the
    ordinary calls, the admin token for those in `admin_methods` (the admin
    token also opens the ordinary calls). Health and reflection are open.
    """

    def __init__(self, credentials: Credentials, admin_methods: Iterable[str]) -> None:
        self._service = credentials.service_token.encode()
        self._admin = credentials.admin_token.encode()
        self._admin_methods = frozenset(admin_methods)

    def _role(self, metadata: Iterable[tuple[str, Any]] | None) -> tuple[str | None, str]:
        token, actor = b"", ""
        for key, value in metadata or ():
            if key == "authorization" and isinstance(value, str):
                token = value.removeprefix("Bearer ").encode()
            elif key == "x-actor" and isinstance(value, str):
                actor = value[:_ACTOR_MAX]
        if hmac.compare_digest(token, self._admin):
            return "admin", f"admin:{actor or 'api'}"
        if hmac.compare_digest(token, self._service):
            return "service", "service"
        return None, ""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        method: str = details.method
        if handler is None or method.startswith(_PUBLIC_PREFIXES):
            return handler
        role, actor = self._role(details.invocation_metadata)
        if role is None:
            return _refusal(handler, grpc.StatusCode.UNAUTHENTICATED, "missing or wrong credential")
        if method in self._admin_methods and role != "admin":
            return _refusal(
                handler, grpc.StatusCode.PERMISSION_DENIED, "this call needs the admin credential"
            )
        return _guarded(handler, actor, method)


async def _abort_on(exc: Exception, context: grpc.aio.ServicerContext, method: str) -> None:
    if isinstance(exc, DomainError):
        await context.abort(exc.code, str(exc))
    log.exception("unhandled error", extra={"method": method})
    await context.abort(grpc.StatusCode.INTERNAL, "internal error; it has been logged")


def _guarded(handler: grpc.RpcMethodHandler, actor: str, method: str) -> grpc.RpcMethodHandler:
    if handler.unary_unary:
        inner_unary = handler.unary_unary

        async def unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
            current_actor.set(actor)
            try:
                return await inner_unary(request, context)
            except grpc.aio.AbortError:
                raise
            except Exception as exc:
                await _abort_on(exc, context, method)

        return grpc.unary_unary_rpc_method_handler(
            unary, handler.request_deserializer, handler.response_serializer
        )
    if handler.unary_stream:
        inner_stream = handler.unary_stream

        async def stream(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            current_actor.set(actor)
            try:
                async for item in inner_stream(request, context):
                    yield item
            except grpc.aio.AbortError:
                raise
            except Exception as exc:
                await _abort_on(exc, context, method)

        return grpc.unary_stream_rpc_method_handler(
            stream, handler.request_deserializer, handler.response_serializer
        )
    return handler


def _refusal(
    handler: grpc.RpcMethodHandler, code: grpc.StatusCode, message: str
) -> grpc.RpcMethodHandler:
    async def refuse(request: Any, context: grpc.aio.ServicerContext) -> Any:
        await context.abort(code, message)

    async def refuse_stream(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        await context.abort(code, message)
        yield  # pragma: no cover - makes this an async generator

    if handler.unary_stream:
        return grpc.unary_stream_rpc_method_handler(
            refuse_stream, handler.request_deserializer, handler.response_serializer
        )
    return grpc.unary_unary_rpc_method_handler(
        refuse, handler.request_deserializer, handler.response_serializer
    )


@dataclass
class ServiceBinding:
    """One servicer to mount: its generated `add_*_to_server` and full name."""

    add_to_server: Callable[[Any, grpc.aio.Server], None]
    servicer: Any
    full_name: str
    admin_methods: tuple[str, ...] = ()


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
    bindings: list[ServiceBinding], credentials: Credentials, address: str
) -> Service:
    """Build a server with the servicers, health and reflection, bound to `address`."""
    admin = [f"/{b.full_name}/{m}" for b in bindings for m in b.admin_methods]
    server = grpc.aio.server(
        interceptors=[GuardInterceptor(credentials, admin)],
        options=[
            ("grpc.max_receive_message_length", 32 * 1024 * 1024),
            ("grpc.max_send_message_length", 32 * 1024 * 1024),
            ("grpc.so_reuseport", 0),
        ],
    )
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for binding in bindings:
        binding.add_to_server(binding.servicer, server)
    names = [b.full_name for b in bindings]
    reflection.enable_server_reflection(
        [*names, health.SERVICE_NAME, reflection.SERVICE_NAME], server
    )
    port = server.add_insecure_port(address)
    if port == 0:
        raise SystemExit(f"cannot listen on {address}")
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
