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
from alembic import command
from alembic.config import Config
from helpers import example_tickets, numbered, open_replica, replica_ticket_id, sqlite_store, sync
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from app.core import audit
from app.core.db import replica_engine
from app.core.domain import Action, Role
from app.core.migrations import runner
from app.core.replica import Replica
from app.core.replica_models import AuditEntry, AuditHead
from app.core.validation import canonical_json

AUDIT = AuditEntry.__table__
HEAD = AuditHead.__table__
ENTRIES = 7
TARGET = 4  # the entry the attacker goes after: one in the middle
TRIGGERS = ("audit_log_no_update", "audit_log_no_delete", "audit_log_head", "audit_head_forward")


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
    """The replica file opened the way an attacker would: plain sqlite3, every trigger dropped."""
    conn = sqlite3.connect(replica.path)
    conn.row_factory = sqlite3.Row
    for trigger in TRIGGERS:
        conn.execute(f"DROP TRIGGER {trigger}")
    return conn


def entry(conn: sqlite3.Connection, seq: int) -> dict[str, Any]:
    return dict(conn.execute("SELECT * FROM audit_log WHERE seq = ?", (seq,)).fetchone())


def rows(replica: Replica) -> list[Any]:
    with replica.engine.connect() as conn:
        return conn.execute(select(AUDIT).order_by(AUDIT.c.seq)).all()


def assert_broken_at(replica: Replica, seq: int) -> audit.VerifyResult:
    result = replica.verify_audit()
    assert not result.ok
    assert result.first_bad_seq == seq, result.problem
    assert result.entries == seq - 1  # the entries before it still check out
    assert f"BROKEN at entry {seq}" in result.describe()
    return result


def rehash(row: dict[str, Any]) -> dict[str, Any]:
    """What a careful forger does after editing: fix the digest and the entry's own hash."""
    if row["payload"] is not None:
        row["payload_sha256"] = audit.sha256_text(row["payload"])
    row["hash"] = audit.row_hash(row)
    return row


def write_row(conn: sqlite3.Connection, row: dict[str, Any], where_seq: int) -> None:
    columns = [c for c in row if c != "seq"]
    conn.execute(
        f"UPDATE audit_log SET {', '.join(f'{c} = ?' for c in columns)} WHERE seq = ?",
        [*(row[c] for c in columns), where_seq],
    )


# --- an untouched chain ---------------------------------------------------------------------------


def test_a_chain_of_several_events_verifies(replica: Replica) -> None:
    result = replica.verify_audit()
    assert (result.ok, result.entries, result.first_bad_seq, result.problem) == (True, ENTRIES, None, None)
    entries = rows(replica)
    assert [r.seq for r in entries] == list(range(1, ENTRIES + 1))
    assert entries[0].prev_hash == audit.GENESIS_HASH
    assert all(later.prev_hash == earlier.hash for earlier, later in pairwise(entries))
    assert result.head_hash == entries[-1].hash
    assert [r.event for r in entries] == [
        audit.AuditEvent.STORE_OPENED,
        audit.AuditEvent.DECISION_RECORDED,
        audit.AuditEvent.DECISION_RECORDED,
        audit.AuditEvent.DECISION_UNDONE,
        audit.AuditEvent.DECISION_RECORDED,
        audit.AuditEvent.DECISION_PUSHED,
        audit.AuditEvent.DECISION_PUSHED,
    ]
    assert {r.client_id for r in entries} == {replica.client_id}
    assert "audit chain OK: 7 entries" in result.describe()


def test_entries_carry_the_decision_facts_as_columns(replica: Replica) -> None:
    entries = rows(replica)
    bob = entries[2]
    record = json.loads(bob.payload)["data"]["decision"]
    assert (bob.actor, bob.action, bob.reason_code, bob.workflow, bob.external_id) == (
        "bob",
        "reject",
        "policy_legal",
        record["workflow"],
        record["external_id"],
    )
    assert bob.model_version == record["ai"]["model_version"]
    assert bob.decision_id == record["decision_id"]
    assert bob.content_hash == json.loads(bob.payload)["data"]["content_hash"]
    assert bob.payload_sha256 == audit.sha256_text(bob.payload)
    # "Undone" and "pushed" only name the decision; they inherit its facts, so filters find them.
    undone = entries[3]
    assert undone.decision_id == entries[1].decision_id
    assert (undone.action, undone.reason_code, undone.workflow) == (
        "approve",
        "ai_correct",
        entries[1].workflow,
    )
    assert {r.decision_id for r in entries[5:]} == {entries[2].decision_id, entries[4].decision_id}
    assert entries[0].decision_id is None and entries[0].workflow is None


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
            assert conn.execute(select(HEAD.c.size, HEAD.c.hash)).one() == (
                seq,
                again.verify_audit().head_hash,
            )
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


