"""Decisions into the store: idempotent by decision_id, conflicts kept, escalations routed.

One push is a page of up to a few thousand decisions. Its rules are applied decision by decision,
in order, but against an in-memory picture of the page's tickets and their decisions (loaded with
one query) rather than with several round trips per decision; the writes go out at the end as a
few statements over all the page's rows (store_bulk: executemany on SQLite, set-based on
Postgres). Each decision sees what the decisions before it in the page did, exactly as if they
had been written one by one, and takes the same change numbers.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, delete, or_, select, tuple_, update

from app.core import policy
from app.core.domain import STATUS_AFTER, Decision, DecisionStatus, Queue, Role, TicketStatus, utcnow
from app.core.metrics import second_review, workflow_settings
from app.core.rows import decision_values
from app.core.store_bulk import among, insert_rows, is_postgres, pairs, update_rows
from app.core.store_changes import COUNTERS, lock_changes, take_change_seqs
from app.core.store_models import Claim, SecondReview, StoreDecision, StoreReasonCode, StoreTicket

TICKETS = StoreTicket.__table__
DECISIONS = StoreDecision.__table__
REASONS = StoreReasonCode.__table__
CLAIMS = Claim.__table__
REVIEWS = SecondReview.__table__

FINAL = str(DecisionStatus.FINAL)
CONFLICT = str(DecisionStatus.CONFLICT)
SUPERSEDED = str(DecisionStatus.SUPERSEDED)
STANDING = (FINAL, CONFLICT)


@dataclass
class PushOutcome:
    accepted: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)  # decision_id -> the store's reason


def push_decisions(conn: Connection, decisions: Sequence[Decision]) -> PushOutcome:
    """Apply decisions inside the caller's transaction. Idempotent: a decision_id already in the
    store counts as accepted and changes nothing, so a retry after a crash never duplicates."""
    outcome = PushOutcome()
    lock_changes(conn)
    ids = [d.decision_id for d in decisions]
    already = set(
        conn.execute(
            select(DECISIONS.c.decision_id).where(among(conn, DECISIONS.c.decision_id, ids))
        ).scalars()
    )
    # The same decision twice in one call is one decision (applied once, never a conflict with
    # itself), as it would be in two calls.
    decisions = list({d.decision_id: d for d in decisions}.values())
    fresh = [d for d in decisions if d.decision_id not in already]
    outcome.accepted.extend(d.decision_id for d in decisions if d.decision_id in already)
    if not fresh:
        return outcome
    tickets = _tickets(conn, {(d.source, d.external_id) for d in fresh})
    active = {
        (r.workflow, r.action, r.code): r.escalates
        for r in conn.execute(select(REASONS).where(REASONS.c.active.is_(True)))
    }
    statuses = {key: row.status for key, row in tickets.items()}
    # Each decision takes one seq for itself, one for its ticket, one for what it supersedes.
    seqs = list(take_change_seqs(conn, sum(3 if d.supersedes else 2 for d in fresh)))
    page = _Page(conn, seqs, {row.id for row in tickets.values()}, [d.supersedes for d in fresh])
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
        key = (decision.source, decision.external_id)
        # The status as this batch left it: a later decision in the same batch sees the earlier.
        statuses[key] = _apply_decision(page, decision, ticket.id, statuses[key], escalates, now)
        outcome.accepted.append(decision.decision_id)
    page.write()
    return outcome


def stored(conn: Connection, decision_ids: Sequence[str]) -> set[str]:
    """Which of these decisions the store has."""
    return set(
        conn.execute(
            select(DECISIONS.c.decision_id).where(among(conn, DECISIONS.c.decision_id, decision_ids))
        ).scalars()
    )


def _tickets(conn: Connection, keys: set[tuple[str, str]]) -> dict[tuple[str, str], Any]:
    """The page's tickets by (source, external_id)."""
    columns = (TICKETS.c.id, TICKETS.c.source, TICKETS.c.external_id, TICKETS.c.revision, TICKETS.c.status)
    if is_postgres(conn):
        # The keys as two arrays joined on the unique index: one index probe per key, where a
        # row-value IN list takes two parameters per ticket (rendered and parsed every page).
        wanted = pairs(keys, TICKETS.c.source, TICKETS.c.external_id)
        query = select(*columns).join_from(
            TICKETS,
            wanted,
            (TICKETS.c.source == wanted.c.source) & (TICKETS.c.external_id == wanted.c.external_id),
        )
    else:
        query = select(*columns).where(tuple_(TICKETS.c.source, TICKETS.c.external_id).in_(list(keys)))
    return {(r.source, r.external_id): r for r in conn.execute(query)}


