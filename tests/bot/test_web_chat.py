"""The web chat in a real headless Chromium: a person creates a user, talks to an aiogram bot,
presses buttons, sends a photo, pays an invoice with pretend Stars and opens a Mini App;
then makes an image with the real gateway, services and worker, as `make up` runs them."""

from __future__ import annotations

import asyncio
import io
import urllib.parse
from typing import Any

from aiogram import Bot, F, Router
from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.exceptions import TelegramRetryAfter
from aiogram.filters import Command
from aiogram.methods import TelegramMethod
from aiogram.types import (
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LabeledPrice,
    Message,
    PreCheckoutQuery,
    WebAppInfo,
)
from aiogram.utils.web_app import safe_parse_webapp_init_data
from PIL import Image

from devstack.telegram import LocalTelegram, Options
from tests.bot.conftest import TOKEN, make_bot
from tests.bot.test_updates import polling
from tests.support.gateway import running_gateway


def demo_router(app_url: str) -> Router:
    router = Router()

    @router.message(Command("start"))
    async def start(message: Message) -> None:
        assert message.from_user is not None
        await message.answer(
            f"Hello, <b>{message.from_user.first_name}</b>!",
            parse_mode="HTML",
            reply_markup=InlineKeyboardMarkup(
                inline_keyboard=[
                    [InlineKeyboardButton(text="Ping", callback_data="ping")],
                    [InlineKeyboardButton(text="Cabinet", web_app=WebAppInfo(url=app_url))],
                ]
            ),
        )

    @router.callback_query(F.data == "ping")
    async def ping(query: CallbackQuery) -> None:
        await query.answer("pong")
        assert isinstance(query.message, Message)
        await query.message.edit_text("ponged", reply_markup=query.message.reply_markup)

    @router.message(F.photo)
    async def photo(message: Message, bot: Bot) -> None:
        assert message.photo is not None
        original = await bot.download(message.photo[-1].file_id)
        assert original is not None
        with Image.open(original) as image:
            mirrored = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
            out = io.BytesIO()
            mirrored.save(out, "PNG")
        await message.answer_photo(BufferedInputFile(out.getvalue(), "m.png"), caption="mirrored")

    @router.message(Command("buy"))
    async def buy(message: Message) -> None:
        await message.answer_invoice(
            "50 credits",
            "Credits for images",
            "pack:50",
            "XTR",
            [LabeledPrice(label="50", amount=50)],
        )

    @router.pre_checkout_query()
    async def checkout(query: PreCheckoutQuery) -> None:
        await query.answer(ok=True)

    @router.message(F.successful_payment)
    async def thanks(message: Message) -> None:
        assert message.successful_payment is not None
        await message.answer(f"Thanks for ⭐{message.successful_payment.total_amount}")

    return router


class HonourRetryAfter(BaseRequestMiddleware):
    """Waits as long as a 429 says and tries again, as a bot must."""

    async def __call__(
        self, make_request: NextRequestMiddlewareType[Any], bot: Bot, method: TelegramMethod[Any]
    ) -> Any:
        while True:
            try:
                return await make_request(bot, method)
            except TelegramRetryAfter as exc:
                await asyncio.sleep(exc.retry_after)


