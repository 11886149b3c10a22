"""Applying what a pull brings into the replica.

Ticket pages are staged first and applied in one transaction at the end, so a crash mid-pull
leaves the replica at the old state or the new one, never between; a re-run is idempotent.
The staging survives a crash only as rows a later pull clears before it starts.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

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

_DATES = ("created_at", "updated_at", "due_at")
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


def ticket_values(row: dict[str, Any]) -> dict[str, Any]:
    """A store ticket row as replica columns (status resolved later, at apply time)."""
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
        "search_text": search_text(json.loads(row["payload"])),
        "revision": row["revision"],
        "content_hash": row["content_hash"],
        "payload": row["payload"],
        "change_seq": row["change_seq"],
    }


def begin(conn: Connection) -> None:
    conn.execute(delete(STAGING))


def stage(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Park one page; a ticket changed twice during the pull keeps its latest version."""
    if not rows:
        return
    staged = []
    for row in rows:
        values = ticket_values(row)
        for key in _DATES:
            values[key] = values[key].isoformat() if values[key] is not None else None
        staged.append({"id": row["id"], "row": canonical_json(values), "change_seq": row["change_seq"]})
    stmt = sqlite_insert(STAGING)
    stmt = stmt.on_conflict_do_update(
        index_elements=[STAGING.c.id],
        set_={"row": stmt.excluded.row, "change_seq": stmt.excluded.change_seq},
        where=stmt.excluded.change_seq > STAGING.c.change_seq,
    )
    conn.execute(stmt, staged)


def commit(conn: Connection, cursor: int) -> int:
    """Move everything staged into `tickets` and advance the cursor, in the caller's (single)
    transaction. Returns how many tickets changed."""
    pending = _pending(conn)
    upsert = sqlite_insert(TICKETS)
    upsert = upsert.on_conflict_do_update(
        index_elements=[TICKETS.c.id],
        set_={c.name: upsert.excluded[c.name] for c in TICKETS.columns if c.name != "id"},
    )
    applied, after = 0, -1
    while True:
        chunk = conn.execute(
            select(STAGING.c.id, STAGING.c.row)
            .where(STAGING.c.id > after)
            .order_by(STAGING.c.id)
            .limit(_APPLY_CHUNK)
        ).all()
        if not chunk:
            break
        values = [_resolve(json.loads(staged.row), pending) for staged in chunk]
        conn.execute(upsert, values)
        applied += len(values)
        after = chunk[-1].id
    conn.execute(delete(STAGING))
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


def _resolve(values: dict[str, Any], pending: dict[int, Any]) -> dict[str, Any]:
    for key in _DATES:
        if values[key] is not None:
            values[key] = datetime.fromisoformat(values[key])
    mine = pending.get(values["id"])
    if mine is not None and mine.ticket_revision == values["revision"]:
        # My decision has not reached the store yet: the status it gave (decided, escalated,
        # awaiting clarification) still counts here.
        values["status"] = mine.status
    else:
        values["status"] = values["store_status"]
    return values


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
