"""The tamper-evident local audit log: an append-only SHA-256 hash chain, one per installation.

Entry `seq` of client `client_id` has

    hash = SHA-256( "signoff.audit/2" NUL client_id NUL seq NUL prev_hash NUL header NUL )
    header = canonical JSON of every other column: at, actor, role, event, ticket_id, the facts
             (external_id, workflow, action, reason_code, model_version, queue, decision_id,
             content_hash) and payload_sha256
    payload_sha256 = SHA-256 of the canonical JSON payload {at, actor, role, event, ticket_id, data}

The payload enters the chain through its digest, so a retention purge can drop an old payload
(the text a reviewer wrote) while the chain, the digest and the facts the audit browser filters
on stay verifiable. Editing any column, or removing, reordering or inserting an entry, breaks the
chain; deleting entries from the end is caught by the head row a trigger keeps (`audit_head`)
and, once synced, by the store's checkpoints.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, create_engine, func, insert, inspect, select

from app.core import audit_verify
from app.core.domain import to_rfc3339, utcnow
from app.core.replica_models import AuditEntry, AuditHead, ReplicaInfo
from app.core.validation import canonical_json

DOMAIN_TAG = "signoff.audit/2"
GENESIS_HASH = "0" * 64
AUDIT = AuditEntry.__table__
HEAD = AuditHead.__table__
INFO = ReplicaInfo.__table__

# Facts an entry carries as columns (with their widths): what the audit browser filters on.
FACT_COLUMNS: dict[str, int] = {
    "external_id": 200,
    "workflow": 64,
    "action": 16,
    "reason_code": 64,
    "model_version": 100,
    "queue": 32,
    "decision_id": 36,
    "content_hash": 64,
}
HEADER_COLUMNS = ("at", "actor", "role", "event", "ticket_id", *FACT_COLUMNS, "payload_sha256")


class AuditEvent:
    DECISION_RECORDED = "decision_recorded"
    DECISION_PUSHED = "decision_pushed"
    DECISION_REJECTED_BY_STORE = "decision_rejected_by_store"
    DECISION_UNDONE = "decision_undone"
    CONFLICT_DETECTED = "conflict_detected"
    PII_REVEALED = "pii_revealed"
    SETTINGS_CHANGED = "settings_changed"
    POLICY_CHANGED = "policy_changed"
    REASON_CODES_CHANGED = "reason_codes_changed"
    LOGIN = "login"
    STORE_OPENED = "store_opened"
    STORE_SWITCHED = "store_switched"
    STORE_RESTORE_DETECTED = "store_restore_detected"
    EXPORT_MADE = "export_made"
    RETENTION_PURGE = "retention_purge"
    # A workflow's automation stopped or let go again (circuit breaker trip, or an admin by hand).
    AUTOMATION_PAUSED = "automation_paused"
    AUTOMATION_RESUMED = "automation_resumed"

    ALL = (
        DECISION_RECORDED,
        DECISION_PUSHED,
        DECISION_REJECTED_BY_STORE,
        DECISION_UNDONE,
        CONFLICT_DETECTED,
        PII_REVEALED,
        SETTINGS_CHANGED,
        POLICY_CHANGED,
        REASON_CODES_CHANGED,
        LOGIN,
        STORE_OPENED,
        STORE_SWITCHED,
        STORE_RESTORE_DETECTED,
        EXPORT_MADE,
        RETENTION_PURGE,
        AUTOMATION_PAUSED,
        AUTOMATION_RESUMED,
    )
    # Events whose data names a decision: they inherit the recorded decision's facts.
    ABOUT_A_DECISION = (DECISION_PUSHED, DECISION_REJECTED_BY_STORE, DECISION_UNDONE)


# --- hashing -----------------------------------------------------------------------------------


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def entry_hash(client_id: str, seq: int, prev_hash: str, header: str) -> str:
    # NUL separators: no field can contain one (the header is JSON, which escapes it), so two
    # different field splits never hash alike.
    return hashlib.sha256(
        f"{DOMAIN_TAG}\x00{client_id}\x00{seq}\x00{prev_hash}\x00{header}\x00".encode()
    ).hexdigest()


# canonical_json's settings, kept built: verifying a million entries encodes a million headers.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def entry_values(row: Any) -> Mapping[str, Any]:
    """An entry's columns as a mapping: a dict stays, a result Row becomes one (reading a
    Row's attributes one by one costs more than hashing it)."""
    if isinstance(row, Mapping):
        return row
    fields = getattr(row, "_fields", None)
    if fields is not None:
        return dict(zip(fields, row, strict=True))
    return {
        name: getattr(row, name)
        for name in (*HEADER_COLUMNS, "client_id", "seq", "prev_hash", "hash", "payload")
    }


