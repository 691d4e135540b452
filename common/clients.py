"""gRPC channels and stubs from one service (or client process) to another."""

from __future__ import annotations

import functools
from typing import TypeVar

import grpc

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
