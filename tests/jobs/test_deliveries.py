"""Deliveries to several bot gateways over the real job_svc server: each finished job
goes to exactly one gateway stream at a time, a lease that lapses or a stream that
ends hands it to another, acknowledgements record the Telegram file_ids and count
once."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import grpc
import pytest
from mediabot.jobs.v1 import jobs_pb2 as pb
from mediabot.jobs.v1 import jobs_pb2_grpc

from common.clients import authorized, channel, refusal
from common.errors import InvalidArgument, JobNotFound
from job_svc import watch
from tests.support.ids import tg
from tests.support.jobs import request, user_with, wait_for_status
from tests.support.settings import SERVICE_TOKEN


def lapses_at(offer: pb.WatchDeliveriesResponse) -> datetime:
    """When the lease of a delivery lapses, by the database's clock."""
    return offer.lease_expires_at.ToDatetime()


def taken_at(offer: pb.WatchDeliveriesResponse, lease_seconds: int) -> datetime:
    """When a delivery was leased to its stream, by the database's clock."""
    return lapses_at(offer) - timedelta(seconds=lease_seconds)


def file_id(gateway: str, job_id: str) -> str:
    """A file_id as Telegram gives them, distinct per gateway and job."""
    return f"AgACAgIAAxkBAAI{gateway}{job_id.replace('-', '')}"


class Gateway:
    """A bot gateway replica as job_svc sees it: a connection of its own, one
    WatchDeliveries stream read in the background, and its acknowledgements.

    With `ack_after` set it acknowledges each delivery that long after it arrived,
    one at a time, with a file_id for each result, as a gateway that sends them.
    """

    def __init__(
        self, address: str, name: str, ack_after: float | None = None, **terms: Any
    ) -> None:
        self.name = name
        self._channel = channel(address)
        self.jobs = authorized(jobs_pb2_grpc.JobServiceStub(self._channel), SERVICE_TOKEN)
        self._call = self.jobs.WatchDeliveries(pb.WatchDeliveriesRequest(gateway=name, **terms))
        self._ack_after = ack_after
        #: Every delivery received, in order.
        self.got: list[pb.WatchDeliveriesResponse] = []
        #: The answers to this gateway's acknowledgements, by job id.
        self.acks: dict[str, pb.AckDeliveryResponse] = {}
        self._arrived: asyncio.Queue[pb.WatchDeliveriesResponse] = asyncio.Queue()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for answer in self._call:
            self.got.append(answer)
            self._arrived.put_nowait(answer)
            if self._ack_after is not None:
                await asyncio.sleep(self._ack_after)
                await self.ack(answer.job)

    def ids(self) -> list[str]:
        return [answer.job.id for answer in self.got]

    async def next(self, timeout: float = 10) -> pb.WatchDeliveriesResponse:
        return await asyncio.wait_for(self._arrived.get(), timeout)

    async def nothing_for(self, seconds: float) -> None:
        with pytest.raises(TimeoutError):
            got = await self.next(seconds)
            raise AssertionError(f"{self.name} got {got.job.id}")

    async def ack(self, job: pb.Job, name: str | None = None) -> pb.AckDeliveryResponse:
        sent = [
            pb.SentFile(key=r.key, telegram_file_id=file_id(name or self.name, job.id))
            for r in job.results
        ]
        answer = await self.jobs.AckDelivery(
            pb.AckDeliveryRequest(job_id=job.id, gateway=self.name, sent_files=sent)
        )
        self.acks[job.id] = answer
        return answer

    async def close(self) -> None:
        """The gateway goes away: its stream is cancelled mid-way."""
        self._call.cancel()
        with contextlib.suppress(asyncio.CancelledError, grpc.aio.AioRpcError):
            await self._reader
        await self._channel.close()


@pytest.fixture
async def gateways(jobs_service) -> AsyncIterator[Any]:
    """Opens gateways on the job service under test; closes them after the test."""
    opened: list[Gateway] = []

    def open_gateway(name: str, ack_after: float | None = None, **terms: Any) -> Gateway:
        gateway = Gateway(f"127.0.0.1:{jobs_service.port}", name, ack_after, **terms)
        opened.append(gateway)
        return gateway

    yield open_gateway
    for gateway in opened:
        await gateway.close()


