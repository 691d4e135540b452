"""Buying with Stars through the bot, against the real services and a local Telegram:
/buy, invoices, pre-checkout, successful payments (replayed, or while billing is
down), the monthly subscription by invoice link with renewals, cancel and resume."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiogram.types import LabeledPrice, Update
from mediabot.billing.v1 import billing_pb2 as bpb

from billing_svc.payments import InvoiceSigner
from bot_gateway.errors import refusal_reply
from bot_gateway.handlers import buy
from common.errors import InsufficientCredits
from devstack.telegram import Limits, LocalTelegram, Options
from tests.support.gateway import Gateway, button, running_gateway
from tests.support.ids import tg
from tests.support.settings import INVOICE_SECRET

ANN, BOB = tg(9201), tg(9202)
Json = dict[str, Any]


def gateway_env(job_env: dict[str, str], jobs_service: Any) -> dict[str, str]:
    return job_env | {"JOBS_GRPC_ADDR": f"127.0.0.1:{jobs_service.port}", "ADMIN_IDS": str(BOB)}


@pytest.fixture
async def gateway(job_env, jobs_service) -> AsyncIterator[Gateway]:
    """The gateway on a local Telegram without flood limits, sending at a brisk pace
    (the pace itself is tested with the limits on elsewhere), to keep these fast."""
    async with LocalTelegram(Options(limits=Limits(enabled=False))) as telegram:
        env = gateway_env(job_env, jobs_service)
        async with running_gateway(telegram, env, SEND_PER_CHAT_PER_SECOND=20) as gw:
            await gw.users.user(ANN, "Ann", username="ann", language_code="ru")
            await gw.users.user(BOB, "Bob", username="bob", language_code="en")
            yield gw


async def balance(billing: Any, telegram_id: int) -> int:
    return int((await billing.GetBalance(bpb.GetBalanceRequest(telegram_id=telegram_id))).balance)


async def pay(gw: Gateway, user_id: int, **invoice: Any) -> Json:
    return await gw.users.pay(gw.bot.id, user_id, **invoice)


async def replay(gw: Gateway, message: Json) -> None:
    """Telegram delivers the same message again (an update the bot did not confirm)."""
    update = Update.model_validate(
        {"update_id": 10**9, "message": message}, context={"bot": gw.bot}
    )
    await gw.dp.feed_update(gw.bot, update)


async def test_short_of_credits_a_buyer_buys_a_pack_and_sees_the_new_balance(gateway, billing):
    await gateway.say(BOB, "/start")
    i18n = gateway.dp["i18n"]
    with i18n.context(), i18n.use_locale("en"):  # what the error handler answers a refusal with
        text, markup = refusal_reply(InsufficientCredits("", balance=10, required=25), "en")
    after = await gateway.mark()
    await gateway.bot.send_message(BOB, text, reply_markup=markup)
    refused = await gateway.next_message(BOB, after)
    shop = await gateway.press(BOB, refused, "Buy credits")
    assert "Balance: 10 credits" in shop["text"]
    assert "• 50 credits — 50 ⭐" in shop["text"] and "PRO monthly — 300 ⭐ a month" in shop["text"]
    invoice = await gateway.press(BOB, shop, "50 credits")
    assert invoice["invoice"] == {
        "title": "50 credits",
        "description": "50 credits for images, edits and videos.",
        "start_parameter": "",
        "currency": "XTR",
        "total_amount": 50,
    }
    started = time.monotonic()
    after = await gateway.mark()
    outcome = await pay(gateway, BOB, message_id=invoice["message_id"])
    assert outcome["status"] == "paid"
    assert time.monotonic() - started < 5, "pre-checkout answered well within 10 s"
    done = await gateway.next_message(BOB, after)
    assert done["text"] == "Payment received: +50 credits. Balance: 60 credits."
    assert await balance(billing, BOB) == 60


async def test_the_same_successful_payment_twice_credits_and_confirms_once(
    gateway, billing, billing_admin
):
    await gateway.say(ANN, "/start")
    shop = await gateway.say(ANN, "/buy")
    invoice = await gateway.press(ANN, shop, "300 кредитов")
    after = await gateway.mark()
    outcome = await pay(gateway, ANN, message_id=invoice["message_id"])
    done = await gateway.next_message(ANN, after)
    assert done["text"] == "Оплата получена: +300 кредитов. Баланс: 310 кредитов."
    await replay(gateway, outcome["message"])
    await replay(gateway, outcome["message"])
    assert await balance(billing, ANN) == 310
    payments = await billing_admin.ListPayments(bpb.ListPaymentsRequest(telegram_id=ANN))
    assert [p.telegram_payment_charge_id for p in payments.payments] == [outcome["charge_id"]]
    texts = [
        m["text"] for m in await gateway.users.bot_messages(gateway.bot.id, ANN) if "text" in m
    ]
    assert sum("Оплата получена" in x for x in texts) == 1


async def test_a_pre_checkout_is_refused_in_the_buyers_words_with_a_way_forward(
    gateway, billing, billing_admin
):
    await gateway.say(BOB, "/start")
    genuine = await billing.CreateInvoice(
        bpb.CreateInvoiceRequest(telegram_id=BOB, product_id="pack_starter")
    )
    wrong_price = await gateway.bot.send_invoice(
        BOB, "50 credits", "credits", genuine.payload, "XTR",
        [LabeledPrice(label="50 credits", amount=40)], provider_token="",
    )  # fmt: skip
    after = await gateway.mark()
    started = time.monotonic()
    refused = await pay(gateway, BOB, message_id=wrong_price.message_id)
    assert time.monotonic() - started < 5
    assert refused == {
        "status": "declined",
        "error_message": "The price is 50 Stars, not 40. Please open a new invoice.",
    }
    forward = await gateway.next_message(BOB, after)
    assert forward["text"] == refused["error_message"]
    assert button(forward, "Buy credits")
    forged = await gateway.bot.send_invoice(
        BOB, "50 credits", "credits", f"{BOB}:pack_starter:1:forged", "XTR",
        [LabeledPrice(label="50 credits", amount=1)], provider_token="",
    )  # fmt: skip
    after = await gateway.mark()
    assert (await pay(gateway, BOB, message_id=forged.message_id))["error_message"] == (
        "This invoice is not valid. Please open a new one."
    )
    assert button(await gateway.next_message(BOB, after), "Buy credits")
    signer = InvoiceSigner(INVOICE_SECRET)  # genuine payloads of orders billing no longer takes
    for payload, stars, words in (
        (
            signer.sign(BOB, "pack_starter", 40),
            40,
            "The price has changed. Please open a new invoice.",
        ),
        (signer.sign(BOB, "pack_gone", 50), 50, "This product is no longer on sale."),
    ):
        stale = await gateway.bot.send_invoice(
            BOB, "credits", "credits", payload, "XTR", [LabeledPrice(label="x", amount=stars)]
        )
        after = await gateway.mark()
        assert (await pay(gateway, BOB, message_id=stale.message_id))["error_message"] == words
        assert button(await gateway.next_message(BOB, after), "Buy credits")
    shop = await gateway.say(BOB, "/buy")
    invoice = await gateway.press(BOB, shop, "50 credits")
    await billing_admin.SetBanned(bpb.SetBannedRequest(telegram_id=BOB, banned=True))
    banned = await pay(gateway, BOB, message_id=invoice["message_id"])
    assert banned["error_message"] == (
        "Your account is blocked. Contact support if you think this is a mistake."
    )
    assert await balance(billing, BOB) == 10
    payments = await billing_admin.ListPayments(bpb.ListPaymentsRequest(telegram_id=BOB))
    assert not payments.payments


async def test_a_monthly_subscription_by_link_renews_and_its_renewal_is_cancelled_and_resumed(
    gateway, billing
):
    await gateway.say(BOB, "/start")
    shop = await gateway.say(BOB, "/buy")
    offer = await gateway.press(BOB, shop, "PRO monthly")
    link = button(offer, "Subscribe")["url"]
    assert link.startswith("https://t.me/$")
    after = await gateway.mark()
    first = await pay(gateway, BOB, link=link)
    assert first["message"]["successful_payment"]["is_first_recurring"] is True
    started = await gateway.next_message(BOB, after)
    assert started["text"].startswith("Payment received: PRO until ")
    assert started["text"].endswith("+300 credits. Balance: 310 credits.")
    after = await gateway.mark()
    renewal = await gateway.users.renew(first["charge_id"])
    renewed = await gateway.next_message(BOB, after)
    assert renewed["text"].startswith("Your PRO subscription renewed until ")
    assert renewed["text"].endswith("+300 credits. Balance: 610 credits.")
    user = (await billing.GetUser(bpb.GetUserRequest(telegram_id=BOB))).user
    assert user.monthly_charge_id == renewal["charge_id"]

    shop = await gateway.say(BOB, "/buy")
    assert "renews automatically" in shop["text"] and "PRO monthly ·" not in str(shop)
    cancelled = await gateway.press(BOB, shop, "Cancel the renewal")
    assert cancelled["text"].startswith("The renewal is cancelled: PRO stays until ")
    assert (await gateway.users.renew(renewal["charge_id"]))["status"] == "refused"
    shop = await gateway.say(BOB, "/buy")
    assert "its renewal is cancelled" in shop["text"]
    resumed = await gateway.press(BOB, shop, "Resume the renewal")
    assert resumed["text"].startswith("The renewal is back on")
    after = await gateway.mark()
    assert (await gateway.users.renew(renewal["charge_id"]))["status"] == "paid"
    assert "renewed until" in (await gateway.next_message(BOB, after))["text"]
    assert await balance(billing, BOB) == 910


async def test_a_renewal_paid_after_a_ban_is_credited_once_and_confirmed(
    gateway, billing, billing_admin
):
    await gateway.say(BOB, "/start")
    offer = await gateway.press(BOB, await gateway.say(BOB, "/buy"), "PRO monthly")
    after = await gateway.mark()
    first = await pay(gateway, BOB, link=button(offer, "Subscribe")["url"])
    assert "PRO until" in (await gateway.next_message(BOB, after))["text"]
    await billing_admin.SetBanned(bpb.SetBannedRequest(telegram_id=BOB, banned=True))
    after = await gateway.mark()
    renewal = await gateway.users.renew(first["charge_id"])  # Telegram charged it: no checkout
    assert renewal["status"] == "paid"
    renewed = await gateway.next_message(BOB, after)
    assert "renewed until" in renewed["text"] and "Balance: 610 credits." in renewed["text"]
    await replay(gateway, renewal["message"])
    assert await balance(billing, BOB) == 610


async def test_a_payment_billing_could_not_record_is_credited_after_a_restart(
    job_env, jobs_service, billing
):
    env = gateway_env(job_env, jobs_service)
    await billing.EnsureUser(bpb.EnsureUserRequest(telegram_id=BOB, language_code="en"))
    invoice = await billing.CreateInvoice(
        bpb.CreateInvoiceRequest(telegram_id=BOB, product_id="pack_pro")
    )
    paid = {
        "message_id": 77, "date": int(time.time()),
        "from": {"id": BOB, "is_bot": False, "first_name": "Bob"},
        "chat": {"id": BOB, "type": "private", "first_name": "Bob"},
        "successful_payment": {
            "currency": "XTR", "total_amount": invoice.amount,
            "invoice_payload": invoice.payload, "telegram_payment_charge_id": "stx-while-down",
            "provider_payment_charge_id": "",
        },
    }  # fmt: skip
    async with LocalTelegram(Options(limits=Limits(enabled=False))) as telegram:
        down = env | {"BILLING_GRPC_ADDR": "127.0.0.1:9"}
        async with running_gateway(telegram, down, SERVICE_DEADLINE_SECONDS=1) as gw:
            await gw.users.user(BOB, "Bob", language_code="en")
            await gw.say(BOB, "hello")  # the chat exists
            after = await gw.mark()
            await replay(gw, paid)
            waiting = await gw.next_message(BOB, after)
            assert waiting["text"].startswith("Payment received. Your purchase will be credited")
            after = await gw.mark()
        assert await balance(billing, BOB) == 10
        async with running_gateway(telegram, env) as gw:
            done = await gw.next_message(BOB, after)
            assert done["text"] == "Payment received: +300 credits. Balance: 310 credits."
    assert await balance(billing, BOB) == 310


async def test_a_pre_checkout_billing_cannot_answer_in_time_is_declined_within_telegrams_wait(
    job_env, jobs_service, monkeypatch
):
    monkeypatch.setattr(buy, "PRE_CHECKOUT_SECONDS", 1.0)  # 5 s in production
    down = gateway_env(job_env, jobs_service) | {"BILLING_GRPC_ADDR": "127.0.0.1:9"}
    async with LocalTelegram(Options(limits=Limits(enabled=False))) as telegram:
        async with running_gateway(telegram, down, SERVICE_DEADLINE_SECONDS=30) as gw:
            await gw.users.user(BOB, "Bob", language_code="en")
            await gw.users.send_text(gw.bot.id, BOB, "hello")
            invoice = await gw.bot.send_invoice(
                BOB, "50 credits", "credits", f"{BOB}:pack_starter:50:x", "XTR",
                [LabeledPrice(label="50 credits", amount=50)],
            )  # fmt: skip
            started = time.monotonic()
            declined = await pay(gw, BOB, message_id=invoice.message_id)
            assert declined["error_message"] == (
                "Payments are temporarily unavailable. Please try again in a minute."
            )
            assert time.monotonic() - started < 3
