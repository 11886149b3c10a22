"""Reading what the metrics need out of the store: SQLAlchemy Core, read-only connections,
filters and date ranges pushed into SQL, tickets streamed in keyset batches so a million of them
never sit in memory at once (nor hold a lock on a shared SQLite file for long)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Float, cast, func, or_, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.sql import ColumnElement

from app.core.db import READ_ONLY
from app.core.domain import Action, Queue, to_rfc3339
from app.core.metrics.periods import day_of
from app.core.metrics.rows import Case, DecisionRow, SecondReviewRow, TicketRow
from app.core.store import Store
from app.core.store_errors import translate_errors
from app.core.store_models import (
    ProcessedVolume,
    SecondReview,
    StoreDecision,
    StoreReasonCode,
    StoreTicket,
    Workflow,
)

TICKETS = StoreTicket.__table__
DECISIONS = StoreDecision.__table__
REASONS = StoreReasonCode.__table__
WORKFLOWS = Workflow.__table__
VOLUME = ProcessedVolume.__table__
REVIEWS = SecondReview.__table__
BATCH = 2000


@dataclass(frozen=True)
class MetricsFilter:
    """Which tickets the figures are about; None means any. `until` is exclusive."""

    workflow: str | None = None
    model_version: str | None = None
    queue: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def as_record(self) -> dict[str, Any]:
        return {
            "workflow": self.workflow,
            "model_version": self.model_version,
            "queue": self.queue,
            "since": to_rfc3339(self.since) if self.since else None,
            "until": to_rfc3339(self.until) if self.until else None,
        }


@dataclass(frozen=True)
class Choices:
    """Values the dashboard's filters offer."""

    workflows: list[str]
    model_versions: list[str]
    queues: list[str]


def json_text(dialect: str, column: Any, *path: str) -> ColumnElement[Any]:
    """A text field inside a JSON text column ("ai", "model_version" → ai.model_version)."""
    if dialect == "postgresql":
        return func.jsonb_extract_path_text(cast(column, JSONB), *path)
    return func.json_extract(column, "$." + ".".join(path))


