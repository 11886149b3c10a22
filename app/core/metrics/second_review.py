"""Blind second review, the store's rule (called from store_push inside the push transaction).

A workflow's `second_review_share` of tickets is chosen by a hash of the ticket id and the
workflow's salt: deterministic, not steerable. When the first approve/reject decision on a chosen
open ticket arrives, the ticket waits for a second reviewer (status `awaiting_second_review`).
The next decision by someone else is the blind second review: both decisions stay final (no
conflict); if they agree the ticket is decided, if not it goes to the escalation queue, where an
escalation manager's decision supersedes both. A correction by the first reviewer replaces the
first decision in the pair; anything that makes the ticket a conflict cancels the pair.
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from app.core import policy
from app.core.domain import Action, Decision, Queue, TicketStatus
from app.core.metrics.workflow_settings import config_of
from app.core.store_models import SecondReview

REVIEWS = SecondReview.__table__
AWAITING_SECOND_REVIEW = TicketStatus.AWAITING_SECOND_REVIEW
OPENING_ACTIONS = (Action.APPROVE, Action.REJECT)


def selected(ticket_id: int, salt: str, share: float) -> bool:
    """Whether a ticket gets a second reviewer: the hash of (salt, id) as a fraction below share."""
    if share <= 0:
        return False
    digest = hashlib.sha256(f"{salt}:{ticket_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share


class Step(enum.Enum):
    FIRST = "first"  # opens the pair
    SECOND = "second"  # the blind second decision: closes it
    CORRECTION = "correction"  # the first reviewer corrects the first decision
    OTHER = "other"  # any other decision while the pair is open


@dataclass(frozen=True)
class Review:
    step: Step
    pending: Any = None  # the open second_reviews row, if any

    @property
    def keeps_both(self) -> bool:
        """The decision stands beside the first one: not a conflict."""
        return self.step is Step.SECOND


def classify(
    conn: Connection, ticket_id: int, ticket_status: str, decision: Decision, escalates: bool
) -> Review | None:
    """What a decision arriving at the store means for second review; None: nothing."""
    pending = conn.execute(
        select(REVIEWS).where(REVIEWS.c.ticket_id == ticket_id, REVIEWS.c.closed_at.is_(None))
    ).first()
    if pending is not None:
        if ticket_status != AWAITING_SECOND_REVIEW:
            return Review(Step.OTHER, pending)
        if decision.supersedes is not None and decision.supersedes == pending.first_decision_id:
            return Review(Step.CORRECTION, pending)
        if decision.supersedes is None and decision.reviewer != pending.first_reviewer:
            return Review(Step.SECOND, pending)
        return Review(Step.OTHER, pending)
    if (
        ticket_status != TicketStatus.OPEN
        or escalates
        or decision.action not in OPENING_ACTIONS
        or decision.supersedes is not None
    ):
        return None
    config = config_of(conn, decision.workflow)
    if config is None or not selected(ticket_id, config.salt, config.second_review_share):
        return None
    done = conn.execute(select(REVIEWS.c.ticket_id).where(REVIEWS.c.ticket_id == ticket_id)).first()
    return None if done is not None else Review(Step.FIRST)


def record(
    conn: Connection,
    review: Review | None,
    ticket_id: int,
    decision: Decision,
    now: datetime,
    ticket_values: dict[str, Any],
) -> dict[str, Any]:
    """Keep the pair's record; returns the ticket's values after the decision (given the ones
    store_push worked out without second review)."""
    if review is None:
        return ticket_values
    opens_pair = decision.action in OPENING_ACTIONS and ticket_values["status"] == TicketStatus.DECIDED
    if review.step is Step.FIRST:
        if not opens_pair:
            return ticket_values
        conn.execute(
            insert(REVIEWS).values(
                ticket_id=ticket_id,
                workflow=decision.workflow,
                first_decision_id=decision.decision_id,
                first_reviewer=decision.reviewer,
                first_action=str(decision.action),
                opened_at=now,
            )
        )
        return {**ticket_values, "status": AWAITING_SECOND_REVIEW}
    if review.step is Step.CORRECTION and opens_pair:
        conn.execute(
            update(REVIEWS)
            .where(REVIEWS.c.ticket_id == ticket_id)
            .values(first_decision_id=decision.decision_id, first_action=str(decision.action))
        )
        return {**ticket_values, "status": AWAITING_SECOND_REVIEW}
    if review.step is Step.SECOND:
        agreed = str(decision.action) == review.pending.first_action
        conn.execute(
            update(REVIEWS)
            .where(REVIEWS.c.ticket_id == ticket_id)
            .values(
                second_decision_id=decision.decision_id,
                second_reviewer=decision.reviewer,
                second_action=str(decision.action),
                closed_at=now,
                agreed=agreed,
            )
        )
        return ticket_values if agreed else escalation(now)
    # A correction into something else, or a conflict: the pair no longer means anything.
    conn.execute(delete(REVIEWS).where(REVIEWS.c.ticket_id == ticket_id, REVIEWS.c.closed_at.is_(None)))
    return ticket_values


def escalation(now: datetime) -> dict[str, Any]:
    """The two reviewers disagreed: an escalation manager decides."""
    return {
        "status": str(TicketStatus.ESCALATED),
        "queue": str(Queue.ESCALATION),
        "due_at": now + policy.SLA[Queue.ESCALATION],
        "priority": policy.PRIORITY[Queue.ESCALATION],
    }
