"""Ingest into the store: new tickets, idempotent re-sends, updates that reopen a ticket.

Each ticket is stored in two parts (see app.core.pii): `tickets.payload` holds the ticket with
every personal value replaced by the mask, and `ticket_pii` holds those values for that
revision, so the database can withhold them from roles that may not see them. The content hash
is the hash of the whole ticket as received (personal values included), so sending the same
ticket again is still recognised as unchanged, and a change to a name alone is still a change.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from sqlalchemy import Connection, insert, select, tuple_, update

from app.core import pii, policy, store_ingest_sqlite
from app.core.domain import TicketStatus, parse_rfc3339, utcnow
from app.core.store_changes import lock_changes, take_change_seqs
from app.core.store_models import StoreTicket, TicketPii, Workflow
from app.core.validation import canonical_tree_json, text_hash

TICKETS = StoreTicket.__table__
WORKFLOWS = Workflow.__table__
PII = TicketPii.__table__
# New content routes an automated ticket again: it may need a person now.
REOPENABLE = (TicketStatus.OPEN, TicketStatus.AWAITING_CLARIFICATION, policy.AUTO)


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
    """The columns of a ticket row: the masked payload and the indexed facts. `router` decides
    queue, priority and due time (the workflow's policy; the defaults when none is given)."""
    return ticket_parts(ticket, router)[0]


def ticket_parts(
    ticket: dict[str, Any], router: Router = policy.route
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the ticket row's columns, its personal values {field path: value} for `ticket_pii`).
    The title is the exception summary, which the schema does not mark personal."""
    routing = router(ticket)
    payload, whole, personal = pii.split_canonical(ticket)
    return {
        "status": str(routing.status),  # open, or auto when the policy automates it
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
        "content_hash": text_hash(whole),
    }, personal


def ticket_key(ticket: dict[str, Any]) -> tuple[str, str]:
    """(source, external_id) as stored, so lookups match the columns."""
    return db_text(ticket["source"]), db_text(ticket["external_id"])


class Prepared(NamedTuple):
    """A ticket ready to store: what `ingest_prepared` needs of it, and no more."""

    line: int
    key: tuple[str, str]
    columns: dict[str, Any]
    personal: dict[str, Any]


def prepare(line: int, ticket: dict[str, Any], router: Router = policy.route) -> Prepared:
    """Made as each ticket is read, so a batch holds these flat rows rather than the tickets:
    2,000 parsed tickets held across a batch were what made Python's full garbage collections
    run again and again (a tenth of ingest's time, issue 7 P6)."""
    columns, personal = ticket_parts(ticket, router)
    return Prepared(line, ticket_key(ticket), columns, personal)


def ingest_chunk(
    conn: Connection,
    chunk: Sequence[tuple[int, dict[str, Any]]],
    outcome: IngestOutcome,
    router: Router = policy.route,
) -> None:
    """One batch of (line, ticket) pairs, in the caller's transaction."""
    ingest_prepared(conn, [prepare(line, ticket, router) for line, ticket in chunk], outcome)


def ingest_prepared(conn: Connection, chunk: Sequence[Prepared], outcome: IngestOutcome) -> None:
    lock_changes(conn)
    sqlite = driver_level(conn)
    keys = {p.key for p in chunk}
    known = (store_ingest_sqlite.known_tickets if sqlite else _known_tickets)(conn, list(keys))
    now = utcnow()
    new_rows: dict[tuple[str, str], dict[str, Any]] = {}
    updates: dict[int, dict[str, Any]] = {}
    personal: dict[tuple[str, str], dict[str, Any]] = {}  # the latest values sent, per ticket
    for line, key, columns, values in chunk:
        if key in new_rows:  # same ticket twice in one batch: the later line wins
            if new_rows[key]["content_hash"] == columns["content_hash"]:
                outcome.unchanged += 1
            else:
                new_rows[key].update(columns)
                personal[key] = values
                outcome.updated += 1
            continue
        existing = known.get(key)
        if existing is None:
            new_rows[key] = {
                **columns,
                "revision": 1,
                "updated_at": now,
            }
            personal[key] = values
            outcome.inserted += 1
        elif existing["content_hash"] == columns["content_hash"]:
            outcome.unchanged += 1
        elif existing["status"] in REOPENABLE:
            existing["revision"] += 1
            existing["content_hash"] = columns["content_hash"]
            existing["status"] = columns["status"]
            updates[existing["id"]] = {
                **columns,
                "revision": existing["revision"],
                "updated_at": now,
            }
            personal[key] = values
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
    for row in new_rows.values():
        row["change_seq"] = next(seq)
    for values in updates.values():
        values["change_seq"] = next(seq)
    write = store_ingest_sqlite.write_tickets if sqlite else _write_tickets
    stored = write(conn, new_rows, updates, now)
    store_personal_values(conn, stored, personal, now)
    ensure_workflows(conn, {p.columns["workflow"] for p in chunk}, now)


def driver_level(conn: Connection) -> bool:
    """Whether ingest writes with plain DBAPI statements (`store_ingest_sqlite`, SQLite) rather
    than SQLAlchemy Core (Postgres). Tests switch it off to compare the two."""
    return conn.dialect.name == "sqlite"


Stored = list[tuple[int, tuple[str, str], dict[str, Any]]]  # (id, key, row) of every write


def _known_tickets(conn: Connection, keys: list[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
    """{key: id, source, external_id, content_hash, status, revision} of the stored ones."""
    return {
        (r.source, r.external_id): r._asdict()
        for r in conn.execute(
            select(*(TICKETS.c[name] for name in store_ingest_sqlite.KNOWN)).where(
                tuple_(TICKETS.c.source, TICKETS.c.external_id).in_(keys)
            )
        )
    }


def _write_tickets(
    conn: Connection,
    new_rows: dict[tuple[str, str], dict[str, Any]],
    updates: dict[int, dict[str, Any]],
    _now: Any,
) -> Stored:
    """The new and updated ticket rows, written with SQLAlchemy Core (Postgres)."""
    stored: Stored = []
    if new_rows:
        inserted = conn.execute(
            insert(TICKETS).returning(TICKETS.c.id, TICKETS.c.source, TICKETS.c.external_id),
            list(new_rows.values()),
        ).all()
        ids = {(r.source, r.external_id): r.id for r in inserted}
        stored += [(ids[key], key, row) for key, row in new_rows.items()]
    for ticket_id, values in updates.items():
        conn.execute(update(TICKETS).where(TICKETS.c.id == ticket_id).values(**values))
        stored.append((ticket_id, (values["source"], values["external_id"]), values))
    return stored


def store_personal_values(
    conn: Connection,
    stored: Sequence[tuple[int, tuple[str, str], dict[str, Any]]],
    personal: dict[tuple[str, str], dict[str, Any]],
    now: Any,
) -> None:
    """One `ticket_pii` row per stored revision that has personal values (none: no row)."""
    rows = [
        {
            "ticket_id": ticket_id,
            "revision": row["revision"],
            "content_hash": row["content_hash"],
            "fields": canonical_tree_json(personal[key]),
            "recorded_at": now,
        }
        for ticket_id, key, row in stored
        if personal.get(key)
    ]
    if not rows:
        return
    if driver_level(conn):
        store_ingest_sqlite.insert_personal_values(conn, rows, now)
    else:
        conn.execute(insert(PII), rows)


def ensure_workflows(conn: Connection, names: set[str], now: Any) -> None:
    have = set(conn.execute(select(WORKFLOWS.c.name).where(WORKFLOWS.c.name.in_(names))).scalars())
    missing = sorted(names - have)
    if missing:
        conn.execute(
            insert(WORKFLOWS),
            [{"name": n, "label": n.replace("_", " ").capitalize(), "created_at": now} for n in missing],
        )
