"""Decisions into the store: idempotent by decision_id, conflicts kept, escalations routed."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, delete, insert, select, tuple_, update

from app.core import policy
from app.core.domain import STATUS_AFTER, Decision, DecisionStatus, Queue, Role, TicketStatus, utcnow
from app.core.metrics import second_review
from app.core.rows import decision_values
from app.core.store_changes import lock_changes, take_change_seqs
from app.core.store_models import Claim, StoreDecision, StoreReasonCode, StoreTicket

TICKETS = StoreTicket.__table__
DECISIONS = StoreDecision.__table__
REASONS = StoreReasonCode.__table__
CLAIMS = Claim.__table__


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
        conn.execute(select(DECISIONS.c.decision_id).where(DECISIONS.c.decision_id.in_(ids))).scalars()
    )
    fresh = [d for d in decisions if d.decision_id not in already]
    outcome.accepted.extend(d.decision_id for d in decisions if d.decision_id in already)
    if not fresh:
        return outcome
    tickets = {
        (r.source, r.external_id): r
        for r in conn.execute(
            select(
                TICKETS.c.id, TICKETS.c.source, TICKETS.c.external_id, TICKETS.c.revision, TICKETS.c.status
            ).where(
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
    statuses = {key: row.status for key, row in tickets.items()}
    # Each decision takes one seq for itself, one for its ticket, one for what it supersedes.
    seq = take_change_seqs(conn, sum(3 if d.supersedes else 2 for d in fresh))
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
        statuses[key] = _apply_decision(conn, decision, ticket.id, statuses[key], escalates, now, seq)
        outcome.accepted.append(decision.decision_id)
    return outcome


def stored(conn: Connection, decision_ids: Sequence[str]) -> set[str]:
    """Which of these decisions the store has."""
    return set(
        conn.execute(
            select(DECISIONS.c.decision_id).where(DECISIONS.c.decision_id.in_(list(decision_ids)))
        ).scalars()
    )


def _apply_decision(
    conn: Connection,
    decision: Decision,
    ticket_id: int,
    ticket_status: str,
    escalates: bool,
    now: Any,
    seq: Iterator[int],
) -> str:
    """Returns the ticket's status afterwards."""
    values = decision_values(decision)
    values.update(received_at=now, ticket_id=ticket_id)
    corrected = conn.execute(
        select(DECISIONS.c.decision_id).where(
            DECISIONS.c.ticket_id == ticket_id, DECISIONS.c.supersedes == decision.decision_id
        )
    ).first()
    if corrected is not None:
        # Its correction got here first (an outbox re-sent after a store restore): it joins the
        # record as what it is, superseded, and the ticket stays as the correction left it.
        values.update(status=str(DecisionStatus.SUPERSEDED), change_seq=next(seq))
        conn.execute(insert(DECISIONS).values(**values))
        return ticket_status
    if decision.supersedes:
        conn.execute(
            update(DECISIONS)
            .where(DECISIONS.c.decision_id == decision.supersedes)
            .values(status=str(DecisionStatus.SUPERSEDED), change_seq=next(seq))
        )
    # A correction replaces its own decision, not anyone else's: whatever else stands on this
    # revision still stands against it.
    standing = list(
        conn.execute(
            select(DECISIONS.c.decision_id).where(
                DECISIONS.c.ticket_id == ticket_id,
                DECISIONS.c.ticket_revision == decision.ticket_revision,
                DECISIONS.c.status.in_([str(DecisionStatus.FINAL), str(DecisionStatus.CONFLICT)]),
            )
        ).scalars()
    )
    rivals = []
    review = second_review.classify(conn, ticket_id, ticket_status, decision, escalates)
    if settles(decision, ticket_status):
        # The escalation manager's final call: earlier decisions stay in the record,
        # superseded, never deleted.
        _set_status(conn, standing, DecisionStatus.SUPERSEDED)
    else:
        # Another standing decision on the same revision means two people decided the same
        # ticket: keep both, mark the conflict, and let an escalation manager settle it.
        rivals = [] if review is not None and review.keeps_both else standing
    status = DecisionStatus.CONFLICT if rivals else decision.status
    values.update(status=str(status), change_seq=next(seq))
    conn.execute(insert(DECISIONS).values(**values))
    if rivals:
        _set_status(conn, rivals, DecisionStatus.CONFLICT)
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
    ticket_values = second_review.record(conn, review, ticket_id, decision, now, ticket_values)
    conn.execute(
        update(TICKETS)
        .where(TICKETS.c.id == ticket_id)
        .values(**ticket_values, updated_at=now, change_seq=next(seq))
    )
    # Decided: the lease has done its job (for whoever held it).
    conn.execute(delete(CLAIMS).where(CLAIMS.c.ticket_id == ticket_id))
    return ticket_values["status"]


def _set_status(conn: Connection, decision_ids: list[str], status: DecisionStatus) -> None:
    """New change numbers too, so every replica's incremental pull sees the new status."""
    if not decision_ids:
        return
    seqs = take_change_seqs(conn, len(decision_ids))
    for decision_id in decision_ids:
        conn.execute(
            update(DECISIONS)
            .where(DECISIONS.c.decision_id == decision_id)
            .values(status=str(status), change_seq=next(seqs))
        )


def settles(decision: Decision, ticket_status: str) -> bool:
    """An escalation manager (or admin) deciding an escalated or conflicted ticket closes it."""
    return ticket_status in (TicketStatus.ESCALATED, TicketStatus.CONFLICT) and decision.role in (
        Role.ESCALATION_MANAGER,
        Role.ADMIN,
    )