def test_the_header_covers_every_column_but_the_payload_itself(replica: Replica) -> None:
    row = dict(rows(replica)[1]._mapping)
    digest = audit.row_hash(row)
    for column in (*audit.HEADER_COLUMNS, "client_id", "seq", "prev_hash"):
        changed = {**row, column: 99 if column in ("seq", "ticket_id") else f"{row[column]}x"}
        assert audit.row_hash(changed) != digest, column
    # The payload enters only through its digest: dropping it leaves the hash as it was.
    assert audit.row_hash({**row, "payload": None}) == digest


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
    if column in ("prev_hash", "hash", "payload_sha256"):
        return "f" * 64
    return f"{value}-forged"


@pytest.mark.parametrize("column", [c.name for c in AUDIT.columns])
def test_editing_any_column_is_detected(replica: Replica, column: str) -> None:
    with closing(raw(replica)) as conn:
        original = entry(conn, TARGET)
        conn.execute(
            f"UPDATE audit_log SET {column} = ? WHERE seq = ?", (_changed(column, original[column]), TARGET)
        )
        conn.commit()
    assert_broken_at(replica, TARGET)


def test_an_edited_payload_with_a_fixed_digest_and_hash_is_caught_by_the_next_link(replica: Replica) -> None:
    with closing(raw(replica)) as conn:
        forged = entry(conn, TARGET)
        payload = json.loads(forged["payload"])
        payload["actor"] = forged["actor"] = "mallory"
        forged["payload"] = canonical_json(payload)
        write_row(conn, rehash(forged), TARGET)
        conn.commit()
    result = assert_broken_at(replica, TARGET + 1)
    assert "previous-hash link" in (result.problem or "")


def test_an_edited_payload_with_the_old_digest_is_detected(replica: Replica) -> None:
    with closing(raw(replica)) as conn:
        payload = json.loads(entry(conn, 3)["payload"])
        payload["data"]["decision"]["note"] = "looked fine to me"
        conn.execute("UPDATE audit_log SET payload = ? WHERE seq = 3", (canonical_json(payload),))
        conn.commit()
    result = assert_broken_at(replica, 3)
    assert "payload edited" in (result.problem or "")


def test_an_entry_from_another_installation_is_detected(replica: Replica) -> None:
    with closing(raw(replica)) as conn:
        row = entry(conn, TARGET)
        row["client_id"] = "99999999-9999-4999-8999-999999999999"
        write_row(conn, rehash(row), TARGET)
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


@pytest.mark.parametrize("keep", [ENTRIES - 2, ENTRIES - 1, 0])
def test_truncating_the_log_is_detected(replica: Replica, keep: int) -> None:
    with closing(raw(replica)) as conn:
        conn.execute("DELETE FROM audit_log WHERE seq > ?", (keep,))
        conn.commit()
    result = assert_broken_at(replica, keep + 1)
    assert f"the log ends at entry {keep} but its head records {ENTRIES} entries" in (result.problem or "")