async def create_jobs(jobs, billing, billing_admin, users: range, each: int) -> list[pb.Job]:
    """`each` jobs of every user in `users`, created at once; every fifth will fail."""
    for n in users:
        await user_with(billing, billing_admin, tg(n), 10)
    prompts = [(n, i) for n in users for i in range(each)]
    created = await asyncio.gather(
        *(
            jobs.CreateJob(request(tg(n), "forbidden" if (k % 5 == 4) else f"scene {k}"))
            for k, (n, _) in enumerate(prompts)
        )
    )
    return [answer.job for answer in created]


async def until(condition: Any, seconds: float = 60) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_two_gateways_deliver_every_finished_job_exactly_once(
    jobs, billing, billing_admin, start_worker, gateways, db
):
    a = gateways("gw-a", ack_after=0.02, max_unacked=3)
    b = gateways("gw-b", ack_after=0.02, max_unacked=3)
    await start_worker(LOCAL_LATENCY_SECONDS=0)
    created = await create_jobs(jobs, billing, billing_admin, range(801, 809), 5)
    ids = {job.id for job in created}
    assert len(ids) == 40

    await until(lambda: len(a.acks) + len(b.acks) >= 40, 120)
    await asyncio.sleep(0.5)  # a duplicate would arrive now
    counts = Counter(a.ids() + b.ids())
    assert set(counts) == ids
    assert [i for i, n in counts.items() if n > 1] == [], "delivered twice"
    assert a.got and b.got, "both gateways take part (each holds at most 3)"
    assert {answer.delivery_attempt for answer in a.got + b.got} == {1}
    answers = {**a.acks, **b.acks}
    assert not any(answer.already_delivered for answer in answers.values())
    for gateway in (a, b):
        for answer in gateway.acks.values():
            assert answer.delivered_by == gateway.name and answer.job.delivered
    rows = await db.fetch(
        "SELECT status, delivered_at, delivery_gateway, delivery_stream FROM jobs.jobs"
    )
    assert len(rows) == 40 and {r["status"] for r in rows} == {"succeeded", "failed"}
    assert all(r["delivered_at"] and r["delivery_stream"] is None for r in rows)
    assert {r["delivery_gateway"] for r in rows} == {"gw-a", "gw-b"}


async def test_jobs_finished_while_no_gateway_listened_are_delivered_on_connect_once(
    jobs, billing, billing_admin, start_worker, gateways
):
    await start_worker(LOCAL_LATENCY_SECONDS=0)
    created = await create_jobs(jobs, billing, billing_admin, range(811, 813), 5)
    for job in created:
        await wait_for_status(jobs, job, pb.JOB_STATUS_SUCCEEDED if job.prompt != "forbidden"
                              else pb.JOB_STATUS_FAILED)  # fmt: skip

    a = gateways("gw-a", ack_after=0.05, max_unacked=4)
    b = gateways("gw-b", ack_after=0.05, max_unacked=4)
    await until(lambda: len(a.acks) + len(b.acks) >= 10, 30)
    await asyncio.sleep(0.5)
    counts = Counter(a.ids() + b.ids())
    assert set(counts) == {job.id for job in created}
    assert max(counts.values()) == 1, "delivered twice"
    assert a.got and b.got
    finished_at = [answer.job.finished_at.ToDatetime() for answer in a.got]
    assert finished_at == sorted(finished_at), "the longest waiting first"

    await a.close()
    await b.close()
    later = gateways("gw-c")
    await later.nothing_for(1.5)


async def test_a_delivery_not_acknowledged_within_its_lease_goes_to_another_gateway(
    jobs, billing, billing_admin, start_worker, gateways
):
    await user_with(billing, billing_admin, tg(821), 10)
    silent = gateways("gw-silent", lease_seconds=1)
    await start_worker(LOCAL_LATENCY_SECONDS=0)
    job = (await jobs.CreateJob(request(tg(821)))).job
    first = await silent.next()
    assert (first.job.id, first.delivery_attempt) == (job.id, 1)

    other = gateways("gw-other")
    again = await other.next(10)
    assert (again.job.id, again.delivery_attempt) == (job.id, 2)
    assert taken_at(again, 60) >= lapses_at(first), "not before the lease lapsed"
    recorded = await other.ack(again.job)
    assert not recorded.already_delivered and recorded.delivered_by == "gw-other"

    # The silent gateway did send it after all, and acknowledges late: nothing changes.
    late = await silent.ack(first.job)
    assert late.already_delivered and late.delivered_by == "gw-other"
    assert late.job.version == recorded.job.version
    assert late.job.results[0].telegram_file_id == file_id("gw-other", job.id)
    await silent.nothing_for(1.5)  # its lapsed lease went to the other, and that acked
    await other.nothing_for(0.1)


