"""Credentials and input validation: wrong callers and bad input change nothing."""

from __future__ import annotations

import grpc
import pytest
from mediabot.billing.v1 import billing_pb2 as pb
from mediabot.billing.v1 import billing_pb2_grpc

from common.clients import authorized, channel

HUGE = "x" * 10_000


async def code_of(call) -> grpc.StatusCode:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call
    assert err.value.details(), "every refusal says why"
    return err.value.code()


async def test_no_credential_is_unauthenticated(billing_anonymous, billing_addr):
    assert await code_of(billing_anonymous.GetBalance(pb.GetBalanceRequest(telegram_id=1))) == (
        grpc.StatusCode.UNAUTHENTICATED
    )
    wrong = channel(billing_addr)
    try:
        stub = authorized(billing_pb2_grpc.BillingServiceStub(wrong), "not-the-token-at-all")
        assert await code_of(stub.ListProducts(pb.ListProductsRequest())) == (
            grpc.StatusCode.UNAUTHENTICATED
        )
    finally:
        await wrong.close()


async def test_a_service_credential_on_an_admin_call_is_permission_denied(billing, db):
    await billing.EnsureUser(pb.EnsureUserRequest(telegram_id=1))
    admin_calls = [
        billing.GetStats(pb.GetStatsRequest()),
        billing.FindUsers(pb.FindUsersRequest()),
        billing.GrantCredits(pb.GrantCreditsRequest(telegram_id=1, amount=5, reason="r",
                                                    idempotency_key="k")),
        billing.SetBanned(pb.SetBannedRequest(telegram_id=1, banned=True)),
        billing.ListAuditLog(pb.ListAuditLogRequest()),
        billing.ListPayments(pb.ListPaymentsRequest()),
    ]  # fmt: skip
    for call in admin_calls:
        assert await code_of(call) == grpc.StatusCode.PERMISSION_DENIED
    assert await db.fetchval("SELECT balance FROM billing.accounts") == 10
    assert not await db.fetchval("SELECT banned FROM billing.accounts")


async def snapshot(db) -> tuple:
    return (
        await db.fetchval("SELECT count(*) FROM billing.accounts"),
        await db.fetchval("SELECT coalesce(sum(balance), 0) FROM billing.accounts"),
        await db.fetchval("SELECT count(*) FROM billing.ledger"),
        await db.fetchval("SELECT count(*) FROM billing.reservations"),
        await db.fetchval("SELECT count(*) FROM billing.payments"),
        await db.fetchval("SELECT count(*) FROM billing.audit_log"),
        await db.fetchval("SELECT string_agg(language || banned::text, ',') FROM billing.accounts"),
    )


