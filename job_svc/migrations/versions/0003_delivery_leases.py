"""Leases of finished jobs handed to the bot gateways, so that several gateways
share the deliveries and one that goes quiet loses its jobs to another.

Revision ID: 0003
Revises: 0002
"""

from common.server.migrate import execute_script

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(
        """
        ALTER TABLE jobs.jobs
            -- the WatchDeliveries stream the undelivered job is leased to, until
            -- delivery_lease_until; NULL when it is nobody's
            ADD COLUMN delivery_stream uuid,
            ADD COLUMN delivery_lease_until timestamptz,
            -- the gateway that took it last, then the one whose ack counted
            ADD COLUMN delivery_gateway text NOT NULL DEFAULT '',
            -- how many times it was handed to a stream
            ADD COLUMN delivery_attempts integer NOT NULL DEFAULT 0,
            ADD CHECK ((delivery_stream IS NULL) = (delivery_lease_until IS NULL));
        CREATE INDEX jobs_delivery_leases ON jobs.jobs (delivery_stream)
            WHERE delivery_stream IS NOT NULL
        """
    )


def downgrade() -> None:
    execute_script(
        """
        ALTER TABLE jobs.jobs DROP COLUMN delivery_stream, DROP COLUMN delivery_lease_until,
            DROP COLUMN delivery_gateway, DROP COLUMN delivery_attempts
        """
    )
