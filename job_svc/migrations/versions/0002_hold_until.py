"""When the hold of an unfinished job expires, so that it is extended in time.

Revision ID: 0002
Revises: 0001
"""

from common.server.migrate import execute_script

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(
        """
        ALTER TABLE jobs.jobs ADD COLUMN hold_until timestamptz;
        UPDATE jobs.jobs SET hold_until = created_at + interval '24 hours'
            WHERE charge = 'held';
        CREATE INDEX jobs_holds ON jobs.jobs (hold_until)
            WHERE charge = 'held' AND status IN ('queued', 'running')
        """
    )


def downgrade() -> None:
    execute_script("ALTER TABLE jobs.jobs DROP COLUMN hold_until")
