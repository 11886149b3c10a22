"""Routing policy: which queue a ticket goes to, with what priority and due time.

These are the practice's defaults; an editable, versioned policy per workflow builds on them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from app.core.domain import Queue, parse_rfc3339

SLA: dict[Queue, timedelta] = {
    Queue.REVIEW: timedelta(hours=24),
    Queue.HUMAN_ONLY: timedelta(hours=4),
    Queue.ESCALATION: timedelta(hours=1),
    Queue.SAMPLE_AUDIT: timedelta(hours=72),
}
PRIORITY: dict[Queue, int] = {
    Queue.SAMPLE_AUDIT: 20,
    Queue.REVIEW: 50,
    Queue.HUMAN_ONLY: 70,
    Queue.ESCALATION: 90,
}
# Heavier queues get more scrutiny; a hint may never move a ticket to a lighter one than policy.
WEIGHT: dict[Queue, int] = {
    Queue.SAMPLE_AUDIT: 0,
    Queue.REVIEW: 1,
    Queue.HUMAN_ONLY: 2,
    Queue.ESCALATION: 3,
}
LOW_CONFIDENCE = 0.60


@dataclass(frozen=True)
class Routing:
    queue: Queue
    priority: int
    due_at: datetime


def policy_queue(ticket: dict[str, Any]) -> Queue:
    if ticket["exception"]["code"] == "sample_audit":
        return Queue.SAMPLE_AUDIT
    risk = ticket.get("risk") or {}
    value_tier = ticket["subject"].get("value_tier")
    if (
        ticket["ai"]["confidence"] < LOW_CONFIDENCE
        or risk.get("sensitive")
        or risk.get("tier") == "high"
        or value_tier == "major"
    ):
        return Queue.HUMAN_ONLY
    return Queue.REVIEW


def route(ticket: dict[str, Any]) -> Routing:
    created = parse_rfc3339(ticket["created_at"])
    queue = policy_queue(ticket)
    hints = ticket.get("routing") or {}
    hinted = Queue(hints["queue"]) if "queue" in hints else None
    # Upstream may move a ticket anywhere except lighter than policy for a high-risk ticket.
    if hinted is not None and (WEIGHT[hinted] >= WEIGHT[queue] or queue == Queue.REVIEW):
        queue = hinted
    priority = hints.get("priority", PRIORITY[queue])
    due = parse_rfc3339(hints["due_at"]) if "due_at" in hints else created + SLA[queue]
    if WEIGHT[queue] >= WEIGHT[Queue.HUMAN_ONLY]:
        # Nor may hints make a high-risk ticket wait longer or rank lower than policy says.
        priority = max(priority, PRIORITY[queue])
        due = min(due, created + SLA[queue])
    return Routing(queue=queue, priority=priority, due_at=due)