@dataclass
class _Known:
    """A decision as the page sees it: in the store already, or added earlier in the page."""

    ticket_id: int
    revision: int
    status: str
    supersedes: str | None
    values: dict[str, Any] | None = None  # a new decision's row, still to be inserted
    changed: bool = False  # an existing decision whose status and change_seq the page changed
    change_seq: int | None = None


class _Page:
    """The page's tickets and decisions in memory, the writes kept for the end."""

    def __init__(self, conn: Connection, seqs: list[int], ticket_ids: set[int], supersedes: list[str | None]):
        self.conn = conn
        self.seq: Iterator[int] = iter(seqs)
        self.counter = seqs[-1]  # the counter as take_change_seqs would now find it
        self.taken = 0  # change numbers handed out after `seqs`, for _set_status
        self.known: dict[str, _Known] = {}
        self.by_ticket: dict[int, list[str]] = {ticket_id: [] for ticket_id in ticket_ids}
        self.ticket_values: dict[int, dict[str, Any]] = {}
        targets = [s for s in supersedes if s]
        if ticket_ids:
            where = among(conn, DECISIONS.c.ticket_id, ticket_ids)
            if targets:
                where = or_(where, among(conn, DECISIONS.c.decision_id, targets))
            for row in conn.execute(
                select(
                    DECISIONS.c.decision_id,
                    DECISIONS.c.ticket_id,
                    DECISIONS.c.ticket_revision,
                    DECISIONS.c.status,
                    DECISIONS.c.supersedes,
                ).where(where)
            ):
                self.known[row.decision_id] = _Known(
                    row.ticket_id, row.ticket_revision, row.status, row.supersedes
                )
                if row.ticket_id in self.by_ticket:
                    self.by_ticket[row.ticket_id].append(row.decision_id)
        # Second review reads and writes its own table (one query or more per decision): only
        # worth asking where it can apply, a ticket with a review row or a sampling workflow.
        self.sampling = {
            name
            for name, config in workflow_settings.all_configs(conn).items()
            if config.second_review_share > 0
        }
        self.reviewed: set[int] = set()
        if ticket_ids:
            self.reviewed = set(
                conn.execute(
                    select(REVIEWS.c.ticket_id).where(among(conn, REVIEWS.c.ticket_id, ticket_ids))
                ).scalars()
            )

    def take(self, count: int) -> Iterator[int]:
        """What take_change_seqs would hand out now (the counter is written once, at the end)."""
        first = self.counter + 1
        self.counter += count
        self.taken += count
        return iter(range(first, self.counter + 1))

    def corrected(self, ticket_id: int, decision_id: str) -> bool:
        return any(self.known[other].supersedes == decision_id for other in self.by_ticket[ticket_id])

    def standing(self, ticket_id: int, revision: int) -> list[str]:
        return [
            other
            for other in self.by_ticket[ticket_id]
            if self.known[other].revision == revision and self.known[other].status in STANDING
        ]

    def mark(self, decision_id: str, status: str, change_seq: int) -> None:
        """UPDATE decisions SET status, change_seq WHERE decision_id = …; no row: nothing."""
        known = self.known.get(decision_id)
        if known is None:
            return
        known.status = status
        if known.values is not None:
            known.values.update(status=status, change_seq=change_seq)
        else:
            known.changed, known.change_seq = True, change_seq

    def add(self, ticket_id: int, decision: Decision, values: dict[str, Any]) -> None:
        self.known[decision.decision_id] = _Known(
            ticket_id, decision.ticket_revision, values["status"], decision.supersedes, values=values
        )
        self.by_ticket[ticket_id].append(decision.decision_id)

    def update_ticket(self, ticket_id: int, values: dict[str, Any]) -> None:
        # Later updates of a ticket in the page overwrite the columns they set, as UPDATEs would.
        self.ticket_values.setdefault(ticket_id, {}).update(values)

    def needs_review(self, ticket_id: int, workflow: str) -> bool:
        if ticket_id in self.reviewed or workflow in self.sampling:
            self.reviewed.add(ticket_id)  # once asked, always asked: it may have opened a pair
            return True
        return False

    def write(self) -> None:
        """The page's writes: decisions first (a reviewer's row security lets them update a
        ticket they decided), then what they changed."""
        conn = self.conn
        if self.taken:
            conn.execute(
                update(COUNTERS)
                .where(COUNTERS.c.name == "change")
                .values(value=COUNTERS.c.value + self.taken)
            )
        new = [known.values for known in self.known.values() if known.values is not None]
        if new:
            insert_rows(conn, DECISIONS, new)
        marked = [
            {"decision_id": decision_id, "status": known.status, "change_seq": known.change_seq}
            for decision_id, known in self.known.items()
            if known.changed
        ]
        if marked:
            update_rows(conn, DECISIONS, "decision_id", marked)
        by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for ticket_id, values in self.ticket_values.items():
            columns = tuple(sorted(values))
            by_columns.setdefault(columns, []).append(
                {"id": ticket_id, **{name: values[name] for name in columns}}
            )
        for rows in by_columns.values():
            update_rows(conn, TICKETS, "id", rows)
        if self.ticket_values:
            # Decided: the lease has done its job (for whoever held it).
            conn.execute(delete(CLAIMS).where(among(conn, CLAIMS.c.ticket_id, self.ticket_values)))


