"""The local audit log: a hash chain that names the first entry someone tampered with."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from helpers import example_tickets, numbered, open_replica, replica_ticket_id, sqlite_store, sync
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from app.core import audit
from app.core.domain import Action, Role
from app.core.replica import Replica
from app.core.replica_models import AuditEntry
from app.core.validation import canonical_json

AUDIT = AuditEntry.__table__
ENTRIES = 7
TARGET = 4  # the entry the attacker goes after: one in the middle


@pytest.fixture
def replica(tmp_path: Path) -> Iterator[Replica]:
    """A replica whose audit log holds ENTRIES entries of several kinds."""
    store = sqlite_store(tmp_path)
    store.ingest(numbered(example_tickets()))
    replica = open_replica(tmp_path, store)
    sync(replica, store)
    ids = [replica_ticket_id(replica, t["external_id"]) for t in example_tickets()]
    replica.record_event(
        audit.AuditEvent.STORE_OPENED, actor="alice", role=Role.REVIEWER, data={"url": store.url}
    )
    first = replica.record_decision(
        ids[0], Action.APPROVE, "ai_correct", reviewer="alice", role=Role.REVIEWER
    )
    replica.record_decision(
        ids[1], Action.REJECT, "policy_legal", reviewer="bob", role=Role.ESCALATION_MANAGER
    )
    replica.undo(first.decision_id, actor="alice", role=Role.REVIEWER)
    replica.record_decision(
        ids[2], Action.CLARIFY, "needs_more_info", reviewer="alice", role=Role.REVIEWER, note="Which segment?"
    )
    sync(replica, store, actor="alice")  # two decision_pushed entries
    store.close()
    assert replica.verify_audit().entries == ENTRIES
    yield replica
    replica.close()


def raw(replica: Replica) -> sqlite3.Connection:
    """The replica file opened the way an attacker would: plain sqlite3, triggers dropped."""
    conn = sqlite3.connect(replica.path)
    conn.row_factory = sqlite3.Row
    conn.execute("DROP TRIGGER audit_log_no_update")
    conn.execute("DROP TRIGGER audit_log_no_delete")
    return conn


def entry(conn: sqlite3.Connection, seq: int) -> dict[str, Any]:
    return dict(conn.execute("SELECT * FROM audit_log WHERE seq = ?", (seq,)).fetchone())


def assert_broken_at(replica: Replica, seq: int) -> audit.VerifyResult:
    result = replica.verify_audit()
    assert not result.ok
    assert result.first_bad_seq == seq, result.problem
    assert result.entries == seq - 1  # the entries before it still check out
    assert f"BROKEN at entry {seq}" in result.describe()
    return result


# --- an untouched chain ---------------------------------------------------------------------------


def test_a_chain_of_several_events_verifies(replica: Replica) -> None:
    result = replica.verify_audit()
    assert (result.ok, result.entries, result.first_bad_seq, result.problem) == (True, ENTRIES, None, None)
    with replica.engine.connect() as conn:
        rows = conn.execute(select(AUDIT).order_by(AUDIT.c.seq)).all()
    assert [r.seq for r in rows] == list(range(1, ENTRIES + 1))
    assert rows[0].prev_hash == audit.GENESIS_HASH
    assert all(later.prev_hash == earlier.hash for earlier, later in pairwise(rows))
    assert result.head_hash == rows[-1].hash
    assert [r.event for r in rows] == [
        audit.AuditEvent.STORE_OPENED,
        audit.AuditEvent.DECISION_RECORDED,
        audit.AuditEvent.DECISION_RECORDED,
        audit.AuditEvent.DECISION_UNDONE,
        audit.AuditEvent.DECISION_RECORDED,
        audit.AuditEvent.DECISION_PUSHED,
        audit.AuditEvent.DECISION_PUSHED,
    ]
    assert {r.client_id for r in rows} == {replica.client_id}
    assert "audit chain OK: 7 entries" in result.describe()


def test_an_empty_log_verifies(tmp_path: Path) -> None:
    replica = Replica.open(tmp_path / "empty.sqlite3")
    try:
        assert replica.verify_audit() == audit.VerifyResult(True, 0, audit.GENESIS_HASH)
    finally:
        replica.close()


def test_the_chain_continues_after_reopening(replica: Replica) -> None:
    head = replica.verify_audit().head_hash
    path = replica.path
    replica.close()
    again = Replica.open(path)
    try:
        seq = again.record_event("note", actor="carol", role=Role.ADMIN, data={"n": 1})
        assert seq == ENTRIES + 1
        with again.engine.connect() as conn:
            assert conn.execute(select(AUDIT.c.prev_hash).where(AUDIT.c.seq == seq)).scalar() == head
        assert again.verify_audit().ok
    finally:
        again.close()


def test_the_hash_covers_every_field() -> None:
    base = ("client", 3, "a" * 64, '{"x":1}')
    digest = audit.entry_hash(*base)
    assert len(digest) == 64
    for index, changed in enumerate(["client2", 4, "b" * 64, '{"x":2}']):
        variant = list(base)
        variant[index] = changed
        assert audit.entry_hash(*variant) != digest
    # Moving a character between fields changes the hash (fields are separated, not concatenated).
    assert audit.entry_hash("ab", 3, "c", "d") != audit.entry_hash("a", 3, "bc", "d")


# --- tampering --------------------------------------------------------------------------------


def _changed(column: str, value: Any) -> Any:
    if column == "seq":
        return 999
    if column == "ticket_id":
        return 424242 if value is None else value + 1
    if column == "payload":
        payload = json.loads(value)
        payload["data"]["injected"] = True
        return canonical_json(payload)
    if column in ("prev_hash", "hash"):
        return "f" * 64
    return f"{value}-forged"


@pytest.mark.parametrize(
    "column",
    ["seq", "client_id", "at", "actor", "role", "event", "ticket_id", "payload", "prev_hash", "hash"],
)
def test_editing_any_column_is_detected(replica: Replica, column: str) -> None:
    with closing(raw(replica)) as conn:
        original = entry(conn, TARGET)
        conn.execute(
            f"UPDATE audit_log SET {column} = ? WHERE seq = ?", (_changed(column, original[column]), TARGET)
        )
        conn.commit()
    assert_broken_at(replica, TARGET)


def test_an_edit_with_a_recomputed_hash_is_caught_by_the_next_link(replica: Replica) -> None:
    with closing(raw(replica)) as conn:
        forged = entry(conn, TARGET)
        payload = json.loads(forged["payload"])
        payload["actor"] = forged["actor"] = "mallory"
        forged["payload"] = canonical_json(payload)
        forged["hash"] = audit.entry_hash(forged["client_id"], TARGET, forged["prev_hash"], forged["payload"])
        conn.execute(
            "UPDATE audit_log SET actor = ?, payload = ?, hash = ? WHERE seq = ?",
            (forged["actor"], forged["payload"], forged["hash"], TARGET),
        )
        conn.commit()
    result = assert_broken_at(replica, TARGET + 1)
    assert "previous-hash link" in (result.problem or "")


def test_an_entry_from_another_installation_is_detected(replica: Replica) -> None:
    with closing(raw(replica)) as conn:
        row = entry(conn, TARGET)
        other_client = "99999999-9999-4999-8999-999999999999"
        rehashed = audit.entry_hash(other_client, TARGET, row["prev_hash"], row["payload"])
        conn.execute(
            "UPDATE audit_log SET client_id = ?, hash = ? WHERE seq = ?", (other_client, rehashed, TARGET)
        )
        conn.commit()
    result = assert_broken_at(replica, TARGET)
    assert "client id" in (result.problem or "")


def test_deleting_an_entry_in_the_middle_is_detected(replica: Replica) -> None:
    with closing(raw(replica)) as conn:
        conn.execute("DELETE FROM audit_log WHERE seq = ?", (TARGET,))
        conn.commit()
    result = assert_broken_at(replica, TARGET)
    assert f"sequence {TARGET + 1} where {TARGET} was expected" in (result.problem or "")


def test_deleting_an_entry_and_renumbering_is_detected(replica: Replica) -> None:
    with closing(raw(replica)) as conn:
        conn.execute("DELETE FROM audit_log WHERE seq = ?", (TARGET,))
        for seq in range(TARGET + 1, ENTRIES + 1):
            conn.execute("UPDATE audit_log SET seq = ? WHERE seq = ?", (seq - 1, seq))
        conn.commit()
    assert_broken_at(replica, TARGET)


def test_inserting_an_entry_is_detected(replica: Replica) -> None:
    with closing(raw(replica)) as conn:
        for seq in range(ENTRIES, TARGET - 1, -1):  # make room, from the end so seq stays unique
            conn.execute("UPDATE audit_log SET seq = ? WHERE seq = ?", (seq + 1, seq))
        before = entry(conn, TARGET - 1)
        payload = canonical_json(
            {
                "at": before["at"],
                "actor": "mallory",
                "role": "admin",
                "event": "note",
                "ticket_id": None,
                "data": {},
            }
        )
        conn.execute(
            "INSERT INTO audit_log "
            "(seq, client_id, at, actor, role, event, ticket_id, payload, prev_hash, hash) VALUES"
            " (?, ?, ?, 'mallory', 'admin', 'note', NULL, ?, ?, ?)",
            (
                TARGET,
                before["client_id"],
                before["at"],
                payload,
                before["hash"],
                audit.entry_hash(before["client_id"], TARGET, before["hash"], payload),
            ),
        )
        conn.commit()
    # The forged entry links up perfectly; the genuine one after it no longer does.
    result = assert_broken_at(replica, TARGET + 1)
    assert "previous-hash link" in (result.problem or "")


def test_inserting_an_entry_without_renumbering_is_detected(replica: Replica) -> None:
    with closing(raw(replica)) as conn:
        row = entry(conn, TARGET)
        conn.execute("DELETE FROM audit_log WHERE seq = ?", (TARGET,))
        row["seq"] = 0
        conn.execute(
            f"INSERT INTO audit_log ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
            list(row.values()),
        )
        conn.commit()
    assert_broken_at(replica, 1)


def test_swapping_two_entries_is_detected(replica: Replica) -> None:
    first, second = 2, 5
    columns = ["client_id", "at", "actor", "role", "event", "ticket_id", "payload", "prev_hash", "hash"]
    with closing(raw(replica)) as conn:
        a, b = entry(conn, first), entry(conn, second)
        for seq, row in ((first, b), (second, a)):
            conn.execute(
                f"UPDATE audit_log SET {', '.join(f'{c} = ?' for c in columns)} WHERE seq = ?",
                [*(row[c] for c in columns), seq],
            )
        conn.commit()
    assert_broken_at(replica, first)


# --- the append-only triggers -----------------------------------------------------------------


def test_triggers_refuse_update_and_delete(replica: Replica) -> None:
    before = replica.verify_audit()
    for statement in (
        update(AUDIT).where(AUDIT.c.seq == TARGET).values(actor="mallory"),
        update(AUDIT).values(hash="0" * 64),
        delete(AUDIT).where(AUDIT.c.seq == ENTRIES),
        delete(AUDIT),
    ):
        with pytest.raises(IntegrityError, match="audit_log is append-only"), replica.engine.begin() as conn:
            conn.execute(statement)
    assert replica.verify_audit() == before


def test_appending_is_still_allowed(replica: Replica) -> None:
    with replica.engine.begin() as conn:
        seq = audit.append(conn, client_id=replica.client_id, actor="carol", role="admin", event="x", data={})
    assert seq == ENTRIES + 1
    assert replica.verify_audit().ok
