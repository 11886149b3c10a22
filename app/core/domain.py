"""Domain vocabulary shared by the store, the replica and the UI: plain values, no I/O."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

DECISION_SCHEMA = "signoff.decision/1"


class Action(enum.StrEnum):
    APPROVE = "approve"
    REJECT = "reject"
    CLARIFY = "clarify"
    ESCALATE = "escalate"


class TicketStatus(enum.StrEnum):
    OPEN = "open"
    AWAITING_CLARIFICATION = "awaiting_clarification"
    DECIDED = "decided"
    ESCALATED = "escalated"
    CONFLICT = "conflict"
    # Chosen for a blind second review: decided once, waits for a different reviewer.
    AWAITING_SECOND_REVIEW = "awaiting_second_review"


class Queue(enum.StrEnum):
    REVIEW = "review"
    HUMAN_ONLY = "human_only"
    ESCALATION = "escalation"
    SAMPLE_AUDIT = "sample_audit"


class Role(enum.StrEnum):
    REVIEWER = "reviewer"
    ESCALATION_MANAGER = "escalation_manager"
    ADMIN = "admin"


class DecisionStatus(enum.StrEnum):
    FINAL = "final"
    SUPERSEDED = "superseded"
    CONFLICT = "conflict"


class PushState(enum.StrEnum):
    PENDING = "pending"
    PUSHED = "pushed"
    REJECTED = "rejected"


# Which ticket status a decision leaves behind in the store.
STATUS_AFTER: dict[Action, TicketStatus] = {
    Action.APPROVE: TicketStatus.DECIDED,
    Action.REJECT: TicketStatus.DECIDED,
    Action.CLARIFY: TicketStatus.AWAITING_CLARIFICATION,
    Action.ESCALATE: TicketStatus.ESCALATED,
}


def utcnow() -> datetime:
    return datetime.now(UTC)


def to_rfc3339(moment: datetime) -> str:
    """RFC 3339 in UTC with a 'Z', at millisecond precision: stable across SQLite and Postgres."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_rfc3339(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"date-time without a UTC offset: {text!r}")
    return moment.astimezone(UTC)


@dataclass(frozen=True)
class ReasonCode:
    code: str
    action: Action
    label: str
    workflow: str = "*"
    escalates: bool = False
    active: bool = True
    position: int = 0


@dataclass(frozen=True)
class Decision:
    """One human action on one ticket: the `signoff.decision/1` record."""

    decision_id: str
    source: str
    external_id: str
    workflow: str
    action: Action
    reason_code: str
    reviewer: str
    role: Role
    decided_at: datetime
    client_id: str
    ai: dict[str, Any]
    note: str | None = None
    status: DecisionStatus = DecisionStatus.FINAL
    ticket_revision: int = 1
    supersedes: str | None = None

    def to_record(self) -> dict[str, Any]:
        record: dict[str, Any] = {
            "schema": DECISION_SCHEMA,
            "decision_id": self.decision_id,
            "source": self.source,
            "external_id": self.external_id,
            "workflow": self.workflow,
            "action": str(self.action),
            "reason_code": self.reason_code,
            "note": self.note,
            "reviewer": self.reviewer,
            "role": str(self.role),
            "decided_at": to_rfc3339(self.decided_at),
            "client_id": self.client_id,
            "ai": self.ai,
            "status": str(self.status),
        }
        return record


@dataclass(frozen=True, slots=True)
class QueueRow:
    """What the queue list shows for one ticket: small, so a million of them stay cheap."""

    id: int
    workflow: str
    title: str
    exception_code: str
    confidence: float
    queue: str
    status: str
    due_at: datetime | None
    created_at: datetime
    risk_tier: str | None
    claimed_by: str | None = None  # another reviewer holding a live claim


@dataclass(frozen=True)
class TicketView:
    """A ticket as the reviewer sees it: the full payload plus local state."""

    id: int
    source: str
    external_id: str
    workflow: str
    status: str
    queue: str
    priority: int
    due_at: datetime | None
    revision: int
    payload: dict[str, Any]
    claimed_by: str | None = None
    decisions: list[Decision] = field(default_factory=list)

    @property
    def ai_summary(self) -> dict[str, Any]:
        """The `ai` block of a decision record: what the reviewer saw of the model."""
        ai = self.payload["ai"]
        return {
            "model": ai["model"],
            "model_version": ai["model_version"],
            "confidence": ai["confidence"],
            "recommended_action": ai["recommendation"]["action"],
        }


@dataclass(frozen=True)
class QueueQuery:
    """Filter and sort of the queue list; the replica turns it into one indexed SQL query."""

    workflow: str | None = None
    queue: str | None = None
    text: str = ""
    sort: str = "due"  # due | confidence | age
    # One status per view keeps every queue query a single index range scan.
    status: str = TicketStatus.OPEN


SORTS = ("due", "confidence", "age")
