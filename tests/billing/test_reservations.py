"""Reservations: concurrency, idempotency, capture/release exactly once, expiry."""

from __future__ import annotations

import asyncio

import asyncpg
import grpc
import pytest
from mediabot.billing.v1 import billing_pb2 as pb
from mediabot.billing.v1 import billing_pb2_grpc

from common.clients import authorized, channel
from tests.support.settings import SERVICE_TOKEN, new_key


async def make_user(billing, telegram_id: int = 1001, credits: int = 0, admin=None) -> None:
    await billing.EnsureUser(pb.EnsureUserRequest(telegram_id=telegram_id, username="u"))
    if admin is not None and credits:
        await admin.GrantCredits(
            pb.GrantCreditsRequest(
                telegram_id=telegram_id, amount=credits, reason="test", idempotency_key=new_key()
            )
        )


async def balance(billing, telegram_id: int = 1001) -> int:
    return (await billing.GetBalance(pb.GetBalanceRequest(telegram_id=telegram_id))).balance


async def test_1000_concurrent_reserves_on_100_credits_let_exactly_100_through(
    billing_addr, billing, billing_admin, db
):
    await make_user(billing)
    free = await balance(billing)
    await billing_admin.GrantCredits(
        pb.GrantCreditsRequest(
            telegram_id=1001, amount=100 - free, reason="top up", idempotency_key="top"
        )
    )
    assert await balance(billing) == 100
    channels = [channel(billing_addr) for _ in range(64)]
    stubs = [authorized(billing_pb2_grpc.BillingServiceStub(c), SERVICE_TOKEN) for c in channels]

    async def reserve(i: int) -> grpc.StatusCode:
        try:
            await stubs[i % 64].ReserveCredits(
                pb.ReserveCreditsRequest(telegram_id=1001, amount=1, idempotency_key=f"k{i}")
            )
            return grpc.StatusCode.OK
        except grpc.aio.AioRpcError as exc:
            return exc.code()

    try:
        codes = await asyncio.gather(*(reserve(i) for i in range(1000)))
    finally:
        await asyncio.gather(*(c.close() for c in channels))
    assert codes.count(grpc.StatusCode.OK) == 100
    assert codes.count(grpc.StatusCode.FAILED_PRECONDITION) == 900
    assert await balance(billing) == 0
    assert await db.fetchval("SELECT count(*) FROM billing.reservations") == 100


async def test_one_key_sent_50_times_concurrently_reserves_once(billing, billing_admin, db):
    await make_user(billing, credits=100, admin=billing_admin)
    before = await balance(billing)
    request = pb.ReserveCreditsRequest(telegram_id=1001, amount=7, idempotency_key="job:42")
    answers = await asyncio.gather(*(billing.ReserveCredits(request) for _ in range(50)))
    assert len({a.reservation.id for a in answers}) == 1
    assert len({a.SerializeToString(deterministic=True) for a in answers}) == 1
    assert await balance(billing) == before - 7
    assert await db.fetchval("SELECT count(*) FROM billing.reservations") == 1
    assert await db.fetchval("SELECT count(*) FROM billing.ledger WHERE kind = 'reserve'") == 1


async def test_a_key_reused_for_another_amount_is_refused(billing, billing_admin):
    await make_user(billing, credits=100, admin=billing_admin)
    await billing.ReserveCredits(
        pb.ReserveCreditsRequest(telegram_id=1001, amount=5, idempotency_key="same")
    )
    before = await balance(billing)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await billing.ReserveCredits(
            pb.ReserveCreditsRequest(telegram_id=1001, amount=6, idempotency_key="same")
        )
    assert err.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert await balance(billing) == before


