"""Every refusal travels as a reason with its figures and is read back as the same
named error: through the server plumbing, and from the real services."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import grpc
import pytest
from mediabot.billing.v1 import billing_pb2 as bpb
from mediabot.jobs.v1 import jobs_pb2 as pb
from mediabot.jobs.v1 import jobs_pb2_grpc

from common.clients import authorized, channel, error_info, refusal
from common.errors import (
    DOMAIN,
    AccountBlocked,
    DomainError,
    HoldCaptured,
    HoldReleased,
    InsufficientCredits,
    InvalidOption,
    JobNotFound,
    PermissionDenied,
    QueueFull,
    Reason,
    Unauthenticated,
    UserNotFound,
)
from common.server.rpc import Credentials, ServiceBinding, create_grpc_server, status_code
from common.texts import LANGUAGES, refusal_text
from tests.support.jobs import request, user_with
from tests.support.settings import ADMIN_TOKEN, SERVICE_TOKEN

JOB_SERVICE = pb.DESCRIPTOR.services_by_name["JobService"]
#: Every figure a text may name.
FIGURES = ("balance", "required", "unfinished", "limit", "retry_after_seconds", "price", "paid",
           "credits")  # fmt: skip


class Refuser(jobs_pb2_grpc.JobServiceServicer):
    """Raises the named error whose reason the request names, with two figures."""

    async def GetJob(self, request, context):
        raise DomainError.by_reason[Reason(request.job_id)]("told to refuse", a=1, b="two")

    async def WatchJob(self, request, context) -> AsyncIterator[pb.WatchJobResponse]:
        yield pb.WatchJobResponse(job=pb.Job(id="first"))
        raise DomainError.by_reason[Reason(request.job_id)]("told to refuse", a=1, b="two")


@pytest.fixture
async def refuser() -> AsyncIterator[jobs_pb2_grpc.JobServiceStub]:
    service = create_grpc_server(
        [ServiceBinding(jobs_pb2_grpc.add_JobServiceServicer_to_server, Refuser(), JOB_SERVICE)],
        Credentials(SERVICE_TOKEN, ADMIN_TOKEN),
        "127.0.0.1:0",
        "TEST_ADDR",
    )
    await service.start()
    opened = channel(f"127.0.0.1:{service.port}")
    yield authorized(jobs_pb2_grpc.JobServiceStub(opened), SERVICE_TOKEN)
    await opened.close()
    await service.stop(0)


def test_every_reason_has_its_own_named_error():
    assert set(DomainError.by_reason) == set(Reason)
    assert len(set(DomainError.by_reason.values())) == len(Reason)


@pytest.mark.parametrize("reason", list(Reason))
async def test_each_reason_is_read_back_as_the_error_raised(refuser, reason):
    named = DomainError.by_reason[reason]
    with pytest.raises(grpc.aio.AioRpcError) as unary:
        await refuser.GetJob(pb.GetJobRequest(job_id=reason.value))
    with pytest.raises(grpc.aio.AioRpcError) as streamed:
        async for _ in refuser.WatchJob(pb.WatchJobRequest(job_id=reason.value)):
            pass
    for failure in (unary.value, streamed.value):
        assert failure.code() == status_code(named("x"))
        info = error_info(failure)
        assert info is not None and info.domain == DOMAIN and info.reason == reason.value
        back = refusal(failure)
        assert type(back) is named
        assert back.figures == {"a": "1", "b": "two"}
        assert str(back) == "told to refuse"


async def test_a_status_without_a_reason_is_read_back_by_its_code(refuser):
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await refuser.GetJob(pb.GetJobRequest(job_id="no such reason"))  # ValueError: INTERNAL
    assert failure.value.code() == grpc.StatusCode.INTERNAL
    assert refusal(failure.value).reason == Reason.INTERNAL


def test_every_reason_has_words_in_every_language():
    for language in LANGUAGES:
        for reason in Reason:
            figures = dict.fromkeys(FIGURES, "7")
            said = refusal_text(DomainError.by_reason[reason]("m", **figures), language)
            assert said and "{" not in said, (language, reason)
            assert said != f"refusal.{reason.lower()}", (language, reason)


async def test_billing_refusals_carry_their_reasons_and_figures(billing, billing_admin):
    user = 7_123_456_789
    await user_with(billing, billing_admin, user, 2)
    with pytest.raises(grpc.aio.AioRpcError) as poor:
        await billing.ReserveCredits(
            bpb.ReserveCreditsRequest(telegram_id=user, amount=5, idempotency_key=uuid.uuid4().hex)
        )
    error = refusal(poor.value)
    assert isinstance(error, InsufficientCredits)
    assert error.figures == {"balance": "2", "required": "5"}

    hold = (
        await billing.ReserveCredits(
            bpb.ReserveCreditsRequest(telegram_id=user, amount=1, idempotency_key=uuid.uuid4().hex)
        )
    ).reservation
    await billing.ReleaseReservation(bpb.ReleaseReservationRequest(reservation_id=hold.id))
    with pytest.raises(grpc.aio.AioRpcError) as released:
        await billing.CaptureReservation(bpb.CaptureReservationRequest(reservation_id=hold.id))
    assert isinstance(refusal(released.value), HoldReleased)

    spent = (
        await billing.ReserveCredits(
            bpb.ReserveCreditsRequest(telegram_id=user, amount=1, idempotency_key=uuid.uuid4().hex)
        )
    ).reservation
    await billing.CaptureReservation(bpb.CaptureReservationRequest(reservation_id=spent.id))
    with pytest.raises(grpc.aio.AioRpcError) as captured:
        await billing.ReleaseReservation(bpb.ReleaseReservationRequest(reservation_id=spent.id))
    assert isinstance(refusal(captured.value), HoldCaptured)

    with pytest.raises(grpc.aio.AioRpcError) as admin_only:
        await billing.GetStats(bpb.GetStatsRequest())
    assert isinstance(refusal(admin_only.value), PermissionDenied)


async def test_anonymous_calls_are_refused_as_unauthenticated(billing_anonymous):
    with pytest.raises(grpc.aio.AioRpcError) as anonymous:
        await billing_anonymous.GetBalance(bpb.GetBalanceRequest(telegram_id=7_123_456_789))
    assert isinstance(refusal(anonymous.value), Unauthenticated)


async def test_job_refusals_carry_billing_reasons_through_job_svc(jobs, billing, billing_admin):
    rich, poor, banned, stranger = 7_123_456_701, 7_123_456_702, 7_123_456_703, 7_123_456_704
    await user_with(billing, billing_admin, rich, 100)
    await user_with(billing, billing_admin, poor, 0)
    await user_with(billing, billing_admin, banned, 10)
    await billing_admin.SetBanned(bpb.SetBannedRequest(telegram_id=banned, banned=True))

    async def refused(telegram_id: int, **fields: object) -> DomainError:
        with pytest.raises(grpc.aio.AioRpcError) as failure:
            await jobs.CreateJob(request(telegram_id, **fields))
        return refusal(failure.value)

    not_enough = await refused(poor)
    assert isinstance(not_enough, InsufficientCredits)
    assert not_enough.figures == {"balance": "0", "required": "1"}
    assert isinstance(await refused(banned), AccountBlocked)
    unknown = await refused(stranger)
    assert isinstance(unknown, UserNotFound) and unknown.figures["telegram_id"] == str(stranger)
    option = await refused(rich, options=pb.JobOptions(aspect_ratio="7:5"))
    assert isinstance(option, InvalidOption)
    assert option.figures["field"] == "options.aspect_ratio" and "1:1" in option.figures["accepted"]

    for _ in range(5):  # MAX_USER_QUEUE of the test services, no worker running
        await jobs.CreateJob(request(rich))
    full = await refused(rich)
    assert isinstance(full, QueueFull) and full.figures == {"unfinished": "5", "limit": "5"}

    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await jobs.GetJob(pb.GetJobRequest(job_id=str(uuid.uuid4()), telegram_id=rich))
    assert isinstance(refusal(missing.value), JobNotFound)