async def test_a_lone_gateway_gets_back_a_delivery_it_let_lapse(
    jobs, billing, billing_admin, start_worker, gateways
):
    await user_with(billing, billing_admin, tg(822), 10)
    alone = gateways("gw-alone", lease_seconds=1)
    await start_worker(LOCAL_LATENCY_SECONDS=0)
    job = (await jobs.CreateJob(request(tg(822)))).job
    first = await alone.next()
    assert first.delivery_attempt == 1
    again = await alone.next(10)
    assert (again.job.id, again.delivery_attempt) == (job.id, 2)
    # Another gateway could have had it after the lease; this one waits one more.
    assert taken_at(again, 1) >= lapses_at(first) + timedelta(seconds=1)
    assert not (await alone.ack(again.job)).already_delivered
    await alone.nothing_for(1.5)


async def test_a_gateway_that_goes_away_hands_its_deliveries_to_another_at_once(
    jobs, billing, billing_admin, start_worker, gateways, monkeypatch
):
    # No periodic re-reading of the leases: only the release itself can hand them over.
    monkeypatch.setattr(watch, "_DELIVERY_RESCAN", 600.0)
    await user_with(billing, billing_admin, tg(823), 10)
    leaving = gateways("gw-leaving", lease_seconds=300)
    await start_worker(LOCAL_LATENCY_SECONDS=0)
    created = [(await jobs.CreateJob(request(tg(823), f"p{i}"))).job for i in range(3)]
    held = [await leaving.next() for _ in created]
    assert {answer.job.id for answer in held} == {job.id for job in created}
    await leaving.ack(held[0].job)  # delivered before it went away

    staying = gateways("gw-staying")
    await staying.nothing_for(0.5)  # the leases run for 300 s
    started = asyncio.get_running_loop().time()
    await leaving.close()
    taken = [await staying.next(10), await staying.next(10)]
    assert asyncio.get_running_loop().time() - started < 10, "at once, not after the lease"
    assert {answer.job.id for answer in taken} == {held[1].job.id, held[2].job.id}
    assert {answer.delivery_attempt for answer in taken} == {2}
    for answer in taken:
        assert not (await staying.ack(answer.job)).already_delivered
    await staying.nothing_for(1)


async def test_a_stream_holds_at_most_max_unacked_deliveries(
    jobs, billing, billing_admin, start_worker, gateways
):
    await user_with(billing, billing_admin, tg(824), 10)
    await start_worker(LOCAL_LATENCY_SECONDS=0)
    created = [(await jobs.CreateJob(request(tg(824), f"p{i}"))).job for i in range(3)]
    for job in created:
        await wait_for_status(jobs, job, pb.JOB_STATUS_SUCCEEDED)
    narrow = gateways("gw-narrow", max_unacked=1)
    seen = []
    for _ in created:
        seen.append(await narrow.next(5))
        await narrow.nothing_for(0.5)  # the next one waits for this acknowledgement
        await narrow.ack(seen[-1].job)
    assert {answer.job.id for answer in seen} == {job.id for job in created}
    finished_at = [answer.job.finished_at.ToDatetime() for answer in seen]
    assert finished_at == sorted(finished_at), "the longest waiting first"