def entry_header(values: Mapping[str, Any]) -> str:
    """The canonical JSON of the hashed columns."""
    return _CANONICAL.encode({column: values[column] for column in HEADER_COLUMNS})


def row_hash(row: Any) -> str:
    """What an entry's hash must be, recomputed from its columns (a Row or a mapping)."""
    values = entry_values(row)
    return entry_hash(values["client_id"], values["seq"], values["prev_hash"], entry_header(values))


# --- writing -----------------------------------------------------------------------------------


def clean_text(value: Any, width: int) -> str | None:
    """A fact as a column can hold it: text, no NUL (Postgres refuses it), cut to width."""
    if value is None:
        return None
    return str(value).replace("\x00", "\ufffd")[:width]


def facts(event: str, data: Mapping[str, Any]) -> dict[str, str | None]:
    """The filterable facts in an event's data: top-level keys of those names, and for a
    recorded decision the decision record's own fields."""
    found: dict[str, Any] = {name: data.get(name) for name in FACT_COLUMNS}
    decision = data.get("decision")
    if event == AuditEvent.DECISION_RECORDED and isinstance(decision, Mapping):
        ai = decision.get("ai") if isinstance(decision.get("ai"), Mapping) else {}
        found.update(
            external_id=decision.get("external_id"),
            workflow=decision.get("workflow"),
            action=decision.get("action"),
            reason_code=decision.get("reason_code"),
            model_version=ai.get("model_version"),
            decision_id=decision.get("decision_id"),
        )
    return {name: clean_text(found[name], width) for name, width in FACT_COLUMNS.items()}


def append(
    conn: Connection,
    *,
    client_id: str,
    actor: str,
    role: str,
    event: str,
    data: dict[str, Any],
    ticket_id: int | None = None,
    at: datetime | None = None,
) -> int:
    """Append one entry inside the caller's transaction (so it commits with the change it
    records, or not at all). Returns its sequence number."""
    return append_many(
        conn, client_id=client_id, actor=actor, role=role, entries=[(event, ticket_id, data)], at=at
    )[0]


def append_many(
    conn: Connection,
    *,
    client_id: str,
    actor: str,
    role: str,
    entries: Sequence[tuple[str, int | None, dict[str, Any]]],
    at: datetime | None = None,
) -> list[int]:
    """Append (event, ticket_id, data) entries of one actor, chained in order: the rows `append`
    would make one by one (at one moment), in three statements instead of three per entry (a
    push marks hundreds of decisions pushed at once). Returns their sequence numbers."""
    if not entries:
        return []
    last = conn.execute(select(AUDIT.c.seq, AUDIT.c.hash).order_by(AUDIT.c.seq.desc()).limit(1)).first()
    seq, prev_hash = (last.seq + 1, last.hash) if last else (1, GENESIS_HASH)
    when = to_rfc3339(at or utcnow())
    actor = clean_text(actor, 200) or ""
    rows: list[dict[str, Any]] = []
    for event, ticket_id, data in entries:
        payload = canonical_json(
            {"at": when, "actor": actor, "role": role, "event": event, "ticket_id": ticket_id, "data": data}
        )
        rows.append(
            {
                "client_id": client_id,
                "at": when,
                "actor": actor,
                "role": role,
                "event": event,
                "ticket_id": ticket_id,
                **facts(event, data),
                "payload": payload,
                "payload_sha256": sha256_text(payload),
            }
        )
    about = {r["decision_id"] for r in rows if r["event"] in AuditEvent.ABOUT_A_DECISION and r["decision_id"]}
    inherited = _inherited_facts_of(conn, about)
    recorded: dict[str, dict[str, Any]] = {}  # decisions recorded earlier in these entries
    for values in rows:
        decision_id = values["decision_id"]
        if values["event"] in AuditEvent.ABOUT_A_DECISION and decision_id:
            found = inherited.get(decision_id) or recorded.get(decision_id) or {}
            for name, value in found.items():
                values[name] = values[name] or value
        elif values["event"] == AuditEvent.DECISION_RECORDED and decision_id:
            recorded.setdefault(decision_id, {name: values[name] for name in FACT_COLUMNS})
        values["seq"], values["prev_hash"] = seq, prev_hash
        values["hash"] = prev_hash = row_hash(values)
        seq += 1
    conn.execute(insert(AUDIT), rows)
    return [values["seq"] for values in rows]


