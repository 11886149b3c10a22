"""Routing policy: queue, priority and due time for a ticket, from the defaults and the hints."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from helpers import example_tickets, make_ticket

from app.core import policy
from app.core.domain import Queue

CREATED = datetime(2026, 11, 20, 14, 3, 11, tzinfo=UTC)  # the first example's created_at

# A plain ticket: confidence 0.71, risk medium, value tier unknown, exception missing_field -> review.
POLICY_RULES: list[tuple[str, dict[str, Any], Queue]] = [
    ("plain ticket", {}, Queue.REVIEW),
    ("confidence just below the threshold", {"ai__confidence": 0.599}, Queue.HUMAN_ONLY),
    ("confidence at the threshold", {"ai__confidence": 0.60}, Queue.REVIEW),
    ("zero confidence", {"ai__confidence": 0.0}, Queue.HUMAN_ONLY),
    ("sensitive risk", {"risk__sensitive": True}, Queue.HUMAN_ONLY),
    ("not sensitive", {"risk__sensitive": False}, Queue.REVIEW),
    ("high risk tier", {"risk__tier": "high"}, Queue.HUMAN_ONLY),
    ("low risk tier", {"risk__tier": "low"}, Queue.REVIEW),
    ("no risk block", {"risk": None}, Queue.REVIEW),
    ("major value tier", {"subject__value_tier": "major"}, Queue.HUMAN_ONLY),
    ("mid value tier", {"subject__value_tier": "mid"}, Queue.REVIEW),
    ("no value tier", {"subject__value_tier": None}, Queue.REVIEW),
    ("sample audit", {"exception__code": "sample_audit"}, Queue.SAMPLE_AUDIT),
    # The QA sample wins over every human-only trigger: it audits an auto-approved decision.
    (
        "sample audit of a risky, low-confidence ticket",
        {"exception__code": "sample_audit", "ai__confidence": 0.1, "risk__tier": "high"},
        Queue.SAMPLE_AUDIT,
    ),
]


@pytest.mark.parametrize(
    ("overrides", "queue"), [r[1:] for r in POLICY_RULES], ids=[r[0] for r in POLICY_RULES]
)
def test_default_rules(overrides: dict[str, Any], queue: Queue) -> None:
    ticket = make_ticket(**overrides)
    assert policy.policy_queue(ticket) == queue
    routing = policy.route(ticket)
    assert routing == policy.Routing(
        queue=queue, priority=policy.PRIORITY[queue], due_at=CREATED + policy.SLA[queue]
    )


def test_defaults_per_queue() -> None:
    assert {q: (policy.PRIORITY[q], policy.SLA[q]) for q in Queue} == {
        Queue.SAMPLE_AUDIT: (20, timedelta(hours=72)),
        Queue.REVIEW: (50, timedelta(hours=24)),
        Queue.HUMAN_ONLY: (70, timedelta(hours=4)),
        Queue.ESCALATION: (90, timedelta(hours=1)),
    }


# (name, policy-deciding overrides, hinted queue, resulting queue)
HINT_RULES: list[tuple[str, dict[str, Any], str, Queue]] = [
    ("review may go heavier", {}, "human_only", Queue.HUMAN_ONLY),
    ("review may go to escalation", {}, "escalation", Queue.ESCALATION),
    ("review may go lighter", {}, "sample_audit", Queue.SAMPLE_AUDIT),
    ("human-only may go heavier", {"risk__tier": "high"}, "escalation", Queue.ESCALATION),
    ("human-only stays on its own hint", {"risk__tier": "high"}, "human_only", Queue.HUMAN_ONLY),
    ("human-only never goes back to review", {"risk__tier": "high"}, "review", Queue.HUMAN_ONLY),
    ("human-only never goes to sample audit", {"ai__confidence": 0.2}, "sample_audit", Queue.HUMAN_ONLY),
    ("sample audit may go heavier", {"exception__code": "sample_audit"}, "review", Queue.REVIEW),
]


@pytest.mark.parametrize(
    ("overrides", "hint", "queue"), [r[1:] for r in HINT_RULES], ids=[r[0] for r in HINT_RULES]
)
def test_queue_hints(overrides: dict[str, Any], hint: str, queue: Queue) -> None:
    ticket = make_ticket(routing={"queue": hint}, **overrides)
    routing = policy.route(ticket)
    assert routing.queue == queue
    # Without a priority or due hint, both follow the queue the ticket ends up in.
    assert routing.priority == policy.PRIORITY[queue]
    assert routing.due_at == CREATED + policy.SLA[queue]


def test_priority_and_due_hints_override_the_queue_defaults() -> None:
    ticket = make_ticket(
        routing={"queue": "human_only", "priority": 95, "due_at": "2026-11-20T15:00:00+01:00"}
    )
    routing = policy.route(ticket)
    assert routing.queue == Queue.HUMAN_ONLY
    assert routing.priority == 95
    assert routing.due_at == datetime(2026, 11, 20, 14, 0, tzinfo=UTC)
    assert routing.due_at.utcoffset() == timedelta(0)


def test_priority_hint_alone_keeps_the_policy_queue() -> None:
    routing = policy.route(make_ticket(routing={"priority": 5}))
    assert (routing.queue, routing.priority) == (Queue.REVIEW, 5)
    assert routing.due_at == CREATED + policy.SLA[Queue.REVIEW]


# The five spec examples, as the contract's prose describes them.
EXPECTED_EXAMPLES = {
    "lead-2026-004211": (Queue.REVIEW, 50, timedelta(hours=24)),
    "don-77812-ask": (Queue.HUMAN_ONLY, 90, timedelta(hours=4)),  # major + sensitive; hinted priority 90
    "seg-2026-11-0042": (Queue.REVIEW, 50, timedelta(hours=24)),
    "reply-88121": (Queue.HUMAN_ONLY, 70, timedelta(hours=4)),  # 0.58 < 0.60: the "review" hint is ignored
    "auto-5521": (Queue.SAMPLE_AUDIT, 10, timedelta(hours=72)),
}


@pytest.mark.parametrize("ticket", example_tickets(), ids=lambda t: t["external_id"])
def test_spec_examples(ticket: dict[str, Any]) -> None:
    queue, priority, sla = EXPECTED_EXAMPLES[ticket["external_id"]]
    created = datetime.fromisoformat(ticket["created_at"].replace("Z", "+00:00"))
    assert policy.route(ticket) == policy.Routing(queue=queue, priority=priority, due_at=created + sla)
