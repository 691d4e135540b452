"""billing_svc settings: the common ones plus prices, packs and rewards."""

from __future__ import annotations

from pydantic import Field

from common.server.settings import ServiceSettings
from common.settings import Secret


class BillingSettings(ServiceSettings):
    """Everything billing_svc reads from the environment."""

    #: Credits a new user gets once.
    FREE_CREDITS: int = Field(default=10, ge=0, le=1_000_000)
    #: Credits a referrer earns on the first payment of each referred user.
    REFERRAL_REWARD: int = Field(default=5, ge=0, le=1_000_000)
    #: Price in Stars and credits of the starter pack.
    PACK_STARTER_STARS: int = Field(default=50, ge=1, le=100_000)
    PACK_STARTER_CREDITS: int = Field(default=50, ge=1, le=1_000_000)
    #: Price in Stars and credits of the pro pack.
    PACK_PRO_STARS: int = Field(default=250, ge=1, le=100_000)
    PACK_PRO_CREDITS: int = Field(default=300, ge=1, le=1_000_000)
    #: Price in Stars of the monthly subscription (Telegram allows at most 10,000).
    SUB_MONTHLY_STARS: int = Field(default=300, ge=1, le=10_000)
    #: Price in Stars of the annual (365-day, one-off) subscription.
    SUB_ANNUAL_STARS: int = Field(default=3000, ge=1, le=100_000)
    #: Credits a subscriber gets at the start of every 30-day period.
    SUB_MONTHLY_CREDITS: int = Field(default=300, ge=0, le=1_000_000)
    #: Key that signs invoice payloads so a payload cannot be forged (required).
    INVOICE_SECRET: Secret
    #: How often the sweeper releases expired holds and grants allowances.
    SWEEP_INTERVAL_SECONDS: float = Field(default=30.0, gt=0, le=3600)