def _inherited_facts_of(conn: Connection, decision_ids: set[str]) -> dict[str, dict[str, Any]]:
    """What entries about a decision ("pushed", "undone") inherit from its first DECISION_RECORDED
    entry, so they filter by the workflow, reason and model of the decision."""
    found: dict[str, dict[str, Any]] = {}
    if not decision_ids:
        return found
    # The event is checked here, not in the WHERE: with it there, SQLite (no planner statistics
    # in a replica) picks ix_audit_log_event_at and reads every recorded decision in the log for
    # each page pushed, instead of a few entries per decision through ix_audit_log_decision_id.
    names = list(FACT_COLUMNS)
    for row in conn.execute(
        select(AUDIT.c.event, *(AUDIT.c[name] for name in names))
        .where(AUDIT.c.decision_id.in_(sorted(decision_ids)))
        .order_by(AUDIT.c.seq)
    ):
        if row.event == AuditEvent.DECISION_RECORDED:
            found.setdefault(row.decision_id, dict(zip(names, row[1:], strict=True)))
    return found


# --- event data: what each kind of entry carries -------------------------------------------------


def pii_revealed_data(
    *, external_id: str, workflow: str, fields: Sequence[str], where: str = "review"
) -> dict[str, Any]:
    """PII_REVEALED, with ticket_id: which masked fields were shown, and in which view."""
    return {"external_id": external_id, "workflow": workflow, "fields": list(fields), "where": where}


def conflict_data(*, external_id: str, workflow: str, decision_ids: Sequence[str]) -> dict[str, Any]:
    """CONFLICT_DETECTED, with ticket_id: the store holds rival final decisions on one revision."""
    return {"external_id": external_id, "workflow": workflow, "decision_ids": sorted(decision_ids)}


def changes_data(changes: Mapping[str, tuple[Any, Any]]) -> dict[str, Any]:
    """SETTINGS_CHANGED or POLICY_CHANGED: {name: (before, after)} of what changed."""
    return {"changes": {name: {"from": old, "to": new} for name, (old, new) in sorted(changes.items())}}


def reason_codes_data(*, added: Sequence[str], retired: Sequence[str], workflow: str = "*") -> dict[str, Any]:
    """REASON_CODES_CHANGED: codes as "action:code"."""
    return {"workflow": workflow, "added": sorted(added), "retired": sorted(retired)}


def store_data(*, store_url: str, store_id: str, previous_url: str | None = None) -> dict[str, Any]:
    """LOGIN, STORE_OPENED or STORE_SWITCHED: the store (URL without password) now in use."""
    return {"store_url": store_url, "store_id": store_id, "previous_url": previous_url}


def export_data(*, fmt: str, rows: int, query: Mapping[str, Any], file_name: str) -> dict[str, Any]:
    """EXPORT_MADE: what left the application, in which format, under which filter."""
    return {"format": fmt, "rows": rows, "query": dict(query), "file_name": file_name}


