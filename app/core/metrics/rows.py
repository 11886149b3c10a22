"""The plain rows the metrics read: a ticket, its decisions, and the two together (a case)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class TicketRow:
    id: int
    workflow: str
    queue: str
    status: str
    created_at: datetime
    due_at: datetime | None
    confidence: float
    exception_code: str


@dataclass(frozen=True, slots=True)
class DecisionRow:
    """One decision, with the AI's proposal as its reviewer saw it. `escalates`: its reason code
    (or action) sends the ticket to an escalation manager. `second_review`: the blind second
    decision of a second review, kept apart from the ticket's own sequence of decisions."""

    decision_id: str
    action: str
    reason_code: str
    reviewer: str
    role: str
    decided_at: datetime
    status: str
    model_version: str | None
    confidence: float | None
    ticket_revision: int = 1
    escalates: bool = False
    second_review: bool = False


@dataclass(frozen=True, slots=True)
class Case:
    """A ticket and every decision on it, oldest first."""

    ticket: TicketRow
    decisions: tuple[DecisionRow, ...] = ()


@dataclass(frozen=True, slots=True)
class SecondReviewRow:
    """A closed blind second review: who decided what, independently."""

    ticket_id: int
    workflow: str
    first_reviewer: str
    first_action: str
    second_reviewer: str
    second_action: str
