"""Stars payments: checkout validation, crediting once, refunds, subscriptions, referrals."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from mediabot.billing.v1 import billing_pb2 as pb

from billing_svc.payments import InvoiceSigner
from tests.support.ids import tg
from tests.support.settings import INVOICE_SECRET

BUYER = tg(2001)


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


async def travel(db, days: float, telegram_id: int = BUYER) -> None:
    """Move an account `days` into the future: its subscription times go back by that much."""
    shift = timedelta(days=days)
    await db.execute(
        "UPDATE billing.subscription_periods SET starts_at = starts_at - $2::interval, "
        "ends_at = ends_at - $2::interval WHERE telegram_id = $1",
        telegram_id, shift,
    )  # fmt: skip
    await db.execute(
        "UPDATE billing.accounts SET pro_until = pro_until - $2::interval WHERE telegram_id = $1",
        telegram_id, shift,
    )  # fmt: skip


async def pro_until(db, telegram_id: int = BUYER) -> datetime:
    return await db.fetchval(
        "SELECT pro_until FROM billing.accounts WHERE telegram_id = $1", telegram_id
    )


async def balance_of(billing, telegram_id: int = BUYER) -> int:
    return (await billing.GetBalance(pb.GetBalanceRequest(telegram_id=telegram_id))).balance


async def refund(billing, charge_id: str):
    return await billing.RefundPayment(
        pb.RefundPaymentRequest(telegram_payment_charge_id=charge_id, reason="asked")
    )


@pytest.fixture
def payments(db, base_env):
    """The payments domain on the test database, to run the allowance sweep by hand."""
    from billing_svc.payments import Payments
    from billing_svc.settings import BillingSettings
    from tests.support.settings import make_settings

    return Payments(db, make_settings(BillingSettings, base_env))


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
    await user(billing, tg(2002))
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
        "another user's payload": check(telegram_id=tg(2002)),
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
    assert me.monthly_charge_id == "sub-1"  # what the bot cancels or resumes renewal with
    renewal = await billing.CompletePayment(
        payment(inv, "sub-2", subscription_expiration_date=ends + 30 * 86400, is_recurring=True)
    )
    assert renewal.balance == first.balance + first.payment.credits_granted
    me = (await billing.GetUser(pb.GetUserRequest(telegram_id=BUYER))).user
    assert me.pro_until.seconds == ends + 30 * 86400
    assert me.monthly_charge_id == "sub-2"
    assert await db.fetchval("SELECT count(*) FROM billing.subscription_periods") == 2


async def test_an_annual_subscription_grants_the_allowance_once_per_period(billing, db, base_env):
    from billing_svc.payments import Payments
    from billing_svc.settings import BillingSettings
    from tests.support.settings import make_settings

    await user(billing)
    inv = await invoice(billing, "sub_annual")
    paid = await billing.CompletePayment(payment(inv, "annual-1"))
    me = (await billing.GetUser(pb.GetUserRequest(telegram_id=BUYER))).user
    assert me.tier == pb.TIER_PRO
    days = (me.pro_until.ToDatetime(UTC) - datetime.now(UTC)).days
    assert 364 <= days <= 365
    payments = Payments(db, make_settings(BillingSettings, base_env))
    assert await payments.grant_allowances() == 0  # the first period was paid for at purchase
    await travel(db, days=31)
    assert await payments.grant_allowances() == 1
    assert await payments.grant_allowances() == 0
    balance = (await billing.GetBalance(pb.GetBalanceRequest(telegram_id=BUYER))).balance
    assert balance == paid.balance + paid.payment.credits_granted


async def test_the_referrer_is_rewarded_once_on_the_first_payment(billing, db):
    referrer = await user(billing, tg(3001))
    referred = await user(billing, tg(3002), referral_code=referrer.referral_code)
    assert referred.referrer_id == tg(3001)
    counted = await billing.GetUser(pb.GetUserRequest(telegram_id=tg(3001)))
    assert (counted.user.referral_count, referred.referral_count) == (1, 0)
    before = referrer.balance
    for charge in ("first", "second"):
        inv = await invoice(billing, telegram_id=tg(3002))
        await billing.CompletePayment(payment(inv, charge, telegram_id=tg(3002)))
    after = (await billing.GetBalance(pb.GetBalanceRequest(telegram_id=tg(3001)))).balance
    assert after == before + 5
    assert await db.fetchval("SELECT count(*) FROM billing.ledger WHERE kind = 'referral'") == 1


async def test_a_referral_link_counts_only_for_a_new_user_and_never_for_oneself(billing):
    me = await user(billing, tg(3003))
    again = await billing.EnsureUser(
        pb.EnsureUserRequest(telegram_id=tg(3003), referral_code=me.referral_code)
    )
    assert again.user.referrer_id == 0 and not again.created
    other = await user(billing, tg(3004))
    late = await billing.EnsureUser(
        pb.EnsureUserRequest(telegram_id=tg(3003), referral_code=other.referral_code)
    )
    assert late.user.referrer_id == 0
    loop = await billing.EnsureUser(
        pb.EnsureUserRequest(telegram_id=tg(3004), referral_code=me.referral_code)
    )
    assert loop.user.referrer_id == 0  # 3004 existed already: no link, so no loop


async def test_refunding_an_ended_period_does_not_extend_pro(billing, db):
    await user(billing)
    ends = int((datetime.now(UTC) + timedelta(days=30)).timestamp())
    await billing.CompletePayment(
        payment(await invoice(billing, "sub_monthly"), "m-old", subscription_expiration_date=ends)
    )
    await travel(db, days=40)  # that month ended 10 days ago
    await billing.CompletePayment(payment(await invoice(billing, "sub_annual"), "a-now"))
    before = await pro_until(db)
    assert before > datetime.now(UTC) + timedelta(days=364)
    await refund(billing, "m-old")
    assert await pro_until(db) == before


async def test_refunding_the_current_period_removes_what_is_left_of_it(billing, db):
    await user(billing)
    await billing.CompletePayment(payment(await invoice(billing, "sub_annual"), "a-cur"))
    await billing.CompletePayment(payment(await invoice(billing, "sub_monthly"), "m-next"))
    annual_end = await db.fetchval(
        "SELECT ends_at FROM billing.subscription_periods WHERE charge_id = 'a-cur'"
    )
    assert await pro_until(db) == annual_end + timedelta(days=30)  # the month waits its turn
    await travel(db, days=3)
    start = datetime.now(UTC)
    await refund(billing, "a-cur")
    end = datetime.now(UTC)
    month = await db.fetchrow(
        "SELECT starts_at, ends_at FROM billing.subscription_periods WHERE charge_id = 'm-next'"
    )
    assert start - timedelta(seconds=1) <= month["starts_at"] <= end  # the month begins now
    assert month["ends_at"] - month["starts_at"] == timedelta(days=30)
    assert await pro_until(db) == month["ends_at"]
    await refund(billing, "m-next")
    assert await pro_until(db) <= datetime.now(UTC)
    me = (await billing.GetUser(pb.GetUserRequest(telegram_id=BUYER))).user
    assert me.tier == pb.TIER_FREE


async def test_refunding_a_future_renewal_removes_the_whole_period(billing, db):
    await user(billing)
    inv = await invoice(billing, "sub_monthly")
    first_end = int((datetime.now(UTC) + timedelta(days=30)).timestamp())
    await billing.CompletePayment(payment(inv, "m-1", subscription_expiration_date=first_end))
    await billing.CompletePayment(
        payment(inv, "m-2", subscription_expiration_date=first_end + 30 * 86400)
    )
    await refund(billing, "m-2")
    assert (await pro_until(db)).timestamp() == first_end


async def test_a_refund_takes_back_the_referral_reward_it_paid(billing, billing_admin, db):
    referrer = await user(billing, tg(3001))
    await user(billing, tg(3002), referral_code=referrer.referral_code)
    inv = await invoice(billing, telegram_id=tg(3002))
    await billing.CompletePayment(payment(inv, "ref-pay", telegram_id=tg(3002)))
    assert await balance_of(billing, tg(3001)) == referrer.balance + 5
    answers = await asyncio.gather(*(refund(billing, "ref-pay") for _ in range(10)))
    assert all(a.payment.refunded for a in answers)
    assert await balance_of(billing, tg(3001)) == referrer.balance
    entries = await db.fetch(
        "SELECT amount, kind, reference FROM billing.ledger WHERE telegram_id = $1 "
        "AND kind = 'referral' ORDER BY id",
        tg(3001),
    )
    referred = str(tg(3002))
    assert [tuple(e) for e in entries] == [(5, "referral", referred), (-5, "referral", referred)]
    log = await billing_admin.ListAuditLog(pb.ListAuditLogRequest(telegram_id=tg(3001)))
    reversed_ = [e for e in log.entries if e.action == "referral_reward_reversed"]
    assert len(reversed_) == 1
    assert '"credits": 5' in reversed_[0].details and '"reward": 5' in reversed_[0].details
    assert f'"referred_id": {tg(3002)}' in reversed_[0].details


async def test_taking_back_a_referral_reward_never_leaves_a_negative_balance(billing, db):
    for referrer_id, referred_id, keep in ((tg(3001), tg(3002), 2), (tg(3003), tg(3004), 0)):
        referrer = await user(billing, referrer_id)
        await user(billing, referred_id, referral_code=referrer.referral_code)
        inv = await invoice(billing, telegram_id=referred_id)
        await billing.CompletePayment(payment(inv, f"pay-{referred_id}", telegram_id=referred_id))
        await billing.ReserveCredits(
            pb.ReserveCreditsRequest(telegram_id=referrer_id, amount=referrer.balance + 5 - keep,
                                     idempotency_key=f"spend-{referrer_id}")
        )  # fmt: skip
        assert await balance_of(billing, referrer_id) == keep
        await refund(billing, f"pay-{referred_id}")
        assert await balance_of(billing, referrer_id) == 0
        taken = await db.fetch(
            "SELECT amount FROM billing.ledger WHERE telegram_id = $1 AND kind = 'referral' "
            "AND amount < 0",
            referrer_id,
        )
        assert [t["amount"] for t in taken] == ([-keep] if keep else [])
        details = await db.fetchval(
            "SELECT details FROM billing.audit_log WHERE telegram_id = $1 "
            "AND action = 'referral_reward_reversed'",
            referrer_id,
        )
        assert f'"credits": {keep}' in details and '"reward": 5' in details


async def test_refunding_a_later_payment_leaves_the_referral_reward(billing, db):
    referrer = await user(billing, tg(3001))
    await user(billing, tg(3002), referral_code=referrer.referral_code)
    for charge in ("first", "second"):
        inv = await invoice(billing, telegram_id=tg(3002))
        await billing.CompletePayment(payment(inv, charge, telegram_id=tg(3002)))
    await refund(billing, "second")
    assert await balance_of(billing, tg(3001)) == referrer.balance + 5
    await refund(billing, "first")
    assert await balance_of(billing, tg(3001)) == referrer.balance
    await billing.CompletePayment(  # the reward is per referred user: it is not earned again
        payment(await invoice(billing, telegram_id=tg(3002)), "third", telegram_id=tg(3002))
    )
    assert await balance_of(billing, tg(3001)) == referrer.balance


async def test_a_monthly_bought_during_an_annual_keeps_the_annual_allowances(billing, db, payments):
    await user(billing)
    await billing.CompletePayment(payment(await invoice(billing, "sub_annual"), "a-1"))
    annual_end = await pro_until(db)
    monthly = await invoice(billing, "sub_monthly")
    ends = int((datetime.now(UTC) + timedelta(days=30)).timestamp())
    await billing.CompletePayment(payment(monthly, "m-1", subscription_expiration_date=ends))
    me = (await billing.GetUser(pb.GetUserRequest(telegram_id=BUYER))).user
    assert me.subscription_product_id == "sub_annual"  # the current period is the annual one
    assert me.pro_until.ToDatetime(UTC) == annual_end + timedelta(days=30)
    await travel(db, days=31)
    assert await payments.grant_allowances() == 1
    ends = int((datetime.now(UTC) + timedelta(days=30)).timestamp())
    await billing.CompletePayment(payment(monthly, "m-2", subscription_expiration_date=ends))
    await travel(db, days=30)
    assert await payments.grant_allowances() == 1
    await travel(db, days=305)  # day 366: the annual period is over, the first month runs
    me = (await billing.GetUser(pb.GetUserRequest(telegram_id=BUYER))).user
    assert me.subscription_product_id == "sub_monthly" and me.tier == pb.TIER_PRO


async def test_an_annual_period_grants_twelve_allowances(billing, db, payments):
    start = (await user(billing)).balance
    paid = await billing.CompletePayment(payment(await invoice(billing, "sub_annual"), "a-12"))
    allowance = paid.payment.credits_granted
    await travel(db, days=361)  # the window that began on day 360 is not a full one
    sweeps = await asyncio.gather(*(payments.grant_allowances() for _ in range(3)))
    assert sum(sweeps) == 11  # concurrent sweepers grant each window once
    assert await payments.grant_allowances() == 0
    await travel(db, days=5)
    assert await payments.grant_allowances() == 0
    assert await balance_of(billing) == start + 12 * allowance
    assert (
        await db.fetchval("SELECT count(*) FROM billing.ledger WHERE kind = 'subscription'") == 12
    )


async def test_refunding_an_annual_period_takes_back_its_allowances_and_stops_them(
    billing, db, payments
):
    start = (await user(billing)).balance
    paid = await billing.CompletePayment(payment(await invoice(billing, "sub_annual"), "a-r"))
    await travel(db, days=31)
    assert await payments.grant_allowances() == 1
    assert await balance_of(billing) == start + 2 * paid.payment.credits_granted
    refunded = await refund(billing, "a-r")
    assert refunded.credits_debited == 2 * paid.payment.credits_granted
    again = await refund(billing, "a-r")  # a retry tells what the refund took
    assert again.credits_debited == refunded.credits_debited
    await travel(db, days=30)
    assert await payments.grant_allowances() == 0
    assert await balance_of(billing) == start


async def test_an_annual_refund_is_refused_when_its_allowances_are_spent(billing, db, payments):
    start = (await user(billing)).balance
    paid = await billing.CompletePayment(payment(await invoice(billing, "sub_annual"), "a-s"))
    await travel(db, days=31)
    assert await payments.grant_allowances() == 1
    spent = start + paid.payment.credits_granted + 1  # leaves less than the two windows
    await billing.ReserveCredits(pb.ReserveCreditsRequest(
        telegram_id=BUYER, amount=spent, idempotency_key="spend"))  # fmt: skip
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await refund(billing, "a-s")
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "spent" in err.value.details()


async def test_a_monthly_payment_never_buys_much_more_than_its_month(billing, db):
    await user(billing)
    far = int((datetime.now(UTC) + timedelta(days=9 * 365)).timestamp())
    inv = await invoice(billing, "sub_monthly")
    await billing.CompletePayment(payment(inv, "m-far", subscription_expiration_date=far))
    left = await pro_until(db) - datetime.now(UTC)
    assert timedelta(days=32) < left <= timedelta(days=33)


async def test_bad_payment_input_is_invalid_and_changes_nothing(billing, db):
    await user(billing)
    inv = await invoice(billing, "sub_monthly")
    await billing.CompletePayment(payment(inv, "kept"))
    now = int(datetime.now(UTC).timestamp())
    tables = ("accounts", "ledger", "payments", "subscription_periods", "audit_log")

    async def snapshot() -> list:
        return [await db.fetch(f"SELECT * FROM billing.{t} ORDER BY 1") for t in tables]

    before = await snapshot()
    cases = [
        (payment(inv, "e1", subscription_expiration_date=2**40), "subscription_expiration_date"),
        (payment(inv, "e2", subscription_expiration_date=now + 11 * 366 * 86400),
         "subscription_expiration_date"),
        (payment(inv, "e3", subscription_expiration_date=-1), "subscription_expiration_date"),
        (payment(inv, "nul\x00"), "telegram_payment_charge_id"),
        (payment(inv, "line\nbreak"), "telegram_payment_charge_id"),
        (payment(inv, "bell\x07"), "telegram_payment_charge_id"),
        (payment(inv, "p1", provider_payment_charge_id="p\x00"), "provider_payment_charge_id"),
    ]  # fmt: skip
    for index, (request, field) in enumerate(cases):
        error = await refused(billing.CompletePayment(request))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, index
        assert field in (error.details() or ""), index
    refunds = [
        (pb.RefundPaymentRequest(telegram_payment_charge_id="kept\x00"),
         "telegram_payment_charge_id"),
        (pb.RefundPaymentRequest(telegram_payment_charge_id="kept", reason="why\x00"), "reason"),
        (pb.RefundPaymentRequest(telegram_payment_charge_id="kept", reason="esc\x1b[0m"),
         "reason"),
    ]  # fmt: skip
    for index, (request, field) in enumerate(refunds):
        error = await refused(billing.RefundPayment(request))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, index
        assert field in (error.details() or ""), index
    assert await snapshot() == before
    far = now + 9 * 365 * 86400  # far, but a real date: accepted, for one month's worth
    await billing.CompletePayment(payment(inv, "far", subscription_expiration_date=far))
    assert (await pro_until(db)).timestamp() < now + (30 + 33 + 1) * 86400
    done = await billing.RefundPayment(
        pb.RefundPaymentRequest(telegram_payment_charge_id="far", reason="asked:\r\n\tduplicate")
    )
    assert done.payment.refunded
    assert (
        await db.fetchval("SELECT refund_reason FROM billing.payments WHERE charge_id = 'far'")
        == "asked:\n\tduplicate"
    )


async def test_a_refund_racing_the_allowance_sweeps_leaves_nothing_of_the_period(
    billing, db, payments
):
    start = (await user(billing)).balance
    await billing.CompletePayment(payment(await invoice(billing, "sub_annual"), "race"))
    await travel(db, days=61)  # windows 1 and 2 are due
    outcome = await asyncio.gather(
        refund(billing, "race"), *(payments.grant_allowances() for _ in range(3))
    )
    # Whichever came first, every credit the period brought went back.
    assert outcome[0].payment.refunded
    assert await balance_of(billing) == start
    assert await payments.grant_allowances() == 0
    assert await pro_until(db) <= datetime.now(UTC)


async def test_two_refunds_of_one_subscriber_at_once_remove_both_periods(billing, db):
    start = (await user(billing)).balance
    first = await billing.CompletePayment(payment(await invoice(billing, "sub_monthly"), "m1"))
    await billing.CompletePayment(payment(await invoice(billing, "sub_monthly"), "m2"))
    assert await pro_until(db) > datetime.now(UTC) + timedelta(days=59)
    done = await asyncio.gather(refund(billing, "m1"), refund(billing, "m2"))
    assert all(d.payment.refunded for d in done)
    assert sum(d.credits_debited for d in done) == 2 * first.payment.credits_granted
    assert await pro_until(db) <= datetime.now(UTC)
    assert await balance_of(billing) == start
