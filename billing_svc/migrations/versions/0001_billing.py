"""Billing schema: accounts, ledger, reservations, payments, subscriptions,
referrals and the audit log.

Revision ID: 0001
Revises:
"""

from alembic import op

from common.server.migrate import execute_script

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(
        """
        CREATE TABLE billing.accounts (
            telegram_id      bigint PRIMARY KEY CHECK (telegram_id > 0),
            username         text NOT NULL DEFAULT '' CHECK (length(username) <= 64),
            language         text NOT NULL DEFAULT 'en' CHECK (language IN ('en', 'ru')),
            -- cached sum of this account's ledger entries
            balance          bigint NOT NULL DEFAULT 0 CHECK (balance >= 0),
            pro_until        timestamptz,
            subscription_product_id text NOT NULL DEFAULT '',
            -- start of the last 30-day period whose allowance was granted
            allowance_period_start timestamptz,
            banned           boolean NOT NULL DEFAULT false,
            referral_code    text NOT NULL UNIQUE,
            referrer_id      bigint REFERENCES billing.accounts (telegram_id)
                             CHECK (referrer_id <> telegram_id),
            created_at       timestamptz NOT NULL DEFAULT now(),
            updated_at       timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX accounts_username ON billing.accounts (lower(username) text_pattern_ops);
        CREATE INDEX accounts_created ON billing.accounts (created_at);

        CREATE TABLE billing.ledger (
            id              bigserial PRIMARY KEY,
            telegram_id     bigint NOT NULL REFERENCES billing.accounts (telegram_id),
            amount          bigint NOT NULL CHECK (amount <> 0),
            kind            text NOT NULL CHECK (kind IN ('free', 'reserve', 'release',
                             'purchase', 'refund', 'subscription', 'referral', 'grant')),
            reference       text NOT NULL DEFAULT '',
            balance_after   bigint NOT NULL CHECK (balance_after >= 0),
            -- one entry per movement: a retry can never write it twice
            idempotency_key text NOT NULL UNIQUE,
            created_at      timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX ledger_account ON billing.ledger (telegram_id, id DESC);

        CREATE TABLE billing.reservations (
            id              uuid PRIMARY KEY,
            telegram_id     bigint NOT NULL REFERENCES billing.accounts (telegram_id),
            amount          bigint NOT NULL CHECK (amount > 0),
            status          text NOT NULL DEFAULT 'held'
                            CHECK (status IN ('held', 'captured', 'released')),
            idempotency_key text NOT NULL UNIQUE,
            purpose         text NOT NULL DEFAULT '',
            expires_at      timestamptz NOT NULL,
            created_at      timestamptz NOT NULL DEFAULT now(),
            finished_at     timestamptz,
            CHECK ((status = 'held') = (finished_at IS NULL))
        );
        CREATE INDEX reservations_expiry ON billing.reservations (expires_at)
            WHERE status = 'held';

        CREATE TABLE billing.payments (
            charge_id        text PRIMARY KEY CHECK (length(charge_id) BETWEEN 1 AND 256),
            -- paging order of the admin list
            seq              bigserial NOT NULL UNIQUE,
            telegram_id      bigint NOT NULL REFERENCES billing.accounts (telegram_id),
            product_id       text NOT NULL,
            amount           bigint NOT NULL CHECK (amount > 0),
            credits_granted  bigint NOT NULL CHECK (credits_granted >= 0),
            provider_charge_id text NOT NULL DEFAULT '',
            is_recurring     boolean NOT NULL DEFAULT false,
            refunded_at      timestamptz,
            refund_reason    text NOT NULL DEFAULT '',
            created_at       timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX payments_account ON billing.payments (telegram_id, created_at DESC);

        CREATE TABLE billing.subscription_periods (
            id           bigserial PRIMARY KEY,
            telegram_id  bigint NOT NULL REFERENCES billing.accounts (telegram_id),
            product_id   text NOT NULL,
            charge_id    text NOT NULL UNIQUE REFERENCES billing.payments (charge_id),
            starts_at    timestamptz NOT NULL,
            ends_at      timestamptz NOT NULL CHECK (ends_at > starts_at),
            created_at   timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX subscription_periods_account
            ON billing.subscription_periods (telegram_id, ends_at DESC);

        CREATE TABLE billing.referrals (
            referred_id  bigint PRIMARY KEY REFERENCES billing.accounts (telegram_id),
            referrer_id  bigint NOT NULL REFERENCES billing.accounts (telegram_id),
            rewarded_at  timestamptz,
            created_at   timestamptz NOT NULL DEFAULT now(),
            CHECK (referred_id <> referrer_id)
        );
        CREATE INDEX referrals_referrer ON billing.referrals (referrer_id);

        CREATE TABLE billing.audit_log (
            id           bigserial PRIMARY KEY,
            actor        text NOT NULL,
            action       text NOT NULL,
            telegram_id  bigint,
            details      jsonb NOT NULL DEFAULT '{}',
            created_at   timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX audit_log_account ON billing.audit_log (telegram_id, id DESC);
        """
    )


def downgrade() -> None:
    op.execute(
        "DROP TABLE billing.audit_log, billing.referrals, billing.subscription_periods, "
        "billing.payments, billing.reservations, billing.ledger, billing.accounts"
    )