# --- verifying ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    entries: int
    head_hash: str
    first_bad_seq: int | None = None
    problem: str | None = None

    def describe(self) -> str:
        if self.ok:
            return f"audit chain OK: {self.entries} entries, head {self.head_hash[:16]}…"
        return f"audit chain BROKEN at entry {self.first_bad_seq}: {self.problem}"


class ChainCheck:
    """Checks one client's chain an entry at a time (rows in seq order), so a million entries
    stream through without being held in memory. `purge_cutoff`: entries older than this may
    have lost their payload to a recorded retention purge."""

    def __init__(
        self,
        client_id: str | None = None,
        purge_cutoff: str | None = None,
        after: tuple[int, str] = (0, GENESIS_HASH),
    ) -> None:
        """`after`: (size, head hash) of a prefix already checked; rows continue from there."""
        self.client_id = client_id
        self.purge_cutoff = purge_cutoff
        self.size, self.head_hash = after
        self.problem: str | None = None

    def add(self, row: Any) -> bool:
        """Check the next entry; False (and `problem` set) at the first bad one."""
        values = entry_values(row)
        problem = self._problem(values)
        if problem:
            self.problem = problem
            return False
        self.client_id = values["client_id"]
        self.head_hash = values["hash"]
        self.size += 1
        return True

    def fail(self, seq: int, problem: str) -> VerifyResult:
        """A verdict naming `seq` as the first bad entry (the entries before it checked out)."""
        return VerifyResult(False, min(self.size, seq - 1), self.head_hash, seq, problem)

    def result(self) -> VerifyResult:
        if self.problem:
            return self.fail(self.size + 1, self.problem)
        return VerifyResult(True, self.size, self.head_hash)

    def _problem(self, row: Mapping[str, Any]) -> str | None:
        expected, seq, client_id = self.size + 1, row["seq"], row["client_id"]
        if seq != expected:
            return f"sequence {seq} where {expected} was expected (entry missing, inserted or reordered)"
        if self.client_id is not None and client_id != self.client_id:
            return f"client id {client_id} differs from the chain's {self.client_id}"
        if row["prev_hash"] != self.head_hash:
            return "previous-hash link does not match the entry before it"
        if row_hash(row) != row["hash"]:
            return "hash does not match the entry's content (entry edited or hash forged)"
        if row["payload"] is None:
            return self._purge_problem(row)
        # The digest is in the hashed header: a payload that still matches it is the one written.
        if sha256_text(row["payload"]) != row["payload_sha256"]:
            return "payload does not match its hashed digest (payload edited)"
        return None

    def _purge_problem(self, row: Mapping[str, Any]) -> str | None:
        if row["event"] == AuditEvent.RETENTION_PURGE:
            return "the payload of a retention purge entry was removed"
        if self.purge_cutoff is None or row["at"] >= self.purge_cutoff:
            return "payload removed, but no recorded retention purge covers this entry"
        return None


def verify_rows(
    rows: Iterable[Any], client_id: str | None = None, purge_cutoff: str | None = None
) -> VerifyResult:
    """Check a chain given rows in storage order (any objects with the audit columns)."""
    check = ChainCheck(client_id, purge_cutoff)
    for row in rows:
        if not check.add(row):
            break
    return check.result()


def purge_cutoff_of(payloads: Iterable[str | None]) -> str | None:
    """The latest `audit_before` among retention purge payloads (None: nothing was purged)."""
    cutoffs = []
    for payload in payloads:
        try:
            cutoff = json.loads(payload or "null")["data"]["audit_before"]
        except (ValueError, KeyError, TypeError):
            continue
        if isinstance(cutoff, str):
            cutoffs.append(cutoff)
    return max(cutoffs, default=None)


def local_purge_cutoff(conn: Connection) -> str | None:
    return purge_cutoff_of(
        conn.execute(select(AUDIT.c.payload).where(AUDIT.c.event == AuditEvent.RETENTION_PURGE)).scalars()
    )


