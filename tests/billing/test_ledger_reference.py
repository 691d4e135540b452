"""The ledger's reference is the id of what an entry belongs to; its free text is the note.

Every kind of entry as ListLedger returns it, the audit record written with it,
and the migration that moves the texts of entries written before.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from alembic import command
from mediabot.billing.v1 import billing_pb2 as pb

from common.server.migrate import alembic_config
from tests.support.ids import tg
from tests.support.migrations import database_at
from tests.support.settings import make_settings

Row = tuple[str, int, str, str]  # kind, amount, reference, note


async def ledger(billing, telegram_id: int) -> list[Row]:
    """A user's entries as ListLedger returns them, oldest first."""
    page = await billing.ListLedger(pb.ListLedgerRequest(telegram_id=telegram_id, page_size=200))
    assert not page.next_page_token
    return [(e.kind, e.amount, e.reference, e.note) for e in reversed(page.entries)]


async def assert_audited_alike(billing, billing_admin, telegram_id: int) -> None:
    """Each entry's audit record (`credits:<kind>`) has the entry's reference and note."""
    page = await billing.ListLedger(pb.ListLedgerRequest(telegram_id=telegram_id, page_size=200))
    log = await billing_admin.ListAuditLog(
        pb.ListAuditLogRequest(telegram_id=telegram_id, page_size=200)
    )
    audited = {}
    for record in log.entries:
        if record.action.startswith("credits:"):
            details = json.loads(record.details)
            audited[details["entry"]] = (
                record.action,
                details["amount"],
                details["reference"],
                details["note"],
            )
    assert audited == {
        e.id: (f"credits:{e.kind}", e.amount, e.reference, e.note) for e in page.entries
    }


async def ensure(billing, telegram_id: int, referral_code: str = "") -> pb.User:
    answer = await billing.EnsureUser(
        pb.EnsureUserRequest(telegram_id=telegram_id, username=f"u{telegram_id}",
                             language_code="en", referral_code=referral_code)
    )  # fmt: skip
    return answer.user


async def pay(billing, telegram_id: int, product_id: str, charge_id: str) -> pb.Payment:
    inv = await billing.CreateInvoice(
        pb.CreateInvoiceRequest(telegram_id=telegram_id, product_id=product_id)
    )
    paid = await billing.CompletePayment(
        pb.CompletePaymentRequest(
            telegram_id=telegram_id, invoice_payload=inv.payload, currency="XTR",
            total_amount=inv.amount, telegram_payment_charge_id=charge_id,
        )
    )  # fmt: skip
    return paid.payment


async def test_holds_and_releases_reference_their_reservation(
    billing, billing_admin, db: asyncpg.Pool
):
    from billing_svc.reservations import Reservations

    user = tg(4001)
    free = (await ensure(billing, user)).balance

    async def hold(amount: int, purpose: str, key: str) -> str:
        request = pb.ReserveCreditsRequest(
            telegram_id=user, amount=amount, idempotency_key=key, purpose=purpose, ttl_seconds=60
        )
        first = await billing.ReserveCredits(request)
        assert (await billing.ReserveCredits(request)).reservation.id == first.reservation.id
        return first.reservation.id

    raced = await hold(3, "job:a", "k-a")
    for _ in range(2):  # a retry writes nothing more
        await billing.ReleaseReservation(
            pb.ReleaseReservationRequest(reservation_id=raced, reason="race")
        )
    unexplained = await hold(2, "job:b\nsecond line", "k-b")
    await billing.ReleaseReservation(pb.ReleaseReservationRequest(reservation_id=unexplained))
    captured = await hold(1, "", "k-c")
    await billing.CaptureReservation(pb.CaptureReservationRequest(reservation_id=captured))
    expired = await hold(1, "job:d", "k-d")
    await db.execute(
        "UPDATE billing.reservations SET expires_at = now() - interval '1 second' "
        "WHERE id = $1::uuid",
        expired,
    )
    assert await Reservations(db).sweep_expired() == 1

    assert await ledger(billing, user) == [
        ("free", free, str(user), ""),
        ("reserve", -3, raced, "job:a"),
        ("release", 3, raced, "race"),
        ("reserve", -2, unexplained, "job:b\nsecond line"),
        ("release", 2, unexplained, ""),
        ("reserve", -1, captured, ""),
        ("reserve", -1, expired, "job:d"),
        ("release", 1, expired, "expired"),
    ]
    await assert_audited_alike(billing, billing_admin, user)


async def test_grants_reference_their_key_and_note_their_reason(billing, billing_admin):
    user = tg(4002)
    free = (await ensure(billing, user)).balance
    for _ in range(2):  # a retry writes nothing more
        await billing_admin.GrantCredits(
            pb.GrantCreditsRequest(telegram_id=user, amount=7, reason="support ticket 7",
                                   idempotency_key="ticket:7")
        )  # fmt: skip
    await billing_admin.GrantCredits(
        pb.GrantCreditsRequest(telegram_id=user, amount=-2, reason="granted twice\n\tsorry",
                               idempotency_key="ticket:7:undo")
    )  # fmt: skip

    assert await ledger(billing, user) == [
        ("free", free, str(user), ""),
        ("grant", 7, "ticket:7", "support ticket 7"),
        ("grant", -2, "ticket:7:undo", "granted twice\n\tsorry"),
    ]
    await assert_audited_alike(billing, billing_admin, user)


