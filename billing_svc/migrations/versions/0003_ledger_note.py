"""Ledger entries get a `note`; `reference` is the id of what they belong to.

Before, some entries carried free text in `reference`: a release its reason
(the reservation id only when none was given; "expired" from the sweeper), a
grant its reason, an allowance the word "allowance", and free credits nothing.
Existing rows are moved where that can be done exactly from their idempotency
keys and the rows they belong to:

- release (`release:<reservation id>`): reference the reservation id, note the
  reason it carried (empty when it carried the reservation id);
- grant (`grant:<key>`): reference the grant's key, note its reason;
- allowance (`allowance:<charge id>:<n>` of a payment of the same user):
  reference the charge id, note "allowance";
- free (`free:<telegram id>`): reference the telegram id;
- reserve and refund keep their reference (reservation id, charge id) and get
  the hold's purpose and the refund's reason as their note.

Every other entry (purchases, subscription payments, referral rewards and
their take-back, allowances the 0002 migration could not place) stays as it
is. The audit record of each moved entry (`credits:<kind>`, details.entry)
gets the same reference and note.

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
        ALTER TABLE billing.ledger ADD COLUMN note text NOT NULL DEFAULT '';
        WITH moved (id, reference, note) AS (
            SELECT l.id, r.id::text,
                   CASE WHEN l.reference = r.id::text THEN '' ELSE l.reference END
            FROM billing.reservations r
            JOIN billing.ledger l ON l.idempotency_key = 'release:' || r.id::text
                 AND l.kind = 'release' AND l.telegram_id = r.telegram_id
            UNION ALL
            SELECT l.id, l.reference, r.purpose
            FROM billing.reservations r
            JOIN billing.ledger l ON l.idempotency_key = 'reserve:' || r.idempotency_key
                 AND l.kind = 'reserve' AND l.telegram_id = r.telegram_id
                 AND l.reference = r.id::text
            UNION ALL
            SELECT l.id, substr(l.idempotency_key, length('grant:') + 1), l.reference
            FROM billing.ledger l
            WHERE l.kind = 'grant' AND l.idempotency_key LIKE 'grant:%'
            UNION ALL
            SELECT l.id, l.reference, p.refund_reason
            FROM billing.payments p
            JOIN billing.ledger l ON l.idempotency_key = 'refund:' || p.charge_id
                 AND l.kind = 'refund' AND l.telegram_id = p.telegram_id
                 AND l.reference = p.charge_id
            UNION ALL
            SELECT l.id, p.charge_id, l.reference
            FROM billing.ledger l
            JOIN billing.payments p ON p.telegram_id = l.telegram_id
                 AND p.charge_id = substring(l.idempotency_key FROM '^allowance:(.*):[0-9]+$')
            WHERE l.kind = 'subscription' AND l.idempotency_key LIKE 'allowance:%'
            UNION ALL
            SELECT l.id, l.telegram_id::text, ''
            FROM billing.ledger l
            WHERE l.kind = 'free' AND l.idempotency_key = 'free:' || l.telegram_id
                  AND l.reference = ''
        ), entries AS (
            UPDATE billing.ledger l SET reference = moved.reference, note = moved.note
            FROM moved
            WHERE l.id = moved.id
              AND (l.reference, l.note) IS DISTINCT FROM (moved.reference, moved.note)
            RETURNING l.id, l.kind, l.reference, l.note
        )
        UPDATE billing.audit_log a
        SET details = a.details || jsonb_build_object('reference', entries.reference,
                                                      'note', entries.note)
        FROM entries
        WHERE a.action = 'credits:' || entries.kind AND a.details->>'entry' = entries.id::text
        """
    )


def downgrade() -> None:
    """Back to free text in `reference`, as the previous release writes it."""
    execute_script(
        """
        WITH entries AS (
            UPDATE billing.ledger l
            SET reference = CASE WHEN l.kind = 'free' THEN '' ELSE l.note END
            WHERE (l.kind = 'free' AND l.idempotency_key = 'free:' || l.telegram_id)
               OR (l.note <> '' AND (l.kind IN ('release', 'grant')
                   OR (l.kind = 'subscription' AND l.idempotency_key LIKE 'allowance:%')))
            RETURNING l.id, l.kind, l.reference
        )
        UPDATE billing.audit_log a
        SET details = a.details || jsonb_build_object('reference', entries.reference)
        FROM entries
        WHERE a.action = 'credits:' || entries.kind AND a.details->>'entry' = entries.id::text;
        UPDATE billing.audit_log SET details = details - 'note'
        WHERE action LIKE 'credits:%' AND details->>'note' IS NOT NULL;
        ALTER TABLE billing.ledger DROP COLUMN note
        """
    )
