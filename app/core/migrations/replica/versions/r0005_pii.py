"""Local replica, PII: personal data leaves the replica (store s0005 keeps it apart).

Ticket copies pulled before the store moved personal data out still hold it: mask it here, so
an upgraded installation holds none even for tickets it will never pull again (ones its login
no longer sees). Staged pull rows are dropped (the next pull starts by clearing them anyway).
The field list and the mask are frozen here, as in s0005. Nothing to undo: the store has the
values, and a downgraded replica simply shows the mask until it pulls again.

Revision ID: r0005
Revises: r0004
Create Date: 2026-11-28
"""

import json

import sqlalchemy as sa
from alembic import op

revision = "r0005"
down_revision = "r0004"
branch_labels = None
depends_on = None

MASK = "•••••"
SUBJECT_FIELDS = ("display_name", "email", "phone")
BATCH = 1000

tickets = sa.table("tickets", sa.column("id", sa.Integer), sa.column("payload", sa.Text))


def _canonical(value):
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _masked(payload):
    """The payload with every personal value masked, or None when there was none in clear."""
    ticket, changed = json.loads(payload), False
    subject = ticket.get("subject")
    slots = [(subject, name) for name in SUBJECT_FIELDS] if isinstance(subject, dict) else []
    interaction = ticket.get("interaction")
    messages = interaction.get("messages") if isinstance(interaction, dict) else None
    if isinstance(messages, list):
        slots += [(message, "from") for message in messages if isinstance(message, dict)]
    for parent, key in slots:
        if parent.get(key) not in (None, "", MASK):
            parent[key], changed = MASK, True
    return _canonical(ticket) if changed else None


def upgrade() -> None:
    conn = op.get_bind()
    after = -1
    while True:
        rows = conn.execute(
            sa.select(tickets.c.id, tickets.c.payload)
            .where(tickets.c.id > after)
            .order_by(tickets.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            break
        after = rows[-1].id
        for row in rows:
            masked = _masked(row.payload)
            if masked is not None:
                conn.execute(sa.update(tickets).where(tickets.c.id == row.id).values(payload=masked))
    op.execute("DELETE FROM pull_staging")


def downgrade() -> None:
    pass