async def test_payments_allowances_and_refunds_reference_the_charge(
    billing, billing_admin, db: asyncpg.Pool, base_env
):
    from billing_svc.payments import Payments
    from billing_svc.settings import BillingSettings

    user = tg(4003)
    free = (await ensure(billing, user)).balance
    pack = await pay(billing, user, "pack_starter", "charge:pack")
    year = await pay(billing, user, "sub_annual", "charge:year")
    await pay(billing, user, "pack_starter", "charge:pack")  # a replay writes nothing more
    # 31 days on, the second window of the year is due.
    await db.execute(
        "UPDATE billing.subscription_periods SET starts_at = starts_at - interval '31 days', "
        "ends_at = ends_at - interval '31 days' WHERE telegram_id = $1",
        user,
    )
    payments = Payments(db, make_settings(BillingSettings, base_env))
    assert await payments.grant_allowances() == 1
    for _ in range(2):  # a retry writes nothing more
        await billing.RefundPayment(
            pb.RefundPaymentRequest(telegram_payment_charge_id="charge:pack",
                                    reason="changed my mind")
        )  # fmt: skip
    await billing.RefundPayment(pb.RefundPaymentRequest(telegram_payment_charge_id="charge:year"))

    allowance = year.credits_granted
    assert await ledger(billing, user) == [
        ("free", free, str(user), ""),
        ("purchase", pack.credits_granted, "charge:pack", ""),
        ("subscription", year.credits_granted, "charge:year", ""),
        ("subscription", allowance, "charge:year", "allowance"),
        ("refund", -pack.credits_granted, "charge:pack", "changed my mind"),
        ("refund", -(year.credits_granted + allowance), "charge:year", ""),
    ]
    await assert_audited_alike(billing, billing_admin, user)


async def test_referral_rewards_and_their_take_back_reference_the_referred_user(
    billing, billing_admin
):
    referrer, referred = tg(4004), tg(4005)
    code = (await ensure(billing, referrer)).referral_code
    free = (await ensure(billing, referred, referral_code=code)).balance
    paid = await pay(billing, referred, "pack_starter", "charge:referred")
    await billing.RefundPayment(
        pb.RefundPaymentRequest(telegram_payment_charge_id="charge:referred", reason="fraud")
    )

    # The referred user's refund reason stays on the referred user's own entry.
    assert await ledger(billing, referrer) == [
        ("free", free, str(referrer), ""),
        ("referral", 5, str(referred), ""),
        ("referral", -5, str(referred), ""),
    ]
    assert await ledger(billing, referred) == [
        ("free", free, str(referred), ""),
        ("purchase", paid.credits_granted, "charge:referred", ""),
        ("refund", -paid.credits_granted, "charge:referred", "fraud"),
    ]
    for user in (referrer, referred):
        await assert_audited_alike(billing, billing_admin, user)


# The migration (0003) of entries written before.

OWNER, REFERRER = tg(81), tg(82)


@pytest.fixture
async def at_0002(database_url: str) -> AsyncIterator[str]:
    """A database of its own at billing revision 0002."""
    async with database_at(database_url, "ledger_note", "billing_svc.migrations", "0002") as url:
        yield url


