"""The audit browser's questions, GUI-free: filtered views of the trail, paged by keyset so a
million entries cost what their visible pages cost; the saved governance queries; the ticket as
a decision's reviewer saw it; and exports of a view to CSV or JSON Lines.

One `Trail` class serves both sources: the store's `audit_entries` (every installation, when
the store is reachable) and the replica's `audit_log` (this installation only, offline). The two
tables share their column names, so one query builder covers both.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Connection, Engine, Table, and_, exists, func, literal, or_, select, tuple_
from sqlalchemy.sql import ColumnElement, Select

from app.core import audit, pii
from app.core.audit import AuditEvent
from app.core.db import READ_ONLY
from app.core.domain import Action, Queue, TicketView, to_rfc3339
from app.core.replica import Replica
from app.core.replica_models import ReplicaReasonCode, ReplicaTicket, ReplicaWorkflow
from app.core.store import Store
from app.core.store_errors import redact_url, translate_errors
from app.core.store_models import (
    StoreAuditEntry,
    StoreReasonCode,
    StoreTicket,
    TicketPii,
    TicketRevision,
    Workflow,
)
from app.core.validation import text_hash

ExportFormat = Literal["csv", "jsonl"]
EXPORT_BATCH = 2000
DETAILS_LIMIT = 300
UNDOING = (AuditEvent.DECISION_UNDONE, AuditEvent.DECISION_REJECTED_BY_STORE)


@dataclass(frozen=True)
class AuditQuery:
    """A filter on the trail; None (or empty) means any. `ticket` matches an external id, or a
    ticket number. `until` is exclusive. `effective_only` leaves out decisions that were undone
    or refused by the store."""

    actor: str | None = None
    event: str | None = None
    action: str | None = None
    reason_code: str | None = None
    workflow: str | None = None
    model_version: str | None = None
    queue: str | None = None
    ticket: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    effective_only: bool = False

    def as_record(self) -> dict[str, Any]:
        """The filter as plain JSON values (for the EXPORT_MADE entry)."""
        record = {k: v for k, v in asdict(self).items() if v not in (None, "", False)}
        for key in ("since", "until"):
            if key in record:
                record[key] = to_rfc3339(record[key])
        return record


@dataclass(frozen=True)
class TrailRow:
    """One audit entry as the browser lists and exports it. `details` is a one-line summary of
    the payload (untrusted text: show it as plain text only)."""

    at: str
    actor: str
    role: str
    event: str
    action: str | None
    reason_code: str | None
    workflow: str | None
    model_version: str | None
    queue: str | None
    external_id: str | None
    ticket_id: int | None
    decision_id: str | None
    content_hash: str | None
    details: str
    purged: bool
    client_id: str
    seq: int


EXPORT_FIELDS = tuple(f.name for f in fields(TrailRow))


@dataclass(frozen=True)
class Choices:
    """Values the filters offer."""

    actors: list[str]
    events: list[str]
    actions: list[str]
    reason_codes: list[str]
    workflows: list[str]
    model_versions: list[str]
    queues: list[str]


@dataclass(frozen=True)
class SeenTicket:
    """A ticket as a decision's reviewer saw it, or why it cannot be shown as it was."""

    ticket: TicketView | None
    note: str  # what the viewer should know: which content this is, what was removed
    purged: bool = False


# --- saved queries -------------------------------------------------------------------------------


def last_week(now: datetime) -> tuple[datetime, datetime]:
    """Monday 00:00 of the previous calendar week to Monday 00:00 of this one, in now's zone."""
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    this_monday = midnight - timedelta(days=midnight.weekday())
    return this_monday - timedelta(days=7), this_monday


@dataclass(frozen=True)
class SavedQuery:
    key: str
    title: str
    question: str
    build: Callable[[datetime], AuditQuery]
    ranks_model_versions: bool = False  # also answer with the ranking of model versions


