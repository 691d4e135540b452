"""BillingService over gRPC: translates messages to domain calls and back."""

from __future__ import annotations

import asyncpg
import grpc
from mediabot.billing.v1 import billing_pb2 as pb
from mediabot.billing.v1 import billing_pb2_grpc

from billing_svc.accounts import Accounts
from billing_svc.payments import CURRENCY, SUBSCRIPTION_PERIOD, Payments, Product, ProductKind
from billing_svc.reports import Reports
from billing_svc.reservations import HoldStatus, Reservations
from common import validate
from common.convert import next_token, timestamp
from common.server.rpc import current_actor

ADMIN_METHODS = (
    "GetStats", "FindUsers", "GrantCredits", "SetBanned", "ListAuditLog", "ListPayments",
)  # fmt: skip

_RESERVATION_STATUS = {
    HoldStatus.HELD: pb.RESERVATION_STATUS_HELD,
    HoldStatus.CAPTURED: pb.RESERVATION_STATUS_CAPTURED,
    HoldStatus.RELEASED: pb.RESERVATION_STATUS_RELEASED,
}
_PRODUCT_KIND = {
    ProductKind.PACK: pb.PRODUCT_KIND_CREDIT_PACK,
    ProductKind.MONTHLY: pb.PRODUCT_KIND_SUBSCRIPTION_MONTHLY,
    ProductKind.ANNUAL: pb.PRODUCT_KIND_SUBSCRIPTION_ANNUAL,
}


def user_message(row: asyncpg.Record) -> pb.User:
    return pb.User(
        telegram_id=row["telegram_id"],
        username=row["username"],
        language=row["language"],
        balance=row["balance"],
        tier=pb.TIER_PRO if row["is_pro"] else pb.TIER_FREE,
        pro_until=timestamp(row["pro_until"]),
        banned=row["banned"],
        referral_code=row["referral_code"],
        referrer_id=row["referrer_id"] or 0,
        created_at=timestamp(row["created_at"]),
        subscription_product_id=row["subscription_product_id"],
        referral_count=row["referral_count"],
        monthly_charge_id=row["monthly_charge_id"],
    )


def reservation_message(row: asyncpg.Record) -> pb.Reservation:
    return pb.Reservation(
        id=str(row["id"]),
        telegram_id=row["telegram_id"],
        amount=row["amount"],
        status=_RESERVATION_STATUS[row["status"]],
        idempotency_key=row["idempotency_key"],
        purpose=row["purpose"],
        expires_at=timestamp(row["expires_at"]),
        created_at=timestamp(row["created_at"]),
    )


def product_message(product: Product) -> pb.Product:
    return pb.Product(
        id=product.id,
        kind=_PRODUCT_KIND[product.kind],
        title=product.title,
        description=product.description,
        price_stars=product.price_stars,
        credits=product.credits,
        period_days=product.period_days,
    )


def payment_message(row: asyncpg.Record) -> pb.Payment:
    return pb.Payment(
        telegram_payment_charge_id=row["charge_id"],
        telegram_id=row["telegram_id"],
        product_id=row["product_id"],
        amount=row["amount"],
        credits_granted=row["credits_granted"],
        refunded=row["refunded_at"] is not None,
        created_at=timestamp(row["created_at"]),
        refunded_at=timestamp(row["refunded_at"]),
        is_recurring=row["is_recurring"],
    )


