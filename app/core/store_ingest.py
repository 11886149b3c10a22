"""Ingest into the store: new tickets, idempotent re-sends, updates that reopen a ticket."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, insert, select, tuple_, update

from app.core import policy
from app.core.domain import TicketStatus, parse_rfc3339, utcnow
from app.core.store_changes import lock_changes, take_change_seqs
from app.core.store_models import StoreTicket, Workflow
from app.core.validation import canonical_json, text_hash

TICKETS = StoreTicket.__table__
WORKFLOWS = Workflow.__table__
REOPENABLE = (TicketStatus.OPEN, TicketStatus.AWAITING_CLARIFICATION)


@dataclass
class IngestOutcome:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    refused: list[tuple[int, str, str]] = field(default_factory=list)  # (line, path, message)

    @property
    def stored(self) -> int:
        return self.inserted + self.updated + self.unchanged


def db_text(text: str) -> str:
    """Postgres text cannot hold NUL, which JSON strings may; the payload keeps the original
    (escaped as \\u0000 in JSON), the plain columns get U+FFFD instead."""
    return text.replace("\x00", "\ufffd")


Router = Callable[[dict[str, Any]], policy.Routing]


def ticket_columns(ticket: dict[str, Any], router: Router = policy.route) -> dict[str, Any]:
    """The indexed columns a ticket row carries besides its payload. `router` decides queue,
    priority and due time (the workflow's policy; the defaults when none is given)."""
    routing = router(ticket)
    payload = canonical_json(ticket)
    return {
        "source": db_text(ticket["source"]),
        "external_id": db_text(ticket["external_id"]),
        "workflow": ticket["workflow"],
        "created_at": parse_rfc3339(ticket["created_at"]),
        "queue": str(routing.queue),
        "priority": routing.priority,
        "due_at": routing.due_at,
        "confidence": float(ticket["ai"]["confidence"]),
        "exception_code": ticket["exception"]["code"],
        "risk_tier": (ticket.get("risk") or {}).get("tier"),
        "title": db_text(ticket["exception"]["summary"][:500]),
        "payload": payload,
        "content_hash": text_hash(payload),
    }


def ticket_key(ticket: dict[str, Any]) -> tuple[str, str]:
    """(source, external_id) as stored, so lookups match the columns."""
    return db_text(ticket["source"]), db_text(ticket["external_id"])


def ingest_chunk(
    conn: Connection,
    chunk: Sequence[tuple[int, dict[str, Any]]],
    outcome: IngestOutcome,
    router: Router = policy.route,
) -> None:
    lock_changes(conn)
    keys = {ticket_key(t) for _, t in chunk}
    known: dict[tuple[str, str], dict[str, Any]] = {
        (r.source, r.external_id): r._asdict()
        for r in conn.execute(
            select(
                TICKETS.c.id,
                TICKETS.c.source,
                TICKETS.c.external_id,
                TICKETS.c.content_hash,
                TICKETS.c.status,
                TICKETS.c.revision,
            ).where(tuple_(TICKETS.c.source, TICKETS.c.external_id).in_(list(keys)))
        )
    }
    now = utcnow()
    new_rows: dict[tuple[str, str], dict[str, Any]] = {}
    updates: dict[int, dict[str, Any]] = {}
    for line, ticket in chunk:
        key = ticket_key(ticket)
        columns = ticket_columns(ticket, router)
        if key in new_rows:  # same ticket twice in one batch: the later line wins
            if new_rows[key]["content_hash"] == columns["content_hash"]:
                outcome.unchanged += 1
            else:
                new_rows[key].update(columns)
                outcome.updated += 1
            continue
        existing = known.get(key)
        if existing is None:
            new_rows[key] = {
                **columns,
                "status": str(TicketStatus.OPEN),
                "revision": 1,
                "updated_at": now,
            }
            outcome.inserted += 1
        elif existing["content_hash"] == columns["content_hash"]:
            outcome.unchanged += 1
        elif existing["status"] in REOPENABLE:
            existing["revision"] += 1
            existing["content_hash"] = columns["content_hash"]
            existing["status"] = str(TicketStatus.OPEN)
            updates[existing["id"]] = {
                **columns,
                "status": str(TicketStatus.OPEN),
                "revision": existing["revision"],
                "updated_at": now,
            }
            outcome.updated += 1
        else:
            outcome.refused.append(
                (
                    line,
                    "external_id",
                    f"ticket {key[0]}/{key[1]} is already {existing['status']}; new content "
                    "is accepted only while it is open or awaiting clarification "
                    "(send it under a new external_id)",
                )
            )
    changes = len(new_rows) + len(updates)
    if not changes:
        return
    seq = take_change_seqs(conn, changes)
    if new_rows:
        rows = list(new_rows.values())
        for row in rows:
            row["change_seq"] = next(seq)
        conn.execute(insert(TICKETS), rows)
    for ticket_id, values in updates.items():
        conn.execute(update(TICKETS).where(TICKETS.c.id == ticket_id).values(**values, change_seq=next(seq)))
    ensure_workflows(conn, {t["workflow"] for _, t in chunk}, now)


def ensure_workflows(conn: Connection, names: set[str], now: Any) -> None:
    have = set(conn.execute(select(WORKFLOWS.c.name).where(WORKFLOWS.c.name.in_(names))).scalars())
    missing = sorted(names - have)
    if missing:
        conn.execute(
            insert(WORKFLOWS),
            [{"name": n, "label": n.replace("_", " ").capitalize(), "created_at": now} for n in missing],
        )
