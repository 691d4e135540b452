"""Telegram ids take up to 52 bits: every RPC of both services that takes one
works with such ids (the rest of the suite uses ids above 2³² too)."""

from __future__ import annotations

import uuid

import pytest
from mediabot.billing.v1 import billing_pb2 as bpb
from mediabot.jobs.v1 import jobs_pb2 as pb

from tests.support.jobs import request, user_with, watch


@pytest.mark.parametrize("user", [7_123_456_789, 2**52 + 5])
async def test_every_rpc_taking_a_telegram_id_accepts_a_52_bit_one(
    user, billing, billing_admin, jobs, jobs_admin, start_worker
):
    created = await billing.EnsureUser(bpb.EnsureUserRequest(telegram_id=user, language_code="en"))
    assert created.user.telegram_id == user
    assert (await billing.GetUser(bpb.GetUserRequest(telegram_id=user))).user.telegram_id == user
    await billing.UpdateUser(bpb.UpdateUserRequest(telegram_id=user, language="ru"))
    await user_with(billing, billing_admin, user, 50)  # GrantCredits
    assert (await billing.GetBalance(bpb.GetBalanceRequest(telegram_id=user))).balance == 50
    hold = await billing.ReserveCredits(
        bpb.ReserveCreditsRequest(telegram_id=user, amount=1, idempotency_key=uuid.uuid4().hex)
    )
    await billing.ReleaseReservation(
        bpb.ReleaseReservationRequest(reservation_id=hold.reservation.id)
    )
    invoice = await billing.CreateInvoice(
        bpb.CreateInvoiceRequest(telegram_id=user, product_id="pack_starter")
    )
    order = {"telegram_id": user, "invoice_payload": invoice.payload, "currency": "XTR",
             "total_amount": invoice.amount}  # fmt: skip
    await billing.PreCheckout(bpb.PreCheckoutRequest(**order))
    paid = await billing.CompletePayment(
        bpb.CompletePaymentRequest(**order, telegram_payment_charge_id=f"c-{user}")
    )
    assert paid.payment.telegram_id == user
    ledger = await billing.ListLedger(bpb.ListLedgerRequest(telegram_id=user))
    assert {e.telegram_id for e in ledger.entries} == {user}
    found = await billing_admin.FindUsers(bpb.FindUsersRequest(query=str(user)))
    assert [u.telegram_id for u in found.users] == [user]
    audit = await billing_admin.ListAuditLog(bpb.ListAuditLogRequest(telegram_id=user))
    assert audit.entries and {e.telegram_id for e in audit.entries} == {user}
    payments = await billing_admin.ListPayments(bpb.ListPaymentsRequest(telegram_id=user))
    assert [p.telegram_id for p in payments.payments] == [user]

    await start_worker(LOCAL_LATENCY_SECONDS=0)
    job = (await jobs.CreateJob(request(user))).job
    assert job.telegram_id == user
    updates = await watch(jobs, job)
    assert updates[-1].job.status == pb.JOB_STATUS_SUCCEEDED
    got = await jobs.GetJob(pb.GetJobRequest(job_id=job.id, telegram_id=user))
    assert got.job.telegram_id == user
    listed = await jobs.ListJobs(pb.ListJobsRequest(telegram_id=user))
    assert [j.id for j in listed.jobs] == [job.id]
    urls = await jobs.GetResultUrls(pb.GetResultUrlsRequest(job_id=job.id, telegram_id=user))
    assert len(urls.urls) == 1
    cancelled = await jobs.CancelJob(pb.CancelJobRequest(job_id=job.id, telegram_id=user))
    assert cancelled.job.status == pb.JOB_STATUS_SUCCEEDED  # finished: returned as it is
    every = await jobs_admin.ListAllJobs(pb.ListAllJobsRequest(telegram_id=user))
    assert [j.id for j in every.jobs] == [job.id]
    await billing_admin.SetBanned(bpb.SetBannedRequest(telegram_id=user, banned=True))
    assert (await billing.GetUser(bpb.GetUserRequest(telegram_id=user))).user.banned