def iter_entries(conn: Connection) -> Iterator[Any]:
    yield from conn.execute(select(AUDIT).order_by(AUDIT.c.seq))


# The fast check reads raw tuples in this order: the chain's own columns, then the header's in the
# canonical (sorted) key order, so the header JSON is assembled without building a dict per entry.
_LINK_COLUMNS = ("client_id", "seq", "prev_hash", "hash", "payload")
_SORTED_HEADER = tuple(sorted(HEADER_COLUMNS))
_RAW_SELECT = f"SELECT {', '.join(_LINK_COLUMNS + _SORTED_HEADER)} FROM audit_log ORDER BY seq"
_DIGEST_AT = 5 + _SORTED_HEADER.index("payload_sha256")
_FETCH = 20_000
_quote = json.encoder.encode_basestring  # what the canonical encoder uses for str (ensure_ascii off)
_HEADER_TEMPLATE = "{" + ",".join(f"{_quote(name)}:%s" for name in _SORTED_HEADER) + "}"


def _fast_header(row: tuple[Any, ...]) -> str:
    """entry_header() for a raw tuple: the same canonical JSON, built directly. Raises TypeError
    for a value the canonical encoder would write differently (the caller then checks slowly)."""
    return _HEADER_TEMPLATE % tuple(
        "null" if v is None else _quote(v) if v.__class__ is str else _number(v) for v in row[5:]
    )


def _number(value: Any) -> str:
    if type(value) is not int:
        raise TypeError(f"{type(value).__name__} in a header column")
    return str(value)


def _check_raw(conn: Connection, check: ChainCheck) -> bool:
    """Check the log from `check.size` on a batch of raw tuples at a time (SQLite): the path for
    a table `_check_fast` cannot read. Entries it cannot judge (a bad link, a purged payload, an
    odd value) go through `check.add`, which says what is wrong; the result is the same as
    adding every row, about six times sooner."""
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    cursor.execute(*_after(_RAW_SELECT, check.size))
    sha256, tag = hashlib.sha256, DOMAIN_TAG
    size, head, client_id = check.size, check.head_hash, check.client_id
    try:
        while rows := cursor.fetchmany(_FETCH):
            for row in rows:
                cid, seq, prev, digest, payload = row[0], row[1], row[2], row[3], row[4]
                try:
                    header = _fast_header(row)
                except TypeError:
                    header = None
                if (
                    header is not None
                    and seq == size + 1
                    and prev == head
                    and (client_id is None or cid == client_id)
                    and payload is not None
                    and sha256(f"{tag}\x00{cid}\x00{seq}\x00{prev}\x00{header}\x00".encode()).hexdigest()
                    == digest
                    and sha256(payload.encode()).hexdigest() == row[_DIGEST_AT]
                ):
                    size, head, client_id = seq, digest, cid
                    continue
                check.size, check.head_hash, check.client_id = size, head, client_id
                if not check.add(dict(zip(_LINK_COLUMNS + _SORTED_HEADER, row, strict=True))):
                    return False
                size, head, client_id = check.size, check.head_hash, check.client_id
    finally:
        cursor.close()
    check.size, check.head_hash, check.client_id = size, head, client_id
    return True


# The fast check (audit_verify.scan) has SQLite build each header with json_object, which writes
# the canonical JSON for text, integers and NULL (see audit_verify), and fetches 7 columns, not 19.
# The last one is SQLite's verdict on what needs no hashing (client, ticket id type, payload or its
# purge); parameters: the client id, the purge cut-off, then the range's.
_FAST_SELECT = (
    "SELECT seq, prev_hash, hash, CAST(payload AS BLOB), payload_sha256, CAST(json_object("
    + ", ".join(f"'{name}', {name}" for name in _SORTED_HEADER)
    + ") || char(0) AS BLOB), CASE WHEN client_id IS NOT ? OR typeof(ticket_id) = 'real' THEN 0 "
    "WHEN payload < x'' THEN 1 "  # text (the column holds no numbers): cheaper than typeof()
    f"WHEN payload IS NULL AND event IS NOT '{AuditEvent.RETENTION_PURGE}' AND at < ? THEN 2 ELSE 0 END "
    "FROM audit_log{where} ORDER BY seq"
)
# Logs this long are checked in two halves at once, the second by a worker process (~20 ms to
# start): a million entries take ~6 s of CPU.
PARALLEL_FROM = 200_000
_WORKER_SCRIPT = Path(audit_verify.__file__)