def test_entries_appended_behind_the_head_are_detected(replica: Replica) -> None:
    with closing(raw(replica)) as conn:  # the head trigger is gone too
        row = entry(conn, ENTRIES)
        row.update(seq=ENTRIES + 1, prev_hash=row["hash"])  # a well-formed entry: only the head knows
        row = rehash(row)
        conn.execute(
            f"INSERT INTO audit_log ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
            list(row.values()),
        )
        conn.commit()
    result = assert_broken_at(replica, ENTRIES + 1)
    assert "added behind the log's back" in (result.problem or "")


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
        forged = {c.name: None for c in AUDIT.columns}
        forged.update(
            seq=TARGET,
            client_id=before["client_id"],
            at=before["at"],
            actor="mallory",
            role="admin",
            event="note",
            payload=payload,
            prev_hash=before["hash"],
        )
        forged = rehash(forged)
        conn.execute(
            f"INSERT INTO audit_log ({', '.join(forged)}) VALUES ({', '.join('?' * len(forged))})",
            list(forged.values()),
        )
        conn.execute("UPDATE audit_head SET size = size + 1")
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
    with closing(raw(replica)) as conn:
        a, b = entry(conn, first), entry(conn, second)
        write_row(conn, b, first)
        write_row(conn, a, second)
        conn.commit()
    assert_broken_at(replica, first)


def test_a_payload_dropped_without_a_retention_purge_is_detected(replica: Replica) -> None:
    with closing(raw(replica)) as conn:
        conn.execute("UPDATE audit_log SET payload = NULL WHERE seq = ?", (TARGET,))
        conn.commit()
    result = assert_broken_at(replica, TARGET)
    assert "no recorded retention purge covers this entry" in (result.problem or "")


# --- the triggers -----------------------------------------------------------------------------


def test_triggers_refuse_update_and_delete(replica: Replica) -> None:
    before = replica.verify_audit()
    for statement in (
        update(AUDIT).where(AUDIT.c.seq == TARGET).values(actor="mallory"),
        update(AUDIT).values(hash="0" * 64),
        update(AUDIT).where(AUDIT.c.seq == TARGET).values(payload=None),  # no purge recorded
        delete(AUDIT).where(AUDIT.c.seq == ENTRIES),
        delete(AUDIT),
    ):
        with pytest.raises(IntegrityError, match="audit_log is append-only"), replica.engine.begin() as conn:
            conn.execute(statement)
    for statement in (update(HEAD).values(size=1), delete(HEAD)):
        with (
            pytest.raises(IntegrityError, match="audit_head only moves forward"),
            replica.engine.begin() as conn,
        ):
            conn.execute(statement)
    assert replica.verify_audit() == before


def test_the_only_update_allowed_is_a_recorded_purge_dropping_old_payloads(replica: Replica) -> None:
    newest = rows(replica)[-1].at
    with replica.engine.begin() as conn:
        seq = audit.append(
            conn,
            client_id=replica.client_id,
            actor="carol",
            role="admin",
            event=audit.AuditEvent.RETENTION_PURGE,
            data={"audit_before": newest},
        )
    refused = (
        update(AUDIT).where(AUDIT.c.seq == seq).values(payload=None),  # the purge's own record
        update(AUDIT).where(AUDIT.c.seq == 1).values(payload=None, actor="mallory"),  # more than the payload
        update(AUDIT).where(AUDIT.c.seq == ENTRIES).values(payload=None),  # not older than the cut-off
    )
    for statement in refused:
        with pytest.raises(IntegrityError, match="append-only"), replica.engine.begin() as conn:
            conn.execute(statement)
    with replica.engine.begin() as conn:
        purged = conn.execute(update(AUDIT).where(AUDIT.c.at < newest).values(payload=None)).rowcount
    assert purged >= 1
    result = replica.verify_audit()
    assert result.ok, result.describe()
    assert result.entries == ENTRIES + 1


def test_appending_is_still_allowed(replica: Replica) -> None:
    with replica.engine.begin() as conn:
        seq = audit.append(conn, client_id=replica.client_id, actor="carol", role="admin", event="x", data={})
    assert seq == ENTRIES + 1
    assert replica.verify_audit().ok


def test_nul_in_an_actor_name_is_stored_as_replacement_character(tmp_path: Path) -> None:
    replica = Replica.open(tmp_path / "r.sqlite3")
    try:
        replica.record_event("note", actor="eve\x00il", role=Role.ADMIN, data={"workflow": "w\x00"})
        row = rows(replica)[0]
        assert (row.actor, row.workflow) == ("eve\ufffdil", "w\ufffd")
        assert replica.verify_audit().ok
    finally:
        replica.close()


# --- the migration from format 1 ----------------------------------------------------------------