def _apply_decision(
    page: _Page,
    decision: Decision,
    ticket_id: int,
    ticket_status: str,
    escalates: bool,
    now: Any,
) -> str:
    """Returns the ticket's status afterwards."""
    seq = page.seq
    values = decision_values(decision)
    values.update(received_at=now, ticket_id=ticket_id)
    if page.corrected(ticket_id, decision.decision_id):
        # Its correction got here first (an outbox re-sent after a store restore): it joins the
        # record as what it is, superseded, and the ticket stays as the correction left it.
        values.update(status=SUPERSEDED, change_seq=next(seq))
        page.add(ticket_id, decision, values)
        return ticket_status
    if decision.supersedes:
        page.mark(decision.supersedes, SUPERSEDED, next(seq))
    # A correction replaces its own decision, not anyone else's: whatever else stands on this
    # revision still stands against it.
    standing = page.standing(ticket_id, decision.ticket_revision)
    rivals = []
    review = None
    if page.needs_review(ticket_id, decision.workflow):
        review = second_review.classify(page.conn, ticket_id, ticket_status, decision, escalates)
    if settles(decision, ticket_status):
        # The escalation manager's final call: earlier decisions stay in the record,
        # superseded, never deleted.
        _set_status(page, standing, DecisionStatus.SUPERSEDED)
    else:
        # Another standing decision on the same revision means two people decided the same
        # ticket: keep both, mark the conflict, and let an escalation manager settle it.
        rivals = [] if review is not None and review.keeps_both else standing
    status = DecisionStatus.CONFLICT if rivals else decision.status
    values.update(status=str(status), change_seq=next(seq))
    page.add(ticket_id, decision, values)
    if rivals:
        _set_status(page, rivals, DecisionStatus.CONFLICT)
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
    if review is not None:
        ticket_values = second_review.record(page.conn, review, ticket_id, decision, now, ticket_values)
    page.update_ticket(ticket_id, {**ticket_values, "updated_at": now, "change_seq": next(seq)})
    return ticket_values["status"]


def _set_status(page: _Page, decision_ids: list[str], status: DecisionStatus) -> None:
    """New change numbers too, so every replica's incremental pull sees the new status."""
    if not decision_ids:
        return
    seqs = page.take(len(decision_ids))
    for decision_id in decision_ids:
        page.mark(decision_id, str(status), next(seqs))


def settles(decision: Decision, ticket_status: str) -> bool:
    """An escalation manager (or admin) deciding an escalated or conflicted ticket closes it."""
    return ticket_status in (TicketStatus.ESCALATED, TicketStatus.CONFLICT) and decision.role in (
        Role.ESCALATION_MANAGER,
        Role.ADMIN,
    )
