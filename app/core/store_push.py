"""Decisions into the store: idempotent by decision_id, conflicts kept, escalations routed."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, insert, select, tuple_, update

from app.core import policy
from app.core.domain import STATUS_AFTER, Decision, DecisionStatus, Queue, TicketStatus, utcnow
from app.core.rows import decision_values
from app.core.store_changes import lock_changes, take_change_seqs
from app.core.store_models import StoreDecision, StoreReasonCode, StoreTicket

TICKETS = StoreTicket.__table__
DECISIONS = StoreDecision.__table__
REASONS = StoreReasonCode.__table__


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
        _apply_decision(conn, decision, ticket.id, escalates, now, seq)
        outcome.accepted.append(decision.decision_id)
    return outcome


def _apply_decision(
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
