"""Logging in: the Mini App's initData checked as Telegram specifies, the bot's signed link,
sessions in Redis, CSRF on every state-changing request, and admins only on admin URLs."""

from __future__ import annotations

import asyncio
import time
import urllib.parse

import httpx
import pytest
from fastapi.routing import APIRoute
from mediabot.billing.v1 import billing_pb2 as bpb

from common import cabinet_token
from tests.support.ids import tg
from tests.web.conftest import (
    ADMIN,
    ALICE,
    BOB,
    OTHER_BOT_TOKEN,
    WEBAPP_SECRET,
    init_data,
    login,
    page_csrf,
)
from webapp.routes import admin


async def sessions(redis) -> list[bytes]:
    return [key async for key in redis.scan_iter("web:session:*")]


async def users(db, telegram_id: int) -> int:
    return int(
        await db.fetchval(
            "SELECT count(*) FROM billing.accounts WHERE telegram_id = $1", telegram_id
        )
    )


def tampered(data: str, field: str, value: str) -> str:
    pairs = urllib.parse.parse_qsl(data, keep_blank_values=True)
    return urllib.parse.urlencode([(k, value if k == field else v) for k, v in pairs])


def without(data: str, field: str) -> str:
    pairs = urllib.parse.parse_qsl(data, keep_blank_values=True)
    return urllib.parse.urlencode([(k, v) for k, v in pairs if k != field])


async def test_genuine_init_data_creates_the_user_and_starts_a_session(client, db, redis):
    answer = await client.post(
        "/auth/telegram",
        data={"init_data": init_data(ALICE, username="alice", language_code="ru")},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["telegram_id"] == ALICE
    cookie = answer.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "path=/" in cookie
    assert len(await sessions(redis)) == 1
    me = (await client.get("/api/me")).json()
    assert (me["telegram_id"], me["username"], me["language"]) == (ALICE, "alice", "ru")
    assert me["balance"] == 10 and me["tier"] == "free" and not me["is_admin"]
    assert me["referral_link"] == f"https://t.me/mediabot_test_bot?start=ref_{me['referral_code']}"
    assert await users(db, ALICE) == 1


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(
            lambda d: tampered(d, "user", d.split("user=")[1].split("&")[0].replace("Ann", "Eve")),
            id="a changed field",
        ),
        pytest.param(
            lambda d: tampered(d, "auth_date", str(int(time.time()) - 5)), id="a changed auth_date"
        ),
        pytest.param(lambda d: tampered(d, "hash", "0" * 64), id="a wrong hash"),
        pytest.param(lambda d: init_data(ALICE, token=OTHER_BOT_TOKEN), id="another bot's token"),
        pytest.param(
            lambda d: init_data(ALICE, auth_date=int(time.time()) - 3601), id="an old auth_date"
        ),
        pytest.param(
            lambda d: init_data(ALICE, auth_date=int(time.time()) + 3600),
            id="an auth_date in the future",
        ),
        pytest.param(lambda d: without(d, "hash"), id="no hash"),
        pytest.param(lambda d: without(d, "user"), id="no user"),
        pytest.param(lambda d: without(d, "auth_date"), id="no auth_date"),
        pytest.param(lambda d: "", id="nothing"),
        pytest.param(lambda d: d + "&hash=" + "1" * 64, id="a repeated field"),
        pytest.param(lambda d: "%%%", id="not a query string"),
    ],
)
async def test_forged_or_stale_init_data_is_refused_and_creates_nothing(client, db, redis, forge):
    answer = await client.post("/auth/telegram", data={"init_data": forge(init_data(ALICE))})
    assert answer.status_code == 401, answer.text
    error = answer.json()["error"]
    assert error["reason"] == "UNAUTHENTICATED" and "Telegram" in error["message"]
    assert "set-cookie" not in answer.headers
    assert await users(db, ALICE) == 0 and await sessions(redis) == []


async def test_a_missing_form_field_is_refused_like_bad_init_data(client, db):
    answer = await client.post("/auth/telegram", data={})
    assert answer.status_code == 401
    assert await users(db, ALICE) == 0


