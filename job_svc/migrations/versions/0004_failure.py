"""Why a job failed, as a code clients turn into people's languages (the error
column keeps the English words). Failed jobs whose error is one of the service's
own fixed sentences get their code; a provider's free words stay without one.

Revision ID: 0004
Revises: 0003
"""

from common.server.migrate import execute_script

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(
        """
        ALTER TABLE jobs.jobs ADD COLUMN failure text CHECK (failure IN (
            'safety_block', 'unworkable_prompt', 'bad_input', 'provider_unavailable',
            'provider_refused', 'provider_gone', 'too_many_attempts', 'expired', 'internal'));
        UPDATE jobs.jobs SET failure = CASE
            WHEN error = 'internal error; the credits were refunded' THEN 'internal'
            WHEN error = 'the job waited too long and its credits were refunded' THEN 'expired'
            WHEN error LIKE 'the job could not be completed in % attempts; the credits were %'
                THEN 'too_many_attempts'
            WHEN error LIKE 'the provider kept failing, please try again later (%)'
                THEN 'provider_unavailable'
            WHEN error LIKE 'the provider % is gone; the credits were refunded' THEN 'provider_gone'
            WHEN error = 'the request was blocked by the safety filter' THEN 'safety_block'
            WHEN error = 'the input image could not be read (send a PNG, JPEG or WebP picture)'
                THEN 'bad_input'
            END
        WHERE status = 'failed'
        """
    )


def downgrade() -> None:
    execute_script("ALTER TABLE jobs.jobs DROP COLUMN failure")
