"""Builds and runs billing_svc: the gRPC server, its pool and its sweeper."""

from __future__ import annotations

from mediabot.billing.v1 import billing_pb2, billing_pb2_grpc

from billing_svc.accounts import Accounts
from billing_svc.payments import Payments
from billing_svc.reports import Reports
from billing_svc.reservations import Reservations
from billing_svc.servicer import ADMIN_METHODS, BillingServicer
from billing_svc.settings import BillingSettings
from common.server.db import create_pool
from common.server.rpc import Credentials, Service, ServiceBinding, create_grpc_server, every

SERVICE = billing_pb2.DESCRIPTOR.services_by_name["BillingService"]


async def create_server(settings: BillingSettings, address: str | None = None) -> Service:
    """The billing service bound to `address` (default BILLING_GRPC_ADDR), not yet started."""
    pool = await create_pool(settings.DATABASE_URL, settings.DB_POOL_SIZE)
    reservations = Reservations(pool)
    payments = Payments(pool, settings)
    servicer = BillingServicer(
        Accounts(pool, settings.FREE_CREDITS), reservations, payments, Reports(pool)
    )
    service = create_grpc_server(
        [
            ServiceBinding(
                billing_pb2_grpc.add_BillingServiceServicer_to_server,
                servicer,
                SERVICE,
                ADMIN_METHODS,
            )
        ],
        Credentials(
            settings.SERVICE_TOKEN.get_secret_value(), settings.ADMIN_API_TOKEN.get_secret_value()
        ),
        address or settings.BILLING_GRPC_ADDR,
        "BILLING_GRPC_ADDR",
    )

    async def sweep() -> None:
        await reservations.sweep_expired()
        await payments.grant_allowances()

    service.background.append(lambda: every(settings.SWEEP_INTERVAL_SECONDS, sweep, "sweeper"))
    service.closers.append(pool.close)
    return service