async def test_a_banned_user_cannot_log_in(client, billing, billing_admin, db, redis):
    await billing.EnsureUser(bpb.EnsureUserRequest(telegram_id=BOB))
    await billing_admin.SetBanned(bpb.SetBannedRequest(telegram_id=BOB, banned=True))
    answer = await client.post("/auth/telegram", data={"init_data": init_data(BOB)})
    assert answer.status_code == 403
    assert answer.json()["error"]["reason"] == "ACCOUNT_BLOCKED"
    assert await sessions(redis) == []
    token = cabinet_token.sign(WEBAPP_SECRET, BOB)
    page = await client.get(f"/cabinet?auth={token}")
    assert page.status_code == 403 and "blocked" in page.text
    assert await sessions(redis) == []


async def test_the_bots_link_logs_in_once_and_leaves_the_address_bar(client, billing, redis):
    await billing.EnsureUser(bpb.EnsureUserRequest(telegram_id=ALICE, username="alice"))
    token = cabinet_token.sign(WEBAPP_SECRET, ALICE)
    answer = await client.get(f"/cabinet?auth={token}")
    assert answer.status_code == 303 and answer.headers["location"] == "/cabinet"
    home = await client.get("/cabinet")
    assert home.status_code == 200 and 'id="balance">10<' in home.text
    assert len(await sessions(redis)) == 1


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(
            lambda: cabinet_token.sign(WEBAPP_SECRET, ALICE, 60, now=time.time() - 120),
            id="expired",
        ),
        pytest.param(lambda: cabinet_token.sign(WEBAPP_SECRET, ALICE)[:-2] + "AA", id="altered"),
        pytest.param(
            lambda: str(BOB) + cabinet_token.sign(WEBAPP_SECRET, ALICE)[len(str(ALICE)) :],
            id="for another user",
        ),
        pytest.param(
            lambda: cabinet_token.sign("another-secret-0123456789", ALICE), id="another secret"
        ),
        pytest.param(lambda: "garbage", id="garbage"),
    ],
)
async def test_a_bad_link_is_refused(client, billing, redis, token):
    for who in (ALICE, BOB):
        await billing.EnsureUser(bpb.EnsureUserRequest(telegram_id=who))
    answer = await client.get(f"/cabinet?auth={token()}")
    assert answer.status_code == 401
    assert "Open the cabinet from the bot again" in answer.text
    assert await sessions(redis) == []


async def test_an_expired_session_asks_to_log_in_again(client, redis):
    await login(client, ALICE)
    (key,) = await sessions(redis)
    await redis.pexpire(key, 1)
    await asyncio.sleep(0.01)
    refused = await client.get("/api/me")
    assert refused.status_code == 401 and refused.json()["error"]["reason"] == "NOT_LOGGED_IN"
    page = await client.get("/cabinet/history")
    assert page.status_code == 401 and 'data-page="login"' in page.text
    await login(client, ALICE)
    assert (await client.get("/api/me")).status_code == 200


async def test_every_login_makes_a_new_session_and_ends_the_old_one(client, redis):
    await login(client, ALICE)
    first = client.cookies["mb_session"]
    await login(client, ALICE)
    second = client.cookies["mb_session"]
    assert first != second
    assert await sessions(redis) == [f"web:session:{second}".encode()]


async def test_logging_out_ends_the_session(client, redis):
    token = await login(client, ALICE)
    answer = await client.post("/auth/logout", data={"csrf_token": token})
    assert answer.status_code == 303
    assert await sessions(redis) == []
    assert (await client.get("/api/me")).status_code == 401


async def test_state_changing_requests_need_the_sessions_csrf_token(client, db):
    token = await login(client, ALICE)
    job = {"kind": "image", "quality": "standard", "prompt": "a fox"}
    del client.headers["x-csrf-token"]
    for headers in (
        {},
        {"x-csrf-token": "wrong"},
        {"x-csrf-token": token, "origin": "https://evil.example"},
    ):
        answer = await client.post("/api/jobs", data=job, headers=headers)
        assert answer.status_code == 403, headers
        assert answer.json()["error"]["reason"] == "CSRF_REFUSED"
        assert "Reload" in answer.json()["error"]["message"]
    refused = await client.post("/auth/logout", data={"csrf_token": "wrong"})
    assert refused.status_code == 403
    assert await db.fetchval("SELECT count(*) FROM jobs.jobs") == 0
    page = await client.get("/cabinet")
    assert page_csrf(page.text) == token
    made = await client.post(
        "/api/jobs", data=job, headers={"x-csrf-token": token, "origin": str(client.base_url)}
    )
    assert made.status_code == 201, made.text