async def test_an_acknowledgement_records_the_file_ids_and_counts_once(
    jobs, billing, billing_admin, start_worker, gateways
):
    user = tg(825)
    await user_with(billing, billing_admin, user, 10)
    gateway = gateways("gw-a")
    await start_worker(LOCAL_LATENCY_SECONDS=0)
    job = (await jobs.CreateJob(request(user))).job
    offered = (await gateway.next()).job
    key = offered.results[0].key
    assert offered.results[0].telegram_file_id == "" and not offered.delivered

    for wrong, field in (
        ([pb.SentFile(key="jobs/other/1/result.png", telegram_file_id="x")], "sent_files"),
        ([pb.SentFile(key=key, telegram_file_id="x")] * 2, "sent_files"),
        ([pb.SentFile(key=key, telegram_file_id="")], "sent_files.telegram_file_id"),
        ([pb.SentFile(key=key, telegram_file_id="a\nb")], "sent_files.telegram_file_id"),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await jobs.AckDelivery(pb.AckDeliveryRequest(job_id=job.id, sent_files=wrong))
        refused = refusal(err.value)
        assert isinstance(refused, InvalidArgument) and refused.figures["field"] == field

    first = await jobs.AckDelivery(
        pb.AckDeliveryRequest(
            job_id=job.id,
            gateway="gw-a",
            sent_files=[pb.SentFile(key=key, telegram_file_id="AgACAgIAAxkBAAIBZ2first")],
        )
    )
    assert not first.already_delivered and first.delivered_by == "gw-a"
    assert first.job.delivered and first.job.version == offered.version + 1
    assert first.job.results[0].telegram_file_id == "AgACAgIAAxkBAAIBZ2first"

    shown = (await jobs.GetJob(pb.GetJobRequest(job_id=job.id, telegram_id=user))).job
    listed = (await jobs.ListJobs(pb.ListJobsRequest(telegram_id=user))).jobs
    urls = await jobs.GetResultUrls(pb.GetResultUrlsRequest(job_id=job.id, telegram_id=user))
    for result in (shown.results[0], listed[0].results[0], urls.urls[0].file):
        assert result.key == key and result.telegram_file_id == "AgACAgIAAxkBAAIBZ2first"

    for repeat in (
        pb.AckDeliveryRequest(job_id=job.id, gateway="gw-a"),
        pb.AckDeliveryRequest(
            job_id=job.id,
            gateway="gw-b",
            sent_files=[pb.SentFile(key=key, telegram_file_id="AgACAgIAAxkBAAIBZ2second")],
        ),
    ):
        again = await jobs.AckDelivery(repeat)
        assert again.already_delivered and again.delivered_by == "gw-a"
        assert again.job == first.job, "a repeated acknowledgement changes nothing"
    assert (await jobs.GetJob(pb.GetJobRequest(job_id=job.id, telegram_id=user))).job == first.job
    await gateway.nothing_for(1)


async def test_a_failed_job_is_acknowledged_without_files(
    jobs, billing, billing_admin, start_worker, gateways
):
    await user_with(billing, billing_admin, tg(826), 10)
    gateway = gateways("gw-a")
    await start_worker(LOCAL_LATENCY_SECONDS=0)
    job = (await jobs.CreateJob(request(tg(826), "forbidden"))).job
    offered = await gateway.next()
    assert (offered.job.id, offered.job.status) == (job.id, pb.JOB_STATUS_FAILED)
    answer = await gateway.ack(offered.job)
    assert not answer.already_delivered and answer.job.delivered and not answer.job.results


async def test_delivery_terms_and_acknowledgements_of_unfinished_jobs_are_refused(
    jobs, billing, billing_admin
):
    await user_with(billing, billing_admin, tg(827), 10)
    queued = (await jobs.CreateJob(request(tg(827)))).job  # no worker runs: it stays queued
    for job_id in ("00000000-0000-4000-8000-000000000000", queued.id):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await jobs.AckDelivery(pb.AckDeliveryRequest(job_id=job_id))
        assert isinstance(refusal(err.value), JobNotFound)
    for terms, field in (
        ({"lease_seconds": 3601}, "lease_seconds"),
        ({"lease_seconds": -1}, "lease_seconds"),
        ({"max_unacked": 1001}, "max_unacked"),
        ({"gateway": "a\nb"}, "gateway"),
        ({"gateway": "g" * 65}, "gateway"),
    ):
        stream = jobs.WatchDeliveries(pb.WatchDeliveriesRequest(**terms))
        with pytest.raises(grpc.aio.AioRpcError) as err:
            async for _ in stream:
                pass
        refused = refusal(err.value)
        assert isinstance(refused, InvalidArgument) and refused.figures["field"] == field
