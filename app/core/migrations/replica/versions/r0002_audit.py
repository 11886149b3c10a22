"""Local replica, audit: chain format 2 (payload hashed by digest, so a retention purge can drop
it), filterable facts as columns, and a head row that makes truncation visible.

Existing entries are rewritten into format 2 only as far as the old chain verifies; from the
first bad entry on they are copied unchanged, so verification still names that entry.
The hashing here is a frozen copy of app.core.audit at format 2 (migrations never change).

Revision ID: r0002
Revises: r0001
Create Date: 2026-11-22
"""

import hashlib
import json

import sqlalchemy as sa
from alembic import op

revision = "r0002"
down_revision = "r0001"
branch_labels = None
depends_on = None

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
HEADER = ("at", "actor", "role", "event", "ticket_id", *FACTS, "payload_sha256")
ABOUT_A_DECISION = ("decision_pushed", "decision_rejected_by_store", "decision_undone")
COLUMNS = ("seq", "client_id", *HEADER, "payload", "prev_hash", "hash")

# The one change the log accepts: a retention purge dropping the payload of an entry older
# than a recorded purge's cut-off, every other column untouched.
PURGE_ONLY = " AND ".join(
    [
        "OLD.payload IS NOT NULL",
        "NEW.payload IS NULL",
        "OLD.event <> 'retention_purge'",
        *(f"NEW.{c} IS OLD.{c}" for c in COLUMNS if c != "payload"),
        "OLD.at < (SELECT max(json_extract(p.payload, '$.data.audit_before')) FROM audit_log p "
        "WHERE p.event = 'retention_purge')",
    ]
)


def _sha(text):
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _canonical(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _chain_hash(tag, client_id, seq, prev_hash, text):
    digest = hashlib.sha256()
    for part in (tag, client_id, str(seq), prev_hash, text):
        digest.update(part.encode("utf-8"))
        digest.update(b"\x00")
    return digest.hexdigest()


def _facts(event, data, known):
    found = {name: data.get(name) for name in FACTS}
    decision = data.get("decision")
    if event == "decision_recorded" and isinstance(decision, dict):
        ai = decision.get("ai") if isinstance(decision.get("ai"), dict) else {}
        found.update(
            external_id=decision.get("external_id"),
            workflow=decision.get("workflow"),
            action=decision.get("action"),
            reason_code=decision.get("reason_code"),
            model_version=ai.get("model_version"),
            decision_id=decision.get("decision_id"),
        )
    facts = {n: None if v is None else str(v).replace("\x00", "\ufffd")[: FACTS[n]] for n, v in found.items()}
    if event in ABOUT_A_DECISION and facts["decision_id"] in known:
        inherited = known[facts["decision_id"]]
        facts = {n: facts[n] or inherited[n] for n in FACTS}
    return facts


def _convert(rows):
    """Old rows in seq order -> new rows; stops rehashing at the first entry that fails."""
    converted, prev_old, prev_new, known, intact = [], GENESIS, GENESIS, {}, True
    for expected, row in enumerate(rows, start=1):
        old = dict(row._mapping)
        intact = (
            intact
            and old["seq"] == expected
            and old["prev_hash"] == prev_old
            and _chain_hash("signoff.audit/1", old["client_id"], old["seq"], old["prev_hash"], old["payload"])
            == old["hash"]
        )
        try:
            data = json.loads(old["payload"])["data"]
        except (ValueError, KeyError, TypeError):
            data, intact = {}, False
        new = {**old, **_facts(old["event"], data, known), "payload_sha256": _sha(old["payload"])}
        if intact:
            new["prev_hash"] = prev_new
            header = _canonical({c: new[c] for c in HEADER})
            new["hash"] = _chain_hash("signoff.audit/2", new["client_id"], new["seq"], prev_new, header)
            prev_old, prev_new = old["hash"], new["hash"]
        if new["event"] == "decision_recorded" and new["decision_id"]:
            known[new["decision_id"]] = {n: new[n] for n in FACTS}
        converted.append(new)
    return converted


def upgrade() -> None:
    conn = op.get_bind()
    rows = _convert(conn.execute(sa.text("SELECT * FROM audit_log ORDER BY seq")).all())
    op.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
    op.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")
    op.drop_index("ix_audit_log_ticket_id", table_name="audit_log")
    op.drop_table("audit_log")
    log = op.create_table(
        "audit_log",
        sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("client_id", sa.String(36), nullable=False),
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
    )
    op.create_index("ix_audit_log_ticket_id", "audit_log", ["ticket_id"])
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    op.create_index("ix_audit_log_event_at", "audit_log", ["event", "at"])
    op.create_index("ix_audit_log_actor_at", "audit_log", ["actor", "at"])
    op.create_index("ix_audit_log_decision_id", "audit_log", ["decision_id"])
    op.create_index("ix_audit_log_external_id", "audit_log", ["external_id"])
    op.create_index("ix_audit_log_model_version_at", "audit_log", ["model_version", "at"])
    if rows:
        op.bulk_insert(log, rows)
    head = op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.CheckConstraint("id = 1", name="ck_audit_head_one_row"),
    )
    op.bulk_insert(head, [{"id": 1, "size": len(rows), "hash": rows[-1]["hash"] if rows else GENESIS}])
    op.execute(
        f"CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log WHEN NOT COALESCE(({PURGE_ONLY}), 0) "
        "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END"
    )
    op.execute(
        "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log "
        "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END"
    )
    op.execute(
        "CREATE TRIGGER audit_log_head AFTER INSERT ON audit_log "
        "BEGIN UPDATE audit_head SET size = NEW.seq, hash = NEW.hash WHERE id = 1; END"
    )
    op.execute(
        "CREATE TRIGGER audit_head_forward BEFORE UPDATE ON audit_head "
        "WHEN NEW.size <= OLD.size OR NEW.id IS NOT OLD.id "
        "BEGIN SELECT RAISE(ABORT, 'audit_head only moves forward'); END"
    )
    op.execute(
        "CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head "
        "BEGIN SELECT RAISE(ABORT, 'audit_head only moves forward'); END"
    )


def downgrade() -> None:
    raise NotImplementedError("the audit log never goes back to format 1: that would rewrite its chain")
