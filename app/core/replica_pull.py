"""Applying what a pull brings into the replica.

Ticket pages are staged first and applied in one transaction at the end, so a crash mid-pull
leaves the replica at the old state or the new one, never between; a re-run is idempotent.
The staging survives a crash only as rows a later pull clears before it starts.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from app.core import store_fetch
from app.core.dbtypes import UTCDateTime
from app.core.domain import STATUS_AFTER, Action, PushState, TicketStatus
from app.core.replica_models import (
    PullStaging,
    RemoteDecision,
    ReplicaClaim,
    ReplicaDecision,
    ReplicaInfo,
    ReplicaReasonCode,
    ReplicaTicket,
)
from app.core.rows import decision_from_row
from app.core.store_claims import ClaimState
from app.core.validation import canonical_json

TICKETS = ReplicaTicket.__table__
DECISIONS = ReplicaDecision.__table__
STAGING = PullStaging.__table__
REMOTE = RemoteDecision.__table__
CLAIMS = ReplicaClaim.__table__
INFO = ReplicaInfo.__table__
REASONS = ReplicaReasonCode.__table__

_APPLY_CHUNK = 5000
_FORGET_CHUNK = 500


def search_text(payload: dict[str, Any]) -> str:
    """What the queue's text search matches: ticket facts, not message bodies or PII."""
    subject = payload["subject"]
    parts = [
        payload["external_id"],
        payload.get("source", ""),
        payload["workflow"],
        payload["exception"]["summary"],
        payload["exception"]["code"],
        subject.get("ref", ""),
        subject.get("organization", ""),
        payload["ai"]["recommendation"].get("label", ""),
        payload["ai"]["recommendation"]["action"],
    ]
    return " ".join(p for p in parts if p).casefold()


