"""gRPC channels from one service (or client process) to another."""

from __future__ import annotations

from collections.abc import Sequence

import grpc


def service_channel(address: str, token: str, actor: str = "") -> grpc.aio.Channel:
    """A channel that sends `authorization: Bearer <token>` on every call."""
    metadata: list[tuple[str, str]] = [("authorization", f"Bearer {token}")]
    if actor:
        metadata.append(("x-actor", actor))
    return grpc.aio.insecure_channel(
        address,
        options=[
            ("grpc.max_receive_message_length", 32 * 1024 * 1024),
            ("grpc.max_send_message_length", 32 * 1024 * 1024),
        ],
        interceptors=[_MetadataInterceptor(metadata)],
    )


class _MetadataInterceptor(
    grpc.aio.UnaryUnaryClientInterceptor,  # type: ignore[misc]
    grpc.aio.UnaryStreamClientInterceptor,  # type: ignore[misc]
):
    def __init__(self, metadata: Sequence[tuple[str, str]]) -> None:
        self._metadata = tuple(metadata)

    def _with_metadata(self, details: grpc.aio.ClientCallDetails) -> grpc.aio.ClientCallDetails:
        metadata = tuple(details.metadata or ()) + self._metadata
        return grpc.aio.ClientCallDetails(
            details.method, details.timeout, metadata, details.credentials, details.wait_for_ready
        )

    async def intercept_unary_unary(self, continuation, details, request):  # type: ignore[no-untyped-def]
        return await continuation(self._with_metadata(details), request)

    async def intercept_unary_stream(self, continuation, details, request):  # type: ignore[no-untyped-def]
        return await continuation(self._with_metadata(details), request)
