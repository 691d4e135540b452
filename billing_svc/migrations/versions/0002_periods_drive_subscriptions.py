"""Subscriptions are read from their periods: the account no longer keeps the
product and allowance window of the last one bought.

Revision ID: 0002
Revises: 0001
"""

from common.migrate import execute_script

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(
        """
        ALTER TABLE billing.accounts DROP COLUMN subscription_product_id;
        ALTER TABLE billing.accounts DROP COLUMN allowance_period_start
        """
    )


def downgrade() -> None:
    execute_script(
        """
        ALTER TABLE billing.accounts ADD COLUMN subscription_product_id text NOT NULL DEFAULT '';
        ALTER TABLE billing.accounts ADD COLUMN allowance_period_start timestamptz
        """
    )