def ticket_values(row: dict[str, Any], *, search: str | None = None) -> dict[str, Any]:
    """A store ticket row as replica columns (status resolved later, at apply time). `search`:
    the search text when the caller already has it (else read from the payload)."""
    return {
        "id": row["id"],
        "source": row["source"],
        "external_id": row["external_id"],
        "workflow": row["workflow"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "store_status": row["status"],
        "queue": row["queue"],
        "priority": row["priority"],
        "due_at": row["due_at"],
        "confidence": row["confidence"],
        "exception_code": row["exception_code"],
        "risk_tier": row["risk_tier"],
        "title": row["title"],
        "search_text": search if search is not None else search_text(json.loads(row["payload"])),
        "revision": row["revision"],
        "content_hash": row["content_hash"],
        "payload": row["payload"],
        "change_seq": row["change_seq"],
    }


def begin(conn: Connection) -> None:
    _clear_staging(conn)


_SECURE_DELETE = {0: "OFF", 1: "ON", 2: "FAST"}


def _clear_staging(conn: Connection) -> None:
    """Empty the staging table. SQLite built with SECURE_DELETE (Debian's, for one) overwrites
    every freed page with zeros, which made clearing a big pull cost as much as staging it
    (issue 7, P4). Staged rows are copies of what `tickets` holds (masked payloads, never
    personal data), so the clear runs with secure_delete=FAST, which zeroes only what costs no
    extra I/O, and the connection's setting is put back afterwards."""
    previous = conn.exec_driver_sql("PRAGMA secure_delete").scalar()
    if not previous:
        conn.execute(delete(STAGING))
        return
    conn.exec_driver_sql("PRAGMA secure_delete = FAST").all()
    try:
        conn.execute(delete(STAGING))
    finally:
        # The value read back is 0, 1 or 2, but only the name sets 2 ("= 2" would mean on).
        conn.exec_driver_sql(f"PRAGMA secure_delete = {_SECURE_DELETE[int(previous)]}").all()


# Fast path (issue 7, P4): a staged row holds the ticket's columns already as SQLite binds them
# (the SQLAlchemy column types' own bind processors, so dates read back exactly as before), as a
# JSON array, then a newline, then the payload text as is. So the payload is parsed once (for the
# search text) and never escaped into or out of JSON, and both moves are plain executemany with
# no per-row SQLAlchemy work. The format is private to this module: `begin` clears whatever an
# interrupted pull left. json.dumps never writes a raw newline, so the first one ends the array.
_COLUMNS = tuple(c.name for c in TICKETS.columns)
_STAGED = tuple(name for name in _COLUMNS if name not in ("status", "payload"))  # in the array
_ROW_SQL = (
    f"INSERT INTO {TICKETS.name} ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))}) "
    f"ON CONFLICT (id) DO UPDATE SET "
    + ", ".join(f"{name} = excluded.{name}" for name in _COLUMNS if name != "id")
)
_STAGE_SQL = (
    f"INSERT INTO {STAGING.name} (id, row, change_seq) VALUES (?, ?, ?) "
    f"ON CONFLICT (id) DO UPDATE SET row = excluded.row, change_seq = excluded.change_seq "
    f"WHERE excluded.change_seq > {STAGING.name}.change_seq"
)
_READ_STAGED_SQL = f"SELECT id, row FROM {STAGING.name} WHERE id > ? ORDER BY id LIMIT ?"


def _binders(conn: Connection) -> list[tuple[int, Any]]:
    """(position in _STAGED, bind processor) of the columns whose type converts values."""
    found = []
    for position, name in enumerate(_STAGED):
        column_type = TICKETS.c[name].type
        process = column_type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
        if process is not None:
            if isinstance(column_type, UTCDateTime) and _same_text(process):
                process = _utc_fast_path(process)
            found.append((position, process))
    return found


_utc_text = store_fetch.utc_text


def _utc_fast_path(process: Any) -> Any:
    """The UTC date-time columns' processor, done more cheaply for the aware-UTC values
    the store hands out; anything else (None, other zones, naive ones it refuses) goes its way."""

    def bind(value: Any) -> Any:
        if value is not None and value.tzinfo is UTC:
            return _utc_text(value)
        return process(value)

    return bind


def _same_text(process: Any) -> bool:
    """Whether `_utc_text` writes what the dialect writes (it does for SQLAlchemy's SQLite
    DATETIME storage format; checked, so a different format keeps the processor)."""
    probes = [datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC), datetime(9, 12, 31, 23, 59, 59, tzinfo=UTC)]
    return all(process(p) == _utc_text(p) for p in probes)


