"""The fast chain check (SQLite builds the headers, a long log is checked in two halves by two
processes) gives exactly the verdict of the plain one: `ChainCheck.add` on every row."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from contextlib import closing, suppress
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection

from app.core import audit
from app.core.domain import Role
from app.core.replica import Replica

ENTRIES = 40
TRIGGERS = ("audit_log_no_update", "audit_log_no_delete", "audit_log_head", "audit_head_forward")


@pytest.fixture
def replica(tmp_path: Path) -> Iterator[Replica]:
    replica = Replica.open(tmp_path / "replica.sqlite3")
    for number in range(ENTRIES):
        replica.record_event(
            audit.AuditEvent.SETTINGS_CHANGED,
            actor=f"user-{number % 3}",
            role=Role.ADMIN,
            data={"changes": {"n": {"from": number, "to": number + 1}}, "workflow": f"w{number % 2}"},
            ticket_id=number if number % 4 else None,
        )
    yield replica
    replica.close()


@pytest.fixture(params=["one process", "two processes"])
def processes(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "two processes":
        monkeypatch.setattr(audit, "PARALLEL_FROM", 2)
    return str(request.param)


def _plain_check(conn: Connection, check: audit.ChainCheck) -> bool:
    return all(check.add(row) for row in audit.iter_entries(conn))


def plain_verdict(replica: Replica, monkeypatch: pytest.MonkeyPatch) -> Any:
    """What the plain check says (or raises)."""
    with monkeypatch.context() as patch:
        patch.setattr(audit, "_check_fast", _plain_check)
        try:
            return replica.verify_audit()
        except Exception as error:  # the verdict may be an error: compare it too
            return type(error)


def fast_verdict(replica: Replica) -> Any:
    try:
        return replica.verify_audit()
    except Exception as error:
        return type(error)


def tamper(replica: Replica, *statements: tuple[str, tuple[Any, ...]]) -> None:
    conn = sqlite3.connect(replica.path)
    with closing(conn):
        for trigger in TRIGGERS:
            conn.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        for sql, params in statements:
            conn.execute(sql, params)
        conn.commit()


def rehashed(replica: Replica, seq: int, header: Callable[[dict[str, Any]], str] | None = None) -> None:
    """Recompute entry `seq`'s hash (with the canonical header, or `header`) as a forger would."""
    conn = sqlite3.connect(replica.path)
    conn.row_factory = sqlite3.Row
    with closing(conn):
        row = dict(conn.execute("SELECT * FROM audit_log WHERE seq = ?", (seq,)).fetchone())
    text = header(row) if header else audit.entry_header(row)
    digest = audit.entry_hash(row["client_id"], row["seq"], row["prev_hash"], text)
    tamper(replica, ("UPDATE audit_log SET hash = ? WHERE seq = ?", (digest, seq)))