async def test_a_person_talks_to_the_bot_in_the_web_chat(browser: Any) -> None:
    telegram = await LocalTelegram(Options()).start()
    telegram.add_bot(TOKEN, "mediabot_local_bot", "mediabot")
    bot = make_bot(telegram.url)
    bot.session.middleware(HonourRetryAfter())
    app_url = f"{telegram.url}/_local/bots"
    try:
        async with polling(bot, demo_router(app_url)):
            context = await browser.new_context(viewport={"width": 390, "height": 800})
            page = await context.new_page()
            dialogs: list[str] = []

            async def accept(dialog: Any) -> None:
                dialogs.append(dialog.message)
                await dialog.accept()

            page.on("dialog", accept)
            await page.goto(telegram.url + "/")
            form = page.locator("#user-form")
            await form.wait_for(state="visible")
            await form.locator("input[name=first_name]").fill("Ann")
            await form.locator("select[name=language_code]").select_option("ru")
            await form.locator("button[type=submit]").click()
            await form.wait_for(state="hidden")

            await page.fill("#text", "/start")
            await page.press("#text", "Enter")
            greeting = page.locator(".msg.in", has_text="Hello, Ann!")
            await greeting.wait_for()
            assert await greeting.locator("b").inner_text() == "Ann"

            await greeting.get_by_role("button", name="Ping").click()
            await page.locator("#toast", has_text="pong").wait_for()
            ponged = page.locator(".msg.in", has_text="ponged")
            await ponged.wait_for()
            assert (await ponged.locator(".meta").inner_text()).startswith("edited · ")

            picture = io.BytesIO()
            Image.new("RGB", (64, 48), "orange").save(picture, "PNG")
            await page.set_input_files(
                "#photo",
                files=[{"name": "me.png", "mimeType": "image/png", "buffer": picture.getvalue()}],
            )
            await page.locator(".msg.out img").wait_for()
            reply = page.locator(".msg.in", has_text="mirrored")
            await reply.locator("img").wait_for()
            assert await reply.locator("img").evaluate("img => img.naturalWidth") == 64

            await page.fill("#text", "/buy")
            await page.press("#text", "Enter")
            pay = page.get_by_role("button", name="Pay ⭐50")
            await pay.click()
            await page.locator(".msg.in", has_text="Thanks for ⭐50").wait_for()
            assert dialogs == ["Pay ⭐50? (pretend Stars)"]
            await page.locator(".msg.out", has_text="You paid ⭐50").wait_for()
            assert await page.get_by_role("button", name="Paid ✓").is_disabled()

            async with context.expect_page() as opened:
                await ponged.get_by_role("button", name="Cabinet").click()
            cabinet = await opened.value
            await cabinet.wait_for_url(lambda url: "tgWebAppData" in url)
            fragment = urllib.parse.urlsplit(cabinet.url).fragment
            init_data = dict(urllib.parse.parse_qsl(fragment))["tgWebAppData"]
            launched = safe_parse_webapp_init_data(TOKEN, init_data)
            assert launched.user and launched.user.first_name == "Ann"
            assert cabinet.url.startswith(app_url + "#")
            # The person was quicker than Telegram lets a bot answer: the bot waited it out.
            for hit in telegram.rate_limit_hits:
                note = (
                    f"the bot hit the flood limit ({hit.method}, retry after {hit.retry_after} s)"
                )
                assert await page.locator(".system", has_text=note).count() >= 1
    finally:
        await bot.session.close()
        await telegram.stop()


async def test_a_person_starts_the_real_bot_and_gets_an_image_in_the_web_chat(
    browser: Any, telegram: LocalTelegram, gateway_env: dict[str, str], start_worker: Any
) -> None:
    await start_worker(LOCAL_LATENCY_SECONDS=0.5)
    async with running_gateway(telegram, gateway_env):
        page = await (await browser.new_context(viewport={"width": 390, "height": 800})).new_page()
        await page.goto(telegram.url + "/")
        form = page.locator("#user-form")
        await form.locator("input[name=first_name]").fill("Ann")
        await form.locator("select[name=language_code]").select_option("en")
        await form.locator("button[type=submit]").click()
        await form.wait_for(state="hidden")

        await page.fill("#text", "/start")
        await page.press("#text", "Enter")
        greeting = page.locator(".msg.in", has_text="Hi, Ann!")
        await greeting.wait_for()
        assert "Balance: 10 credits" in await greeting.inner_text()
        menu = await greeting.get_by_role("button").all_inner_texts()
        assert menu == ["🖼 Image", "✏️ Edit", "🎬 Video", "💰 Balance", "⭐ Buy credits",
                        "🗂 History", "👤 Cabinet", "🌐 Language", "❓ Help"]  # fmt: skip

        await greeting.get_by_role("button", name="🖼 Image").click()
        await page.get_by_role("button", name="Standard").last.click()
        await page.get_by_role("button", name="1:1").last.click()
        await page.fill("#text", "an orange fox in the web chat")
        await page.press("#text", "Enter")
        await page.get_by_role("button", name="✅").last.click()

        result = page.locator(".msg.in", has_text="«an orange fox in the web chat»")
        await result.locator("img").wait_for(timeout=30_000)
        assert await result.locator("img").evaluate("img => img.naturalWidth") > 0
        await result.get_by_role("button", name="Repeat").wait_for()