async def test_capture_then_release_is_refused(billing, billing_admin):
    await make_user(billing, credits=10, admin=billing_admin)
    held = await billing.ReserveCredits(
        pb.ReserveCreditsRequest(telegram_id=1001, amount=4, idempotency_key=new_key())
    )
    rid = held.reservation.id
    captured = await billing.CaptureReservation(pb.CaptureReservationRequest(reservation_id=rid))
    assert captured.reservation.status == pb.RESERVATION_STATUS_CAPTURED
    again = await billing.CaptureReservation(pb.CaptureReservationRequest(reservation_id=rid))
    assert again.reservation.status == pb.RESERVATION_STATUS_CAPTURED
    before = await balance(billing)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await billing.ReleaseReservation(pb.ReleaseReservationRequest(reservation_id=rid))
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "captured" in (err.value.details() or "")
    assert await balance(billing) == before


async def test_release_twice_concurrently_refunds_once_and_blocks_capture(
    billing, billing_admin, db
):
    await make_user(billing, credits=10, admin=billing_admin)
    start = await balance(billing)
    held = await billing.ReserveCredits(
        pb.ReserveCreditsRequest(telegram_id=1001, amount=4, idempotency_key=new_key())
    )
    rid = held.reservation.id
    answers = await asyncio.gather(
        *(billing.ReleaseReservation(pb.ReleaseReservationRequest(reservation_id=rid))
          for _ in range(20))
    )  # fmt: skip
    assert {a.reservation.status for a in answers} == {pb.RESERVATION_STATUS_RELEASED}
    assert await balance(billing) == start
    assert await db.fetchval("SELECT count(*) FROM billing.ledger WHERE kind = 'release'") == 1
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await billing.CaptureReservation(pb.CaptureReservationRequest(reservation_id=rid))
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert await balance(billing) == start


async def test_the_sweeper_releases_an_abandoned_reservation(
    billing, billing_admin, billing_service, db: asyncpg.Pool
):
    from billing_svc.reservations import Reservations

    await make_user(billing, credits=10, admin=billing_admin)
    start = await balance(billing)
    abandoned = await billing.ReserveCredits(
        pb.ReserveCreditsRequest(telegram_id=1001, amount=3, idempotency_key=new_key(),
                                 ttl_seconds=60)
    )  # fmt: skip
    alive = await billing.ReserveCredits(
        pb.ReserveCreditsRequest(telegram_id=1001, amount=2, idempotency_key=new_key(),
                                 ttl_seconds=60)
    )  # fmt: skip
    await billing.ExtendReservation(
        pb.ExtendReservationRequest(reservation_id=alive.reservation.id, ttl_seconds=3600)
    )
    # Time passes: the abandoned hold's expiry is now behind us.
    await db.execute(
        "UPDATE billing.reservations SET expires_at = now() - interval '1 second' "
        "WHERE id = $1::uuid", abandoned.reservation.id,
    )  # fmt: skip
    assert await Reservations(db).sweep_expired() == 1
    assert await Reservations(db).sweep_expired() == 0
    assert await balance(billing) == start - 2
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await billing.CaptureReservation(
            pb.CaptureReservationRequest(reservation_id=abandoned.reservation.id)
        )
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    audit = await db.fetchval(
        "SELECT count(*) FROM billing.audit_log WHERE action = 'reservation_expired'"
    )
    assert audit == 1


async def test_not_enough_credits_changes_nothing(billing, db):
    await make_user(billing)
    start = await balance(billing)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await billing.ReserveCredits(
            pb.ReserveCreditsRequest(telegram_id=1001, amount=start + 1, idempotency_key="x")
        )
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "not enough credits" in (err.value.details() or "")
    assert await db.fetchval("SELECT count(*) FROM billing.reservations") == 0
    assert await balance(billing) == start


async def test_a_banned_users_credits_cannot_be_held(billing, billing_admin, db):
    await make_user(billing, credits=10, admin=billing_admin)
    before = await balance(billing)
    await billing_admin.SetBanned(pb.SetBannedRequest(telegram_id=1001, banned=True))
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await billing.ReserveCredits(
            pb.ReserveCreditsRequest(telegram_id=1001, amount=1, idempotency_key="b")
        )
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "blocked" in (err.value.details() or "")
    assert await db.fetchval("SELECT count(*) FROM billing.reservations") == 0
    assert await balance(billing) == before
