"""The cabinet and the admin page in a real headless Chromium (Debian's, driven by
Playwright), against the real services, with the local Telegram's stand-in of
telegram-web-app.js supplying initData and the theme as Telegram's clients do. The tests
take screenshots at phone size: into a temporary folder, or into SCREENSHOTS_DIR
(`make screenshots` renews the README's, docs/screenshots/)."""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import urllib.parse
from pathlib import Path
from typing import Any

import httpx
import pytest

from devstack.telegram.client import UserSide
from devstack.telegram.initdata import launch_url
from tests.support.ids import tg
from tests.support.jobs import png, user_with
from tests.web.bot_part import bot_part
from tests.web.conftest import ADMIN, BOT_TOKEN, RunningWeb, init_data, login

SCREENSHOTS = Path(
    os.environ.get("SCREENSHOTS_DIR") or Path(tempfile.gettempdir(), "mediabot-screenshots")
)
SCREENSHOTS.mkdir(parents=True, exist_ok=True)
PHONE = {"width": 390, "height": 844}
#: Telegram's dark theme, as its clients pass it (tgWebAppThemeParams).
THEME = {
    "bg_color": "#17212b", "text_color": "#f5f5f5", "hint_color": "#708499",
    "link_color": "#6ab3f3", "button_color": "#5288c1", "button_text_color": "#ffffff",
    "secondary_bg_color": "#232e3c", "section_bg_color": "#17212b",
    "accent_text_color": "#6ab2f2", "destructive_text_color": "#ec3942",
}  # fmt: skip
BOT_ID = int(BOT_TOKEN.split(":")[0])


@pytest.fixture
async def app(start_web, local_telegram) -> RunningWeb:
    """The web app loading the local Telegram's telegram-web-app.js, as `make up` runs it."""
    return await start_web(
        TELEGRAM_WEBAPP_JS_URL=f"{local_telegram.url}/static/telegram-web-app.js"
    )


def launched(app: RunningWeb, telegram_id: int, path: str = "/cabinet", **user: Any) -> str:
    """The URL a Telegram client opens: the Mini App with initData and theme in its fragment."""
    url = launch_url(app.url + path, init_data(telegram_id, **user))
    base, _, fragment = url.partition("#")
    fields = dict(urllib.parse.parse_qsl(fragment))
    fields["tgWebAppThemeParams"] = json.dumps(THEME, separators=(",", ":"))
    fields["tgWebAppPlatform"] = "android"
    return base + "#" + urllib.parse.urlencode(fields, quote_via=urllib.parse.quote)


def job_form(prompt: str) -> dict[str, str]:
    return {"kind": "image", "quality": "standard", "prompt": prompt}


async def phone(browser: Any) -> Any:
    return await browser.new_context(viewport=PHONE, device_scale_factor=1, locale="en-US")


async def open_cabinet(context: Any, app: RunningWeb, telegram_id: int, **user: Any) -> Any:
    page = await context.new_page()
    await page.goto(launched(app, telegram_id, **user))
    await page.locator("#balance").wait_for()
    return page


