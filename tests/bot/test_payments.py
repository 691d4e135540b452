"""Stars payments as Telegram runs them: invoice, pre_checkout_query answered within 10 s,
successful_payment; subscriptions with renewals; refunds; the bot's Star transactions."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import LabeledPrice, Message, PreCheckoutQuery

from devstack.telegram import Limits, LocalTelegram, Options
from devstack.telegram.client import UserSide
from tests.bot.conftest import ANN, BOB, eventually, make_bot
from tests.bot.test_updates import polling

MONTH = 2592000
Start = Callable[..., Awaitable[LocalTelegram]]


def shop(received: list[Message]) -> Router:
    """Accepts every payload but "sold-out" (refused) and "silent" (never answered)."""
    router = Router()

    @router.pre_checkout_query()
    async def checkout(query: PreCheckoutQuery) -> None:
        if query.invoice_payload == "sold-out":
            await query.answer(ok=False, error_message="This pack is sold out")
        elif query.invoice_payload != "silent":
            await query.answer(ok=True)

    @router.message(F.successful_payment | F.refunded_payment)
    async def record(message: Message) -> None:
        received.append(message)

    return router


@pytest.fixture
async def store(
    start_telegram: Start,
) -> AsyncIterator[tuple[Bot, UserSide, list[Message]]]:
    telegram = await start_telegram(Options(limits=Limits(enabled=False), pre_checkout_timeout=0.5))
    bot = make_bot(telegram.url)
    received: list[Message] = []
    async with UserSide(telegram.url) as users, polling(bot, shop(received)):
        await bot.get_me()
        await users.user(ANN, "Ann")
        await users.user(BOB, "Bob")
        await users.send_text(bot.id, ANN, "/buy")
        yield bot, users, received
    await bot.session.close()


async def invoice(bot: Bot, payload: str, stars: int = 50) -> Message:
    return await bot.send_invoice(
        ANN,
        title="50 credits",
        description="Credits for images and videos",
        payload=payload,
        currency="XTR",
        prices=[LabeledPrice(label="50 credits", amount=stars)],
    )


async def test_an_invoice_paid_goes_through_pre_checkout_to_successful_payment(
    store: tuple[Bot, UserSide, list[Message]],
) -> None:
    bot, users, received = store
    sent = await invoice(bot, "7123456789:pack_starter:50:sig")
    assert sent.invoice and (sent.invoice.currency, sent.invoice.total_amount) == ("XTR", 50)
    outcome = await users.pay(bot.id, ANN, message_id=sent.message_id)
    assert outcome["status"] == "paid" and outcome["charge_id"].startswith("stx")
    payment = outcome["message"]["successful_payment"]
    assert payment["currency"] == "XTR" and payment["total_amount"] == 50
    assert payment["invoice_payload"] == "7123456789:pack_starter:50:sig"
    assert "is_recurring" not in payment
    again = await users.pay(bot.id, ANN, message_id=sent.message_id)
    assert again == {"status": "refused", "error_message": "this invoice is already paid"}
    await eventually(lambda: bool(received))
    only_payment = received[0].successful_payment
    assert only_payment and only_payment.telegram_payment_charge_id == outcome["charge_id"]
    assert received[0].from_user and received[0].from_user.id == ANN


async def test_a_refused_or_unanswered_pre_checkout_charges_nothing(
    store: tuple[Bot, UserSide, list[Message]],
) -> None:
    bot, users, received = store
    refused = await users.pay(bot.id, ANN, message_id=(await invoice(bot, "sold-out")).message_id)
    assert refused == {"status": "declined", "error_message": "This pack is sold out"}
    started = time.monotonic()
    silent = await users.pay(bot.id, ANN, message_id=(await invoice(bot, "silent")).message_id)
    assert silent == {"status": "timeout"}
    assert 0.45 < time.monotonic() - started < 2
    assert (await bot.get_star_transactions()).transactions == []
    assert received == []


async def test_stars_invoices_are_checked_like_telegram(
    store: tuple[Bot, UserSide, list[Message]],
) -> None:
    bot, _, _ = store
    price = [LabeledPrice(label="x", amount=10)]
    cases = {
        "PAYMENT_PROVIDER_INVALID": {"currency": "USD", "prices": price},
        "STARS_INVOICE_INVALID": {"prices": [*price, LabeledPrice(label="y", amount=1)]},
        "CURRENCY_TOTAL_AMOUNT_INVALID": {"prices": [LabeledPrice(label="x", amount=0)]},
    }
    for reason, change in cases.items():
        arguments = {"title": "t", "description": "d", "payload": "p", "currency": "XTR"}
        arguments |= {"prices": price} | change
        with pytest.raises(TelegramBadRequest, match=f"Bad Request: {reason}"):
            await bot.send_invoice(ANN, **arguments)  # type: ignore[arg-type]
    with pytest.raises(TelegramBadRequest, match="SUBSCRIPTION_PERIOD_INVALID"):
        await bot.create_invoice_link(
            "t", "d", "p", "XTR", price, provider_token="", subscription_period=86400
        )
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await bot.answer_pre_checkout_query("123456789", ok=True)


async def test_a_subscription_link_renews_every_thirty_days_until_canceled(
    store: tuple[Bot, UserSide, list[Message]],
) -> None:
    bot, users, _ = store
    link = await bot.create_invoice_link(
        "PRO monthly",
        "PRO for 30 days",
        "7234567890:sub_monthly:300:sig",
        "XTR",
        [LabeledPrice(label="PRO", amount=300)],
        subscription_period=MONTH,
    )
    assert link.startswith("https://t.me/$")
    first = await users.pay(bot.id, BOB, link=link)
    assert first["status"] == "paid"
    started = first["message"]["successful_payment"]
    assert started["is_recurring"] is True and started["is_first_recurring"] is True
    assert abs(started["subscription_expiration_date"] - (time.time() + MONTH)) < 5
    assert (await users.pay(bot.id, BOB, link=link))["error_message"] == "already subscribed"
    renewal = await users.renew(first["charge_id"])
    renewed = renewal["message"]["successful_payment"]
    assert renewal["charge_id"] != first["charge_id"]
    assert (renewed["is_recurring"], renewed["is_first_recurring"]) == (True, False)
    assert (
        renewed["subscription_expiration_date"] == started["subscription_expiration_date"] + MONTH
    )
    assert await bot.edit_user_star_subscription(BOB, first["charge_id"], is_canceled=True)
    assert (await users.renew(first["charge_id"]))["status"] == "refused"
    assert await bot.edit_user_star_subscription(BOB, first["charge_id"], is_canceled=False)
    assert (await users.renew(renewal["charge_id"]))["status"] == "paid"
    transactions = (await bot.get_star_transactions()).transactions
    assert [t.amount for t in transactions] == [300, 300, 300]


async def test_a_refund_sends_refunded_payment_once(
    store: tuple[Bot, UserSide, list[Message]],
) -> None:
    bot, users, received = store
    paid = await users.pay(
        bot.id, ANN, message_id=(await invoice(bot, "refund-me", 250)).message_id
    )
    charge = paid["charge_id"]
    with pytest.raises(TelegramBadRequest, match="Bad Request: CHARGE_NOT_FOUND"):
        await bot.refund_star_payment(BOB, charge)  # not Bob's payment
    assert await bot.refund_star_payment(ANN, charge) is True
    with pytest.raises(TelegramBadRequest, match="Bad Request: CHARGE_ALREADY_REFUNDED"):
        await bot.refund_star_payment(ANN, charge)
    event = await users.wait_for(
        lambda e: e["kind"] == "message" and "refunded_payment" in e["message"], bot=bot.id
    )
    assert event["message"]["refunded_payment"] == {
        "currency": "XTR",
        "total_amount": 250,
        "invoice_payload": "refund-me",
        "telegram_payment_charge_id": charge,
    }
    transactions = (await bot.get_star_transactions()).transactions
    assert [(t.amount, t.source is not None, t.receiver is not None) for t in transactions] == [
        (250, True, False),
        (250, False, True),
    ]
    assert (await bot.get_my_star_balance()).amount == 0
    await eventually(lambda: len(received) == 2)
    assert [bool(m.refunded_payment) for m in received] == [False, True]