def _after(sql: str, size: int) -> tuple[str, tuple[Any, ...]]:
    """`sql` limited to the rows after the first `size` checked ones (those are seq 1…size)."""
    if size == 0:  # nothing checked yet: every row, also any with a seq below 1
        return sql, ()
    return sql.replace(" ORDER BY", " WHERE seq > ? ORDER BY", 1), (size,)


def _fast_columns_hold_only_text(cursor: Any) -> bool:
    """json_object writes the canonical JSON only for text, integers and NULL: the header
    columns (but ticket_id, whose REALs the query skips) must have TEXT affinity, so that they
    hold nothing else (a BLOB makes the query fail, and the slow path takes over). The payload
    too: then `payload < x''` (text sorts before blobs) says it is text."""
    declared = {row[1]: (row[2] or "").upper() for row in cursor.execute("PRAGMA table_info(audit_log)")}
    return all(
        "INT" not in declared.get(name, "INT") and any(t in declared[name] for t in ("CHAR", "CLOB", "TEXT"))
        for name in (*_SORTED_HEADER, "payload")
        if name != "ticket_id"
    )


def _start_worker(cursor: Any, check: ChainCheck, lo: int, hi: int) -> subprocess.Popen[bytes] | None:
    """A process scanning entries lo+1…hi of the same file (read-only), or None if there is
    no file to share or no interpreter to run it with (a frozen app)."""
    path = next((row[2] for row in cursor.execute("PRAGMA database_list") if row[1] == "main"), "")
    if not path or getattr(sys, "frozen", False) or not _WORKER_SCRIPT.is_file():
        return None
    job = {
        "uri": Path(path).as_uri() + "?mode=ro",
        "sql": _FAST_SELECT.format(where=" WHERE seq > ? AND seq <= ?"),
        "params": [check.client_id, check.purge_cutoff, lo, hi],
        "size": lo,
        "client_id": check.client_id,
        "tag": DOMAIN_TAG,
    }
    try:
        return subprocess.Popen(
            [sys.executable, "-I", "-S", str(_WORKER_SCRIPT), json.dumps(job)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0),  # no console flashing up on Windows
        )
    except OSError:
        return None


def _stop(worker: subprocess.Popen[bytes]) -> None:
    if worker.poll() is None:
        worker.kill()
        worker.wait()


def _join_worker(worker: subprocess.Popen[bytes], check: ChainCheck, lo: int, timeout: float) -> None:
    """Extend `check` by the worker's accepted entries if they continue it (its first entry is
    lo+1, linked to `check`'s head); otherwise leave `check` as it is (the scan goes on alone)."""
    try:
        out, _ = worker.communicate(timeout=timeout)
        verdict = json.loads(out) if worker.returncode == 0 else None
    except (subprocess.TimeoutExpired, ValueError):
        verdict = None
    finally:
        _stop(worker)
    if (
        isinstance(verdict, dict)
        and verdict.get("first") == [lo + 1, check.head_hash]
        and check.size == lo
        and verdict.get("client_id") == check.client_id
        and isinstance(verdict.get("size"), int)
        and isinstance(verdict.get("head"), str)
    ):
        check.size, check.head_hash = verdict["size"], verdict["head"]


