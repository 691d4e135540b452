"""gRPC channels and stubs from one service (or client process) to another."""

from __future__ import annotations

import functools
from typing import TypeVar

import grpc
from google.rpc import error_details_pb2
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
    Reason,
    ResourceExhausted,
    Unauthenticated,
    Unavailable,
)

StubT = TypeVar("StubT")

_OPTIONS = [
    ("grpc.max_receive_message_length", 32 * 1024 * 1024),
    ("grpc.max_send_message_length", 32 * 1024 * 1024),
]


def channel(address: str) -> grpc.aio.Channel:
    """A channel to a mediabot service that accepts our largest messages."""
    return grpc.aio.insecure_channel(address, options=_OPTIONS)


def authorized(stub: StubT, token: str, actor: str = "", timeout: float | None = None) -> StubT:
    """The stub with `authorization: Bearer <token>` (and `x-actor`) on every call,
    and a deadline of `timeout` seconds when one is given.

    Binding the metadata to each method costs nothing per call, unlike a
    grpc.aio client interceptor, which wraps every call in extra tasks.
    """
    metadata: tuple[tuple[str, str], ...] = (("authorization", f"Bearer {token}"),)
    if actor:
        metadata += (("x-actor", actor),)
    for name, method in list(vars(stub).items()):
        setattr(stub, name, functools.partial(method, metadata=metadata, timeout=timeout))
    return stub


#: The category of a refusal that carries no reason we know (an older peer, or a
#: status from gRPC itself). Every other code leaves the outcome unknown.
_CATEGORY: dict[grpc.StatusCode, type[DomainError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgument,
    grpc.StatusCode.OUT_OF_RANGE: InvalidArgument,
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPrecondition,
    grpc.StatusCode.ALREADY_EXISTS: AlreadyExists,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhausted,
    grpc.StatusCode.UNAUTHENTICATED: Unauthenticated,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDenied,
    grpc.StatusCode.UNIMPLEMENTED: Internal,
    grpc.StatusCode.INTERNAL: Internal,
}


def error_info(error: grpc.aio.AioRpcError) -> error_details_pb2.ErrorInfo | None:
    """The `google.rpc.ErrorInfo` of mediabot a failed call carries, if any."""
    try:
        status = rpc_status.from_call(error)  # type: ignore[arg-type]
    except ValueError:  # details that contradict the status code: not ours
        return None
    for detail in status.details if status is not None else ():
        info = error_details_pb2.ErrorInfo()
        if detail.Is(info.DESCRIPTOR) and detail.Unpack(info) and info.domain == DOMAIN:
            return info
    return None


def refusal(error: grpc.aio.AioRpcError) -> DomainError:
    """A failed call as the domain error it was raised as: the named error of its
    reason with the figures it carried, else the category of its status code, else
    Unavailable (deadline exceeded, connection lost: the outcome is unknown)."""
    message = error.details() or error.code().name
    info = error_info(error)
    if info is not None and info.reason in Reason.__members__:
        named = DomainError.by_reason.get(Reason(info.reason))
        if named is not None:
            return named(message, **dict(info.metadata))
    return _CATEGORY.get(error.code(), Unavailable)(message)
