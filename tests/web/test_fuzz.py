"""The JSON API fuzzed from its own OpenAPI schema (schemathesis and hypothesis), as a
logged-in person and as an admin, with valid and invalid data: no answer is a server error,
every answer matches the schema (status code, content type, body), and a refused request
changes nothing — neither in billing or job_svc nor in the sessions."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import hypothesis
import hypothesis.errors
import schemathesis
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from tests.support.jobs import png
from tests.web.conftest import ADMIN, ALICE, login

#: Examples per operation and mode; FUZZ_EXAMPLES raises it for a longer run.
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "20"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
#: The live stream stays open while its job lives; the fuzzer reads answers whole.
SKIPPED = {"GET /api/jobs/{job_id}/events"}


async def state(db: Any, redis: Any) -> tuple[Any, ...]:
    """Everything a request could change."""
    row = await db.fetchrow(
        "SELECT (SELECT count(*) FROM billing.accounts) AS accounts, "
        "(SELECT coalesce(sum(balance), 0) FROM billing.accounts) AS balances, "
        "(SELECT count(*) FROM billing.accounts WHERE banned) AS banned, "
        "(SELECT string_agg(language, ',' ORDER BY telegram_id) FROM billing.accounts) "
        "AS languages, "
        "(SELECT count(*) FROM billing.ledger) AS ledger, "
        "(SELECT count(*) FROM billing.payments WHERE refunded_at IS NULL) AS payments, "
        "(SELECT count(*) FROM billing.audit_log) AS audit, "
        "(SELECT count(*) FROM billing.reservations) AS holds, "
        "(SELECT string_agg(status || ':' || version, ',' ORDER BY id) FROM jobs.jobs) AS jobs"
    )
    sessions = sorted([key async for key in redis.scan_iter("web:session:*")])
    values = [await redis.get(key) for key in sessions]
    return (*row.values(), tuple(sessions), tuple(values))


def fuzz(
    schema: Any,
    base_url: str,
    people: dict[str, dict[str, str]],
    snapshot: Callable[[], tuple[Any, ...]],
    calls: list[tuple[str, int]],
) -> None:
    """Every operation, positive and negative, as the person its path is for."""
    for operation in schema.get_all_operations():
        api = operation.ok()
        label = f"{api.method.upper()} {api.path}"
        if label in SKIPPED:
            continue
        headers = people["admin" if api.path.startswith("/api/admin") else "person"]
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            fuzz_one(api, label, mode, base_url, headers, snapshot, calls)


def fuzz_one(
    api: Any,
    label: str,
    mode: GenerationMode,
    base_url: str,
    headers: dict[str, str],
    snapshot: Callable[[], tuple[Any, ...]],
    calls: list[tuple[str, int]],
) -> None:
    @hypothesis.settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(hypothesis.HealthCheck),
        phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
    )
    @hypothesis.given(case=api.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        before = snapshot()
        response = case.call(base_url=base_url, headers=headers, timeout=30)
        calls.append((label, response.status_code))
        case.validate_response(response, checks=CHECKS)
        if response.status_code >= 400:
            after = snapshot()
            assert after == before, (
                f"{label} answered {response.status_code} but changed something:\n"
                f"{before}\n{after}\n{response.text[:500]}"
            )

    try:
        run()
    except hypothesis.errors.Unsatisfiable:
        assert mode is GenerationMode.NEGATIVE, f"{label}: no valid request can be made"


async def test_the_api_survives_fuzzing_and_refusals_change_nothing(
    start_web, db, redis, billing, jobs
) -> None:
    web = await start_web(LOGIN_ATTEMPTS_PER_MINUTE=100_000)
    people: dict[str, dict[str, str]] = {}
    async with httpx.AsyncClient(base_url=web.url, timeout=60) as client:
        for who, telegram_id in (("person", ALICE), ("admin", ADMIN)):
            client.cookies.clear()
            token = await login(client, telegram_id)
            people[who] = {
                "x-csrf-token": token,
                "cookie": f"mb_session={client.cookies['mb_session']}",
            }
        # Something to find: a job of the person (queued: no worker runs here).
        made = await client.post(
            "/api/jobs",
            data={"kind": "edit", "quality": "standard", "prompt": "a fox"},
            files={"image": ("in.png", png(), "image/png")},
            headers=people["person"] | {"cookie": people["person"]["cookie"]},
        )
        assert made.status_code == 201, made.text
        document = (await client.get("/openapi.json")).json()
    schema = schemathesis.openapi.from_dict(document)
    loop = asyncio.get_running_loop()

    def snapshot() -> tuple[Any, ...]:
        future: Awaitable[tuple[Any, ...]] = state(db, redis)
        return asyncio.run_coroutine_threadsafe(future, loop).result(60)  # type: ignore[arg-type]

    calls: list[tuple[str, int]] = []
    await asyncio.to_thread(fuzz, schema, web.url, people, snapshot, calls)
    statuses = {code for _, code in calls}
    assert max(statuses) < 500
    assert {200, 400, 401, 404, 422} <= statuses, statuses
    operations = {label for label, _ in calls}
    print(f"{len(calls)} calls over {len(operations)} operations: {sorted(statuses)}")
    assert len(operations) >= 25
