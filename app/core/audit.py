"""The tamper-evident local audit log: an append-only SHA-256 hash chain.

Each entry's hash covers a domain tag, the client id, its sequence number, the previous hash and
the canonical JSON payload; the payload itself carries time, actor, role, event and data, so
editing any of them, or removing, reordering or inserting an entry, breaks the chain.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, create_engine, func, insert, select

from app.core.domain import to_rfc3339, utcnow
from app.core.replica_models import AuditEntry
from app.core.validation import canonical_json

DOMAIN_TAG = "signoff.audit/1"
GENESIS_HASH = "0" * 64
_AUDIT = AuditEntry.__table__


class AuditEvent:
    DECISION_RECORDED = "decision_recorded"
    DECISION_PUSHED = "decision_pushed"
    DECISION_REJECTED_BY_STORE = "decision_rejected_by_store"
    DECISION_UNDONE = "decision_undone"
    STORE_OPENED = "store_opened"


def entry_hash(client_id: str, seq: int, prev_hash: str, payload: str) -> str:
    digest = hashlib.sha256()
    # NUL separators: no field can contain one, so two different field splits never hash alike.
    for part in (DOMAIN_TAG, client_id, str(seq), prev_hash, payload):
        digest.update(part.encode("utf-8"))
        digest.update(b"\x00")
    return digest.hexdigest()


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
    last = conn.execute(select(_AUDIT.c.seq, _AUDIT.c.hash).order_by(_AUDIT.c.seq.desc()).limit(1)).first()
    seq, prev_hash = (last.seq + 1, last.hash) if last else (1, GENESIS_HASH)
    when = to_rfc3339(at or utcnow())
    payload = canonical_json(
        {
            "at": when,
            "actor": actor,
            "role": role,
            "event": event,
            "ticket_id": ticket_id,
            "data": data,
        }
    )
    conn.execute(
        insert(_AUDIT).values(
            seq=seq,
            client_id=client_id,
            at=when,
            actor=actor,
            role=role,
            event=event,
            ticket_id=ticket_id,
            payload=payload,
            prev_hash=prev_hash,
            hash=entry_hash(client_id, seq, prev_hash, payload),
        )
    )
    return seq


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


def verify_rows(rows: Iterable[Any], client_id: str | None = None) -> VerifyResult:
    """Check a chain given rows in storage order (any objects with the audit columns)."""
    expected_seq, prev_hash, count = 1, GENESIS_HASH, 0
    for row in rows:
        bad = _check(row, expected_seq, prev_hash, client_id)
        if bad:
            return VerifyResult(False, count, prev_hash, expected_seq, bad)
        client_id = row.client_id
        prev_hash = row.hash
        expected_seq += 1
        count += 1
    return VerifyResult(True, count, prev_hash)


def _check(row: Any, expected_seq: int, prev_hash: str, client_id: str | None) -> str | None:
    if row.seq != expected_seq:
        return f"sequence {row.seq} where {expected_seq} was expected (entry missing, inserted or reordered)"
    if client_id is not None and row.client_id != client_id:
        return f"client id {row.client_id} differs from the chain's {client_id}"
    if row.prev_hash != prev_hash:
        return "previous-hash link does not match the entry before it"
    if entry_hash(row.client_id, row.seq, row.prev_hash, row.payload) != row.hash:
        return "hash does not match the entry's content (entry edited)"
    try:
        payload = json.loads(row.payload)
    except ValueError:
        return "payload is not valid JSON"
    for column in ("at", "actor", "role", "event", "ticket_id"):
        if payload.get(column) != getattr(row, column):
            return f"column {column!r} differs from the hashed payload (entry edited)"
    return None


def iter_entries(conn: Connection) -> Iterator[Any]:
    yield from conn.execute(select(_AUDIT).order_by(_AUDIT.c.seq))


def verify(conn: Connection) -> VerifyResult:
    return verify_rows(iter_entries(conn))


def size(conn: Connection) -> int:
    return conn.execute(select(func.count()).select_from(_AUDIT)).scalar_one()


def verify_file(path: Path) -> VerifyResult:
    """Verify a replica's chain without migrating or writing to it (read-only open)."""
    engine = create_engine(f"sqlite:///file:{path}?mode=ro&uri=true")
    try:
        with engine.connect() as conn:
            return verify(conn)
    finally:
        engine.dispose()
