"""Stars payments: checkout validation, crediting once, refunds, subscriptions, referrals."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from mediabot.billing.v1 import billing_pb2 as pb

from billing_svc.payments import InvoiceSigner
from tests.conftest import INVOICE_SECRET

BUYER = 2001


async def user(billing, telegram_id: int = BUYER, referral_code: str = "") -> pb.User:
    answer = await billing.EnsureUser(
        pb.EnsureUserRequest(telegram_id=telegram_id, username=f"user{telegram_id}",
                             language_code="en", referral_code=referral_code)
    )  # fmt: skip
    return answer.user


async def invoice(billing, product_id: str = "pack_starter", telegram_id: int = BUYER):
    return await billing.CreateInvoice(
        pb.CreateInvoiceRequest(telegram_id=telegram_id, product_id=product_id)
    )


def payment(inv, charge_id: str, telegram_id: int = BUYER, **extra) -> pb.CompletePaymentRequest:
    return pb.CompletePaymentRequest(
        telegram_id=telegram_id, invoice_payload=inv.payload, currency="XTR",
        total_amount=inv.amount, telegram_payment_charge_id=charge_id, **extra,
    )  # fmt: skip


async def refused(call) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call
    return err.value


async def test_products_come_from_the_settings(billing):
    products = {p.id: p for p in (await billing.ListProducts(pb.ListProductsRequest())).products}
    assert set(products) == {"pack_starter", "pack_pro", "sub_monthly", "sub_annual"}
    assert products["sub_monthly"].kind == pb.PRODUCT_KIND_SUBSCRIPTION_MONTHLY
    assert products["sub_monthly"].period_days == 30
    assert all(p.price_stars > 0 for p in products.values())


async def test_an_invoice_binds_buyer_product_and_price(billing):
    await user(billing)
    inv = await invoice(billing, "sub_monthly")
    assert inv.currency == "XTR"
    assert inv.subscription_period == 2592000
    assert len(inv.payload.encode()) <= 128
    assert inv.payload.startswith(f"{BUYER}:sub_monthly:{inv.amount}:")
    assert (await invoice(billing, "pack_pro")).subscription_period == 0


async def test_pre_checkout_accepts_a_genuine_order(billing):
    await user(billing)
    inv = await invoice(billing)
    answer = await billing.PreCheckout(
        pb.PreCheckoutRequest(
            telegram_id=BUYER, invoice_payload=inv.payload, currency="XTR", total_amount=inv.amount
        )
    )
    assert answer.product.id == "pack_starter"


async def test_pre_checkout_refuses_what_is_wrong(billing, billing_admin):
    await user(billing)
    await user(billing, 2002)
    inv = await invoice(billing)
    signer = InvoiceSigner(INVOICE_SECRET)

    def check(**fields):
        request = dict(telegram_id=BUYER, invoice_payload=inv.payload, currency="XTR",
                       total_amount=inv.amount)  # fmt: skip
        request.update(fields)
        return billing.PreCheckout(pb.PreCheckoutRequest(**request))

    cases = {
        "wrong amount": check(total_amount=inv.amount - 1),
        "wrong currency": check(currency="USD"),
        "unknown product": check(invoice_payload=signer.sign(BUYER, "pack_gold", 50),
                                 total_amount=50),
        "another user's payload": check(telegram_id=2002),
        "forged payload": check(invoice_payload=inv.payload[:-2] + "xx"),
        "tampered price": check(invoice_payload=inv.payload.replace(f":{inv.amount}:", ":1:"),
                                total_amount=1),
    }  # fmt: skip
    for name, call in cases.items():
        error = await refused(call)
        assert error.code() == grpc.StatusCode.FAILED_PRECONDITION, name
        assert error.details(), name
    garbage = await refused(check(invoice_payload="not a payload"))
    assert garbage.code() == grpc.StatusCode.INVALID_ARGUMENT

    await billing_admin.SetBanned(pb.SetBannedRequest(telegram_id=BUYER, banned=True))
    banned = await refused(check())
    assert banned.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "blocked" in (banned.details() or "")


async def test_a_payment_replayed_100_times_concurrently_credits_once(billing, db):
    start = (await user(billing)).balance
    inv = await invoice(billing, "pack_pro")
    answers = await asyncio.gather(
        *(billing.CompletePayment(payment(inv, "charge-1")) for _ in range(100))
    )
    assert sum(not a.already_completed for a in answers) == 1
    credits = answers[0].payment.credits_granted
    final = (await billing.GetBalance(pb.GetBalanceRequest(telegram_id=BUYER))).balance
    assert final == start + credits
    assert await db.fetchval("SELECT count(*) FROM billing.payments") == 1
    assert await db.fetchval("SELECT count(*) FROM billing.ledger WHERE kind = 'purchase'") == 1
    assert await db.fetchval("SELECT count(*) FROM billing.audit_log WHERE action = 'payment'") == 1


async def test_a_refund_takes_back_the_credits_once(billing, db):
    start = (await user(billing)).balance
    inv = await invoice(billing)
    paid = await billing.CompletePayment(payment(inv, "charge-r"))
    first = await billing.RefundPayment(
        pb.RefundPaymentRequest(telegram_payment_charge_id="charge-r", reason="asked")
    )
    again = await billing.RefundPayment(
        pb.RefundPaymentRequest(telegram_payment_charge_id="charge-r", reason="asked")
    )
    assert first.payment.refunded and again.payment.refunded
    assert first.credits_debited == paid.payment.credits_granted
    assert (await billing.GetBalance(pb.GetBalanceRequest(telegram_id=BUYER))).balance == start
    assert await db.fetchval("SELECT count(*) FROM billing.ledger WHERE kind = 'refund'") == 1


async def test_a_refund_of_spent_credits_is_refused_and_changes_nothing(billing, db):
    start = (await user(billing)).balance
    inv = await invoice(billing)
    paid = await billing.CompletePayment(payment(inv, "charge-s"))
    await billing.ReserveCredits(
        pb.ReserveCreditsRequest(
            telegram_id=BUYER, amount=start + paid.payment.credits_granted, idempotency_key="all"
        )
    )
    error = await refused(
        billing.RefundPayment(pb.RefundPaymentRequest(telegram_payment_charge_id="charge-s"))
    )
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "spent" in (error.details() or "")
    assert await db.fetchval("SELECT refunded_at FROM billing.payments") is None
    missing = await refused(
        billing.RefundPayment(pb.RefundPaymentRequest(telegram_payment_charge_id="no-such-charge"))
    )
    assert missing.code() == grpc.StatusCode.NOT_FOUND


async def test_a_monthly_subscription_makes_pro_and_renews(billing, db):
    await user(billing)
    inv = await invoice(billing, "sub_monthly")
    ends = int((datetime.now(UTC) + timedelta(days=30)).timestamp())
    first = await billing.CompletePayment(
        payment(
            inv,
            "sub-1",
            subscription_expiration_date=ends,
            is_recurring=True,
            is_first_recurring=True,
        )
    )
    me = (await billing.GetUser(pb.GetUserRequest(telegram_id=BUYER))).user
    assert me.tier == pb.TIER_PRO
    assert me.pro_until.seconds == ends
    renewal = await billing.CompletePayment(
        payment(inv, "sub-2", subscription_expiration_date=ends + 30 * 86400, is_recurring=True)
    )
    assert renewal.balance == first.balance + first.payment.credits_granted
    me = (await billing.GetUser(pb.GetUserRequest(telegram_id=BUYER))).user
    assert me.pro_until.seconds == ends + 30 * 86400
    assert await db.fetchval("SELECT count(*) FROM billing.subscription_periods") == 2


async def test_an_annual_subscription_grants_the_allowance_once_per_period(billing, db, base_env):
    from billing_svc.payments import Payments
    from billing_svc.settings import BillingSettings
    from tests.conftest import make_settings

    await user(billing)
    inv = await invoice(billing, "sub_annual")
    paid = await billing.CompletePayment(payment(inv, "annual-1"))
    me = (await billing.GetUser(pb.GetUserRequest(telegram_id=BUYER))).user
    assert me.tier == pb.TIER_PRO
    days = (me.pro_until.ToDatetime(UTC) - datetime.now(UTC)).days
    assert 364 <= days <= 365
    payments = Payments(db, make_settings(BillingSettings, base_env))
    assert await payments.grant_allowances() == 0  # the first period was paid for at purchase
    await db.execute(
        "UPDATE billing.accounts SET allowance_period_start = "
        "allowance_period_start - interval '31 days'"
    )
    assert await payments.grant_allowances() == 1
    assert await payments.grant_allowances() == 0
    balance = (await billing.GetBalance(pb.GetBalanceRequest(telegram_id=BUYER))).balance
    assert balance == paid.balance + paid.payment.credits_granted


async def test_the_referrer_is_rewarded_once_on_the_first_payment(billing, db):
    referrer = await user(billing, 3001)
    referred = await user(billing, 3002, referral_code=referrer.referral_code)
    assert referred.referrer_id == 3001
    before = referrer.balance
    for charge in ("first", "second"):
        inv = await invoice(billing, telegram_id=3002)
        await billing.CompletePayment(payment(inv, charge, telegram_id=3002))
    after = (await billing.GetBalance(pb.GetBalanceRequest(telegram_id=3001))).balance
    assert after == before + 5
    assert await db.fetchval("SELECT count(*) FROM billing.ledger WHERE kind = 'referral'") == 1


async def test_a_referral_link_counts_only_for_a_new_user_and_never_for_oneself(billing):
    me = await user(billing, 3003)
    again = await billing.EnsureUser(
        pb.EnsureUserRequest(telegram_id=3003, referral_code=me.referral_code)
    )
    assert again.user.referrer_id == 0 and not again.created
    other = await user(billing, 3004)
    late = await billing.EnsureUser(
        pb.EnsureUserRequest(telegram_id=3003, referral_code=other.referral_code)
    )
    assert late.user.referrer_id == 0
    loop = await billing.EnsureUser(
        pb.EnsureUserRequest(telegram_id=3004, referral_code=me.referral_code)
    )
    assert loop.user.referrer_id == 0  # 3004 existed already: no link, so no loop
