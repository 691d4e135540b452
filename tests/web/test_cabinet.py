"""The cabinet's API and pages against the real services: the account, creating and
watching jobs live, results, history, the ledger, buying with Stars, words in the person's
language."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import httpx
from mediabot.billing.v1 import billing_pb2 as bpb

from devstack.telegram.client import UserSide
from tests.support.ids import tg
from tests.support.jobs import png, user_with
from tests.web.bot_part import bot_part
from tests.web.conftest import ALICE, BOB, BOT_TOKEN, BOT_USERNAME, eventually, init_data, login


async def events(
    client: httpx.AsyncClient, job_id: str, timeout: float = 30
) -> list[tuple[str, Any]]:
    """Every server-sent event of a job until its stream ends."""
    seen: list[tuple[str, Any]] = []

    async def read() -> None:
        async with client.stream("GET", f"/api/jobs/{job_id}/events") as answer:
            assert answer.status_code == 200
            assert answer.headers["content-type"].startswith("text/event-stream")
            name = ""
            async for line in answer.aiter_lines():
                if line.startswith("event: "):
                    name = line[7:]
                elif line.startswith("data: "):
                    seen.append((name, json.loads(line[6:])))

    await asyncio.wait_for(read(), timeout)
    return seen


async def create(client: httpx.AsyncClient, **fields: Any) -> httpx.Response:
    files = {}
    if "image" in fields:
        files["image"] = ("in.png", fields.pop("image"), "image/png")
    data = {"kind": "image", "quality": "standard", "prompt": "a lighthouse at dawn", **fields}
    return await client.post("/api/jobs", data=data, files=files or None)


async def test_the_cabinet_shows_balance_tier_and_referrals(client, billing):
    await login(client, ALICE, username="alice")
    me = (await client.get("/api/me")).json()
    async with httpx.AsyncClient(base_url=str(client.base_url)) as bob:
        answer = await bob.post(
            "/auth/telegram",
            data={"init_data": init_data(BOB, start_param="ref_" + me["referral_code"])},
        )
        assert answer.status_code == 200
    home = await client.get("/cabinet")
    assert home.status_code == 200
    assert 'id="balance">10<' in home.text and "Free" in home.text
    assert f"https://t.me/{BOT_USERNAME}?start=ref_{me['referral_code']}" in home.text
    assert "Joined through your link: 1." in home.text
    assert (await client.get("/api/me")).json()["referral_count"] == 1


async def test_offers_name_prices_and_the_options_providers_accept(client):
    await login(client, ALICE)
    offers = (await client.get("/api/offers")).json()
    image = next(o for o in offers if (o["kind"], o["quality"]) == ("image", "standard"))
    assert (
        image["price"] == 1 and image["input_image"] == "none" and "1:1" in image["aspect_ratios"]
    )
    video = next(o for o in offers if (o["kind"], o["quality"]) == ("video", "pro"))
    assert video["price"] == 25 and video["durations_seconds"]
    page = await client.get("/cabinet/create")
    assert (page.status_code == 200 and '"price": 25' in page.text) or '"price":25' in page.text


async def test_an_image_job_is_watched_live_to_its_result(client, start_worker, db):
    await login(client, ALICE)
    made = await create(client, aspect_ratio="16:9")
    assert made.status_code == 201, made.text
    job = made.json()
    assert job["status"] == "queued" and job["cost"] == 1 and job["aspect_ratio"] == "16:9"
    await start_worker()
    seen = await events(client, job["id"])
    names = [name for name, _ in seen]
    assert names[-1] == "end" and set(names[:-1]) <= {"update"}
    statuses = [data["job"]["status"] for _, data in seen]
    assert statuses[0] in ("queued", "running") and statuses[-1] == "succeeded"
    first = seen[0][1]
    assert "queue_position" in first and "estimated_finish_at" in first
    results = (await client.get(f"/api/jobs/{job['id']}/results")).json()["urls"]
    assert results[0]["mime_type"] == "image/png"
    async with httpx.AsyncClient() as outside:
        picture = await outside.get(results[0]["url"])
    assert picture.status_code == 200 and picture.content.startswith(b"\x89PNG")
    assert (await client.get("/api/me")).json()["balance"] == 9
    page = await client.get(f"/cabinet/jobs/{job['id']}")
    assert "Ready" in page.text and 'class="button secondary block download"' in page.text


async def test_an_edit_takes_an_uploaded_image_and_the_services_check_it(client, start_worker):
    await login(client, ALICE)
    refused = await create(client, kind="edit", prompt="make it blue", image=b"not an image")
    assert refused.status_code == 422
    assert refused.json()["error"] == {
        "reason": "INVALID_IMAGE",
        "message": "Please send a JPEG, PNG or WebP image of at most 10 MB.",
        "figures": {"max_bytes": "10485760", "max_side": "4096"},
    }
    missing = await create(client, kind="edit", prompt="make it blue")
    assert missing.status_code == 422
    made = await create(client, kind="edit", prompt="make it blue", image=png(64, 48))
    assert made.status_code == 201, made.text
    assert made.json()["has_input"] and made.json()["cost"] == 2
    await start_worker()
    assert (await events(client, made.json()["id"]))[-1][1]["job"]["status"] == "succeeded"


async def test_refusals_are_worded_in_the_persons_language(client, billing, billing_admin):
    await login(client, ALICE, language_code="ru")
    await user_with(billing, billing_admin, ALICE, 0)
    refused = await create(client)
    assert refused.status_code == 402
    error = refused.json()["error"]
    assert error["reason"] == "INSUFFICIENT_CREDITS"
    assert error["figures"] == {"balance": "0", "required": "1"}
    assert error["message"] == "Не хватает кредитов: у вас 0, нужно 1. Пополните баланс: /buy."
    unknown = await client.get("/api/jobs/00000000-0000-0000-0000-000000000000")
    assert unknown.status_code == 404 and unknown.json()["error"]["reason"] == "JOB_NOT_FOUND"
    page = await client.get("/cabinet/jobs/00000000-0000-0000-0000-000000000000")
    assert page.status_code == 404 and '<html lang="ru">' in page.text
    assert "Traceback" not in page.text
    nowhere = await client.get("/no/such/page")
    assert nowhere.status_code == 404 and "Такой страницы нет." in nowhere.text
    english = await client.get("/no/such/page?lang=en")
    assert "There is no such page." in english.text


async def test_a_failed_job_says_why_in_the_persons_language(client, start_worker):
    await login(client, ALICE)
    job = (await create(client, prompt="something forbidden")).json()
    await start_worker(LOCAL_LATENCY_SECONDS=0)
    seen = await events(client, job["id"])
    failed = seen[-1][1]["job"]  # the "end" event: the job as it ended
    assert failed["status"] == "failed" and failed["failure"] == "safety_block"
    assert "safety filter" in failed["error"]  # the service's own words, for operators
    english = await client.get(f"/cabinet/jobs/{job['id']}")
    assert "the provider&#39;s safety rules refused the prompt or the picture" in english.text
    assert (await client.post("/api/me/language", json={"language": "ru"})).status_code == 200
    for page in (f"/cabinet/jobs/{job['id']}", "/cabinet/history"):
        russian = await client.get(page)
        assert "правила безопасности сервиса отклонили запрос или картинку" in russian.text
        assert "safety filter" not in russian.text


async def test_a_queued_job_is_cancelled_and_refunded(client):
    await login(client, ALICE)
    job = (await create(client)).json()
    cancelled = await client.post(f"/api/jobs/{job['id']}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert (await client.get("/api/me")).json()["balance"] == 10
    seen = await events(client, job["id"])
    assert [name for name, _ in seen] == ["end"]


async def test_someone_elses_job_is_not_found(client, web):
    await login(client, ALICE)
    job = (await create(client)).json()
    async with httpx.AsyncClient(base_url=web.url) as bob:
        await login(bob, BOB)
        for path in (
            f"/api/jobs/{job['id']}",
            f"/api/jobs/{job['id']}/events",
            f"/api/jobs/{job['id']}/results",
        ):
            assert (await bob.get(path)).status_code == 404, path
        assert (await bob.post(f"/api/jobs/{job['id']}/cancel")).status_code == 404


async def test_history_and_ledger_page_through_everything(
    client, billing, billing_admin, start_worker
):
    await login(client, ALICE)
    await user_with(billing, billing_admin, ALICE, 100)
    made = []
    for n in range(9):  # cancelled at once: the queue limit is 5
        job = (await create(client, prompt=f"job number {n}")).json()
        await client.post(f"/api/jobs/{job['id']}/cancel")
        made.append(job["id"])
    await start_worker()
    for n in range(9, 12):
        made.append((await create(client, prompt=f"job number {n}")).json()["id"])
    for job_id in made[-3:]:
        await events(client, job_id)
    first = (await client.get("/api/jobs", params={"page_size": 5})).json()
    second = (
        await client.get(
            "/api/jobs", params={"page_size": 5, "page_token": first["next_page_token"]}
        )
    ).json()
    ids = [j["id"] for j in first["jobs"] + second["jobs"]]
    assert ids == list(reversed(made))[:10] and second["next_page_token"]
    page = await client.get("/cabinet/history")
    assert page.text.count('class="job"') == 10 and 'id="next-page"' in page.text
    token = re.search(r"page_token=([^\"&]+)", page.text).group(1)
    older = await client.get(f"/cabinet/history?page_token={token}")
    assert older.text.count('class="job"') == 2 and 'id="next-page"' not in older.text
    assert '<img class="thumb"' in page.text
    ledger = (await client.get("/api/ledger", params={"page_size": 3})).json()
    assert len(ledger["entries"]) == 3 and ledger["entries"][0]["kind"] in ("reserve", "release")
    ledger_page = await client.get("/cabinet/ledger")
    assert "Returned for a job" in ledger_page.text
    seen = ledger_page.text
    while found := re.search(r'href="(/cabinet/ledger\?page_token=[^"]+)" id="next-page"', seen):
        seen = (await client.get(found.group(1).replace("&amp;", "&"))).text
    assert "Welcome credits" in seen and "From support" in seen


async def test_buying_a_pack_through_telegram_changes_the_balance(client, web, billing):
    await login(client, ALICE)
    products = (await client.get("/api/products")).json()
    pack = next(p for p in products if p["id"] == "pack_starter")
    invoice = await client.post("/api/invoices", json={"product_id": "pack_starter"})
    assert invoice.status_code == 200, invoice.text
    link = invoice.json()["link"]
    assert link.startswith("https://t.me/$")
    async with (
        UserSide(web.telegram.url) as people,
        bot_part(web.telegram.url, BOT_TOKEN, billing) as bot,
    ):
        await people.user(ALICE, "Alice")
        paid = await people.pay(BOT_TOKEN.split(":")[0], ALICE, link=link)
        assert paid["status"] == "paid", paid
        await eventually(lambda: asyncio.sleep(0, bool(bot.completed)))
    me = (await client.get("/api/me")).json()
    assert me["balance"] == 10 + pack["credits"]
    unknown = await client.post("/api/invoices", json={"product_id": "nothing"})
    assert unknown.status_code == 404 and unknown.json()["error"]["reason"] == "PRODUCT_NOT_FOUND"


async def test_a_result_is_sent_to_the_chat_again(client, web, start_worker):
    carol = tg(903)
    await login(client, carol)
    job = (await create(client)).json()
    await start_worker()
    await events(client, job["id"])
    bot_id = int(BOT_TOKEN.split(":")[0])
    async with UserSide(web.telegram.url) as people:
        await people.user(carol, "Carol")
        refused = await client.post(f"/api/jobs/{job['id']}/send")
        assert refused.status_code == 409
        assert refused.json()["error"]["reason"] == "CHAT_UNREACHABLE"
        await people.send_text(bot_id, carol, "/start")
        sent = await client.post(f"/api/jobs/{job['id']}/send")
        assert sent.status_code == 200, sent.text
        messages = await people.bot_messages(bot_id, carol)
    assert messages[-1]["photo"] and messages[-1]["caption"] == "a lighthouse at dawn"


async def test_the_language_can_be_changed(client, billing):
    await login(client, ALICE)
    assert "Balance" in (await client.get("/cabinet")).text
    assert (await client.post("/api/me/language", json={"language": "ru"})).status_code == 200
    assert "Баланс" in (await client.get("/cabinet")).text
    user = await billing.GetUser(bpb.GetUserRequest(telegram_id=ALICE))
    assert user.user.language == "ru"
    assert (await client.post("/api/me/language", json={"language": "de"})).status_code == 422


async def test_health_reports_both_services(client):
    answer = await client.get("/healthz")
    assert answer.status_code == 200
    assert answer.json() == {"status": "ok", "billing": "SERVING", "jobs": "SERVING", "redis": "ok"}


async def test_health_says_when_a_service_is_down(start_web):
    running = await start_web(BILLING_GRPC_ADDR="127.0.0.1:1")
    async with httpx.AsyncClient(base_url=running.url) as client:
        answer = await client.get("/healthz")
    assert answer.status_code == 503
    assert answer.json()["billing"] == "UNAVAILABLE" and answer.json()["jobs"] == "SERVING"


async def test_a_service_down_is_a_readable_503(start_web):
    running = await start_web(BILLING_GRPC_ADDR="127.0.0.1:1", SERVICE_DEADLINE_SECONDS=2)
    async with httpx.AsyncClient(base_url=running.url) as client:
        answer = await client.post("/auth/telegram", data={"init_data": init_data(tg(1))})
    assert answer.status_code == 503
    assert answer.json()["error"]["reason"] == "UNAVAILABLE"


async def test_the_legal_pages_speak_both_languages_with_the_operators_details(start_web):
    running = await start_web(
        LEGAL_OPERATOR="Example LLC", LEGAL_CONTACT="help@example.com", LEGAL_JURISDICTION="Cyprus"
    )
    async with httpx.AsyncClient(base_url=running.url) as client:
        for document, en, ru in [
            ("terms", "Terms of service", "Условия использования"),
            ("privacy", "Privacy policy", "Политика конфиденциальности"),
            ("refunds", "Refund policy", "Правила возврата"),
        ]:
            english = await client.get(f"/legal/{document}")
            assert english.status_code == 200 and en in english.text
            assert "Example LLC" in english.text and "help@example.com" in english.text
            assert 'id="incomplete"' not in english.text
            russian = await client.get(f"/legal/{document}", headers={"accept-language": "ru-RU"})
            assert ru in russian.text and "Cyprus" in russian.text
        assert (await client.get("/legal/cookies")).status_code == 404


async def test_incomplete_legal_details_are_flagged(client):
    page = await client.get("/legal/terms")
    assert 'id="incomplete"' in page.text


async def test_a_body_over_the_limit_is_refused_before_it_is_read(client, db):
    await login(client, ALICE)
    answer = await create(client, kind="edit", image=b"\x89PNG" + b"0" * (13 * 1024 * 1024))
    assert answer.status_code == 413
    assert answer.json()["error"]["reason"] == "BODY_TOO_LARGE"
    assert await db.fetchval("SELECT count(*) FROM jobs.jobs") == 0
    just_over = await create(client, kind="edit", image=b"\x89PNG" + b"0" * (10 * 1024 * 1024))
    assert just_over.status_code == 422
    assert just_over.json()["error"]["reason"] == "INVALID_IMAGE"


async def test_redis_down_is_a_readable_503(start_web):
    running = await start_web(REDIS_URL="redis://127.0.0.1:1/0")
    async with httpx.AsyncClient(base_url=running.url) as client:
        answer = await client.post("/auth/telegram", data={"init_data": init_data(ALICE)})
        assert answer.status_code == 503
        assert answer.json()["error"]["reason"] == "UNAVAILABLE"
        client.cookies.set("mb_session", "x" * 43)
        page = await client.get("/cabinet")
        assert page.status_code == 503 and "Traceback" not in page.text
