"""What happened to one ticket, derived from its decisions: the facts every rate counts.

- `first`: the ticket's first decision (blind second reviews left out).
- `outcome`: `approve` or `reject` once the ticket is settled (status decided and its standing
  final decisions agree); None while it waits (clarification, escalation, conflict, second review).
- `first_pass`: approved as proposed: the first decision approved and the outcome is approve.
- escalation: the ticket reached an escalation manager: a decision whose reason escalates, two
  reviewers disagreeing (a conflict or a second review), or routed to the escalation queue on
  arrival. `escalated_at` is when; `resolved_at` when an escalation manager (or admin) approved or
  rejected it afterwards (anyone, for a ticket that arrived in the escalation queue).
- SLA: the ticket's due time against the decision that answered its queue: the resolution for an
  escalated ticket, else the first decision. Not answered and past due is an open breach.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from app.core.domain import Action, DecisionStatus, Queue, Role, TicketStatus
from app.core.metrics.rows import Case, DecisionRow, TicketRow

SETTLING_ROLES = (str(Role.ESCALATION_MANAGER), str(Role.ADMIN))
JUDGED = (str(Action.APPROVE), str(Action.REJECT))
SlaState = Literal["met", "breached", "open_breach", "pending", "none"]


@dataclass(frozen=True, slots=True)
class CaseFacts:
    ticket: TicketRow
    first: DecisionRow | None
    outcome: str | None
    outcome_decision: DecisionRow | None  # the standing decision the outcome rests on
    clarified: bool
    escalated_at: datetime | None
    resolved_at: datetime | None
    sla: SlaState

    @property
    def reviewed(self) -> bool:
        return self.first is not None

    @property
    def first_pass(self) -> bool:
        return (
            self.first is not None and self.first.action == Action.APPROVE and self.outcome == Action.APPROVE
        )

    @property
    def latency_hours(self) -> float | None:
        if self.first is None:
            return None
        return hours(self.first.decided_at - self.ticket.created_at)

    @property
    def resolution_hours(self) -> float | None:
        if self.escalated_at is None or self.resolved_at is None:
            return None
        return hours(self.resolved_at - self.escalated_at)


def hours(delta: timedelta) -> float:
    return delta.total_seconds() / 3600


def facts_of(case: Case, now: datetime) -> CaseFacts:
    ticket = case.ticket
    primary = [d for d in case.decisions if not d.second_review]
    first = primary[0] if primary else None
    outcome_decision = _outcome(ticket, case.decisions)
    escalated_at = _escalated_at(ticket, case.decisions)
    resolved_at = _resolved_at(ticket, case.decisions, escalated_at)
    answered = resolved_at if escalated_at is not None else (first.decided_at if first else None)
    return CaseFacts(
        ticket=ticket,
        first=first,
        outcome=outcome_decision.action if outcome_decision else None,
        outcome_decision=outcome_decision,
        clarified=any(d.action == Action.CLARIFY for d in primary),
        escalated_at=escalated_at,
        resolved_at=resolved_at,
        sla=sla_state(ticket.due_at, answered, now),
    )


def sla_state(due_at: datetime | None, answered_at: datetime | None, now: datetime) -> SlaState:
    if due_at is None:
        return "none"
    if answered_at is not None:
        return "met" if answered_at <= due_at else "breached"
    return "open_breach" if now > due_at else "pending"


def _outcome(ticket: TicketRow, decisions: tuple[DecisionRow, ...]) -> DecisionRow | None:
    if ticket.status != TicketStatus.DECIDED:
        return None
    standing = [d for d in decisions if d.status == DecisionStatus.FINAL and d.action in JUDGED]
    if not standing or len({d.action for d in standing}) != 1:
        return None
    return standing[-1]


def _escalated_at(ticket: TicketRow, decisions: tuple[DecisionRow, ...]) -> datetime | None:
    primary = [d for d in decisions if not d.second_review]
    moments = [d.decided_at for d in primary if d.escalates]
    if primary:
        first = primary[0]
        # The blind second reviewer disagreed with the first decision.
        moments += [d.decided_at for d in decisions if d.second_review and d.action != first.action]
        # Two reviewers decided the same revision: a conflict, from the moment the second did.
        moments += [
            d.decided_at
            for d in primary[1:]
            if d.ticket_revision == first.ticket_revision
            and d.reviewer != first.reviewer
            and d.role not in SETTLING_ROLES
        ][:1]
    if moments:
        return min(moments)
    if ticket.queue == Queue.ESCALATION:
        return ticket.created_at  # routed straight to the escalation queue
    return None


def _resolved_at(
    ticket: TicketRow, decisions: tuple[DecisionRow, ...], escalated_at: datetime | None
) -> datetime | None:
    if escalated_at is None:
        return None
    on_arrival = escalated_at == ticket.created_at and ticket.queue == Queue.ESCALATION
    for decision in decisions:
        if decision.decided_at < escalated_at or decision.action not in JUDGED:
            continue
        if decision.escalates and not on_arrival:
            continue  # the escalating decision itself
        if on_arrival or decision.role in SETTLING_ROLES:
            return decision.decided_at
    return None
