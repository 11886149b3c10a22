"""Shared store, audit: clients, audit entries, checkpoints, ticket revisions, retention.

The rules are enforced by the database, not only by Signoff (triggers on SQLite, PL/pgSQL on
Postgres):
- an audit entry must be the next of its client's chain (gap-free seq, matching prev_hash);
- a checkpoint must extend the client's previous one (size strictly greater; an identical
  re-send is silently skipped) and name the hash the stored entry at that size really has;
- audit entries, checkpoints, clients and purges are append-only; the one change allowed is a
  retention purge dropping the payload of an entry older than a recorded purge's cut-off;
- on Postgres a client id is bound to the login role (session_user) that registered it: no
  other role may add entries or checkpoints to it. On SQLite anyone who can write the file can
  do anything, so the origin there is a note, not a control.
- replacing a ticket's content keeps the old content in ticket_revisions.

Revision ID: s0002
Revises: s0001
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "s0002"
down_revision = "s0001"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
GENESIS = "0" * 64
FACTS = {
    "external_id": 200,
    "workflow": 64,
    "action": 16,
    "reason_code": 64,
    "model_version": 100,
    "queue": 32,
    "decision_id": 36,
    "content_hash": 64,
}
ENTRY_COLUMNS = (
    "client_id",
    "seq",
    "at",
    "actor",
    "role",
    "event",
    "ticket_id",
    *FACTS,
    "payload_sha256",
    "prev_hash",
    "hash",
    "received_at",
)
REVISION_COLUMNS = ("ticket_id", "revision", "content_hash", "recorded_at")
APPEND_ONLY = ("audit_clients", "audit_checkpoints", "retention_purges")

NOT_NEXT = "audit entry refused: not the next entry of its client''s chain"
BAD_LINK = "audit entry refused: previous hash does not match its client''s chain"
NOT_EXTENDING = "audit checkpoint refused: it does not extend the client''s previous checkpoint"
BAD_HEAD = "audit checkpoint refused: head hash does not match the stored entry at that size"


def _same(columns, new="NEW", old="OLD", op_="IS"):
    return " AND ".join(f"{new}.{c} {op_} {old}.{c}" for c in columns)


def _tables() -> None:
    op.create_table(
        "audit_clients",
        sa.Column("client_id", sa.String(36), primary_key=True),
        sa.Column("origin", sa.String(200), nullable=False),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("registered_at", TS, nullable=False),
    )
    op.create_table(
        "audit_entries",
        sa.Column("client_id", sa.String(36), sa.ForeignKey("audit_clients.client_id"), primary_key=True),
        sa.Column("seq", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("at", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("event", sa.String(64), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=True),
        *(sa.Column(name, sa.String(width), nullable=True) for name, width in FACTS.items()),
        sa.Column("payload", sa.Text(), nullable=True),
        sa.Column("payload_sha256", sa.String(64), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("received_at", TS, nullable=False),
    )
    op.create_index("ix_audit_entries_at", "audit_entries", ["at"])
    op.create_index("ix_audit_entries_event_at", "audit_entries", ["event", "at"])
    op.create_index("ix_audit_entries_actor_at", "audit_entries", ["actor", "at"])
    op.create_index("ix_audit_entries_ticket_id", "audit_entries", ["ticket_id"])
    op.create_index("ix_audit_entries_decision_id", "audit_entries", ["decision_id"])
    op.create_index("ix_audit_entries_external_id", "audit_entries", ["external_id"])
    op.create_index("ix_audit_entries_model_version_at", "audit_entries", ["model_version", "at"])
    op.create_table(
        "audit_checkpoints",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("client_id", sa.String(36), sa.ForeignKey("audit_clients.client_id"), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("head_hash", sa.String(64), nullable=False),
        sa.Column("received_at", TS, nullable=False),
        sa.UniqueConstraint("client_id", "size", name="uq_audit_checkpoint_size"),
    )
    op.create_table(
        "ticket_revisions",
        sa.Column(
            "ticket_id", sa.Integer(), sa.ForeignKey("tickets.id"), primary_key=True, autoincrement=False
        ),
        sa.Column("revision", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("payload", sa.Text(), nullable=True),
        sa.Column("recorded_at", TS, nullable=False),
        sa.Column("purged_at", TS, nullable=True),
    )
    op.create_index("ix_ticket_revisions_content_hash", "ticket_revisions", ["content_hash"])
    op.create_table(
        "retention_policy",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("interaction_days", sa.Integer(), nullable=True),
        sa.Column("decision_log_days", sa.Integer(), nullable=True),
        sa.Column("purge_roles", sa.String(200), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("updated_by", sa.String(200), nullable=False),
        sa.CheckConstraint("id = 1", name="ck_retention_policy_one_row"),
    )
    op.create_table(
        "retention_purges",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("purged_at", TS, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("origin", sa.String(200), nullable=False),
        sa.Column("interaction_before", sa.String(32), nullable=True),
        sa.Column("audit_before", sa.String(32), nullable=True),
        sa.Column("tickets", sa.Integer(), nullable=False),
        sa.Column("revisions", sa.Integer(), nullable=False),
        sa.Column("entries", sa.Integer(), nullable=False),
        sa.Column("notes", sa.Integer(), nullable=False),
    )


def _sqlite_triggers() -> None:
    def trigger(name, when, table, condition, message):
        where = f" WHEN {condition}" if condition else ""
        op.execute(
            f"CREATE TRIGGER {name} {when} ON {table}{where} BEGIN SELECT RAISE(ABORT, '{message}'); END"
        )

    trigger(
        "audit_entries_next",
        "BEFORE INSERT",
        "audit_entries",
        "NEW.seq IS NOT "
        "COALESCE((SELECT max(seq) FROM audit_entries WHERE client_id = NEW.client_id), 0) + 1",
        NOT_NEXT,
    )
    trigger(
        "audit_entries_link",
        "BEFORE INSERT",
        "audit_entries",
        f"NEW.prev_hash IS NOT COALESCE((SELECT hash FROM audit_entries WHERE client_id = NEW.client_id "
        f"ORDER BY seq DESC LIMIT 1), '{GENESIS}')",
        BAD_LINK,
    )
    purge_only = " AND ".join(
        [
            "OLD.payload IS NOT NULL",
            "NEW.payload IS NULL",
            "OLD.event <> 'retention_purge'",
            _same(ENTRY_COLUMNS),
            "OLD.at < (SELECT max(audit_before) FROM retention_purges)",
        ]
    )
    trigger(
        "audit_entries_no_update",
        "BEFORE UPDATE",
        "audit_entries",
        f"NOT COALESCE(({purge_only}), 0)",
        "audit_entries is append-only",
    )
    trigger("audit_entries_no_delete", "BEFORE DELETE", "audit_entries", None, "audit_entries is append-only")
    # An identical re-send of the latest checkpoint is skipped, not refused (a retried sync).
    # SQLite does not promise an order among triggers, so the refusals leave the re-send out too.
    resend = (
        "EXISTS (SELECT 1 FROM audit_checkpoints c WHERE c.client_id = NEW.client_id "
        "AND c.size = NEW.size AND c.head_hash = NEW.head_hash "
        "AND c.size = (SELECT max(size) FROM audit_checkpoints WHERE client_id = NEW.client_id))"
    )
    op.execute(
        f"CREATE TRIGGER audit_checkpoints_resend BEFORE INSERT ON audit_checkpoints WHEN {resend} "
        "BEGIN SELECT RAISE(IGNORE); END"
    )
    trigger(
        "audit_checkpoints_extend",
        "BEFORE INSERT",
        "audit_checkpoints",
        f"NOT {resend} AND NEW.size <= "
        "COALESCE((SELECT max(size) FROM audit_checkpoints WHERE client_id = NEW.client_id), 0)",
        NOT_EXTENDING,
    )
    trigger(
        "audit_checkpoints_head",
        "BEFORE INSERT",
        "audit_checkpoints",
        # Only for a checkpoint that extends: the one that does not is refused as such.
        "NEW.size > COALESCE((SELECT max(size) FROM audit_checkpoints WHERE client_id = NEW.client_id), 0) "
        "AND NEW.head_hash IS NOT (SELECT hash FROM audit_entries WHERE client_id = NEW.client_id "
        "AND seq = NEW.size)",
        BAD_HEAD,
    )
    for table in APPEND_ONLY:
        trigger(f"{table}_no_update", "BEFORE UPDATE", table, None, f"{table} is append-only")
        trigger(f"{table}_no_delete", "BEFORE DELETE", table, None, f"{table} is append-only")
    trigger(
        "ticket_revisions_purge_only",
        "BEFORE UPDATE",
        "ticket_revisions",
        f"NOT COALESCE((NEW.payload IS NULL AND NEW.purged_at IS NOT NULL AND {_same(REVISION_COLUMNS)}), 0)",
        "ticket_revisions only lose their payload to a retention purge",
    )
    trigger(
        "ticket_revisions_no_delete",
        "BEFORE DELETE",
        "ticket_revisions",
        None,
        "ticket_revisions only lose their payload to a retention purge",
    )
    op.execute(
        "CREATE TRIGGER tickets_keep_revision BEFORE UPDATE OF content_hash ON tickets "
        "WHEN NEW.content_hash IS NOT OLD.content_hash BEGIN "
        "INSERT OR IGNORE INTO ticket_revisions (ticket_id, revision, content_hash, payload, recorded_at) "
        "VALUES (OLD.id, OLD.revision, OLD.content_hash, OLD.payload, strftime('%Y-%m-%d %H:%M:%f', 'now')); "
        "END"
    )


def _pg_function(name, body, declare=""):
    op.execute(
        f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $fn$ {declare} BEGIN {body} END $fn$"
    )


def _pg_raise(message):
    return f"RAISE EXCEPTION '{message}' USING ERRCODE = 'check_violation';"


def _pg_triggers() -> None:
    owner_check = (
        # One writer per client at a time, so two pushes cannot both pass the checks below.
        "PERFORM pg_advisory_xact_lock(4242, hashtext(NEW.client_id));"
        "SELECT origin INTO owner FROM audit_clients WHERE client_id = NEW.client_id;"
        "IF owner IS NULL THEN RAISE EXCEPTION 'audit client % is not registered', NEW.client_id "
        "USING ERRCODE = 'check_violation'; END IF;"
        "IF owner IS DISTINCT FROM session_user THEN RAISE EXCEPTION "
        "'audit client % belongs to origin %, not to %', NEW.client_id, owner, session_user "
        "USING ERRCODE = 'check_violation'; END IF;"
    )
    _pg_function("signoff_audit_client_origin", "NEW.origin := session_user; RETURN NEW;")
    _pg_function(
        "signoff_audit_entry_insert",
        owner_check
        + "SELECT seq, hash INTO last_seq, last_hash FROM audit_entries WHERE client_id = NEW.client_id "
        "ORDER BY seq DESC LIMIT 1;"
        f"IF NEW.seq IS DISTINCT FROM COALESCE(last_seq, 0) + 1 THEN {_pg_raise(NOT_NEXT)} END IF;"
        f"IF NEW.prev_hash IS DISTINCT FROM COALESCE(last_hash, '{GENESIS}') "
        f"THEN {_pg_raise(BAD_LINK)} END IF;"
        "RETURN NEW;",
        "DECLARE owner text; last_seq bigint; last_hash text;",
    )
    purge_only = " AND ".join(
        [
            "OLD.payload IS NOT NULL",
            "NEW.payload IS NULL",
            "OLD.event <> 'retention_purge'",
            _same(ENTRY_COLUMNS, op_="IS NOT DISTINCT FROM"),
            "OLD.at < (SELECT max(audit_before) FROM retention_purges)",
        ]
    )
    _pg_function(
        "signoff_audit_entry_update",
        f"IF NOT COALESCE(({purge_only}), false) THEN {_pg_raise('audit_entries is append-only')} END IF;"
        "RETURN NEW;",
    )
    _pg_function(
        "signoff_audit_checkpoint_insert",
        owner_check + "SELECT size, head_hash INTO last_size, last_head FROM audit_checkpoints "
        "WHERE client_id = NEW.client_id ORDER BY size DESC LIMIT 1;"
        "IF NEW.size = last_size AND NEW.head_hash = last_head THEN RETURN NULL; END IF;"
        f"IF NEW.size <= COALESCE(last_size, 0) THEN {_pg_raise(NOT_EXTENDING)} END IF;"
        "SELECT hash INTO entry_hash FROM audit_entries WHERE client_id = NEW.client_id AND seq = NEW.size;"
        f"IF entry_hash IS DISTINCT FROM NEW.head_hash THEN {_pg_raise(BAD_HEAD)} END IF;"
        "RETURN NEW;",
        "DECLARE owner text; last_size bigint; last_head text; entry_hash text;",
    )
    _pg_function(
        "signoff_refuse_change",
        "RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'check_violation'; RETURN NULL;",
    )
    _pg_function(
        "signoff_ticket_revision_update",
        f"IF NOT COALESCE((NEW.payload IS NULL AND NEW.purged_at IS NOT NULL AND "
        f"{_same(REVISION_COLUMNS, op_='IS NOT DISTINCT FROM')}), false) THEN "
        f"{_pg_raise('ticket_revisions only lose their payload to a retention purge')} END IF; RETURN NEW;",
    )
    _pg_function(
        "signoff_ticket_keep_revision",
        "INSERT INTO ticket_revisions (ticket_id, revision, content_hash, payload, recorded_at) "
        "VALUES (OLD.id, OLD.revision, OLD.content_hash, OLD.payload, now()) ON CONFLICT DO NOTHING;"
        "RETURN NEW;",
    )

    def trigger(name, when, table, function, each="ROW", condition=None):
        where = f" WHEN ({condition})" if condition else ""
        op.execute(
            f"CREATE TRIGGER {name} {when} ON {table} FOR EACH {each}{where} EXECUTE PROCEDURE {function}()"
        )

    trigger("audit_clients_origin", "BEFORE INSERT", "audit_clients", "signoff_audit_client_origin")
    trigger("audit_entries_chain", "BEFORE INSERT", "audit_entries", "signoff_audit_entry_insert")
    trigger("audit_entries_no_update", "BEFORE UPDATE", "audit_entries", "signoff_audit_entry_update")
    trigger(
        "audit_checkpoints_extend", "BEFORE INSERT", "audit_checkpoints", "signoff_audit_checkpoint_insert"
    )
    trigger(
        "ticket_revisions_purge_only", "BEFORE UPDATE", "ticket_revisions", "signoff_ticket_revision_update"
    )
    trigger(
        "tickets_keep_revision",
        "BEFORE UPDATE OF content_hash",
        "tickets",
        "signoff_ticket_keep_revision",
        condition="NEW.content_hash IS DISTINCT FROM OLD.content_hash",
    )
    for table in (*APPEND_ONLY, "audit_entries", "ticket_revisions"):
        if table in APPEND_ONLY:
            trigger(f"{table}_no_update", "BEFORE UPDATE", table, "signoff_refuse_change")
        trigger(f"{table}_no_delete", "BEFORE DELETE", table, "signoff_refuse_change")
        trigger(f"{table}_no_truncate", "BEFORE TRUNCATE", table, "signoff_refuse_change", each="STATEMENT")


def upgrade() -> None:
    _tables()
    if op.get_bind().dialect.name == "postgresql":
        _pg_triggers()
    else:
        _sqlite_triggers()


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS tickets_keep_revision ON tickets")
    else:
        op.execute("DROP TRIGGER IF EXISTS tickets_keep_revision")
    for table in (
        "retention_purges",
        "retention_policy",
        "ticket_revisions",
        "audit_checkpoints",
        "audit_entries",
        "audit_clients",
    ):
        op.drop_table(table)
    if op.get_bind().dialect.name == "postgresql":
        for function in (
            "signoff_audit_client_origin",
            "signoff_audit_entry_insert",
            "signoff_audit_entry_update",
            "signoff_audit_checkpoint_insert",
            "signoff_refuse_change",
            "signoff_ticket_revision_update",
            "signoff_ticket_keep_revision",
        ):
            op.execute(f"DROP FUNCTION IF EXISTS {function}()")