class BillingServicer(billing_pb2_grpc.BillingServiceServicer):
    """Every RPC of mediabot.billing.v1.BillingService."""

    def __init__(
        self,
        accounts: Accounts,
        reservations: Reservations,
        payments: Payments,
        reports: Reports,
    ) -> None:
        self._accounts = accounts
        self._reservations = reservations
        self._payments = payments
        self._reports = reports

    async def EnsureUser(
        self, request: pb.EnsureUserRequest, context: grpc.aio.ServicerContext
    ) -> pb.EnsureUserResponse:
        row, created = await self._accounts.ensure(
            request.telegram_id,
            request.username,
            request.language_code,
            request.referral_code,
            current_actor.get(),
        )
        return pb.EnsureUserResponse(user=user_message(row), created=created)

    async def GetUser(
        self, request: pb.GetUserRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetUserResponse:
        return pb.GetUserResponse(user=user_message(await self._accounts.get(request.telegram_id)))

    async def UpdateUser(
        self, request: pb.UpdateUserRequest, context: grpc.aio.ServicerContext
    ) -> pb.UpdateUserResponse:
        row = await self._accounts.update(request.telegram_id, request.language)
        return pb.UpdateUserResponse(user=user_message(row))

    async def GetBalance(
        self, request: pb.GetBalanceRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetBalanceResponse:
        row = await self._accounts.get(request.telegram_id)
        return pb.GetBalanceResponse(
            balance=row["balance"],
            tier=pb.TIER_PRO if row["is_pro"] else pb.TIER_FREE,
            pro_until=timestamp(row["pro_until"]),
        )

    async def ListLedger(
        self, request: pb.ListLedgerRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListLedgerResponse:
        size, before = validate.page(request.page_size, request.page_token, default=50, maximum=200)
        rows = await self._accounts.ledger(request.telegram_id, size, before)
        return pb.ListLedgerResponse(
            entries=[
                pb.LedgerEntry(
                    id=r["id"],
                    telegram_id=r["telegram_id"],
                    amount=r["amount"],
                    kind=r["kind"],
                    reference=r["reference"],
                    note=r["note"],
                    balance_after=r["balance_after"],
                    created_at=timestamp(r["created_at"]),
                )
                for r in rows
            ],
            next_page_token=next_token(rows, size, rows[-1]["id"] if rows else None),
        )

    async def ReserveCredits(
        self, request: pb.ReserveCreditsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ReserveCreditsResponse:
        row, balance, pro = await self._reservations.reserve(
            request.telegram_id,
            request.amount,
            request.idempotency_key,
            request.purpose,
            request.ttl_seconds,
            current_actor.get(),
        )
        return pb.ReserveCreditsResponse(
            reservation=reservation_message(row),
            balance=balance,
            tier=pb.TIER_PRO if pro else pb.TIER_FREE,
        )

    async def CaptureReservation(
        self, request: pb.CaptureReservationRequest, context: grpc.aio.ServicerContext
    ) -> pb.CaptureReservationResponse:
        row = await self._reservations.capture(request.reservation_id, current_actor.get())
        return pb.CaptureReservationResponse(reservation=reservation_message(row))

    async def ReleaseReservation(
        self, request: pb.ReleaseReservationRequest, context: grpc.aio.ServicerContext
    ) -> pb.ReleaseReservationResponse:
        row, balance = await self._reservations.release(
            request.reservation_id, request.reason, current_actor.get()
        )
        return pb.ReleaseReservationResponse(reservation=reservation_message(row), balance=balance)

    async def ExtendReservation(
        self, request: pb.ExtendReservationRequest, context: grpc.aio.ServicerContext
    ) -> pb.ExtendReservationResponse:
        row = await self._reservations.extend(request.reservation_id, request.ttl_seconds)
        return pb.ExtendReservationResponse(reservation=reservation_message(row))

    async def ListProducts(
        self, request: pb.ListProductsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListProductsResponse:
        return pb.ListProductsResponse(
            products=[product_message(p) for p in self._payments.products.values()]
        )

    async def CreateInvoice(
        self, request: pb.CreateInvoiceRequest, context: grpc.aio.ServicerContext
    ) -> pb.CreateInvoiceResponse:
        product, payload = await self._payments.invoice(request.telegram_id, request.product_id)
        monthly = product.kind is ProductKind.MONTHLY
        return pb.CreateInvoiceResponse(
            title=product.title[:32],
            description=product.description[:255],
            payload=payload,
            currency=CURRENCY,
            amount=product.price_stars,
            subscription_period=SUBSCRIPTION_PERIOD if monthly else 0,
            product=product_message(product),
        )

    async def PreCheckout(
        self, request: pb.PreCheckoutRequest, context: grpc.aio.ServicerContext
    ) -> pb.PreCheckoutResponse:
        product = await self._payments.pre_checkout(
            request.telegram_id, request.invoice_payload, request.currency, request.total_amount
        )
        return pb.PreCheckoutResponse(product=product_message(product))

    async def CompletePayment(
        self, request: pb.CompletePaymentRequest, context: grpc.aio.ServicerContext
    ) -> pb.CompletePaymentResponse:
        payment, balance, replayed = await self._payments.complete(
            request.telegram_id,
            request.invoice_payload,
            request.currency,
            request.total_amount,
            request.telegram_payment_charge_id,
            request.provider_payment_charge_id,
            request.subscription_expiration_date,
            request.is_recurring,
            current_actor.get(),
        )
        return pb.CompletePaymentResponse(
            payment=payment_message(payment), balance=balance, already_completed=replayed
        )

    async def RefundPayment(
        self, request: pb.RefundPaymentRequest, context: grpc.aio.ServicerContext
    ) -> pb.RefundPaymentResponse:
        payment, debited = await self._payments.refund(
            request.telegram_payment_charge_id, request.reason, current_actor.get()
        )
        return pb.RefundPaymentResponse(payment=payment_message(payment), credits_debited=debited)

    async def GetStats(
        self, request: pb.GetStatsRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetStatsResponse:
        return pb.GetStatsResponse(**dict(await self._reports.stats()))

    async def FindUsers(
        self, request: pb.FindUsersRequest, context: grpc.aio.ServicerContext
    ) -> pb.FindUsersResponse:
        size, before = validate.page(request.page_size, request.page_token, default=50, maximum=200)
        rows = await self._accounts.find(request.query, size, before)
        return pb.FindUsersResponse(
            users=[user_message(r) for r in rows],
            next_page_token=next_token(rows, size, rows[-1]["telegram_id"] if rows else None),
        )

    async def GrantCredits(
        self, request: pb.GrantCreditsRequest, context: grpc.aio.ServicerContext
    ) -> pb.GrantCreditsResponse:
        balance = await self._accounts.grant(
            request.telegram_id,
            request.amount,
            request.reason,
            request.idempotency_key,
            current_actor.get(),
        )
        return pb.GrantCreditsResponse(balance=balance)

    async def SetBanned(
        self, request: pb.SetBannedRequest, context: grpc.aio.ServicerContext
    ) -> pb.SetBannedResponse:
        row = await self._accounts.set_banned(
            request.telegram_id, request.banned, request.reason, current_actor.get()
        )
        return pb.SetBannedResponse(user=user_message(row))

    async def ListAuditLog(
        self, request: pb.ListAuditLogRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListAuditLogResponse:
        size, before = validate.page(request.page_size, request.page_token, default=50, maximum=200)
        rows = await self._reports.audit_log(request.telegram_id, size, before)
        return pb.ListAuditLogResponse(
            entries=[
                pb.AuditEntry(
                    id=r["id"],
                    actor=r["actor"],
                    action=r["action"],
                    telegram_id=r["telegram_id"],
                    details=r["details"],
                    created_at=timestamp(r["created_at"]),
                )
                for r in rows
            ],
            next_page_token=next_token(rows, size, rows[-1]["id"] if rows else None),
        )

    async def ListPayments(
        self, request: pb.ListPaymentsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListPaymentsResponse:
        size, before = validate.page(request.page_size, request.page_token, default=50, maximum=200)
        rows = await self._reports.payments(request.telegram_id, size, before)
        return pb.ListPaymentsResponse(
            payments=[payment_message(r) for r in rows],
            next_page_token=next_token(rows, size, rows[-1]["seq"] if rows else None),
        )
