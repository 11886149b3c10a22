"""The shared store: where pipelines put tickets and read decisions back.

Hot paths (ingest, pull, push) use SQLAlchemy Core on the SQLModel tables: ORM objects per row
would cost more than the database work itself.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from sqlalchemy import Connection, Engine, exc, func, insert, select, tuple_, update
from sqlalchemy.engine import make_url

from app.core import policy
from app.core.db import is_sqlite, sqlite_path, store_engine
from app.core.domain import (
    STATUS_AFTER,
    Decision,
    DecisionStatus,
    Queue,
    ReasonCode,
    TicketStatus,
    parse_rfc3339,
    utcnow,
)
from app.core.migrations import runner
from app.core.reasons import default_reason_codes
from app.core.rows import decision_from_row, decision_values, reason_from_row, reason_values
from app.core.store_models import (
    Counter,
    StoreDecision,
    StoreInfo,
    StoreReasonCode,
    StoreTicket,
    Workflow,
)
from app.core.validation import canonical_json, text_hash

log = logging.getLogger(__name__)

TICKETS = StoreTicket.__table__
DECISIONS = StoreDecision.__table__
REASONS = StoreReasonCode.__table__
WORKFLOWS = Workflow.__table__
COUNTERS = Counter.__table__
INFO = StoreInfo.__table__

REOPENABLE = (TicketStatus.OPEN, TicketStatus.AWAITING_CLARIFICATION)


def batched(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    """itertools.batched arrived in Python 3.12; Signoff supports 3.11."""
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


class StoreError(Exception):
    """The store cannot be used; the message says why and what to do."""


class StoreUnavailable(StoreError):
    """The store could not be reached (network, server down, file locked): transient."""


class StoreNotInitialized(StoreError):
    pass


class StoreOutdated(StoreError):
    pass


def redact_url(url: str) -> str:
    """The URL without its password, for messages and logs."""
    return make_url(url).render_as_string(hide_password=True)


@dataclass
class IngestOutcome:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    refused: list[tuple[int, str, str]] = field(default_factory=list)  # (line, path, message)

    @property
    def stored(self) -> int:
        return self.inserted + self.updated + self.unchanged


@dataclass
class PushOutcome:
    accepted: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)  # decision_id -> the store's reason


def db_text(text: str) -> str:
    """Postgres text cannot hold NUL, which JSON strings may; the payload keeps the original
    (escaped as \\u0000 in JSON), the plain columns get U+FFFD instead."""
    return text.replace("\x00", "\ufffd")


def ticket_columns(ticket: dict[str, Any]) -> dict[str, Any]:
    """The indexed columns a ticket row carries besides its payload."""
    routing = policy.route(ticket)
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


class Store:
    """One shared store, opened by URL. Thread-safe: each call checks out its own connection."""

    def __init__(self, url: str, engine: Engine) -> None:
        self.url = url
        self.engine = engine
        self._store_id: str | None = None

    # --- opening -------------------------------------------------------------------------

    @classmethod
    def initialize(cls, url: str) -> Store:
        """Create the store, or upgrade it to this version's schema; idempotent."""
        engine = store_engine(url)
        with _translate_errors(url):
            current = runner.current_revision(engine, "store")
        if current is not None and current not in runner.known_revisions("store"):
            engine.dispose()
            raise StoreOutdated(_newer_schema(url, current))
        with _translate_errors(url):
            runner.upgrade(engine, "store")
            store = cls(url, engine)
            store._seed()
        return store

    @classmethod
    def open(cls, url: str) -> Store:
        """Open an existing store at the schema this version expects, or say how to fix it."""
        path = sqlite_path(url)
        if path is not None and not path.exists():
            # SQLite would silently create an empty file here; a missing shared file is an
            # unreachable store (unmounted drive, VPN down), not a new one.
            raise StoreUnavailable(f"cannot reach the store {redact_url(url)}: no such file {path}")
        engine = store_engine(url)
        with _translate_errors(url):
            current = runner.current_revision(engine, "store")
        head = runner.head_revision("store")
        if current != head:
            engine.dispose()  # a refused store keeps no pooled connection open
        upgrade_hint = f"run: signoff init-store --store '{redact_url(url)}'"
        if current is None:
            raise StoreNotInitialized(f"{redact_url(url)} is not a Signoff store yet; {upgrade_hint}")
        if current != head:
            if current not in runner.known_revisions("store"):
                raise StoreOutdated(_newer_schema(url, current))
            raise StoreOutdated(
                f"{redact_url(url)} uses store schema {current}, this Signoff needs {head}; {upgrade_hint}"
            )
        return cls(url, engine)

    def close(self) -> None:
        self.engine.dispose()

    @property
    def is_sqlite(self) -> bool:
        return is_sqlite(self.url)

    @property
    def store_id(self) -> str:
        if self._store_id is None:
            with self._connect() as conn:
                self._store_id = conn.execute(
                    select(INFO.c.value).where(INFO.c.key == "store_id")
                ).scalar_one()
        return self._store_id

    def _seed(self) -> None:
        with self.engine.begin() as conn:
            if conn.execute(select(INFO.c.value).where(INFO.c.key == "store_id")).first() is None:
                conn.execute(
                    insert(INFO),
                    [
                        {"key": "store_id", "value": str(uuid.uuid4())},
                        {"key": "created_at", "value": utcnow().isoformat()},
                    ],
                )
            if conn.execute(select(REASONS.c.id).limit(1)).first() is None:
                conn.execute(
                    insert(REASONS),
                    [reason_values(r) for r in default_reason_codes()],
                )

    @contextmanager
    def _connect(self) -> Iterator[Connection]:
        with _translate_errors(self.url), self.engine.connect() as conn:
            yield conn

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        with _translate_errors(self.url), self.engine.begin() as conn:
            yield conn

    # --- reference data ------------------------------------------------------------------

    def reason_codes(self) -> list[ReasonCode]:
        with self._connect() as conn:
            rows = conn.execute(select(REASONS)).all()
        return [reason_from_row(r) for r in rows]

    def workflows(self) -> list[tuple[str, str]]:
        with self._connect() as conn:
            return [(r.name, r.label) for r in conn.execute(select(WORKFLOWS).order_by(WORKFLOWS.c.name))]

    # --- tickets in ----------------------------------------------------------------------

    def ingest(
        self, tickets: Iterable[tuple[int, dict[str, Any]]], *, batch_size: int = 2000
    ) -> IngestOutcome:
        """Store validated tickets, given with their line numbers. Re-sending the same content
        is a no-op; new content updates an undecided ticket (and reopens one awaiting
        clarification); a decided ticket refuses it."""
        outcome = IngestOutcome()
        for chunk in batched(tickets, batch_size):
            with self._transaction() as conn:
                self._ingest_chunk(conn, chunk, outcome)
        return outcome

    def _ingest_chunk(
        self, conn: Connection, chunk: Sequence[tuple[int, dict[str, Any]]], outcome: IngestOutcome
    ) -> None:
        _lock_changes(conn)
        keys = {(t["source"], t["external_id"]) for _, t in chunk}
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
            key = (ticket["source"], ticket["external_id"])
            columns = ticket_columns(ticket)
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
        seq = _take_change_seqs(conn, changes)
        if new_rows:
            rows = list(new_rows.values())
            for row in rows:
                row["change_seq"] = next(seq)
            conn.execute(insert(TICKETS), rows)
        for ticket_id, values in updates.items():
            conn.execute(
                update(TICKETS).where(TICKETS.c.id == ticket_id).values(**values, change_seq=next(seq))
            )
        self._ensure_workflows(conn, {t["workflow"] for _, t in chunk}, now)

    def _ensure_workflows(self, conn: Connection, names: set[str], now: Any) -> None:
        have = set(conn.execute(select(WORKFLOWS.c.name).where(WORKFLOWS.c.name.in_(names))).scalars())
        missing = sorted(names - have)
        if missing:
            conn.execute(
                insert(WORKFLOWS),
                [{"name": n, "label": n.replace("_", " ").capitalize(), "created_at": now} for n in missing],
            )

    def pull_tickets(self, after_seq: int, limit: int = 5000) -> list[dict[str, Any]]:
        """Tickets changed after a cursor, in change order. Safe against out-of-order commits
        because change_seq is handed out under a lock held to commit (see Counter)."""
        with self._connect() as conn:
            rows = conn.execute(
                select(TICKETS)
                .where(TICKETS.c.change_seq > after_seq)
                .order_by(TICKETS.c.change_seq)
                .limit(limit)
            ).all()
        return [r._asdict() for r in rows]

    def ticket_count(self) -> int:
        with self._connect() as conn:
            return conn.execute(select(func.count()).select_from(TICKETS)).scalar_one()

    # --- decisions back ------------------------------------------------------------------

    def push_decisions(self, decisions: Sequence[Decision]) -> PushOutcome:
        """Idempotent: a decision_id already in the store counts as accepted and changes
        nothing, so a retry after a crash or a timeout never duplicates."""
        outcome = PushOutcome()
        if not decisions:
            return outcome
        with self._transaction() as conn:
            _lock_changes(conn)
            ids = [d.decision_id for d in decisions]
            already = set(
                conn.execute(
                    select(DECISIONS.c.decision_id).where(DECISIONS.c.decision_id.in_(ids))
                ).scalars()
            )
            fresh = [d for d in decisions if d.decision_id not in already]
            outcome.accepted.extend(d.decision_id for d in decisions if d.decision_id in already)
            if not fresh:
                return outcome
            tickets = {
                (r.source, r.external_id): r
                for r in conn.execute(
                    select(TICKETS.c.id, TICKETS.c.source, TICKETS.c.external_id, TICKETS.c.revision).where(
                        tuple_(TICKETS.c.source, TICKETS.c.external_id).in_(
                            list({(d.source, d.external_id) for d in fresh})
                        )
                    )
                )
            }
            active = {
                (r.workflow, r.action, r.code): r.escalates
                for r in conn.execute(select(REASONS).where(REASONS.c.active.is_(True)))
            }
            # Each decision takes one seq for itself, one for its ticket, one for what it supersedes.
            seq = _take_change_seqs(conn, sum(3 if d.supersedes else 2 for d in fresh))
            now = utcnow()
            for decision in fresh:
                ticket = tickets.get((decision.source, decision.external_id))
                if ticket is None:
                    outcome.refused[decision.decision_id] = (
                        f"ticket {decision.source}/{decision.external_id} is not in the store (deleted?)"
                    )
                    continue
                escalates = active.get((decision.workflow, str(decision.action), decision.reason_code))
                if escalates is None:
                    escalates = active.get(("*", str(decision.action), decision.reason_code))
                if escalates is None:
                    outcome.refused[decision.decision_id] = (
                        f"reason code {decision.reason_code!r} is retired or unknown for "
                        f"{decision.action} in workflow {decision.workflow}"
                    )
                    continue
                self._apply_decision(conn, decision, ticket.id, escalates, now, seq)
                outcome.accepted.append(decision.decision_id)
        return outcome

    def _apply_decision(
        self,
        conn: Connection,
        decision: Decision,
        ticket_id: int,
        escalates: bool,
        now: Any,
        seq: Iterator[int],
    ) -> None:
        rivals = []
        if decision.supersedes:
            conn.execute(
                update(DECISIONS)
                .where(DECISIONS.c.decision_id == decision.supersedes)
                .values(status=str(DecisionStatus.SUPERSEDED), change_seq=next(seq))
            )
        else:
            # Another final decision on the same revision means two people decided the same
            # ticket: keep both, mark the conflict, and let an escalation manager settle it.
            rivals = list(
                conn.execute(
                    select(DECISIONS.c.decision_id).where(
                        DECISIONS.c.ticket_id == ticket_id,
                        DECISIONS.c.ticket_revision == decision.ticket_revision,
                        DECISIONS.c.status.in_([str(DecisionStatus.FINAL), str(DecisionStatus.CONFLICT)]),
                    )
                ).scalars()
            )
        status = DecisionStatus.CONFLICT if rivals else decision.status
        values = decision_values(decision)
        values.update(status=str(status), received_at=now, change_seq=next(seq), ticket_id=ticket_id)
        conn.execute(insert(DECISIONS).values(**values))
        if rivals:
            conn.execute(
                update(DECISIONS)
                .where(DECISIONS.c.decision_id.in_(rivals))
                .values(status=str(DecisionStatus.CONFLICT))
            )
            ticket_values = {
                "status": str(TicketStatus.CONFLICT),
                "queue": str(Queue.ESCALATION),
                "due_at": now + policy.SLA[Queue.ESCALATION],
                "priority": policy.PRIORITY[Queue.ESCALATION],
            }
        elif escalates:
            ticket_values = {
                "status": str(TicketStatus.ESCALATED),
                "queue": str(Queue.ESCALATION),
                "due_at": decision.decided_at + policy.SLA[Queue.ESCALATION],
                "priority": policy.PRIORITY[Queue.ESCALATION],
            }
        else:
            ticket_values = {"status": str(STATUS_AFTER[decision.action])}
        conn.execute(
            update(TICKETS)
            .where(TICKETS.c.id == ticket_id)
            .values(**ticket_values, updated_at=now, change_seq=next(seq))
        )

    def iter_decisions(self, batch_size: int = 5000) -> Iterator[dict[str, Any]]:
        """Every decision as a `signoff.decision/1` record, oldest change first, streamed."""
        after = 0
        while True:
            with self._connect() as conn:
                rows = conn.execute(
                    select(DECISIONS)
                    .where(DECISIONS.c.change_seq > after)
                    .order_by(DECISIONS.c.change_seq)
                    .limit(batch_size)
                ).all()
            if not rows:
                return
            for row in rows:
                yield decision_from_row(row).to_record()
            after = rows[-1].change_seq


def _newer_schema(url: str, current: str) -> str:
    return (
        f"{redact_url(url)} was upgraded by a newer Signoff (schema {current}); "
        "install that version to use it"
    )


def _lock_changes(conn: Connection) -> None:
    """Serialise writers on the change counter before reading what they will change."""
    conn.execute(select(COUNTERS.c.value).where(COUNTERS.c.name == "change").with_for_update()).scalar_one()


def _take_change_seqs(conn: Connection, count: int) -> Iterator[int]:
    end = conn.execute(
        update(COUNTERS)
        .where(COUNTERS.c.name == "change")
        .values(value=COUNTERS.c.value + count)
        .returning(COUNTERS.c.value)
    ).scalar_one()
    return iter(range(end - count + 1, end + 1))


@contextmanager
def _translate_errors(url: str) -> Iterator[None]:
    """Driver errors become StoreUnavailable with a message a reviewer can act on."""
    try:
        yield
    except (exc.OperationalError, exc.InterfaceError) as error:
        reason = str(error.orig).strip().splitlines()[0] if error.orig else str(error)
        raise StoreUnavailable(f"cannot reach the store {redact_url(url)}: {reason}") from error
