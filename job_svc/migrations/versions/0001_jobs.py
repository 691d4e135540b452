"""Jobs schema: generation jobs, their money state and their results.

Revision ID: 0001
Revises:
"""

from common.server.migrate import execute_script

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(
        """
        CREATE TABLE jobs.jobs (
            id               uuid PRIMARY KEY,
            telegram_id      bigint NOT NULL CHECK (telegram_id > 0),
            client_key       text NOT NULL CHECK (length(client_key) BETWEEN 1 AND 128),
            kind             text NOT NULL CHECK (kind IN ('image', 'edit', 'video')),
            quality          text NOT NULL CHECK (quality IN ('standard', 'pro')),
            prompt           text NOT NULL CHECK (length(prompt) BETWEEN 1 AND 2000),
            aspect_ratio     text NOT NULL DEFAULT '',
            duration_seconds integer NOT NULL DEFAULT 0 CHECK (duration_seconds >= 0),
            input_key        text,
            provider         text NOT NULL,
            -- priority (PRO) or normal
            lane             text NOT NULL CHECK (lane IN ('priority', 'normal')),
            -- creating: saved, not yet charged and queued (a crash here is rolled
            -- forward or back by the reconciler); the rest as in the API
            status           text NOT NULL DEFAULT 'creating' CHECK (status IN
                             ('creating', 'queued', 'running', 'succeeded', 'failed', 'cancelled')),
            progress         integer NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 100),
            cost             bigint NOT NULL CHECK (cost > 0),
            reservation_id   text,
            -- money follows status: held while unfinished, then captured on
            -- success or released on failure and cancel
            charge           text NOT NULL DEFAULT 'pending'
                             CHECK (charge IN ('pending', 'held', 'captured', 'released')),
            error            text NOT NULL DEFAULT '',
            results          jsonb NOT NULL DEFAULT '[]',
            -- fencing token: only the worker holding the latest attempt may finish the job
            attempts         integer NOT NULL DEFAULT 0,
            worker           text NOT NULL DEFAULT '',
            -- bumped on every visible change; watchers drop stale events by it
            version          integer NOT NULL DEFAULT 1,
            retry_of         uuid REFERENCES jobs.jobs (id),
            created_at       timestamptz NOT NULL DEFAULT now(),
            started_at       timestamptz,
            finished_at      timestamptz,
            delivered_at     timestamptz,
            UNIQUE (telegram_id, client_key),
            CHECK ((status IN ('succeeded', 'failed', 'cancelled')) = (finished_at IS NOT NULL))
        );
        CREATE INDEX jobs_user ON jobs.jobs (telegram_id, created_at DESC, id DESC);
        CREATE INDEX jobs_unfinished ON jobs.jobs (telegram_id)
            WHERE status IN ('creating', 'queued', 'running');
        CREATE INDEX jobs_queue ON jobs.jobs (lane, created_at) WHERE status = 'queued';
        CREATE INDEX jobs_unsettled ON jobs.jobs (finished_at)
            WHERE charge = 'held' AND status IN ('succeeded', 'failed', 'cancelled');
        CREATE INDEX jobs_creating ON jobs.jobs (created_at) WHERE status = 'creating';
        CREATE INDEX jobs_undelivered ON jobs.jobs (finished_at)
            WHERE delivered_at IS NULL AND status IN ('succeeded', 'failed');
        CREATE INDEX jobs_created ON jobs.jobs (created_at DESC, id DESC);
        CREATE INDEX jobs_finished ON jobs.jobs (kind, provider, finished_at DESC)
            WHERE status = 'succeeded'
        """
    )


def downgrade() -> None:
    execute_script("DROP TABLE jobs.jobs")