def _check_fast(conn: Connection, check: ChainCheck) -> bool:
    """Check the whole log (SQLite) with `audit_verify.scan`, the two halves of a long log at once.
    An entry the scan does not accept goes through `check.add`, which judges it (and says what is
    wrong), and the scan goes on after it; the result is the same as adding every row."""
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        if not _fast_columns_hold_only_text(cursor):
            return _check_raw(conn, check)
        try:
            return _scan(cursor, check)
        except sqlite3.Error:
            # A value json_object refuses (a BLOB) or text that does not decode: the raw path
            # goes on from the entries accepted so far and meets it the way it always did.
            return _check_raw(conn, check)
    finally:
        cursor.close()


def _scan(cursor: Any, check: ChainCheck) -> bool:
    cutoff = check.purge_cutoff
    last = cursor.execute("SELECT max(seq) FROM audit_log").fetchone()[0]
    parallel = (os.cpu_count() or 1) > 1 and check.client_id is not None
    if parallel and isinstance(last, int) and last >= PARALLEL_FROM:
        mid = last // 2
        worker = _start_worker(cursor, check, mid, last)
        if worker is not None:
            try:
                started = time.monotonic()
                # This half meanwhile: every row up to mid, also any with a seq below 1.
                sql, params = _FAST_SELECT.format(where=" WHERE seq <= ?"), (check.client_id, cutoff, mid)
                check.size, check.head_hash, check.client_id, _, complete = audit_verify.scan(
                    cursor, sql, params, check.size, check.head_hash, check.client_id, DOMAIN_TAG
                )
            except BaseException:
                _stop(worker)
                raise
            if complete and check.size == mid:
                _join_worker(worker, check, mid, timeout=60 + 10 * (time.monotonic() - started))
            else:  # this half has a bad entry: the other half's verdict would not count
                _stop(worker)
    while True:
        sql, params = _after(_FAST_SELECT.format(where=""), check.size)
        params = (check.client_id, cutoff, *params)
        check.size, check.head_hash, check.client_id, _, complete = audit_verify.scan(
            cursor, sql, params, check.size, check.head_hash, check.client_id, DOMAIN_TAG
        )
        if complete:
            return True
        # The entry the scan stopped at, judged by the full check.
        row = cursor.execute(*_after(_RAW_SELECT + " LIMIT 1", check.size)).fetchone()
        if not check.add(dict(zip(_LINK_COLUMNS + _SORTED_HEADER, row, strict=True))):
            return False


def verify(conn: Connection) -> VerifyResult:
    """The whole local chain (every entry this installation's own), then its end against the
    head row (catches truncation)."""
    client_id = conn.execute(select(INFO.c.value).where(INFO.c.key == "client_id")).scalar()
    check = ChainCheck(client_id, purge_cutoff=local_purge_cutoff(conn))
    if conn.dialect.name == "sqlite":
        if not _check_fast(conn, check):
            return check.result()
    else:
        for row in iter_entries(conn):
            if not check.add(row):
                return check.result()
    head = conn.execute(select(HEAD.c.size, HEAD.c.hash).where(HEAD.c.id == 1)).first()
    if head is None:
        return check.fail(1, "the log's head record is missing")
    if head.size > check.size:
        return check.fail(
            check.size + 1,
            f"the log ends at entry {check.size} but its head records {head.size} entries "
            f"(entries {check.size + 1}…{head.size} removed)",
        )
    if head.size < check.size:
        return check.fail(head.size + 1, f"entries after {head.size} were added behind the log's back")
    if head.hash != check.head_hash:
        return check.fail(check.size, "the last entry differs from the log's head record")
    return check.result()


def size(conn: Connection) -> int:
    return conn.execute(select(func.count()).select_from(AUDIT)).scalar_one()


def verify_file(path: Path) -> VerifyResult:
    """Verify a replica's chain without migrating or writing to it (read-only open)."""
    engine = create_engine(f"sqlite:///file:{path}?mode=ro&uri=true")
    try:
        with engine.connect() as conn:
            columns = {c["name"] for c in inspect(conn).get_columns(AUDIT.name)}
            if "payload_sha256" not in columns:
                return VerifyResult(
                    False, 0, GENESIS_HASH, None, "the log is in an older format: open it with Signoff once"
                )
            return verify(conn)
    finally:
        engine.dispose()