async def test_the_upgrade_moves_free_text_out_of_the_reference_where_it_is_exact(at_0002):
    raced, unexplained, expired, held = (uuid.uuid4() for _ in range(4))
    now = datetime.now(UTC)
    conn = await asyncpg.connect(at_0002)
    try:
        for telegram_id in (REFERRER, OWNER):
            await conn.execute(
                "INSERT INTO billing.accounts (telegram_id, referral_code, balance) "
                "VALUES ($1, $2, 10000)",
                telegram_id, f"r{telegram_id}",
            )  # fmt: skip
        for rid, key, purpose, status in (
            (raced, "job-1", "job:1", "released"),
            (unexplained, "job-2", "job:2", "released"),
            (expired, "job-3", "", "released"),
            (held, "job-4", "job:4", "held"),
        ):
            await conn.execute(
                "INSERT INTO billing.reservations (id, telegram_id, amount, status, "
                "idempotency_key, purpose, expires_at, finished_at) "
                "VALUES ($1, $2, 1, $3, $4, $5, $6, $7)",
                rid, OWNER, status, key, purpose, now,
                None if status == "held" else now,
            )  # fmt: skip
        for charge, product, refund_reason, refunded in (
            ("pack-1", "pack_starter", "asked", True),
            ("tg:year:2", "sub_annual", "", False),
        ):
            await conn.execute(
                "INSERT INTO billing.payments (charge_id, telegram_id, product_id, amount, "
                "credits_granted, refunded_at, refund_reason) VALUES ($1, $2, $3, 100, 100, "
                "$4, $5)",
                charge, OWNER, product, now if refunded else None, refund_reason,
            )  # fmt: skip
        await conn.execute(
            "INSERT INTO billing.subscription_periods (telegram_id, product_id, charge_id, "
            "starts_at, ends_at) VALUES ($1, 'sub_annual', 'tg:year:2', $2, $3)",
            OWNER, now - timedelta(days=65), now + timedelta(days=300),
        )  # fmt: skip
        unplaced = f"allowance:{OWNER}:{(now - timedelta(days=400)).isoformat()}"
        # Entries as the previous release wrote them, and what the upgrade makes of them:
        # (telegram id, kind, amount, key, old reference, new reference, new note).
        entries = [
            (OWNER, "free", 10, f"free:{OWNER}", "", str(OWNER), ""),
            (OWNER, "grant", 100, "grant:t:7", "support ticket 7", "t:7", "support ticket 7"),
            (OWNER, "reserve", -1, "reserve:job-1", str(raced), str(raced), "job:1"),
            (OWNER, "release", 1, f"release:{raced}", "race", str(raced), "race"),
            (OWNER, "reserve", -1, "reserve:job-2", str(unexplained), str(unexplained),
             "job:2"),
            (OWNER, "release", 1, f"release:{unexplained}", str(unexplained),
             str(unexplained), ""),
            (OWNER, "reserve", -1, "reserve:job-3", str(expired), str(expired), ""),
            (OWNER, "release", 1, f"release:{expired}", "expired", str(expired), "expired"),
            (OWNER, "reserve", -1, "reserve:job-4", str(held), str(held), "job:4"),
            (OWNER, "purchase", 100, "payment:pack-1", "pack-1", "pack-1", ""),
            (OWNER, "refund", -100, "refund:pack-1", "pack-1", "pack-1", "asked"),
            (OWNER, "subscription", 100, "payment:tg:year:2", "tg:year:2", "tg:year:2", ""),
            (OWNER, "subscription", 100, "allowance:tg:year:2:1", "allowance", "tg:year:2",
             "allowance"),
            # An allowance of the first release that 0002 could not place stays as it is.
            (OWNER, "subscription", 100, unplaced, "allowance", "allowance", ""),
            (REFERRER, "referral", 5, f"referral:{OWNER}", str(OWNER), str(OWNER), ""),
            (REFERRER, "referral", -5, f"referral:{OWNER}:refund", str(OWNER), str(OWNER),
             ""),
        ]  # fmt: skip
        for telegram_id, kind, amount, key, reference, _, _ in entries:
            entry = await conn.fetchval(
                "INSERT INTO billing.ledger (telegram_id, amount, kind, reference, "
                "balance_after, idempotency_key) VALUES ($1, $2, $3, $4, 1000, $5) RETURNING id",
                telegram_id, amount, kind, reference, key,
            )  # fmt: skip
            await conn.execute(
                "INSERT INTO billing.audit_log (actor, action, telegram_id, details) "
                "VALUES ('system', 'credits:' || $1, $2, jsonb_build_object('entry', $3::bigint, "
                "'amount', $4::bigint, 'balance_after', 1000, 'reference', $5::text))",
                kind, telegram_id, entry, amount, reference,
            )  # fmt: skip
        before = await _snapshot(conn)
    finally:
        await conn.close()

    config = alembic_config(at_0002, "billing_svc.migrations")
    await asyncio.to_thread(command.upgrade, config, "head")

    conn = await asyncpg.connect(at_0002)
    try:
        rows = await conn.fetch(
            "SELECT l.idempotency_key, l.reference, l.note, a.details "
            "FROM billing.ledger l JOIN billing.audit_log a ON a.details->>'entry' = l.id::text "
            "ORDER BY l.id"
        )
        assert [(r["idempotency_key"], r["reference"], r["note"]) for r in rows] == [
            (key, reference, note) for _, _, _, key, _, reference, note in entries
        ]
        for row in rows:  # the audit records say the same
            details = json.loads(row["details"])
            assert details["reference"] == row["reference"], row["idempotency_key"]
            assert details.get("note", "") == row["note"], row["idempotency_key"]
    finally:
        await conn.close()

    # Going back restores every row as the previous release wrote it.
    await asyncio.to_thread(command.downgrade, config, "0002")
    conn = await asyncpg.connect(at_0002)
    try:
        assert await _snapshot(conn) == before
    finally:
        await conn.close()


async def _snapshot(conn: asyncpg.Connection) -> list[tuple[object, ...]]:
    rows = await conn.fetch(
        "SELECT l.id, l.idempotency_key, l.reference, a.details::text "
        "FROM billing.ledger l JOIN billing.audit_log a ON a.details->>'entry' = l.id::text "
        "ORDER BY l.id"
    )
    return [tuple(r) for r in rows]
