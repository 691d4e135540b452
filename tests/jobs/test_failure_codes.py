"""Why a job failed, as a code: the migration that gives failed jobs of before their
code where the service's own words say it exactly, and leaves a provider's words alone."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from alembic import command

from common.server.migrate import alembic_config
from job_svc.model import Failure
from tests.support.ids import tg
from tests.support.migrations import database_at

#: A failed job's error as the service wrote it before codes, and the code it gets.
BEFORE: list[tuple[str, str | None]] = [
    ("internal error; the credits were refunded", "internal"),
    ("the job waited too long and its credits were refunded", "expired"),
    ("the job could not be completed in 5 attempts; the credits were refunded",
     "too_many_attempts"),
    ("the provider kept failing, please try again later (the provider had a temporary "
     "failure (503))", "provider_unavailable"),
    ("the provider gemini is gone; the credits were refunded", "provider_gone"),
    ("the request was blocked by the safety filter", "safety_block"),
    ("the input image could not be read (send a PNG, JPEG or WebP picture)", "bad_input"),
    # A provider's own words: which failure they mean is not certain, so no code.
    ("the provider rejected the request: Invalid value at 'contents'", None),
    ("the image was blocked by the safety filter", None),
]  # fmt: skip


@pytest.fixture
async def at_0003(database_url: str) -> AsyncIterator[str]:
    """A database of its own at job revision 0003."""
    async with database_at(database_url, "job_failure", "job_svc.migrations", "0003") as url:
        yield url


async def test_the_upgrade_codes_the_failures_the_service_worded_itself(at_0003):
    conn = await asyncpg.connect(at_0003)
    try:
        ids = {}
        for n, (error, _) in enumerate(BEFORE):
            ids[error] = await conn.fetchval(
                "INSERT INTO jobs.jobs (id, telegram_id, client_key, kind, quality, prompt, "
                "provider, lane, status, cost, charge, error, finished_at) VALUES "
                "($1, $2, $3, 'image', 'standard', 'a fox', 'local', 'normal', 'failed', 1, "
                "'released', $4, now()) RETURNING id",
                uuid.uuid4(), tg(8700), f"k{n}", error,
            )  # fmt: skip
        cancelled = await conn.fetchval(
            "INSERT INTO jobs.jobs (id, telegram_id, client_key, kind, quality, prompt, "
            "provider, lane, status, cost, charge, error, finished_at) VALUES "
            "($1, $2, 'c', 'image', 'standard', 'a fox', 'local', 'normal', 'cancelled', 1, "
            "'released', 'cancelled', now()) RETURNING id",
            uuid.uuid4(), tg(8700),
        )  # fmt: skip
    finally:
        await conn.close()

    await asyncio.to_thread(command.upgrade, alembic_config(at_0003, "job_svc.migrations"), "head")

    conn = await asyncpg.connect(at_0003)
    try:
        coded = {
            r["id"]: r["failure"] for r in await conn.fetch("SELECT id, failure FROM jobs.jobs")
        }
        assert {error: coded[ids[error]] for error, _ in BEFORE} == dict(BEFORE)
        assert coded[cancelled] is None
        with pytest.raises(asyncpg.CheckViolationError):
            await conn.execute("UPDATE jobs.jobs SET failure = 'made_up' WHERE id = $1", cancelled)
        for failure in Failure:  # the schema takes every code the service records
            await conn.execute(
                "UPDATE jobs.jobs SET failure = $1 WHERE id = $2", failure.value, cancelled
            )
    finally:
        await conn.close()
    await asyncio.to_thread(
        command.downgrade, alembic_config(at_0003, "job_svc.migrations"), "0003"
    )