def _old_hash(client_id: str, seq: int, prev_hash: str, payload: str) -> str:
    return audit.hashlib.sha256(
        b"".join(
            f"{part}".encode() + b"\x00" for part in ("signoff.audit/1", client_id, seq, prev_hash, payload)
        )
    ).hexdigest()


def _format_1_replica(path: Path, tamper_seq: int | None = None) -> list[dict[str, Any]]:
    """A replica file at r0001 holding a format-1 chain of three entries (one a decision)."""
    engine = replica_engine(str(path))
    config = Config()
    config.set_main_option("script_location", str(Path(runner.__file__).parent / "replica"))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "r0001")
    decision = {"decision_id": "d-1", "workflow": "ask_amount", "action": "reject", "reason_code": "x",
                "external_id": "don-1", "ai": {"model_version": "3.4.0"}}  # fmt: skip
    payloads = [
        {"event": "store_opened", "ticket_id": None, "data": {"url": "sqlite:///s.db"}},
        {
            "event": "decision_recorded",
            "ticket_id": 7,
            "data": {"decision": decision, "content_hash": "c" * 64},
        },
        {"event": "decision_pushed", "ticket_id": 7, "data": {"decision_id": "d-1"}},
    ]
    prev, written = audit.GENESIS_HASH, []
    with engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO replica_info VALUES ('client_id', 'c-1')")
        for seq, body in enumerate(payloads, start=1):
            at = f"2026-11-0{seq}T10:00:00.000Z"
            payload = canonical_json({**body, "at": at, "actor": "alice", "role": "reviewer"})
            stored_payload = payload.replace("10:00", "11:00") if seq == tamper_seq else payload
            row = {"seq": seq, "client_id": "c-1", "at": at, "actor": "alice", "role": "reviewer",
                   "event": body["event"], "ticket_id": body["ticket_id"], "payload": stored_payload,
                   "prev_hash": prev, "hash": _old_hash("c-1", seq, prev, payload)}  # fmt: skip
            conn.exec_driver_sql(
                "INSERT INTO audit_log VALUES (:seq, :client_id, :at, :actor, :role, :event, :ticket_id, "
                ":payload, :prev_hash, :hash)",
                row,
            )
            written.append(row)
            prev = row["hash"]
    engine.dispose()
    return written


def test_the_migration_rewrites_a_format_1_chain_into_format_2(tmp_path: Path) -> None:
    written = _format_1_replica(tmp_path / "old.sqlite3")
    replica = Replica.open(tmp_path / "old.sqlite3")  # migrates to head
    try:
        result = replica.verify_audit()
        assert result.ok and result.entries == 3, result.describe()
        entries = rows(replica)
        assert [r.payload for r in entries] == [w["payload"] for w in written]  # what was recorded stays
        assert (entries[1].action, entries[1].model_version, entries[1].content_hash) == (
            "reject",
            "3.4.0",
            "c" * 64,
        )
        assert entries[2].workflow == "ask_amount"  # inherited from the recorded decision
        seq = replica.record_event("note", actor="bob", role=Role.REVIEWER, data={})
        assert seq == 4 and replica.verify_audit().ok
    finally:
        replica.close()


def test_the_migration_keeps_a_broken_format_1_chain_broken_at_the_same_entry(tmp_path: Path) -> None:
    _format_1_replica(tmp_path / "old.sqlite3", tamper_seq=2)
    replica = Replica.open(tmp_path / "old.sqlite3")
    try:
        assert_broken_at(replica, 2)
    finally:
        replica.close()


def test_verify_file_reads_without_migrating(tmp_path: Path, replica: Replica) -> None:
    assert audit.verify_file(replica.path) == replica.verify_audit()
    _format_1_replica(tmp_path / "old.sqlite3")
    result = audit.verify_file(tmp_path / "old.sqlite3")
    assert not result.ok and "older format" in (result.problem or "")


def test_every_event_is_listed_once() -> None:
    constants = {v for k, v in vars(audit.AuditEvent).items() if k.isupper() and isinstance(v, str)}
    assert constants == set(audit.AuditEvent.ALL) and len(audit.AuditEvent.ALL) == len(constants)