async def test_a_login_from_another_site_is_refused(client, db):
    answer = await client.post(
        "/auth/telegram",
        data={"init_data": init_data(ALICE)},
        headers={"origin": "https://evil.example"},
    )
    assert answer.status_code == 403 and await users(db, ALICE) == 0


def admin_urls() -> list[tuple[str, str]]:
    """Every admin URL and admin API call, with plausible path values."""
    values = {
        "telegram_id": str(ALICE),
        "job_id": "00000000-0000-0000-0000-000000000000",
        "charge_id": "charge-1",
    }
    found = []
    for route in [*admin.api.routes, *admin.pages.routes]:
        if isinstance(route, APIRoute):
            path = route.path.format(**values)
            for method in route.methods:
                found.append((method, path))
    return found


async def test_only_admins_reach_the_admin_page_and_api(web, client, billing):
    await billing.EnsureUser(bpb.EnsureUserRequest(telegram_id=ALICE))
    urls = admin_urls()
    assert (
        len(urls) >= 20
        and ("GET", "/admin") in urls
        and ("POST", f"/api/admin/users/{ALICE}/grant") in urls
    )
    anonymous = httpx.AsyncClient(base_url=web.url)
    async with anonymous:
        for method, path in urls:
            answer = await anonymous.request(method, path, params={"telegram_id": ALICE})
            assert answer.status_code == 401, (method, path)
    await login(client, ALICE)
    for method, path in urls:
        answer = await client.request(
            method,
            path,
            params={"telegram_id": ALICE},
            json={"amount": 5, "reason": "x", "idempotency_key": "k", "banned": True},
        )
        assert answer.status_code == 403, (method, path, answer.text)
    assert (await client.get("/api/me")).json()["balance"] == 10


async def test_an_admin_reaches_the_admin_page(client):
    await login(client, ADMIN)
    assert (await client.get("/admin")).status_code == 200
    assert (await client.get("/api/admin/stats")).json()["users_total"] == 1


async def test_responses_carry_the_security_headers(web, client):
    answer = await client.get("/legal/terms")
    policy = answer.headers["content-security-policy"]
    assert "script-src 'self' https://telegram.org" in policy
    assert "frame-ancestors 'self' https://web.telegram.org" in policy
    assert "'unsafe-inline'" not in policy
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["referrer-policy"] == "same-origin"
    assert "x-frame-options" not in answer.headers  # frame-ancestors lets Telegram frame it


async def test_login_attempts_are_limited_per_address(start_web):
    running = await start_web(LOGIN_ATTEMPTS_PER_MINUTE=3)
    async with httpx.AsyncClient(base_url=running.url) as client:
        codes = [
            (await client.post("/auth/telegram", data={"init_data": "x"})).status_code
            for _ in range(4)
        ]
        assert codes == [401, 401, 401, 429]
        limited = await client.post("/auth/telegram", data={"init_data": init_data(ALICE)})
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
        assert limited.json()["error"]["reason"] == "RATE_LIMITED"


async def test_dev_login_exists_only_when_turned_on(client, start_web):
    assert (await client.get(f"/auth/dev/{ALICE}")).status_code == 404
    running = await start_web(WEBAPP_DEV_AUTH="1")
    async with httpx.AsyncClient(base_url=running.url) as dev:
        answer = await dev.get(f"/auth/dev/{tg(5)}?next=/cabinet/history")
        assert answer.status_code == 303 and answer.headers["location"] == "/cabinet/history"
        assert (await dev.get("/api/me")).json()["telegram_id"] == tg(5)
        evil = await dev.get(f"/auth/dev/{tg(5)}?next=//evil.example")
        assert evil.headers["location"] == "/cabinet"