async def test_bad_input_on_every_call_is_refused_and_changes_nothing(billing, billing_admin, db):
    await billing.EnsureUser(pb.EnsureUserRequest(telegram_id=1))
    held = await billing.ReserveCredits(
        pb.ReserveCreditsRequest(telegram_id=1, amount=1, idempotency_key="held")
    )
    rid = held.reservation.id
    before = await snapshot(db)
    B, A = billing, billing_admin
    INVALID, NOT_FOUND = grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND
    cases = [
        (B.EnsureUser(pb.EnsureUserRequest(telegram_id=0)), INVALID),
        (B.EnsureUser(pb.EnsureUserRequest(telegram_id=-5)), INVALID),
        (B.EnsureUser(pb.EnsureUserRequest(telegram_id=2, username=HUGE)), INVALID),
        (B.EnsureUser(pb.EnsureUserRequest(telegram_id=2, referral_code=HUGE)), INVALID),
        (B.GetUser(pb.GetUserRequest(telegram_id=999)), NOT_FOUND),
        (B.UpdateUser(pb.UpdateUserRequest(telegram_id=999, language="en")), NOT_FOUND),
        (B.UpdateUser(pb.UpdateUserRequest(telegram_id=1, language=HUGE)), INVALID),
        (B.GetBalance(pb.GetBalanceRequest(telegram_id=999)), NOT_FOUND),
        (B.ListLedger(pb.ListLedgerRequest(telegram_id=1, page_size=-1)), INVALID),
        (B.ListLedger(pb.ListLedgerRequest(telegram_id=1, page_token="abc")), INVALID),
        (B.ListLedger(pb.ListLedgerRequest(telegram_id=999)), NOT_FOUND),
        (B.ReserveCredits(pb.ReserveCreditsRequest(telegram_id=1, amount=0,
                                                   idempotency_key="a")), INVALID),
        (B.ReserveCredits(pb.ReserveCreditsRequest(telegram_id=1, amount=-3,
                                                   idempotency_key="a")), INVALID),
        (B.ReserveCredits(pb.ReserveCreditsRequest(telegram_id=1, amount=2**62,
                                                   idempotency_key="a")), INVALID),
        (B.ReserveCredits(pb.ReserveCreditsRequest(telegram_id=1, amount=1)), INVALID),
        (B.ReserveCredits(pb.ReserveCreditsRequest(telegram_id=1, amount=1,
                                                   idempotency_key=HUGE)), INVALID),
        (B.ReserveCredits(pb.ReserveCreditsRequest(telegram_id=1, amount=1, idempotency_key="a",
                                                   ttl_seconds=-1)), INVALID),
        (B.ReserveCredits(pb.ReserveCreditsRequest(telegram_id=1, amount=1, idempotency_key="a",
                                                   purpose=HUGE)), INVALID),
        (B.ReserveCredits(pb.ReserveCreditsRequest(telegram_id=999, amount=1,
                                                   idempotency_key="a")), NOT_FOUND),
        (B.CaptureReservation(pb.CaptureReservationRequest(reservation_id="nope")), INVALID),
        (B.CaptureReservation(pb.CaptureReservationRequest(
            reservation_id="00000000-0000-0000-0000-000000000000")), NOT_FOUND),
        (B.ReleaseReservation(pb.ReleaseReservationRequest(reservation_id="")), INVALID),
        (B.ReleaseReservation(pb.ReleaseReservationRequest(reservation_id=rid, reason=HUGE)),
         INVALID),
        (B.ExtendReservation(pb.ExtendReservationRequest(reservation_id=rid, ttl_seconds=5)),
         INVALID),
        (B.CreateInvoice(pb.CreateInvoiceRequest(telegram_id=1, product_id="gold")), NOT_FOUND),
        (B.CreateInvoice(pb.CreateInvoiceRequest(telegram_id=999, product_id="pack_pro")),
         NOT_FOUND),
        (B.PreCheckout(pb.PreCheckoutRequest(telegram_id=1, invoice_payload="")), INVALID),
        (B.CompletePayment(pb.CompletePaymentRequest(telegram_id=1, invoice_payload=HUGE,
                                                     telegram_payment_charge_id="c")), INVALID),
        (B.CompletePayment(pb.CompletePaymentRequest(telegram_id=1, invoice_payload="x")),
         INVALID),
        (B.RefundPayment(pb.RefundPaymentRequest(telegram_payment_charge_id="")), INVALID),
        (B.RefundPayment(pb.RefundPaymentRequest(telegram_payment_charge_id="zzz")), NOT_FOUND),
        (A.FindUsers(pb.FindUsersRequest(query=HUGE)), INVALID),
        (A.FindUsers(pb.FindUsersRequest(page_size=100_000)), INVALID),
        (A.GrantCredits(pb.GrantCreditsRequest(telegram_id=1, amount=0, reason="r",
                                               idempotency_key="g")), INVALID),
        (A.GrantCredits(pb.GrantCreditsRequest(telegram_id=1, amount=10**12, reason="r",
                                               idempotency_key="g")), INVALID),
        (A.GrantCredits(pb.GrantCreditsRequest(telegram_id=1, amount=5, reason="",
                                               idempotency_key="g")), INVALID),
        (A.GrantCredits(pb.GrantCreditsRequest(telegram_id=1, amount=5, reason="r")), INVALID),
        (A.GrantCredits(pb.GrantCreditsRequest(telegram_id=999, amount=5, reason="r",
                                               idempotency_key="g")), NOT_FOUND),
        (A.SetBanned(pb.SetBannedRequest(telegram_id=999, banned=True)), NOT_FOUND),
        (A.SetBanned(pb.SetBannedRequest(telegram_id=1, banned=True, reason=HUGE)), INVALID),
        (A.ListAuditLog(pb.ListAuditLogRequest(telegram_id=-1)), INVALID),
        (A.ListPayments(pb.ListPaymentsRequest(page_token="-1")), INVALID),
    ]  # fmt: skip
    for index, (call, expected) in enumerate(cases):
        assert await code_of(call) == expected, f"case {index}"
    assert await snapshot(db) == before