def _decided_last_week(now: datetime) -> AuditQuery:
    since, until = last_week(now)
    return AuditQuery(event=AuditEvent.DECISION_RECORDED, since=since, until=until, effective_only=True)


def _overridden(_now: datetime) -> AuditQuery:
    return AuditQuery(event=AuditEvent.DECISION_RECORDED, action=Action.REJECT, effective_only=True)


SAVED_QUERIES: tuple[SavedQuery, ...] = (
    SavedQuery(
        "decided_last_week", "Decided last week", "Which tickets were decided last week?", _decided_last_week
    ),
    SavedQuery("overridden", "AI overridden", "Which AI recommendations did reviewers reject?", _overridden),
    SavedQuery(
        "rejections_by_model",
        "Most-rejected model versions",
        "Which model version produced the most rejected recommendations?",
        _overridden,
        ranks_model_versions=True,
    ),
    SavedQuery(
        "pii_revealed",
        "PII revealed",
        "Who revealed personal data, and when?",
        lambda _now: AuditQuery(event=AuditEvent.PII_REVEALED),
    ),
)


# --- details: the payload in one line ------------------------------------------------------------


def _one_line(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= DETAILS_LIMIT else flat[: DETAILS_LIMIT - 1] + "…"


def details_of(event: str, payload: str | None) -> str:
    """What the payload adds to the columns, in one line of plain text."""
    if payload is None:
        return "(payload removed under the retention policy)"
    try:
        data = json.loads(payload)["data"]
    except (ValueError, KeyError, TypeError):
        return ""
    return _one_line(_describe(event, data) if isinstance(data, dict) else "")


def _describe(event: str, data: dict[str, Any]) -> str:
    if event == AuditEvent.DECISION_RECORDED:
        return str((data.get("decision") or {}).get("note") or "")
    if event == AuditEvent.DECISION_REJECTED_BY_STORE:
        return str(data.get("reason") or "")
    if event == AuditEvent.PII_REVEALED:
        return f"{', '.join(map(str, data.get('fields') or []))} ({data.get('where') or 'review'})"
    if event == AuditEvent.EXPORT_MADE:
        return f"{data.get('format')}, {data.get('rows')} rows to {data.get('file_name')}"
    if event in (AuditEvent.SETTINGS_CHANGED, AuditEvent.POLICY_CHANGED):
        changes = data.get("changes") or {}
        return "; ".join(f"{name}: {c.get('from')} → {c.get('to')}" for name, c in changes.items())
    if event in (AuditEvent.AUTOMATION_PAUSED, AuditEvent.AUTOMATION_RESUMED):
        return f"{data.get('reason') or ''} ({data.get('source') or 'manual'})"
    if event == AuditEvent.REASON_CODES_CHANGED:
        return " ".join(
            [*(f"+{c}" for c in data.get("added") or []), *(f"-{c}" for c in data.get("retired") or [])]
        )
    if event == AuditEvent.CONFLICT_DETECTED:
        return f"{len(data.get('decision_ids') or [])} rival decisions"
    if event == AuditEvent.RETENTION_PURGE:
        counts = ", ".join(
            f"{k} {data[k]}" for k in ("tickets", "revisions", "entries", "notes") if k in data
        )
        return f"{data.get('scope', '')} purge: {counts}"
    if event == AuditEvent.STORE_RESTORE_DETECTED:
        return f"{data.get('reason') or ''} ({data.get('decisions_resent', 0)} decisions sent again)"
    if event in (AuditEvent.LOGIN, AuditEvent.STORE_OPENED, AuditEvent.STORE_SWITCHED):
        return str(data.get("store_url") or data.get("url") or "")
    return ""


# --- the trail -----------------------------------------------------------------------------------


class Trail:
    """A filtered, paged view over one audit table. Thread-safe: every call takes its own
    connection (call it from the read lane, never the GUI thread)."""

    def __init__(
        self,
        engine: Engine,
        table: Table,
        *,
        label: str,
        tickets: Table,
        workflows: Table,
        reasons: Table,
        revisions: Table | None = None,
        personal: Table | None = None,
        url: str | None = None,
    ) -> None:
        self.engine = engine
        self.table = table
        self.label = label  # what the browser says it is looking at
        self._tickets = tickets
        self._workflows = workflows
        self._reasons = reasons
        self._revisions = revisions
        self._personal = personal  # the store's ticket_pii; a replica never holds personal data
        self._url = url

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        if self._url is None:  # the replica: a deferred read, never waiting on the writer
            with self.engine.connect().execution_options(**{READ_ONLY: True}) as conn:
                yield conn
        else:
            with translate_errors(self._url), self.engine.connect() as conn:
                yield conn

    # --- filtering ------------------------------------------------------------------------

    def _where(self, query: AuditQuery) -> list[ColumnElement[bool]]:
        t = self.table
        clauses: list[ColumnElement[bool]] = []
        for name in ("actor", "event", "action", "reason_code", "workflow", "model_version", "queue"):
            value = getattr(query, name)
            if value:
                clauses.append(t.c[name] == value)
        if query.ticket and query.ticket.strip():
            wanted = query.ticket.strip()
            match = t.c.external_id == wanted
            clauses.append(or_(match, t.c.ticket_id == int(wanted)) if wanted.isdigit() else match)
        if query.since is not None:
            clauses.append(t.c.at >= to_rfc3339(query.since))
        if query.until is not None:
            clauses.append(t.c.at < to_rfc3339(query.until))
        if query.effective_only:
            later = t.alias("later")
            clauses.append(
                ~exists().where(
                    later.c.decision_id == t.c.decision_id,
                    later.c.event.in_(UNDOING),
                    later.c.client_id == t.c.client_id,
                )
            )
        return clauses

    def _row(self, row: Any) -> TrailRow:
        return TrailRow(
            at=row.at,
            actor=row.actor,
            role=row.role,
            event=row.event,
            action=row.action,
            reason_code=row.reason_code,
            workflow=row.workflow,
            model_version=row.model_version,
            queue=row.queue,
            external_id=row.external_id,
            ticket_id=row.ticket_id,
            decision_id=row.decision_id,
            content_hash=row.content_hash,
            details=details_of(row.event, row.payload),
            purged=row.payload is None,
            client_id=row.client_id,
            seq=row.seq,
        )

    # --- reading --------------------------------------------------------------------------

    def page_statement(self, query: AuditQuery, after: TrailRow | None, limit: int) -> Select[Any]:
        """Entries matching the query, newest first, after `after`: keyset paging, so page 5,000
        costs what page 1 does (the order is served by the `at` indexes)."""
        t = self.table
        clauses = self._where(query)
        if after is not None:
            key = tuple_(t.c.at, t.c.client_id, t.c.seq)
            clauses.append(key < tuple_(literal(after.at), literal(after.client_id), literal(after.seq)))
        order = (t.c.at.desc(), t.c.client_id.desc(), t.c.seq.desc())
        return select(t).where(*clauses).order_by(*order).limit(limit)

    def page(self, query: AuditQuery, after: TrailRow | None = None, limit: int = 200) -> list[TrailRow]:
        with self._read() as conn:
            return [self._row(r) for r in conn.execute(self.page_statement(query, after, limit))]

    def count(self, query: AuditQuery) -> int:
        stmt = select(func.count()).select_from(self.table).where(*self._where(query))
        with self._read() as conn:
            return conn.execute(stmt).scalar_one()

    def batches(self, query: AuditQuery, size: int = EXPORT_BATCH) -> Iterator[list[TrailRow]]:
        """Every matching entry in page order, `size` at a time."""
        after = None
        while rows := self.page(query, after, size):
            yield rows
            if len(rows) < size:
                return
            after = rows[-1]

    def rejections_by_model_version(self, query: AuditQuery, limit: int = 10) -> list[tuple[str, int]]:
        """Model versions ranked by how many of their recommendations reviewers rejected (the
        query's other filters apply too); ties by version."""
        ranked = AuditQuery(
            **{
                **asdict(query),
                "event": AuditEvent.DECISION_RECORDED,
                "action": Action.REJECT,
                "effective_only": True,
            }
        )
        t = self.table
        rejected = func.count().label("rejected")
        stmt = (
            select(t.c.model_version, rejected)
            .where(and_(*self._where(ranked)), t.c.model_version.is_not(None))
            .group_by(t.c.model_version)
            .order_by(rejected.desc(), t.c.model_version)
            .limit(limit)
        )
        with self._read() as conn:
            return [(r.model_version, r.rejected) for r in conn.execute(stmt)]

    def choices(self) -> Choices:
        t = self.table

        def distinct(column: Any) -> list[str]:
            return list(
                conn.execute(
                    select(column).where(column.is_not(None)).distinct().order_by(column).limit(500)
                ).scalars()
            )

        with self._read() as conn:
            return Choices(
                actors=distinct(t.c.actor),
                events=list(AuditEvent.ALL),
                actions=[str(a) for a in Action],
                reason_codes=sorted(set(distinct(self._reasons.c.code))),
                workflows=distinct(self._workflows.c.name),
                model_versions=distinct(t.c.model_version),
                queues=[str(q) for q in Queue],
            )

    # --- the ticket as it was seen --------------------------------------------------------

    def ticket_as_seen(self, row: TrailRow) -> SeenTicket:
        if row.ticket_id is None:
            return SeenTicket(None, "This entry is not about a ticket.")
        with self._read() as conn:
            current = conn.execute(select(self._tickets).where(self._tickets.c.id == row.ticket_id)).first()
            if current is None:
                return SeenTicket(
                    None, f"Ticket {row.external_id or row.ticket_id} is not in this {self._where_word}."
                )
            wanted = row.content_hash
            if wanted is None:
                return _seen(
                    current,
                    current.payload,
                    wanted,
                    "Current content (this entry does not say which revision was seen).",
                )
            if current.content_hash == wanted:
                return _seen(current, current.payload, wanted, f"Revision {current.revision}, as seen.")
            if self._revisions is not None:
                kept = conn.execute(
                    select(self._revisions).where(
                        self._revisions.c.ticket_id == row.ticket_id, self._revisions.c.content_hash == wanted
                    )
                ).first()
                if kept is not None and kept.payload is not None:
                    note = f"Revision {kept.revision}, as seen (since replaced)."
                    return _seen(current, kept.payload, wanted, note, kept.revision)
                if kept is not None:
                    return SeenTicket(
                        None, f"Revision {kept.revision} was removed under the retention policy.", purged=True
                    )
        return SeenTicket(
            _view(current, current.payload),
            f"The revision seen is not kept {self._here_word}; this is the current content "
            f"(revision {current.revision}).",
        )

    def personal_values(self, ticket_id: int, revision: int) -> dict[str, Any] | None:
        """A revision's personal values as the store keeps them ({} when none are kept, or on
        Postgres when this login may not see them); None from a replica, which never has them."""
        if self._personal is None:
            return None
        p = self._personal
        with self._read() as conn:
            fields = conn.execute(
                select(p.c.fields).where(p.c.ticket_id == ticket_id, p.c.revision == revision)
            ).scalar_one_or_none()
        return json.loads(fields) if fields else {}

    @property
    def _where_word(self) -> str:
        return "store" if self._revisions is not None else "installation's copy"

    @property
    def _here_word(self) -> str:
        return "in the store" if self._revisions is not None else "offline"


def _view(ticket: Any, payload: str, revision: int | None = None) -> TicketView:
    return TicketView(
        id=ticket.id,
        source=ticket.source,
        external_id=ticket.external_id,
        workflow=ticket.workflow,
        status=ticket.status,
        queue=ticket.queue,
        priority=ticket.priority,
        due_at=ticket.due_at,
        revision=revision or ticket.revision,
        payload=json.loads(payload),
    )


def _seen(
    ticket: Any, payload: str, wanted: str | None, note: str, revision: int | None = None
) -> SeenTicket:
    view = _view(ticket, payload, revision)
    # The content hash is the whole ticket's; a payload still holding the PII mask differs from
    # it by the personal values alone (kept in ticket_pii), and a purge replaces the mask too.
    if wanted is not None and text_hash(payload) != wanted and not pii.masked_paths(view.payload):
        # The content hash stayed, the text went: a retention purge.
        note += " Interaction text and personal fields were removed under the retention policy."
        return SeenTicket(view, note, purged=True)
    return SeenTicket(view, note)


def store_trail(store: Store) -> Trail:
    return Trail(
        store.engine,
        StoreAuditEntry.__table__,
        label=f"Shared store {redact_url(store.url)}: every installation",
        tickets=StoreTicket.__table__,
        workflows=Workflow.__table__,
        reasons=StoreReasonCode.__table__,
        revisions=TicketRevision.__table__,
        personal=TicketPii.__table__,
        url=store.url,
    )


def replica_trail(replica: Replica) -> Trail:
    return Trail(
        replica.engine,
        audit.AUDIT,
        label="This installation only (the store is not reachable)",
        tickets=ReplicaTicket.__table__,
        workflows=ReplicaWorkflow.__table__,
        reasons=ReplicaReasonCode.__table__,
    )


def trail_for(store: Store | None, replica: Replica) -> Trail:
    """The store's trail (all installations) while it is reachable, else this installation's."""
    return store_trail(store) if store is not None else replica_trail(replica)


# --- export --------------------------------------------------------------------------------------

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> str:
    """A CSV cell a spreadsheet will not run: text starting like a formula gets a leading '."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


class ExportJob:
    """Writes a view to a file a batch at a time, so a caller can show progress and cancel
    between batches. The file appears only when complete (written aside, then renamed)."""

    def __init__(
        self, trail: Trail, query: AuditQuery, path: Path, fmt: ExportFormat, *, batch: int = EXPORT_BATCH
    ):
        if fmt not in ("csv", "jsonl"):
            raise ValueError(f"unknown export format {fmt!r}")
        self.path = path
        self.fmt = fmt
        self.written = 0
        self.done = False
        self._batches = trail.batches(query, batch)
        self._partial = path.with_name(f".{path.name}.partial")
        # utf-8-sig: spreadsheets take a BOM as "this is UTF-8"; JSON Lines stays plain UTF-8.
        self._file = self._partial.open("w", encoding="utf-8-sig" if fmt == "csv" else "utf-8", newline="")
        self._csv = csv.writer(self._file) if fmt == "csv" else None
        if self._csv is not None:
            self._csv.writerow(EXPORT_FIELDS)

    def step(self) -> int:
        """Write the next batch; returns rows written so far (`done` once all are)."""
        rows = next(self._batches, None)
        if rows is None:
            self.done = True
            return self.written
        buffer = io.StringIO()
        for row in rows:
            record = asdict(row)
            if self._csv is not None:
                csv.writer(buffer).writerow([csv_cell(record[name]) for name in EXPORT_FIELDS])
            else:
                buffer.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._file.write(buffer.getvalue())
        self.written += len(rows)
        return self.written

    def finish(self) -> Path:
        self._file.close()
        os.replace(self._partial, self.path)
        return self.path

    def abort(self) -> None:
        self._file.close()
        self._partial.unlink(missing_ok=True)


def export_view(
    trail: Trail,
    query: AuditQuery,
    path: Path,
    fmt: ExportFormat,
    progress: Callable[[int], bool] | None = None,
) -> int | None:
    """Export a whole view; `progress(rows so far)` returning False cancels (returns None)."""
    job = ExportJob(trail, query, path, fmt)
    try:
        while not job.done:
            written = job.step()
            if progress is not None and not progress(written):
                job.abort()
                return None
    except BaseException:
        job.abort()
        raise
    job.finish()
    return job.written