def stage(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Park one page; a ticket changed twice during the pull keeps its latest version."""
    if not rows:
        return
    binders = _binders(conn)
    staged = []
    for row in rows:
        values = ticket_values(row)
        column_values = [values[name] for name in _STAGED]
        for position, process in binders:
            column_values[position] = process(column_values[position])
        text = json.dumps(column_values, ensure_ascii=False) + "\n" + values["payload"]
        staged.append((row["id"], text, row["change_seq"]))
    conn.exec_driver_sql(_STAGE_SQL, staged)


def commit(conn: Connection, cursor: int) -> int:
    """Move everything staged into `tickets` and advance the cursor, in the caller's (single)
    transaction. Returns how many tickets changed."""
    pending = _pending(conn)
    applied, after = 0, -1
    while True:
        chunk = conn.exec_driver_sql(_READ_STAGED_SQL, (after, _APPLY_CHUNK)).all()
        if not chunk:
            break
        values = []
        for _id, text in chunk:
            head, _newline, payload = text.partition("\n")
            staged = dict(zip(_STAGED, json.loads(head), strict=True))
            staged["status"] = _status(staged, pending)
            staged["payload"] = payload
            values.append(tuple(staged[name] for name in _COLUMNS))
        conn.exec_driver_sql(_ROW_SQL, values)
        applied += len(values)
        after = chunk[-1][0]
    _clear_staging(conn)
    _advance(conn, "pull_cursor", cursor)
    return applied


def settle_statuses(conn: Connection) -> None:
    """With the pull caught up, a ticket shows the store's status unless a decision of ours
    still waits to be sent. Needed for decisions the store had committed before we heard back
    (answer lost, crash before mark_pushed): if we pulled the ticket in between, no newer
    version comes to put the store's status (say, a conflict) back."""
    ours = select(DECISIONS.c.ticket_id).where(DECISIONS.c.push_state != PushState.PENDING)
    waiting = select(DECISIONS.c.ticket_id).where(DECISIONS.c.push_state == PushState.PENDING)
    conn.execute(
        update(TICKETS)
        .where(
            TICKETS.c.id.in_(ours),
            TICKETS.c.id.not_in(waiting),
            TICKETS.c.status != TICKETS.c.store_status,
        )
        .values(status=TICKETS.c.store_status)
    )


def _pending(conn: Connection) -> dict[int, SimpleNamespace]:
    """ticket id -> revision and status of this installation's decisions not in the store yet."""
    escalating = {
        (r.workflow, r.action, r.code)
        for r in conn.execute(
            select(REASONS.c.workflow, REASONS.c.action, REASONS.c.code).where(REASONS.c.escalates.is_(True))
        )
    }
    pending = {}
    for r in conn.execute(
        select(
            DECISIONS.c.ticket_id,
            DECISIONS.c.ticket_revision,
            DECISIONS.c.workflow,
            DECISIONS.c.action,
            DECISIONS.c.reason_code,
            TICKETS.c.status,
        )
        .outerjoin(TICKETS, TICKETS.c.id == DECISIONS.c.ticket_id)
        .where(DECISIONS.c.push_state == PushState.PENDING)
        .order_by(DECISIONS.c.decided_at)
    ):
        status = r.status
        if status is None:
            # No ticket copy to read it from (the replica was rebuilt after a store restore and
            # the re-push is still waiting): the decision itself says what it made of the ticket.
            escalates = {(r.workflow, r.action, r.reason_code), ("*", r.action, r.reason_code)} & escalating
            status = str(TicketStatus.ESCALATED if escalates else STATUS_AFTER[Action(r.action)])
        pending[r.ticket_id] = SimpleNamespace(ticket_revision=r.ticket_revision, status=status)
    return pending


def _status(values: dict[str, Any], pending: dict[int, Any]) -> Any:
    return _status_of(values["id"], values["revision"], values["store_status"], pending)


def _status_of(ticket_id: int, revision: int, store_status: str, pending: dict[int, Any]) -> Any:
    mine = pending.get(ticket_id)
    if mine is not None and mine.ticket_revision == revision:
        # My decision has not reached the store yet: the status it gave (decided, escalated,
        # awaiting clarification) still counts here.
        return mine.status
    return store_status


# --- straight into a replica without tickets ------------------------------------------------

# The store's columns as fetched (store_fetch.COLUMNS), its status as store_status, then the
# two worked out here: one executemany in the order the rows arrive, nothing rearranged.
_FRESH_COLUMNS = [
    *("store_status" if c == "status" else c for c in store_fetch.COLUMNS),
    "status",
    "search_text",
]
_FRESH_SQL = (
    f"INSERT INTO {TICKETS.name} ({', '.join(_FRESH_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(_FRESH_COLUMNS))}) ON CONFLICT (id) DO UPDATE SET "
    + ", ".join(f"{name} = excluded.{name}" for name in _FRESH_COLUMNS if name != "id")
)
_REVISION, _PAYLOAD, _STORE_STATUS = (store_fetch.COLUMNS.index(c) for c in ("revision", "payload", "status"))


def _date_fixes(conn: Connection) -> list[tuple[int, Any]]:
    """(position, converter) for the dates whose text the replica's dialect would not write
    as fetched; empty with SQLAlchemy's SQLite format, which `_same_text` checks."""
    fixes = []
    for i in store_fetch.DATES:
        column_type = TICKETS.c[store_fetch.COLUMNS[i]].type
        process = column_type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
        if process is not None and not _same_text(process):
            fixes.append((i, lambda text, p=process: p(datetime.fromisoformat(text).replace(tzinfo=UTC))))
    return fixes


def _fixed(row: Sequence[Any], fixes: list[tuple[int, Any]]) -> list[Any]:
    values = list(row)
    for i, convert in fixes:
        if values[i] is not None:
            values[i] = convert(values[i])
    return values


def is_empty(conn: Connection) -> bool:
    """No ticket copies at all: a first pull, or one after a rebuild."""
    return conn.execute(select(TICKETS.c.id).limit(1)).first() is None


class FreshWriter:
    """Fast path (issue 7, P4): the pages of a pull into a replica without tickets, written
    straight into `tickets`, for a caller that holds the whole pull in one transaction (a crash
    rolls back to the empty replica: the guarantee staging gives, without writing every row
    twice). Takes the store's rows as `store_fetch.ticket_rows(..., dates_as_text=True)` gives
    them, in that order; the values stored are those `stage` + `commit` store (compared in
    test_replica_pull)."""

    def __init__(self, conn: Connection) -> None:
        _clear_staging(conn)  # whatever an interrupted staged pull left
        self._conn = conn
        self._pending = _pending(conn)
        self._dates = _date_fixes(conn)
        self._dropped: list[tuple[str, str]] | None = None  # (name, CREATE statement) to put back

    def write(self, rows: Sequence[Sequence[Any]]) -> None:
        """One page, in change order: a ticket met again later overwrites its older version."""
        pending, dates = self._pending, self._dates
        values = []
        for row in rows:
            if dates:
                row = _fixed(row, dates)
            status = _status_of(row[store_fetch.ID], row[_REVISION], row[_STORE_STATUS], pending)
            values.append((*row, status, search_text(json.loads(row[_PAYLOAD]))))
        if len(values) >= BULK_PAGE and self._dropped is None:
            self._dropped = _drop_queue_indexes(self._conn)
        if values:
            self._conn.exec_driver_sql(_FRESH_SQL, values)

    def finish(self, cursor: int) -> None:
        """Put back the indexes `write` dropped, exactly as they were, and advance the cursor."""
        for _name, create in self._dropped or []:
            self._conn.exec_driver_sql(create)
        self._dropped = None
        _advance(self._conn, "pull_cursor", cursor)


# A big first pull fills `tickets` without its queue indexes and builds them at the end, in the
# same transaction: one sort per index instead of 100k scattered inserts into each (half the
# write time at 100k tickets). Not when the replica holds planner statistics for the table
# (dropping an index drops its statistics; see replica._drop_partial_ticket_stats).
BULK_PAGE = 1000


def _drop_queue_indexes(conn: Connection) -> list[tuple[str, str]]:
    """Drop the secondary indexes of the (empty) tickets table; returns how to put them back.
    The primary key and the unique constraint stay (their indexes have no SQL of their own)."""
    stats = conn.exec_driver_sql("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'").first()
    if stats and conn.exec_driver_sql(f"SELECT 1 FROM sqlite_stat1 WHERE tbl = '{TICKETS.name}'").first():
        return []
    indexes = conn.exec_driver_sql(
        "SELECT name, sql FROM sqlite_master "
        f"WHERE type = 'index' AND tbl_name = '{TICKETS.name}' AND sql IS NOT NULL"
    ).all()
    for name, _create in indexes:
        conn.exec_driver_sql(f'DROP INDEX "{name}"')
    return [(name, create) for name, create in indexes]


def forget_tickets(conn: Connection, ticket_ids: Sequence[int]) -> list[int]:
    """Drop the copies of tickets this login can no longer see in the store (escalated by
    someone else), with the claims and decisions of others pulled for them. A ticket with a
    decision of ours still waiting to be sent stays, so the decision keeps its ticket until the
    store has answered; returns those kept."""
    if not ticket_ids:
        return []
    pending = select(DECISIONS.c.ticket_id).where(DECISIONS.c.push_state == PushState.PENDING)
    waiting = set(conn.execute(pending).scalars())
    # A first sync asks about every ticket ever withdrawn: chunks keep SQLite's variable limit.
    gone = [t for t in ticket_ids if t not in waiting]
    for start in range(0, len(gone), _FORGET_CHUNK):
        chunk = gone[start : start + _FORGET_CHUNK]
        conn.execute(delete(REMOTE).where(REMOTE.c.ticket_id.in_(chunk)))
        conn.execute(delete(CLAIMS).where(CLAIMS.c.ticket_id.in_(chunk)))
        conn.execute(delete(TICKETS).where(TICKETS.c.id.in_(chunk)))
    return sorted({t for t in ticket_ids if t in waiting})


RECHECK_WITHDRAWN = "withdrawn_recheck_after"  # ask again from here: copies kept for a decision


def withdrawn_recheck(conn: Connection) -> int | None:
    value = conn.execute(select(INFO.c.value).where(INFO.c.key == RECHECK_WITHDRAWN)).scalar_one_or_none()
    return int(value) if value is not None else None


def set_withdrawn_recheck(conn: Connection, after_seq: int | None) -> None:
    """Remember to ask the store again, next sync, about withdrawn tickets changed after
    `after_seq` (None: nothing kept, nothing to ask again)."""
    conn.execute(delete(INFO).where(INFO.c.key == RECHECK_WITHDRAWN))
    if after_seq is not None:
        conn.execute(insert(INFO).values(key=RECHECK_WITHDRAWN, value=str(after_seq)))


def apply_decisions(conn: Connection, rows: Sequence[dict[str, Any]], cursor: int) -> int:
    """Every reviewer's decisions as the store has them, so conflicts show all sides."""
    values = [
        {
            "decision_id": row["decision_id"],
            "ticket_id": row["ticket_id"],
            "record": canonical_json(_record(row)),
            "status": row["status"],
            "change_seq": row["change_seq"],
        }
        for row in rows
    ]
    if values:
        stmt = sqlite_insert(REMOTE)
        stmt = stmt.on_conflict_do_update(
            index_elements=[REMOTE.c.decision_id],
            set_={name: stmt.excluded[name] for name in ("record", "status", "change_seq")},
        )
        conn.execute(stmt, values)
    _advance(conn, "decision_cursor", cursor)
    return len(values)


def _record(row: dict[str, Any]) -> dict[str, Any]:
    # The interchange record plus what a replica needs to show corrections and revisions.
    record = decision_from_row(SimpleNamespace(**row)).to_record()
    return {**record, "ticket_revision": row["ticket_revision"], "supersedes": row["supersedes"]}


def replace_claims(conn: Connection, claims: Sequence[ClaimState]) -> None:
    conn.execute(delete(CLAIMS))
    if claims:
        conn.execute(
            insert(CLAIMS),
            [
                {
                    "ticket_id": c.ticket_id,
                    "holder": c.holder,
                    "client_id": c.client_id,
                    "expires_at": c.expires_at,
                    "offline": c.offline,
                }
                for c in claims
            ],
        )


def cursor(conn: Connection, key: str) -> int:
    value = conn.execute(select(INFO.c.value).where(INFO.c.key == key)).scalar_one_or_none()
    return int(value or 0)


def _advance(conn: Connection, key: str, value: int) -> None:
    new = str(max(value, cursor(conn, key)))
    stmt = sqlite_insert(INFO).values(key=key, value=new)
    conn.execute(stmt.on_conflict_do_update(index_elements=[INFO.c.key], set_={"value": new}))


def new_conflicts(conn: Connection, rows: Sequence[dict[str, Any]]) -> dict[int, list[str]]:
    """Tickets whose decisions turn to `conflict` in this page, and not already known as such
    here: ticket id -> the rival decision ids. Called before `apply_decisions` stores them."""
    conflicted = [r for r in rows if r["status"] == "conflict"]
    if not conflicted:
        return {}
    known = set(
        conn.execute(
            select(REMOTE.c.decision_id).where(
                REMOTE.c.decision_id.in_([r["decision_id"] for r in conflicted]),
                REMOTE.c.status == "conflict",
            )
        ).scalars()
    )
    found: dict[int, list[str]] = {}
    for row in conflicted:
        if row["decision_id"] not in known:
            found.setdefault(row["ticket_id"], []).append(row["decision_id"])
    return found
