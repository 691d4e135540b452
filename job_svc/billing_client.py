"""job_svc's view of billing_svc: users and holds, with billing's errors as ours."""

from __future__ import annotations

import time
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import grpc
from mediabot.billing.v1 import billing_pb2 as pb
from mediabot.billing.v1 import billing_pb2_grpc

from common.clients import authorized, channel, refusal
from common.errors import (
    AlreadyExists,
    FailedPrecondition,
    HoldExpired,
    NotFound,
    Unavailable,
    UpstreamRefused,
)

T = TypeVar("T")

#: Holds live a day: far longer than a job usually waits and runs. The reconciler
#: settles every finished job long before, and extends the holds of jobs that are
#: still unfinished, so billing's sweeper only catches holds nobody looks after.
HOLD_TTL_SECONDS = 24 * 3600
PAYER_TTL_SECONDS = 2.0
#: Deadline of every call: a billing_svc that hangs must not hold a job (or its
#: creating row, or a worker slot) forever. DEADLINE_EXCEEDED leaves the outcome
#: unknown, like UNAVAILABLE.
CALL_SECONDS = 10.0

#: Refusals of billing that job_svc passes on as they are (the named errors of
#: their reasons: UserNotFound, AccountBlocked, InsufficientCredits, HoldReleased…).
_PASS_THROUGH = (NotFound, FailedPrecondition, AlreadyExists)
#: Billing refused the call as such: nothing changed, and the same call will be
#: refused again. Every other status (UNAVAILABLE, DEADLINE_EXCEEDED, INTERNAL, …)
#: leaves the outcome unknown: the call may have taken effect, and may be repeated.
_REFUSED = {
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.UNAUTHENTICATED,
    grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.UNIMPLEMENTED,
    grpc.StatusCode.OUT_OF_RANGE,
}


@dataclass(frozen=True)
class Payer:
    """What job_svc needs to know of a user."""

    telegram_id: int
    banned: bool
    pro: bool


@dataclass(frozen=True)
class Hold:
    """A job's price held in billing."""

    id: str
    pro: bool
    expires_at: datetime


class BillingClient:
    """Calls billing_svc with the service credential."""

    def __init__(self, address: str, token: str) -> None:
        self._channel = channel(address)
        self._stub = authorized(
            billing_pb2_grpc.BillingServiceStub(self._channel), token, timeout=CALL_SECONDS
        )
        self._payers: dict[int, tuple[float, Payer]] = {}

    async def close(self) -> None:
        await self._channel.close()

    @staticmethod
    async def _call(call: Awaitable[T]) -> T:
        try:
            return await call
        except grpc.aio.AioRpcError as exc:
            error = refusal(exc)
            if isinstance(error, _PASS_THROUGH):
                raise error from None
            if exc.code() in _REFUSED:
                raise UpstreamRefused(
                    f"billing refused the call ({exc.code().name}): {error}"
                ) from None
            raise Unavailable(f"billing: {error}") from None

    async def payer(self, telegram_id: int) -> Payer:
        """Ban and tier of a user, remembered for PAYER_TTL_SECONDS.

        A ban reaches job creation within that time; billing itself refuses
        to hold credits of a banned user at once.
        """
        now = time.monotonic()
        cached = self._payers.get(telegram_id)
        if cached is not None and now - cached[0] < PAYER_TTL_SECONDS:
            return cached[1]
        answer = await self._call(self._stub.GetUser(pb.GetUserRequest(telegram_id=telegram_id)))
        user = answer.user
        payer = Payer(user.telegram_id, user.banned, user.tier == pb.TIER_PRO)
        if len(self._payers) > 100_000:
            self._payers.clear()
        self._payers[telegram_id] = (now, payer)
        return payer

    async def reserve(self, telegram_id: int, amount: int, job_id: str) -> Hold:
        """Hold the job's price; the key is the job id, so a retry holds once.

        Billing refuses the hold of an unknown (UserNotFound) or banned
        (AccountBlocked) user, or one without the credits (InsufficientCredits).
        A retry more than a day after the first attempt may find that hold
        already expired: that job cannot be charged (HoldExpired).
        """
        answer = await self._call(
            self._stub.ReserveCredits(
                pb.ReserveCreditsRequest(
                    telegram_id=telegram_id,
                    amount=amount,
                    idempotency_key=f"job:{job_id}",
                    purpose=f"job:{job_id}",
                    ttl_seconds=HOLD_TTL_SECONDS,
                )
            )
        )
        held = answer.reservation
        if held.status != pb.RESERVATION_STATUS_HELD:
            raise HoldExpired("the job could not be charged in time; please try again")
        expires_at = held.expires_at.ToDatetime(UTC)
        if expires_at < datetime.now(UTC) + timedelta(seconds=HOLD_TTL_SECONDS / 2):
            # A hold found again long after it was made: keep the sweeper off it.
            expires_at = await self.extend(str(held.id))
        return Hold(str(held.id), answer.tier == pb.TIER_PRO, expires_at)

    async def extend(self, reservation_id: str) -> datetime:
        """Move the hold's expiry to HOLD_TTL_SECONDS from now; returns the new expiry."""
        answer = await self._call(
            self._stub.ExtendReservation(
                pb.ExtendReservationRequest(
                    reservation_id=reservation_id, ttl_seconds=HOLD_TTL_SECONDS
                )
            )
        )
        return answer.reservation.expires_at.ToDatetime(UTC)

    async def capture(self, reservation_id: str) -> None:
        await self._call(
            self._stub.CaptureReservation(
                pb.CaptureReservationRequest(reservation_id=reservation_id)
            )
        )

    async def release(self, reservation_id: str, reason: str) -> None:
        await self._call(
            self._stub.ReleaseReservation(
                pb.ReleaseReservationRequest(
                    reservation_id=reservation_id, reason=_printable(reason)[:200]
                )
            )
        )


def _printable(text: str) -> str:
    """A reason billing accepts: provider errors may carry control characters."""
    return "".join(c if c.isprintable() or c in "\n\t" else " " for c in text)
