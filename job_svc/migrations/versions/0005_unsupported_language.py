"""A failure code for a prompt in a language the model does not take.

Revision ID: 0005
Revises: 0004
"""

from common.server.migrate import execute_script

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_CODES = (
    "'safety_block', 'unworkable_prompt', 'bad_input', 'provider_unavailable', "
    "'provider_refused', 'provider_gone', 'too_many_attempts', 'expired', 'internal'"
)


def upgrade() -> None:
    execute_script(
        f"""
        ALTER TABLE jobs.jobs DROP CONSTRAINT jobs_failure_check;
        ALTER TABLE jobs.jobs ADD CONSTRAINT jobs_failure_check
            CHECK (failure IN ({_CODES}, 'unsupported_language'));
        """
    )


def downgrade() -> None:
    execute_script(
        f"""
        UPDATE jobs.jobs SET failure = 'unworkable_prompt'
            WHERE failure = 'unsupported_language';
        ALTER TABLE jobs.jobs DROP CONSTRAINT jobs_failure_check;
        ALTER TABLE jobs.jobs ADD CONSTRAINT jobs_failure_check CHECK (failure IN ({_CODES}));
        """
    )
