"""Shared store, roles and PII: personal fields move out of the ticket payload.

- `ticket_pii` (ticket_id, revision): the values of the fields the ticket schema marks PII, as
  JSON {field path: value}; the payload keeps the mask "•••••" in their place. Kept apart so the
  database can withhold them (row-level security on Postgres, `signoff admin setup-postgres`).
- `pii_reveals`: who was shown personal data they do not see by default; append-only, and kept
  when its ticket is deleted (no foreign key), while a ticket's `ticket_pii` rows go with it.
- store_info `pii_roles` / `pii_reveal_roles`: who sees personal data, who may reveal it.
- Existing tickets and kept revisions are split the same way. Changed tickets take new change
  numbers, so every replica pulls the masked payload over its old copy at its next sync.

The field list and the mask are frozen here (as of signoff.ticket/1), not imported: a migration
must do the same thing whatever the code around it becomes.

Revision ID: s0005
Revises: s0004
Create Date: 2026-11-28
"""

import json
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "s0005"
down_revision = "s0004"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
MASK = "•••••"
SUBJECT_FIELDS = ("display_name", "email", "phone")
DEFAULTS = {"pii_roles": "escalation_manager,admin", "pii_reveal_roles": "reviewer"}
BATCH = 1000

tickets = sa.table(
    "tickets",
    sa.column("id", sa.Integer),
    sa.column("revision", sa.Integer),
    sa.column("content_hash", sa.String),
    sa.column("payload", sa.Text),
    sa.column("change_seq", sa.BigInteger),
)
revisions = sa.table(
    "ticket_revisions",
    sa.column("ticket_id", sa.Integer),
    sa.column("revision", sa.Integer),
    sa.column("content_hash", sa.String),
    sa.column("payload", sa.Text),
)
counters = sa.table("counters", sa.column("name", sa.String), sa.column("value", sa.BigInteger))
store_info = sa.table("store_info", sa.column("key", sa.String), sa.column("value", sa.Text))
ticket_pii = sa.table(
    "ticket_pii",
    sa.column("ticket_id", sa.Integer),
    sa.column("revision", sa.Integer),
    sa.column("content_hash", sa.String),
    sa.column("fields", sa.Text),
    sa.column("recorded_at", TS),
)


def _canonical(value):
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _slots(ticket):
    subject = ticket.get("subject")
    if isinstance(subject, dict):
        for name in SUBJECT_FIELDS:
            if name in subject:
                yield f"subject.{name}", subject, name
    interaction = ticket.get("interaction")
    messages = interaction.get("messages") if isinstance(interaction, dict) else None
    if isinstance(messages, list):
        for index, message in enumerate(messages):
            if isinstance(message, dict) and "from" in message:
                yield f"interaction.messages[{index}].from", message, "from"


def _split(payload):
    """(masked payload text, {path: value}) or None when there is nothing personal in clear."""
    ticket = json.loads(payload)
    values = {}
    for path, parent, key in _slots(ticket):
        if parent[key] not in (None, "", MASK):
            values[path] = parent[key]
            parent[key] = MASK
    return (_canonical(ticket), values) if values else None


def _restore(payload, fields):
    ticket, values = json.loads(payload), json.loads(fields)
    for path, parent, key in _slots(ticket):
        if path in values and parent[key] == MASK:
            parent[key] = values[path]
    return _canonical(ticket)