class MetricsReader:
    """Thread-safe: every call takes its own read-only connection (call it off the GUI thread)."""

    def __init__(self, store: Store, batch: int = BATCH) -> None:
        self.store = store
        self.batch = batch
        self.dialect = store.engine.dialect.name

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        # READ_ONLY: a deferred BEGIN on SQLite, so reading never takes the shared file's write lock.
        with (
            translate_errors(self.store.url),
            self.store.engine.connect().execution_options(**{READ_ONLY: True}) as conn,
        ):
            yield conn

    # --- tickets and their decisions ------------------------------------------------------

    def _ticket_where(
        self, filt: MetricsFilter, since: datetime | None, until: datetime | None
    ) -> list[ColumnElement[bool]]:
        clauses: list[ColumnElement[bool]] = []
        if filt.workflow:
            clauses.append(TICKETS.c.workflow == filt.workflow)
        if filt.queue:
            clauses.append(TICKETS.c.queue == filt.queue)
        if filt.model_version:
            clauses.append(
                json_text(self.dialect, TICKETS.c.payload, "ai", "model_version") == filt.model_version
            )
        if since is not None:
            clauses.append(TICKETS.c.created_at >= since)
        if until is not None:
            clauses.append(TICKETS.c.created_at < until)
        return clauses

    def first_created(self, filt: MetricsFilter) -> datetime | None:
        """When the first matching ticket arrived (the start of an open-ended range)."""
        stmt = select(func.min(TICKETS.c.created_at)).where(*self._ticket_where(filt, filt.since, filt.until))
        with self._read() as conn:
            return conn.execute(stmt).scalar_one()

    def cases(self, filt: MetricsFilter, since: datetime | None, until: datetime | None) -> Iterator[Case]:
        """Matching tickets created in [since, until) with their decisions, oldest ticket first."""
        where = self._ticket_where(filt, since, until)
        columns = (
            TICKETS.c.id,
            TICKETS.c.workflow,
            TICKETS.c.queue,
            TICKETS.c.status,
            TICKETS.c.created_at,
            TICKETS.c.due_at,
            TICKETS.c.confidence,
            TICKETS.c.exception_code,
        )
        with self._read() as conn:
            escalating = _escalating_reasons(conn)
        after: tuple[datetime, int] | None = None
        while True:
            clauses = list(where)
            if after is not None:
                created, last_id = after
                # The plain `>=` lets the created_at index start the scan where the last batch
                # ended; the OR alone would make both databases scan the range from its start.
                clauses.append(TICKETS.c.created_at >= created)
                clauses.append(or_(TICKETS.c.created_at > created, TICKETS.c.id > last_id))
            stmt = (
                select(*columns)
                .where(*clauses)
                .order_by(TICKETS.c.created_at, TICKETS.c.id)
                .limit(self.batch)
            )
            with self._read() as conn:
                tickets = [TicketRow(*row) for row in conn.execute(stmt)]
                if not tickets:
                    return
                decisions = self._decisions(conn, [t.id for t in tickets], escalating)
            for ticket in tickets:
                yield Case(ticket, tuple(decisions.get(ticket.id, ())))
            if len(tickets) < self.batch:
                return
            after = (tickets[-1].created_at, tickets[-1].id)

    def _decisions(
        self, conn: Connection, ticket_ids: list[int], escalating: dict[tuple[str, str, str], bool]
    ) -> dict[int, list[DecisionRow]]:
        seconds = set(
            conn.execute(
                select(REVIEWS.c.second_decision_id).where(
                    REVIEWS.c.ticket_id.in_(ticket_ids), REVIEWS.c.second_decision_id.is_not(None)
                )
            ).scalars()
        )
        d = DECISIONS
        stmt = (
            select(
                d.c.ticket_id,
                d.c.decision_id,
                d.c.workflow,
                d.c.action,
                d.c.reason_code,
                d.c.reviewer,
                d.c.role,
                d.c.decided_at,
                d.c.status,
                d.c.ticket_revision,
                json_text(self.dialect, d.c.ai, "model_version").label("model_version"),
                cast(json_text(self.dialect, d.c.ai, "confidence"), Float).label("confidence"),
            )
            .where(d.c.ticket_id.in_(ticket_ids))
            .order_by(d.c.ticket_id, d.c.decided_at, d.c.change_seq)
        )
        out: dict[int, list[DecisionRow]] = {}
        escalate = str(Action.ESCALATE)
        # Positional rows and plain tuples: this loop runs once per decision (a million of them).
        for (
            ticket_id,
            decision_id,
            workflow,
            action,
            reason,
            reviewer,
            role,
            decided_at,
            status,
            revision,
            version,
            confidence,
        ) in conn.execute(stmt):
            escalates = action == escalate or escalating.get(
                (workflow, action, reason), escalating.get(("*", action, reason), False)
            )
            row = DecisionRow(
                decision_id,
                action,
                reason,
                reviewer,
                role,
                decided_at,
                status,
                None if version is None else str(version),
                confidence,
                revision,
                escalates,
                decision_id in seconds,
            )
            if ticket_id in out:
                out[ticket_id].append(row)
            else:
                out[ticket_id] = [row]
        return out

    # --- the rest ------------------------------------------------------------------------

    def volume(
        self, filt: MetricsFilter, since: datetime | None, until: datetime | None
    ) -> dict[tuple[str, date], int]:
        """Items processed per (workflow, UTC day), every source added up."""
        clauses = []
        if filt.workflow:
            clauses.append(VOLUME.c.workflow == filt.workflow)
        if since is not None:
            clauses.append(VOLUME.c.day >= day_of(since))
        if until is not None:
            clauses.append(VOLUME.c.day <= day_of(until - timedelta(microseconds=1)))
        stmt = (
            select(VOLUME.c.workflow, VOLUME.c.day, func.sum(VOLUME.c["items"]))
            .where(*clauses)
            .group_by(VOLUME.c.workflow, VOLUME.c.day)
        )
        with self._read() as conn:
            return {(w, _as_date(day)): int(items) for w, day, items in conn.execute(stmt)}

    def second_reviews(self, filt: MetricsFilter) -> list[SecondReviewRow]:
        """Closed second reviews of matching tickets."""
        stmt = (
            select(
                REVIEWS.c.ticket_id,
                REVIEWS.c.workflow,
                REVIEWS.c.first_reviewer,
                REVIEWS.c.first_action,
                REVIEWS.c.second_reviewer,
                REVIEWS.c.second_action,
            )
            .select_from(REVIEWS.join(TICKETS, TICKETS.c.id == REVIEWS.c.ticket_id))
            .where(REVIEWS.c.closed_at.is_not(None), *self._ticket_where(filt, filt.since, filt.until))
            .order_by(REVIEWS.c.ticket_id)
        )
        with self._read() as conn:
            return [SecondReviewRow(*row) for row in conn.execute(stmt)]

    def pending_second_reviews(self, filt: MetricsFilter) -> int:
        stmt = (
            select(func.count())
            .select_from(REVIEWS.join(TICKETS, TICKETS.c.id == REVIEWS.c.ticket_id))
            .where(REVIEWS.c.closed_at.is_(None), *self._ticket_where(filt, filt.since, filt.until))
        )
        with self._read() as conn:
            return conn.execute(stmt).scalar_one()

    def choices(self) -> Choices:
        version = json_text(self.dialect, DECISIONS.c.ai, "model_version")
        with self._read() as conn:
            workflows = list(conn.execute(select(WORKFLOWS.c.name).order_by(WORKFLOWS.c.name)).scalars())
            versions = conn.execute(
                select(version).where(version.is_not(None)).distinct().limit(500)
            ).scalars()
            return Choices(workflows, sorted({str(v) for v in versions}), [str(q) for q in Queue])


def _escalating_reasons(conn: Connection) -> dict[tuple[str, str, str], bool]:
    """Every reason code ever configured, retired ones too: they escalated when they were given."""
    return {(r.workflow, r.action, r.code): bool(r.escalates) for r in conn.execute(select(REASONS))}


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))
