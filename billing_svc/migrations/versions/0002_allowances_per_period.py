"""Allowances follow subscription periods: ledger keys `allowance:<charge>:<n>`.

Allowances paid before were keyed `allowance:<telegram_id>:<window start>`;
they are renamed to the window of their period they paid, so that none is paid
again (the old sweepers are stopped first, so none writes an old key after
the renaming). The account columns the previous release used for this
(`subscription_product_id`, `allowance_period_start`) are kept while replicas
of that release may still run; `allowance_period_start` is pushed to infinity
so that their sweepers pay nothing more. A later migration drops both.

Revision ID: 0002
Revises: 0001
"""

from common.server.migrate import execute_script

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_WINDOW_SECONDS = 30 * 24 * 3600


def upgrade() -> None:
    execute_script(
        f"""
        UPDATE billing.accounts SET allowance_period_start = 'infinity'
            WHERE allowance_period_start IS NOT NULL;
        WITH old AS (
            SELECT l.id, l.telegram_id,
                   substr(l.idempotency_key,
                          length('allowance:' || l.telegram_id || ':') + 1)::timestamptz
                       AS window_start
            FROM billing.ledger l
            WHERE l.kind = 'subscription'
              AND l.idempotency_key LIKE 'allowance:' || l.telegram_id || ':%'
        ), windows AS (
            -- Each old entry paid one window of the running (unrefunded) annual
            -- period it fell in; the earliest such period if several overlap.
            SELECT DISTINCT ON (o.id) o.id, p.charge_id, w.n
            FROM old o
            JOIN billing.subscription_periods p ON p.telegram_id = o.telegram_id
                 AND p.product_id = 'sub_annual'
                 AND o.window_start >= p.starts_at AND o.window_start < p.ends_at
            JOIN billing.payments pay ON pay.charge_id = p.charge_id
                 AND pay.refunded_at IS NULL
            CROSS JOIN LATERAL (SELECT round(extract(epoch FROM o.window_start - p.starts_at)
                                             / {_WINDOW_SECONDS})::int AS n) w
            WHERE w.n >= 1
            ORDER BY o.id, p.starts_at
        ), placed AS (
            SELECT DISTINCT ON (charge_id, n) id, charge_id, n
            FROM windows ORDER BY charge_id, n, id
        )
        UPDATE billing.ledger l SET idempotency_key = 'allowance:' || placed.charge_id
                                                      || ':' || placed.n
        FROM placed WHERE l.id = placed.id
        """
    )


def downgrade() -> None:
    raise NotImplementedError("allowances cannot go back to one window per account")
