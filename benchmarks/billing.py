"""ReserveCredits + CaptureReservation through gRPC against the same two
transactions issued directly with asyncpg (the ceiling)."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
from mediabot.billing.v1 import billing_pb2 as pb
from mediabot.billing.v1 import billing_pb2_grpc

from benchmarks.harness import SECRETS, Result, process, run_concurrently, seed_accounts, table
from billing_svc.reservations import Reservations
from common.clients import authorized, channel

CALLERS = 64
CHANNELS = 8
PAIRS = 6000
USERS = 64


async def _seed(url: str) -> None:
    await seed_accounts(url, USERS, 10_000_000)


async def _direct(url: str) -> Result:
    pool = await asyncpg.create_pool(url, min_size=20, max_size=20)
    reservations = Reservations(pool)
    run = uuid.uuid4().hex

    async def pair(i: int) -> None:
        row, _, _ = await reservations.reserve(i % USERS + 1, 1, f"d{run}{i}", "bench", 0)
        await reservations.capture(str(row["id"]))

    try:
        await run_concurrently("warm-up", pair, CALLERS, 500)
        return await run_concurrently("direct asyncpg (Reservations)", pair, CALLERS, PAIRS)
    finally:
        await pool.close()


async def _grpc(address: str) -> Result:
    channels = [channel(address) for _ in range(CHANNELS)]
    token = SECRETS["SERVICE_TOKEN"]
    stubs = [authorized(billing_pb2_grpc.BillingServiceStub(c), token) for c in channels]
    run = uuid.uuid4().hex

    async def pair(i: int) -> None:
        stub = stubs[i % CHANNELS]
        held = await stub.ReserveCredits(
            pb.ReserveCreditsRequest(telegram_id=i % USERS + 1, amount=1,
                                     idempotency_key=f"g{run}{i}")
        )  # fmt: skip
        await stub.CaptureReservation(
            pb.CaptureReservationRequest(reservation_id=held.reservation.id)
        )

    try:
        await run_concurrently("warm-up", pair, CALLERS, 500)
        return await run_concurrently("gRPC billing_svc (separate process)", pair, CALLERS, PAIRS)
    finally:
        await asyncio.gather(*(c.close() for c in channels))


#: Each path runs this many times, interleaved; the best run of each counts, so
#: that a burst of outside load on a shared machine hurts neither path alone.
ROUNDS = 2


def run(env: dict[str, str]) -> str:
    asyncio.run(_seed(env["DATABASE_URL"]))
    directs, via_grpcs = [], []
    with process("billing_svc", env, "BILLING_GRPC_ADDR") as address:
        for _ in range(ROUNDS):
            directs.append(asyncio.run(_direct(env["DATABASE_URL"])))
            via_grpcs.append(asyncio.run(_grpc(address)))
    direct = max(directs, key=lambda r: r.rate)
    via_grpc = max(via_grpcs, key=lambda r: r.rate)
    title = (f"Reserve+Capture pairs, {CALLERS} concurrent callers, {PAIRS} pairs "
             f"over {USERS} accounts, best of {ROUNDS} interleaved runs each "
             "(ratio to the direct path)")  # fmt: skip
    return table(title, [direct, via_grpc], direct, "pairs")