async def until(page: Any, expression: str, timeout: float = 10) -> None:
    """Poll `expression` in the page (wait_for_function would need eval, which the CSP
    forbids)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await page.evaluate(expression):
        assert asyncio.get_running_loop().time() < deadline, f"never true: {expression}"
        await asyncio.sleep(0.05)


async def shot(page: Any, name: str) -> None:
    await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


async def test_the_cabinet_opens_inside_telegram_in_its_theme_and_shows_the_balance(
    browser, app, billing, billing_admin
):
    alice = tg(960)
    context = await phone(browser)
    page = await open_cabinet(context, app, alice, username="alice")
    assert await page.locator("#balance").inner_text() == "10"
    assert await page.locator("#tier").inner_text() == "Free"
    background = await page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(23, 33, 43)"  # the theme's bg_color
    calls = await page.evaluate("Telegram.WebApp.calls.map(c => c[0])")
    assert "ready" in calls and "expand" in calls and "BackButton.hide" in calls
    assert "/cabinet" in page.url and "tgWebAppData" not in (await page.content())
    await user_with(billing, billing_admin, alice, 42)
    await page.reload()
    assert await page.locator("#balance").inner_text() == "42"
    link = await page.locator("#referral-link").input_value()
    assert link.startswith("https://t.me/mediabot_test_bot?start=ref_")
    await shot(page, "cabinet")
    await page.goto(app.url + "/cabinet/history")
    assert "BackButton.show" in await page.evaluate("Telegram.WebApp.calls.map(c => c[0])")
    await page.evaluate("Telegram.WebApp.BackButton.click()")
    await page.wait_for_url(app.url + "/cabinet")
    await context.close()


async def test_a_plain_browser_without_telegram_is_told_where_to_open_it(browser, app):
    context = await phone(browser)
    page = await context.new_page()
    await page.goto(app.url + "/cabinet")
    await page.locator("#login-outside").wait_for()
    assert "Open the cabinet from the bot" in await page.locator("#login-outside").inner_text()
    await context.close()


async def test_words_agree_with_their_numbers_in_russian_on_the_page_and_in_its_script(
    browser, app, billing, billing_admin
):
    context = await phone(browser)
    page = await open_cabinet(context, app, tg(966), language_code="ru")
    await user_with(billing, billing_admin, tg(966), 21)
    await page.reload()
    assert await page.locator("#balance").inner_text() == "21"
    assert await page.locator("[data-balance-word]").inner_text() == "кредит"
    await page.click("text=Создать")
    await page.locator("#create-form").wait_for()
    assert await page.locator("#price").inner_text() == "1 кредит"
    await page.click("text=PRO")
    assert await page.locator("#price").inner_text() == "3 кредита"
    await context.close()


async def test_an_image_job_is_created_and_watched_live_to_a_download(browser, app, start_worker):
    context = await phone(browser)
    page = await open_cabinet(context, app, tg(961))
    await page.click("text=Create")
    await page.locator("#create-form").wait_for()
    assert await page.locator("#price").inner_text() == "1 credit"
    await page.click("text=PRO")
    assert await page.locator("#price").inner_text() == "3 credits"
    await page.click("label:has-text('Standard')")
    await page.fill("#prompt", "a lighthouse at dawn")
    await page.select_option("#aspect_ratio", "16:9")
    await page.click("#create-form button[type=submit]")
    await page.wait_for_url("**/cabinet/jobs/*")
    status = page.locator("#job-status")
    await page.locator("#job-status", has_text="Queued").wait_for()
    await page.locator("#job-detail", has_text="Place in the queue: 1").wait_for()
    await shot(page, "job-live")
    await start_worker(LOCAL_LATENCY_SECONDS=1.5)
    await page.locator("#job-status", has_text="In progress").wait_for(timeout=20_000)
    await page.locator("#job-status", has_text="Ready").wait_for(timeout=20_000)
    image = page.locator("#result img")
    await image.wait_for()
    await until(page, "document.querySelector('#result img').naturalWidth > 0")
    assert await status.get_attribute("class") == "status succeeded"
    await shot(page, "job-done")
    async with context.expect_page() as opened:
        await page.click("#result a.download")
    download = await opened.value
    answer = await download.request.get(download.url)
    assert answer.status == 200 and (await answer.body()).startswith(b"\x89PNG")
    assert "downloadFile" in await page.evaluate("Telegram.WebApp.calls.map(c => c[0])")
    await context.close()


async def test_an_edit_takes_an_uploaded_image_checked_in_the_browser_first(
    browser, app, start_worker
):
    context = await phone(browser)
    page = await open_cabinet(context, app, tg(962))
    await page.goto(app.url + "/cabinet/create")
    await page.click("label:has-text('Edit')")
    assert await page.locator("#price").inner_text() == "2 credits"
    await page.fill("#prompt", "make the sky purple")
    await page.set_input_files(
        "#image", files=[{"name": "notes.txt", "mimeType": "text/plain", "buffer": b"hello"}]
    )
    await page.locator("#create-error", has_text="JPEG, PNG or WebP").wait_for()
    await page.click("#create-form button[type=submit]")
    await page.locator("#create-error", has_text="JPEG, PNG or WebP").wait_for()
    assert "/cabinet/create" in page.url
    await page.set_input_files(
        "#image", files=[{"name": "me.png", "mimeType": "image/png", "buffer": png(80, 60)}]
    )
    await start_worker()
    await page.click("#create-form button[type=submit]")
    await page.wait_for_url("**/cabinet/jobs/*")
    await page.locator("#job-status", has_text="Ready").wait_for(timeout=20_000)
    await page.locator("#result img").wait_for()
    assert await page.locator("#result img").count() == 1
    await context.close()


async def test_history_pages_with_thumbnails(browser, app, billing, billing_admin, start_worker):
    who = tg(963)
    async with httpx.AsyncClient(base_url=app.url, timeout=30) as api:
        await login(api, who)
        await user_with(billing, billing_admin, who, 100)
        for n in range(8):  # cancelled at once, the queue limit being 5
            job = (await api.post("/api/jobs", data=job_form(f"a cancelled fox {n}"))).json()
            await api.post(f"/api/jobs/{job['id']}/cancel")
        await start_worker()
        made = []
        for prompt in ("a red fox", "a blue whale", "a green forest", "a white owl"):
            made.append((await api.post("/api/jobs", data=job_form(prompt))).json()["id"])
        for _ in range(200):
            page_ = (await api.get("/api/jobs", params={"page_size": 4})).json()
            if all(j["status"] == "succeeded" for j in page_["jobs"]):
                break
            await asyncio.sleep(0.1)
    context = await phone(browser)
    page = await open_cabinet(context, app, who)
    await page.click("text=History")
    await page.locator("#history li.job").first.wait_for()
    assert await page.locator("#history li.job").count() == 10
    await until(
        page, "[...document.querySelectorAll('#history img.thumb')].every(i => i.naturalWidth > 0)"
    )
    assert await page.locator("#history img.thumb").count() == 4
    await shot(page, "history")
    await page.click("#next-page")
    await page.wait_for_url("**page_token=*")
    assert await page.locator("#history li.job").count() == 2
    assert await page.locator("#history .status.cancelled").count() == 2
    await page.click("#first-page")
    await page.locator("#history li.job").nth(9).wait_for()
    await context.close()


async def test_buying_a_pack_in_the_web_chat_updates_the_balance_without_a_reload(
    browser, app, billing, local_telegram
):
    """As in `make up`: the web chat opens the cabinet from the bot's menu button, the
    cabinet opens the invoice in the chat, the chat pays, the bot (played by the test, with
    billing's PreCheckout and CompletePayment) receives the payment, the cabinet sees it."""
    buyer = tg(964)
    async with httpx.AsyncClient() as raw:
        button = {"type": "web_app", "text": "Cabinet", "web_app": {"url": app.url + "/cabinet"}}
        answer = await raw.post(
            f"{local_telegram.url}/bot{BOT_TOKEN}/setChatMenuButton", json={"menu_button": button}
        )
        assert answer.json()["ok"]
    async with UserSide(local_telegram.url) as people:
        await people.user(buyer, "Bea", language_code="en")
        await people.send_text(BOT_ID, buyer, "/start")
    context = await phone(browser)
    await context.add_init_script(
        f"localStorage.setItem('bot', '{BOT_ID}'); localStorage.setItem('user', '{buyer}');"
    )
    chat = await context.new_page()
    dialogs: list[str] = []

    async def accept(dialog: Any) -> None:
        dialogs.append(dialog.message)
        await dialog.accept()

    chat.on("dialog", accept)
    await chat.goto(local_telegram.url + "/")
    await chat.locator("#status", has_text="Bot API").wait_for()
    assert await chat.locator("#user").input_value() == str(buyer)
    await chat.locator(".msg.out", has_text="/start").wait_for()
    async with bot_part(local_telegram.url, BOT_TOKEN, billing) as bot:
        async with context.expect_page() as opened:
            await chat.click("#menu")
        cabinet = await opened.value
        await cabinet.locator("#balance").wait_for()
        assert await cabinet.locator("#balance").inner_text() == "10"
        await cabinet.click("text=Buy")
        await cabinet.locator("[data-product=pack_starter]").wait_for()
        await shot(cabinet, "buy")
        await cabinet.click("[data-product=pack_starter]")
        await cabinet.locator("#buy-note", has_text="Done! Your balance is 60 credits.").wait_for(
            timeout=20_000
        )
        assert await cabinet.locator("#balance").inner_text() == "60"
        assert dialogs == ["Pay the invoice? (pretend Stars)"]
        assert len(bot.completed) == 1 and bot.completed[0].balance == 60
        calls = await cabinet.evaluate("Telegram.WebApp.calls.filter(c => c[0] === 'openInvoice')")
        assert calls[0][1].startswith("https://t.me/$")
    await context.close()


async def test_an_admin_grants_and_bans_and_the_user_sees_it(browser, app):
    user = tg(965)
    context = await phone(browser)
    person = await open_cabinet(context, app, user, username="dora")
    refused = await person.goto(app.url + "/admin")
    assert refused.status == 403
    assert "This is for admins only." in await person.content()
    admin_context = await phone(browser)
    admin = await open_cabinet(admin_context, app, ADMIN)
    admin.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
    await admin.click("text=Admin")
    await admin.locator("#stats").wait_for()
    await shot(admin, "admin")
    await admin.click("nav >> text=Users")
    await admin.fill("input[name=query]", "dora")
    await admin.click("text=Find")
    await admin.click(f"#users >> text={user}")
    await admin.fill("#amount", "25")
    await admin.fill("#grant-reason", "welcome back")
    await admin.click("#grant-form button")
    await admin.locator("#done", has_text="Credits granted.").wait_for()
    assert await admin.locator("#user-balance").inner_text() == "35"
    await admin.fill("#ban-reason", "spam")
    await admin.click("#ban-form button")
    await admin.locator("#done", has_text="The user is banned.").wait_for()
    assert await admin.locator("#user-state").inner_text() == "Banned"
    await admin.goto(app.url + f"/admin/audit?actor=admin:web:{ADMIN}")
    rows = await admin.locator("#audit tr").all_inner_texts()
    assert any("ban" in r and str(user) in r for r in rows)
    assert any("grant" in r and str(user) in r for r in rows)
    await shot(admin, "admin-audit")
    await person.goto(app.url + "/cabinet")
    await person.locator("#banned").wait_for()
    assert await person.locator("#balance").inner_text() == "35"
    await admin_context.close()
    await context.close()
