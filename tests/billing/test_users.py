"""Users: creation once with free credits, settings, ledger pages, admin actions."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from mediabot.billing.v1 import billing_pb2 as pb

from tests.support.ids import tg


async def test_ensure_user_creates_once_with_the_free_credits(billing, db):
    answers = await asyncio.gather(*(
        billing.EnsureUser(pb.EnsureUserRequest(telegram_id=5, username="@kate",
                                                language_code="ru-RU"))
        for _ in range(20)
    ))  # fmt: skip
    assert sum(a.created for a in answers) == 1
    me = answers[0].user
    assert (me.username, me.language, me.balance, me.tier) == ("kate", "ru", 10, pb.TIER_FREE)
    renamed = await billing.EnsureUser(pb.EnsureUserRequest(telegram_id=5, username="katya"))
    assert not renamed.created and renamed.user.username == "katya"
    assert renamed.user.language == "ru" and renamed.user.balance == 10
    assert await db.fetchval("SELECT count(*) FROM billing.ledger WHERE kind = 'free'") == 1


async def test_update_user_changes_the_language(billing):
    await billing.EnsureUser(pb.EnsureUserRequest(telegram_id=6, language_code="en"))
    answer = await billing.UpdateUser(pb.UpdateUserRequest(telegram_id=6, language="ru"))
    assert answer.user.language == "ru"
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await billing.UpdateUser(pb.UpdateUserRequest(telegram_id=6, language="de"))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (await billing.GetUser(pb.GetUserRequest(telegram_id=6))).user.language == "ru"


async def test_the_ledger_pages_newest_first(billing, billing_admin):
    await billing.EnsureUser(pb.EnsureUserRequest(telegram_id=7))
    for i in range(5):
        await billing_admin.GrantCredits(
            pb.GrantCreditsRequest(
                telegram_id=7, amount=i + 1, reason="gift", idempotency_key=f"g{i}"
            )
        )
    first = await billing.ListLedger(pb.ListLedgerRequest(telegram_id=7, page_size=4))
    second = await billing.ListLedger(
        pb.ListLedgerRequest(telegram_id=7, page_size=4, page_token=first.next_page_token)
    )
    amounts = [e.amount for e in [*first.entries, *second.entries]]
    assert amounts == [5, 4, 3, 2, 1, 10]
    assert second.next_page_token == ""
    assert first.entries[0].balance_after == 25


async def test_grant_credits_is_idempotent_and_audited(billing, billing_admin, db):
    await billing.EnsureUser(pb.EnsureUserRequest(telegram_id=8))
    request = pb.GrantCreditsRequest(telegram_id=8, amount=40, reason="support",
                                     idempotency_key="ticket-1")  # fmt: skip
    answers = await asyncio.gather(*(billing_admin.GrantCredits(request) for _ in range(10)))
    assert {a.balance for a in answers} == {50}
    taken = await billing_admin.GrantCredits(
        pb.GrantCreditsRequest(
            telegram_id=8, amount=-20, reason="abuse", idempotency_key="ticket-2"
        )
    )
    assert taken.balance == 30
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await billing_admin.GrantCredits(
            pb.GrantCreditsRequest(
                telegram_id=8, amount=-31, reason="too much", idempotency_key="ticket-3"
            )
        )
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    log = await billing_admin.ListAuditLog(pb.ListAuditLogRequest(telegram_id=8))
    # Newest first: each grant is an admin action and a credit movement; the free
    # credits of the new account were moved for the service that created it.
    assert [(e.action, e.actor) for e in log.entries] == [
        ("grant", "admin:alice"),
        ("credits:grant", "admin:alice"),
        ("grant", "admin:alice"),
        ("credits:grant", "admin:alice"),
        ("credits:free", "service"),
    ]


async def test_admin_views_find_users_stats_and_payments(billing, billing_admin):
    for tid, name in [(tg(11), "anna"), (tg(12), "andrew"), (tg(13), "boris")]:
        await billing.EnsureUser(pb.EnsureUserRequest(telegram_id=tid, username=name))
    found = await billing_admin.FindUsers(pb.FindUsersRequest(query="an"))
    assert [u.telegram_id for u in found.users] == [tg(12), tg(11)]
    by_id = await billing_admin.FindUsers(pb.FindUsersRequest(query=str(tg(13))))
    assert [u.username for u in by_id.users] == ["boris"]
    await billing_admin.SetBanned(
        pb.SetBannedRequest(telegram_id=tg(13), banned=True, reason="spam")
    )
    inv = await billing.CreateInvoice(
        pb.CreateInvoiceRequest(telegram_id=tg(11), product_id="pack_starter")
    )
    await billing.CompletePayment(
        pb.CompletePaymentRequest(
            telegram_id=tg(11),
            invoice_payload=inv.payload,
            currency="XTR",
            total_amount=inv.amount,
            telegram_payment_charge_id="c1",
        )
    )
    stats = await billing_admin.GetStats(pb.GetStatsRequest())
    assert (stats.users_total, stats.users_banned, stats.payments_total) == (3, 1, 1)
    assert stats.stars_revenue == inv.amount
    assert stats.credits_outstanding == 30 + 50
    payments = await billing_admin.ListPayments(pb.ListPaymentsRequest())
    assert [p.telegram_payment_charge_id for p in payments.payments] == ["c1"]
    actions = {
        e.action for e in (await billing_admin.ListAuditLog(pb.ListAuditLogRequest())).entries
    }
    assert {"ban", "payment"} <= actions
    assert stats.paying_users == 1


async def test_control_characters_in_text_are_invalid_and_change_nothing(
    billing, billing_admin, db
):
    await billing.EnsureUser(pb.EnsureUserRequest(telegram_id=9))
    held = await billing.ReserveCredits(
        pb.ReserveCreditsRequest(telegram_id=9, amount=1, idempotency_key="held")
    )
    tables = ("accounts", "ledger", "reservations", "audit_log")

    async def snapshot() -> list:
        return [await db.fetch(f"SELECT * FROM billing.{t} ORDER BY 1") for t in tables]

    before = await snapshot()
    B, A = billing, billing_admin
    rid = held.reservation.id
    cases = [
        (B.EnsureUser(pb.EnsureUserRequest(telegram_id=tg(10), username="nul\x00")), "username"),
        (B.EnsureUser(pb.EnsureUserRequest(telegram_id=tg(10), username="two\nlines")), "username"),
        (B.EnsureUser(pb.EnsureUserRequest(telegram_id=9, username="tab\tbed")), "username"),
        (B.EnsureUser(pb.EnsureUserRequest(telegram_id=tg(10), language_code="en\x00")),
         "language_code"),
        (B.EnsureUser(pb.EnsureUserRequest(telegram_id=tg(10), referral_code="ab\x00")),
         "referral_code"),
        (B.ReserveCredits(pb.ReserveCreditsRequest(telegram_id=9, amount=1, idempotency_key="r",
                                                   purpose="job\x00")), "purpose"),
        (B.ReleaseReservation(pb.ReleaseReservationRequest(reservation_id=rid,
                                                           reason="bad\x00")), "reason"),
        (A.FindUsers(pb.FindUsersRequest(query="a\x00")), "query"),
        (A.GrantCredits(pb.GrantCreditsRequest(telegram_id=9, amount=5, reason="gift\x00",
                                               idempotency_key="g")), "reason"),
        (A.GrantCredits(pb.GrantCreditsRequest(telegram_id=9, amount=5, reason="bell\x07",
                                               idempotency_key="g")), "reason"),
        (A.SetBanned(pb.SetBannedRequest(telegram_id=9, banned=True, reason="spam\x00")),
         "reason"),
        (A.SetBanned(pb.SetBannedRequest(telegram_id=9, banned=True, reason="cr\ronly")),
         "reason"),
    ]  # fmt: skip
    for index, (call, field) in enumerate(cases):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await call
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, index
        assert field in (err.value.details() or ""), index
    assert await snapshot() == before
    await billing_admin.GrantCredits(  # a reason may run over lines and hold tabs
        pb.GrantCreditsRequest(telegram_id=9, amount=5, reason="ticket 7:\r\n\tgoodwill",
                               idempotency_key="g")
    )  # fmt: skip
    assert (
        await db.fetchval("SELECT note FROM billing.ledger WHERE kind = 'grant'")
        == "ticket 7:\n\tgoodwill"
    )
