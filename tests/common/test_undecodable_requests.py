"""Request bytes that are not a valid message: refused with a status and a reason,
never a traceback, and logged as at most one short warning line a minute."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from types import SimpleNamespace
from typing import Any

import grpc
import pytest
from google.protobuf.descriptor import FieldDescriptor, MethodDescriptor
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection_pb2
from mediabot.billing.v1 import billing_pb2 as pb
from mediabot.jobs.v1 import jobs_pb2

from billing_svc.server import SERVICE as BILLING
from billing_svc.servicer import ADMIN_METHODS as BILLING_ADMIN
from common.clients import channel, error_info
from common.errors import Reason
from common.server import decoding
from job_svc.server import SERVICE as JOBS
from job_svc.servicer import ADMIN_METHODS as JOBS_ADMIN
from tests.support.settings import ADMIN_TOKEN, SERVICE_TOKEN

Code = grpc.StatusCode
NONE: tuple[tuple[str, str], ...] = ()
WRONG = (("authorization", "Bearer not-the-token-at-all"),)
SERVICE = (("authorization", f"Bearer {SERVICE_TOKEN}"),)
ADMIN = (("authorization", f"Bearer {ADMIN_TOKEN}"), ("x-actor", "alice"))


def payloads(method: MethodDescriptor) -> list[bytes]:
    """Bytes that do not parse as the method's request: garbage, a truncated
    length, a truncated varint and, when it has a string field, invalid UTF-8."""
    bad = [b"\xff\xff\xff\xff", b"\x0a\x7f", b"\x08\x80"]
    strings = [f for f in method.input_type.fields if f.type == FieldDescriptor.TYPE_STRING]
    if strings:
        bad.append(bytes([strings[0].number << 3 | 2, 2]) + b"\xc3\x28")
    return bad


async def status_of(
    opened: grpc.aio.Channel, path: str, data: bytes, metadata: Any, streaming: bool = False
) -> tuple[Code, str, str]:
    """The status, message and reason of a call sending `data` as the raw request
    (no serializer)."""
    try:
        if streaming:
            async for _ in opened.unary_stream(path)(data, metadata=metadata, timeout=10):
                pass
        else:
            await opened.unary_unary(path)(data, metadata=metadata, timeout=10)
    except grpc.aio.AioRpcError as err:
        info = error_info(err)
        return err.code(), err.details() or "", info.reason if info else ""
    return Code.OK, "", ""


@pytest.fixture
def warn_clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[float]]:
    """A fresh warning limit whose clock stands still until the test moves it."""
    now = [1000.0]
    fresh = decoding.Warnings()
    fresh.clock = lambda: now[0]
    monkeypatch.setattr(decoding, "WARNINGS", fresh)
    yield now


def assert_quiet(caplog: pytest.LogCaptureFixture, warning_lines: int) -> None:
    """No error and no traceback was logged; refusals made `warning_lines` short lines."""
    loud = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not loud, [r.getMessage() for r in loud]
    lines = [r for r in caplog.records if r.name == decoding.__name__]
    assert len(lines) == warning_lines, [r.getMessage() for r in lines]
    for line in lines:
        assert line.levelno == logging.WARNING and "\n" not in line.getMessage()


async def refuse_every_method(address: str, service: Any, admin_methods: tuple[str, ...]) -> int:
    """Sends undecodable bytes to every method of `service` with every kind of
    credential and checks each status; returns how many calls it made."""
    calls = 0
    opened = channel(address)
    try:
        for method in service.methods:
            path = f"/{service.full_name}/{method.name}"
            admin = method.name in admin_methods
            invalid = f"the request is not a valid {method.input_type.full_name}"
            expected = [
                (NONE, Code.UNAUTHENTICATED),
                (WRONG, Code.UNAUTHENTICATED),
                (SERVICE, Code.PERMISSION_DENIED if admin else Code.INVALID_ARGUMENT),
                (ADMIN, Code.INVALID_ARGUMENT),
            ]
            for data in payloads(method):
                for metadata, code in expected:
                    got, details, reason = await status_of(
                        opened, path, data, metadata, method.server_streaming
                    )
                    calls += 1
                    assert got == code, (method.name, data, metadata, got, details)
                    if code == Code.INVALID_ARGUMENT:
                        assert (details, reason) == (invalid, Reason.MALFORMED_REQUEST)
                    else:
                        assert reason == code.name
    finally:
        await opened.close()
    return calls


async def test_undecodable_bytes_on_every_billing_method_are_refused_quietly(
    billing_addr, billing, caplog, warn_clock
):
    caplog.set_level(logging.INFO)
    assert {m.name for m in BILLING.methods} >= {"GetBalance", "ReserveCredits", "ListPayments"}
    calls = await refuse_every_method(billing_addr, BILLING, BILLING_ADMIN)
    assert calls >= 100
    assert_quiet(caplog, warning_lines=1)

    await billing.EnsureUser(pb.EnsureUserRequest(telegram_id=1))
    assert (await billing.GetBalance(pb.GetBalanceRequest(telegram_id=1))).balance == 10
    opened = channel(billing_addr)
    try:
        raw = await opened.unary_unary(f"/{BILLING.full_name}/GetBalance")(
            pb.GetBalanceRequest(telegram_id=1).SerializeToString(), metadata=SERVICE, timeout=10
        )
    finally:
        await opened.close()
    assert pb.GetBalanceResponse.FromString(raw).balance == 10


async def test_undecodable_bytes_on_every_job_method_are_refused_quietly(
    jobs_service, jobs, caplog, warn_clock
):
    caplog.set_level(logging.INFO)
    streaming = {m.name for m in JOBS.methods if m.server_streaming}
    assert streaming == {"WatchJob", "WatchDeliveries"}
    address = f"127.0.0.1:{jobs_service.port}"
    calls = await refuse_every_method(address, JOBS, JOBS_ADMIN)
    assert calls >= 100
    assert_quiet(caplog, warning_lines=1)

    listed = await jobs.ListJobs(jobs_pb2.ListJobsRequest(telegram_id=1))
    assert list(listed.jobs) == []
    opened = channel(address)
    try:
        raw = await opened.unary_unary(f"/{JOBS.full_name}/ListJobs")(
            jobs_pb2.ListJobsRequest(telegram_id=1).SerializeToString(),
            metadata=SERVICE,
            timeout=10,
        )
    finally:
        await opened.close()
    assert list(jobs_pb2.ListJobsResponse.FromString(raw).jobs) == []


async def test_health_and_reflection_refuse_undecodable_bytes_quietly(
    billing_addr, jobs_service, caplog, warn_clock
):
    caplog.set_level(logging.INFO)
    for address in (billing_addr, f"127.0.0.1:{jobs_service.port}"):
        opened = channel(address)
        try:
            bad = b"\xff\xff\xff\xff"
            check, watch = "/grpc.health.v1.Health/Check", "/grpc.health.v1.Health/Watch"
            malformed = (
                Code.INVALID_ARGUMENT,
                "the request is not a valid grpc.health.v1.HealthCheckRequest",
                Reason.MALFORMED_REQUEST,
            )
            assert await status_of(opened, check, bad, NONE) == malformed
            assert await status_of(opened, watch, bad, NONE, True) == malformed

            info = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"

            async def requests(*items: bytes) -> AsyncIterator[bytes]:
                for item in items:
                    yield item

            listing = reflection_pb2.ServerReflectionRequest(list_services="").SerializeToString()
            answers: list[bytes] = []
            with pytest.raises(grpc.aio.AioRpcError) as err:
                async for answer in opened.stream_stream(info)(requests(listing, bad), timeout=10):
                    answers.append(answer)
            assert err.value.code() == Code.INVALID_ARGUMENT
            assert error_info(err.value).reason == Reason.MALFORMED_REQUEST
            assert len(answers) == 1  # the valid request before was answered

            raw = await opened.unary_unary(check)(
                health_pb2.HealthCheckRequest(service="").SerializeToString(), timeout=10
            )
            assert health_pb2.HealthCheckResponse.FromString(raw).status == (
                health_pb2.HealthCheckResponse.SERVING
            )
        finally:
            await opened.close()
    assert_quiet(caplog, warning_lines=1)


async def test_the_warning_is_one_line_a_minute_counting_the_rest(billing_addr, caplog, warn_clock):
    caplog.set_level(logging.INFO)
    path = f"/{BILLING.full_name}/GetBalance"
    opened = channel(billing_addr)
    try:
        for _ in range(100):
            assert (await status_of(opened, path, b"\xff", SERVICE))[0] == Code.INVALID_ARGUMENT
        assert_quiet(caplog, warning_lines=1)
        warn_clock[0] += decoding.WARN_EVERY_SECONDS - 1
        assert (await status_of(opened, path, b"\xff", NONE))[0] == Code.UNAUTHENTICATED
        assert_quiet(caplog, warning_lines=1)
        warn_clock[0] += 1
        assert (await status_of(opened, path, b"\xff", SERVICE))[0] == Code.INVALID_ARGUMENT
    finally:
        await opened.close()
    assert_quiet(caplog, warning_lines=2)
    first, second = (r for r in caplog.records if r.name == decoding.__name__)
    assert (first.method, first.bytes, first.unlogged_since_last) == (path, 1, 0)
    assert second.unlogged_since_last == 100


async def test_handlers_found_through_generic_handlers_parse_tolerantly_too(warn_clock):
    """gRPC looks registered methods up first; the generic handlers a generated
    `add_*_to_server` also adds are fixed the same way."""
    added: list[Any] = []

    class Server:
        def add_registered_method_handlers(self, service: str, handlers: dict) -> None:
            added.append(handlers)

        def add_generic_rpc_handlers(self, handlers: tuple) -> None:
            added.append(handlers)

    from mediabot.billing.v1 import billing_pb2_grpc

    billing_pb2_grpc.add_BillingServiceServicer_to_server(
        billing_pb2_grpc.BillingServiceServicer(), decoding.tolerant(Server())
    )
    (generic,), registered = added
    details = SimpleNamespace(method=f"/{BILLING.full_name}/GetBalance", invocation_metadata=())
    for handler in (registered["GetBalance"], generic.service(details)):
        assert handler.request_deserializer(b"\xff") == decoding.Undecodable(
            "mediabot.billing.v1.GetBalanceRequest"
        )
        assert handler.request_deserializer(b"\x08\x07").telegram_id == 7
    assert generic.service(details) is generic.service(details)
    details.method = f"/{BILLING.full_name}/Nope"
    assert generic.service(details) is None