def test_an_intact_log_verifies_in_two_processes(
    replica: Replica, monkeypatch: pytest.MonkeyPatch, processes: str
) -> None:
    started = []
    spawn = subprocess.Popen

    def spy(*args: Any, **kwargs: Any) -> Any:
        started.append(args[0])
        return spawn(*args, **kwargs)

    joined = []
    join = audit._join_worker

    def join_spy(worker: Any, check: audit.ChainCheck, lo: int, timeout: float) -> None:
        join(worker, check, lo, timeout)
        joined.append((lo, check.size))

    monkeypatch.setattr(audit.subprocess, "Popen", spy)
    monkeypatch.setattr(audit, "_join_worker", join_spy)
    result = replica.verify_audit()
    assert result.ok and result.entries == ENTRIES, result.describe()
    assert result == plain_verdict(replica, monkeypatch)
    if processes == "two processes":
        assert len(started) == 1 and joined == [(ENTRIES // 2, ENTRIES)]  # the worker's half counted
    else:
        assert not started and not joined


@pytest.mark.parametrize("name", ["odd?name.sqlite3", "odd#1 %41 é.sqlite3", "plain.sqlite3"])
def test_the_worker_opens_the_file_itself_whatever_its_name(
    replica: Replica, tmp_path: Path, name: str
) -> None:
    """The worker opens the file by URI: `?`, `#` and `%` in its name must not open another."""
    folder = tmp_path / "copies"
    folder.mkdir()
    with closing(sqlite3.connect(replica.path)) as source, closing(sqlite3.connect(folder / name)) as copy:
        source.backup(copy)
        worker = audit._start_worker(copy.cursor(), audit.ChainCheck(replica.client_id), 20, ENTRIES)
        assert worker is not None
        verdict = json.loads(worker.communicate(timeout=60)[0])
    assert verdict["size"] == ENTRIES and verdict["first"][0] == 21
    assert verdict["head"] == replica.verify_audit().head_hash
    assert {p.name.removesuffix("-wal").removesuffix("-shm") for p in folder.iterdir()} == {name}


def test_the_worker_scans_its_half(replica: Replica) -> None:
    with replica.engine.connect() as conn:
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        check = audit.ChainCheck(replica.client_id)
        worker = audit._start_worker(cursor, check, 20, ENTRIES)
        assert worker is not None
        verdict = json.loads(worker.communicate(timeout=60)[0])
    assert verdict["size"] == ENTRIES and verdict["first"][0] == 21
    assert verdict["head"] == replica.verify_audit().head_hash


@pytest.mark.parametrize("seq", [1, 2, 19, 20, 21, 22, 39, 40])
@pytest.mark.parametrize(
    "edit",
    [
        ("UPDATE audit_log SET actor = 'mallory' WHERE seq = ?", False),
        ("UPDATE audit_log SET payload = payload || ' ' WHERE seq = ?", False),
        ("UPDATE audit_log SET payload = NULL WHERE seq = ?", False),
        ("UPDATE audit_log SET client_id = 'other' WHERE seq = ?", True),
        ("DELETE FROM audit_log WHERE seq = ?", False),
        ("UPDATE audit_log SET seq = seq + 1000 WHERE seq = ?", False),
        ("UPDATE audit_log SET seq = -seq WHERE seq = ?", False),
        ("UPDATE audit_log SET ticket_id = 1.5 WHERE seq = ?", True),
        ("UPDATE audit_log SET ticket_id = 'seven' WHERE seq = ?", True),
        ("UPDATE audit_log SET actor = 'a\"b\\c' || char(1, 10, 0) || 'é😀' WHERE seq = ?", True),
        ("UPDATE audit_log SET actor = CAST('bytes' AS BLOB) WHERE seq = ?", True),
        ("UPDATE audit_log SET payload = CAST(payload AS BLOB) WHERE seq = ?", False),
        ("UPDATE audit_log SET prev_hash = CAST(prev_hash AS BLOB) WHERE seq = ?", False),
    ],
)
def test_every_tampering_gets_the_plain_verdict(
    replica: Replica,
    monkeypatch: pytest.MonkeyPatch,
    processes: str,
    seq: int,
    edit: tuple[str, bool],
) -> None:
    sql, rehash = edit
    tamper(replica, (sql, (seq,)))
    if rehash:
        with suppress(TypeError):  # a BLOB has no canonical JSON: leave the hash as it was
            rehashed(replica, seq)
    assert fast_verdict(replica) == plain_verdict(replica, monkeypatch)


def test_a_hash_forged_over_sqlites_own_number_format_is_caught(
    replica: Replica, monkeypatch: pytest.MonkeyPatch, processes: str
) -> None:
    """SQLite writes 1e20 as 1.0e+20 where the canonical JSON says 1e+20: an entry hashed over
    the SQL's header must fail, as it does in the plain check."""
    tamper(replica, ("UPDATE audit_log SET ticket_id = 1e20 WHERE seq = 5", ()))
    conn = sqlite3.connect(replica.path)
    with closing(conn):
        sql_header = conn.execute(
            "SELECT json_object("
            + ", ".join(f"'{name}', {name}" for name in audit._SORTED_HEADER)
            + ") FROM audit_log WHERE seq = 5"
        ).fetchone()[0]
    assert "1.0e+20" in sql_header
    rehashed(replica, 5, header=lambda row: sql_header)
    result = fast_verdict(replica)
    assert result == plain_verdict(replica, monkeypatch)
    assert result.first_bad_seq == 5 and "hash does not match" in (result.problem or "")


def test_purged_payloads_are_checked_against_the_recorded_cutoff(
    replica: Replica, monkeypatch: pytest.MonkeyPatch, processes: str
) -> None:
    with replica.engine.connect() as conn:
        cutoff = conn.execute(audit.AUDIT.select().where(audit.AUDIT.c.seq == 30)).first().at  # type: ignore[union-attr]
    replica.record_event(
        audit.AuditEvent.RETENTION_PURGE, actor="carol", role=Role.ADMIN, data={"audit_before": cutoff}
    )
    with replica.engine.begin() as conn:
        conn.execute(audit.AUDIT.update().where(audit.AUDIT.c.at < cutoff).values(payload=None))
    result = fast_verdict(replica)
    assert result.ok and result.entries == ENTRIES + 1, result.describe()
    # A payload dropped after the cut-off is not covered.
    tamper(replica, ("UPDATE audit_log SET payload = NULL WHERE seq = 35", ()))
    result = fast_verdict(replica)
    assert result == plain_verdict(replica, monkeypatch)
    assert result.first_bad_seq == 35


def test_a_replica_without_a_recorded_client_id_gets_the_plain_verdict(
    replica: Replica, monkeypatch: pytest.MonkeyPatch, processes: str
) -> None:
    """The scan is told the client id (rows of another get verdict 0): without one, the first entry
    goes through the full check, which takes its client id as the chain's."""
    tamper(replica, ("DELETE FROM replica_info WHERE key = 'client_id'", ()))
    result = fast_verdict(replica)
    assert result.ok and result.entries == ENTRIES, result.describe()
    assert result == plain_verdict(replica, monkeypatch)
    tamper(replica, ("UPDATE audit_log SET client_id = 'other' WHERE seq = 7", ()))
    rehashed(replica, 7)
    assert fast_verdict(replica) == plain_verdict(replica, monkeypatch)


def test_a_worker_that_cannot_start_or_answers_nonsense_changes_nothing(
    replica: Replica, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(audit, "PARALLEL_FROM", 2)
    expected = replica.verify_audit()
    monkeypatch.setattr(audit.sys, "executable", "/nonexistent/python")
    assert replica.verify_audit() == expected
    monkeypatch.setattr(audit.sys, "executable", "/bin/echo")  # exits 0, prints no JSON
    assert replica.verify_audit() == expected
    tamper(replica, ("UPDATE audit_log SET actor = 'mallory' WHERE seq = 30", ()))
    assert replica.verify_audit() == plain_verdict(replica, monkeypatch)


def test_a_table_without_text_affinity_takes_the_raw_path(
    replica: Replica, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A column that could hold a REAL or an integer as such: json_object would not write the
    canonical JSON for it, so the fast check is not used."""
    conn = sqlite3.connect(replica.path)
    with closing(conn):
        assert audit._fast_columns_hold_only_text(conn.cursor())
        for trigger in TRIGGERS:
            conn.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        conn.execute("ALTER TABLE audit_log RENAME COLUMN actor TO actor_old")
        conn.execute("ALTER TABLE audit_log ADD COLUMN actor")  # no type: no affinity
        conn.execute("UPDATE audit_log SET actor = actor_old")
        conn.execute("UPDATE audit_log SET actor = 7 WHERE seq = 3")
        conn.commit()
        assert not audit._fast_columns_hold_only_text(conn.cursor())
    rehashed(replica, 3)
    result = fast_verdict(replica)
    assert result == plain_verdict(replica, monkeypatch)


@pytest.mark.parametrize(
    "value",
    [
        "".join(map(chr, range(0x100))),
        "\u2028\u2029\u007f\ufeff\uffff\U0001f600 é ß 中",
        "",
        None,
        0,
        -(2**63),
        2**63 - 1,
    ],
)
def test_sqlite_writes_the_canonical_json_of_what_the_columns_hold(value: Any) -> None:
    """What the fast check rests on: json_object's text equals the canonical encoder's for text,
    integers and NULL (REALs and BLOBs never reach it)."""
    with closing(sqlite3.connect(":memory:")) as conn:
        written = conn.execute("SELECT json_object('b', ?, 'a', 1)", (value,)).fetchone()[0]
    assert written == '{"b":' + audit._CANONICAL.encode(value) + ',"a":1}'
