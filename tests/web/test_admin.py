"""The admin page and its API: stats, users, grants and bans, jobs and retries, payments and
refunds, the audit log — every action through the admin RPCs as `web:<admin's id>`."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

import httpx
import pytest

from devstack.telegram.client import UserSide
from tests.web.bot_part import bot_part
from tests.web.conftest import ADMIN, ALICE, BOB, BOT_TOKEN, eventually, login, page_csrf

ACTOR = f"admin:web:{ADMIN}"


@pytest.fixture
async def admin(web) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=web.url, timeout=30) as client:
        await login(client, ADMIN)
        yield client


@pytest.fixture
async def alice(web) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=web.url, timeout=30) as client:
        await login(client, ALICE, username="alice")
        yield client


async def test_an_admin_grants_credits_and_it_is_audited(web, admin, alice):
    granted = await admin.post(
        f"/api/admin/users/{ALICE}/grant",
        json={"amount": 25, "reason": "support ticket 7", "idempotency_key": "t7"},
    )
    assert granted.status_code == 200 and granted.json() == {"balance": 35}
    again = await admin.post(
        f"/api/admin/users/{ALICE}/grant",
        json={"amount": 25, "reason": "support ticket 7", "idempotency_key": "t7"},
    )
    assert again.json() == {"balance": 35}
    page = await admin.get(f"/admin/users/{ALICE}")
    key = re.search(r'name="idempotency_key" value="([^"]+)"', page.text).group(1)
    form = await admin.post(
        f"/admin/users/{ALICE}/grant",
        data={"amount": "-5", "reason": "typo", "idempotency_key": key,
              "csrf_token": page_csrf(page.text)},
    )  # fmt: skip
    assert form.status_code == 303 and form.headers["location"].endswith("?done=granted")
    assert (await alice.get("/api/me")).json()["balance"] == 30
    audit = (await admin.get("/api/admin/audit", params={"action": "grant"})).json()
    assert [(e["actor"], e["telegram_id"]) for e in audit["entries"]] == [(ACTOR, ALICE)] * 2
    shown = await admin.get(f"/admin/audit?actor={ACTOR}")
    assert shown.text.count("<tr>") == 1 + 4  # header, 2 grants and their 2 ledger entries


async def test_an_admin_bans_a_user_who_then_sees_it(web, admin, alice):
    page = await admin.get(f"/admin/users/{ALICE}")
    banned = await admin.post(
        f"/admin/users/{ALICE}/ban",
        data={"banned": "true", "reason": "spam", "csrf_token": page_csrf(page.text)},
    )
    assert banned.status_code == 303
    assert (await alice.get("/api/me")).json()["banned"] is True
    home = await alice.get("/cabinet")
    assert 'id="banned"' in home.text and "blocked" in home.text
    refused = await alice.post(
        "/api/jobs", data={"kind": "image", "quality": "standard", "prompt": "x"}
    )
    assert refused.status_code == 403 and refused.json()["error"]["reason"] == "ACCOUNT_BLOCKED"
    found = (await admin.get("/api/admin/users", params={"query": "alice"})).json()
    assert [u["banned"] for u in found["users"]] == [True]
    unbanned = await admin.post(f"/api/admin/users/{ALICE}/ban", json={"banned": False})
    assert unbanned.json()["banned"] is False
    actions = (await admin.get("/api/admin/audit", params={"telegram_id": ALICE})).json()
    assert [e["action"] for e in actions["entries"]][:2] == ["unban", "ban"]


async def test_an_admin_filters_jobs_and_retries_a_cancelled_one(web, admin, alice, start_worker):
    job = (
        await alice.post(
            "/api/jobs", data={"kind": "image", "quality": "standard", "prompt": "a fox"}
        )
    ).json()
    await alice.post(f"/api/jobs/{job['id']}/cancel")
    listed = (await admin.get("/api/admin/jobs", params={"status": "cancelled"})).json()
    assert [j["id"] for j in listed["jobs"]] == [job["id"]]
    assert (await admin.get("/api/admin/jobs", params={"status": "failed"})).json()["jobs"] == []
    by_user = (await admin.get("/api/admin/jobs", params={"telegram_id": BOB})).json()
    assert by_user["jobs"] == []
    by_provider = (await admin.get("/api/admin/jobs", params={"provider": "local"})).json()
    assert len(by_provider["jobs"]) == 1
    view = await admin.get(f"/admin/jobs/{job['id']}?telegram_id={ALICE}")
    assert view.status_code == 200 and "a fox" in view.text
    anyones = await admin.get(f"/api/admin/jobs/{job['id']}")
    assert anyones.status_code == 200 and anyones.json()["telegram_id"] == ALICE
    retried = await admin.post(
        f"/admin/jobs/{job['id']}/retry", data={"csrf_token": page_csrf(view.text)}
    )
    assert retried.status_code == 303 and "done=retried" in retried.headers["location"]
    listed = (await admin.get("/api/admin/jobs", params={"telegram_id": ALICE})).json()
    new = listed["jobs"][0]
    assert new["retry_of"] == job["id"] and new["status"] in ("queued", "running")
    again = await admin.post(f"/api/admin/jobs/{new['id']}/retry")
    assert again.status_code == 409 and again.json()["error"]["reason"] == "JOB_NOT_RETRYABLE"
    await start_worker()
    stats = (await admin.get("/api/admin/stats")).json()
    assert stats["users_total"] == 2 and stats["jobs_by_status"]["cancelled"] == 1
    assert (await admin.get("/admin")).status_code == 200


async def test_an_admin_refunds_a_payment_in_billing_then_at_telegram(web, admin, alice, billing):
    link = (await alice.post("/api/invoices", json={"product_id": "pack_starter"})).json()
    async with (
        UserSide(web.telegram.url) as people,
        bot_part(web.telegram.url, BOT_TOKEN, billing) as bot,
    ):
        await people.user(ALICE, "Alice")
        paid = await people.pay(BOT_TOKEN.split(":")[0], ALICE, link=link["link"])
        assert paid["status"] == "paid"
        await eventually(lambda: asyncio.sleep(0, bool(bot.completed)))
    stats = (await admin.get("/api/admin/stats")).json()
    assert (stats["paying_users"], stats["payments_total"]) == (1, 1)
    assert stats["stars_revenue"] == 50
    payments = (await admin.get("/api/admin/payments")).json()["payments"]
    charge = payments[0]["charge_id"]
    page = await admin.get("/admin/payments")
    assert f'data-charge="{charge}"' in page.text
    refunded = await admin.post(
        f"/admin/payments/{charge}/refund",
        data={"reason": "asked", "csrf_token": page_csrf(page.text)},
    )
    assert refunded.status_code == 303
    assert (await alice.get("/api/me")).json()["balance"] == 10
    async with httpx.AsyncClient() as raw:
        at_telegram = (await raw.get(f"{web.telegram.url}/_local/payments")).json()
    assert [p["refunded"] for p in at_telegram if p["charge_id"] == charge] == [True]
    again = await admin.post(f"/api/admin/payments/{charge}/refund", json={"reason": "again"})
    assert again.status_code == 200 and again.json()["payment"]["refunded"]
    audit = (await admin.get("/api/admin/audit", params={"action": "refund"})).json()
    assert [e["actor"] for e in audit["entries"]] == [ACTOR]