def _tables() -> None:
    op.create_table(
        "ticket_pii",
        sa.Column(
            "ticket_id",
            sa.Integer(),
            sa.ForeignKey("tickets.id", ondelete="CASCADE"),
            primary_key=True,
            autoincrement=False,
        ),
        sa.Column("revision", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("fields", sa.Text(), nullable=False),
        sa.Column("recorded_at", TS, nullable=False),
    )
    op.create_table(
        "pii_reveals",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("ticket_id", sa.Integer(), nullable=False),  # no foreign key: the log outlives tickets
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("login", sa.String(200), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("fields", sa.Text(), nullable=False),
        sa.Column("revealed_at", TS, nullable=False),
    )
    op.create_index("ix_pii_reveals_ticket", "pii_reveals", ["ticket_id"])
    op.create_index("ix_pii_reveals_revealed_at", "pii_reveals", ["revealed_at"])


def _append_only() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # signoff_refuse_change() comes from s0002.
        for when, each in (("UPDATE", "ROW"), ("DELETE", "ROW"), ("TRUNCATE", "STATEMENT")):
            op.execute(
                f"CREATE TRIGGER pii_reveals_no_{when.lower()} BEFORE {when} ON pii_reveals "
                f"FOR EACH {each} EXECUTE PROCEDURE signoff_refuse_change()"
            )
    else:
        for when in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER pii_reveals_no_{when.lower()} BEFORE {when} ON pii_reveals "
                "BEGIN SELECT RAISE(ABORT, 'pii_reveals is append-only'); END"
            )


def _settings(conn) -> None:
    have = set(conn.execute(sa.select(store_info.c.key).where(store_info.c.key.in_(DEFAULTS))).scalars())
    missing = [{"key": k, "value": v} for k, v in DEFAULTS.items() if k not in have]
    if missing:
        conn.execute(sa.insert(store_info), missing)


def _take_seqs(conn, count):
    end = conn.execute(
        sa.update(counters)
        .where(counters.c.name == "change")
        .values(value=counters.c.value + count)
        .returning(counters.c.value)
    ).scalar_one()
    return iter(range(end - count + 1, end + 1))


def _move_ticket_pii(conn, now) -> None:
    after = 0
    while True:
        rows = conn.execute(
            sa.select(tickets.c.id, tickets.c.revision, tickets.c.content_hash, tickets.c.payload)
            .where(tickets.c.id > after)
            .order_by(tickets.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        after = rows[-1].id
        moved = [(row, _split(row.payload)) for row in rows]
        moved = [(row, split) for row, split in moved if split is not None]
        if not moved:
            continue
        seqs = _take_seqs(conn, len(moved))
        for row, (masked, _values) in moved:
            conn.execute(
                sa.update(tickets).where(tickets.c.id == row.id).values(payload=masked, change_seq=next(seqs))
            )
        conn.execute(
            sa.insert(ticket_pii),
            [
                {
                    "ticket_id": row.id,
                    "revision": row.revision,
                    "content_hash": row.content_hash,
                    "fields": _canonical(values),
                    "recorded_at": now,
                }
                for row, (_masked, values) in moved
            ],
        )


def _revision_rows(conn):
    return conn.execute(
        sa.select(revisions.c.ticket_id, revisions.c.revision, revisions.c.content_hash, revisions.c.payload)
        .where(revisions.c.payload.is_not(None))
        .order_by(revisions.c.ticket_id, revisions.c.revision)
    ).all()


class _RevisionsWritable:
    """ticket_revisions refuse any change but a purge (s0002's trigger): lift that for the data
    move inside this migration's transaction only."""

    def __init__(self, conn):
        self.conn = conn
        self.sql = None

    def __enter__(self):
        if self.conn.dialect.name == "postgresql":
            op.execute("ALTER TABLE ticket_revisions DISABLE TRIGGER ticket_revisions_purge_only")
        else:
            self.sql = self.conn.exec_driver_sql(
                "SELECT sql FROM sqlite_master "
                "WHERE type = 'trigger' AND name = 'ticket_revisions_purge_only'"
            ).scalar()
            if self.sql:
                op.execute("DROP TRIGGER ticket_revisions_purge_only")
        return self

    def __exit__(self, *exc):
        if self.conn.dialect.name == "postgresql":
            op.execute("ALTER TABLE ticket_revisions ENABLE TRIGGER ticket_revisions_purge_only")
        elif self.sql:
            op.execute(self.sql)
        return False


def _move_revision_pii(conn, now) -> None:
    moved = [(row, _split(row.payload)) for row in _revision_rows(conn)]
    moved = [(row, split) for row, split in moved if split is not None]
    if not moved:
        return
    with _RevisionsWritable(conn):
        for row, (masked, _values) in moved:
            conn.execute(
                sa.update(revisions)
                .where(revisions.c.ticket_id == row.ticket_id, revisions.c.revision == row.revision)
                .values(payload=masked)
            )
    conn.execute(
        sa.insert(ticket_pii),
        [
            {
                "ticket_id": row.ticket_id,
                "revision": row.revision,
                "content_hash": row.content_hash,
                "fields": _canonical(values),
                "recorded_at": now,
            }
            for row, (_masked, values) in moved
        ],
    )


def upgrade() -> None:
    _tables()
    _append_only()
    conn = op.get_bind()
    now = datetime.now(UTC)
    _settings(conn)
    _move_ticket_pii(conn, now)
    _move_revision_pii(conn, now)


def downgrade() -> None:
    conn = op.get_bind()
    kept = {
        (r.ticket_id, r.revision): r.fields
        for r in conn.execute(sa.select(ticket_pii.c.ticket_id, ticket_pii.c.revision, ticket_pii.c.fields))
    }
    current = conn.execute(sa.select(tickets.c.id, tickets.c.revision, tickets.c.payload)).all()
    back = [(r, kept[(r.id, r.revision)]) for r in current if (r.id, r.revision) in kept]
    if back:
        seqs = _take_seqs(conn, len(back))
        for row, fields in back:
            conn.execute(
                sa.update(tickets)
                .where(tickets.c.id == row.id)
                .values(payload=_restore(row.payload, fields), change_seq=next(seqs))
            )
    older = [
        (r, kept[(r.ticket_id, r.revision)])
        for r in _revision_rows(conn)
        if (r.ticket_id, r.revision) in kept
    ]
    if older:
        with _RevisionsWritable(conn):
            for row, fields in older:
                conn.execute(
                    sa.update(revisions)
                    .where(revisions.c.ticket_id == row.ticket_id, revisions.c.revision == row.revision)
                    .values(payload=_restore(row.payload, fields))
                )
    conn.execute(sa.delete(store_info).where(store_info.c.key.in_(DEFAULTS)))
    op.drop_table("pii_reveals")
    op.drop_table("ticket_pii")
