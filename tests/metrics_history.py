"""Generated histories for the metrics, with their answers known.

`known_history` is small and hand-made: every figure of it is worked out by hand in
tests/test_metrics.py. `simulated_history` is a pipeline with chosen rates (override, drift,
confidence), large enough for the dashboard to look like a working month."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from helpers import make_decision, make_ticket
from sqlalchemy import select, update

from app.core import store_push
from app.core.domain import Action, Decision, Role, to_rfc3339, utcnow
from app.core.metrics import workflow_settings
from app.core.metrics.second_review import AWAITING_SECOND_REVIEW
from app.core.store import Store, translate_errors
from app.core.store_models import SecondReview, StoreTicket, WorkflowSettings
from app.core.volume import VolumeReport, VolumeRow, store_volume

# store_push with blind second review (the store's rule, app/core/metrics/second_review.py),
# called inside a transaction of the test's own, as Store.push_decisions does.
PUSH_WITH_SECOND_REVIEW = store_push.push_decisions

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday, well in the past
NOW = T0 + timedelta(days=3)
LEAD = "lead_qualification"
ASK = "ask_amount"


def hours(n: float) -> timedelta:
    return timedelta(hours=n)


def created_of(ticket: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(ticket["created_at"].replace("Z", "+00:00"))


@dataclass
class Builder:
    """Ingests tickets and pushes decisions in time order, like pipelines and reviewers would."""

    store: Store
    tickets: dict[str, dict[str, Any]] = field(default_factory=dict)
    pushes: list[Decision] = field(default_factory=list)
    wired: bool = False  # push through store_push directly (PUSH_WITH_SECOND_REVIEW)

    def ticket(
        self,
        name: str,
        *,
        created: datetime,
        confidence: float,
        workflow: str = LEAD,
        version: str = "v1",
        code: str = "missing_field",
        routing: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        ticket = make_ticket(
            external_id=name,
            workflow=workflow,
            created_at=to_rfc3339(created),
            ai__confidence=confidence,
            ai__model_version=version,
            exception__code=code,
            risk=None,
        )
        if routing:
            ticket["routing"] = {
                k: to_rfc3339(v) if isinstance(v, datetime) else v for k, v in routing.items()
            }
        self.tickets[name] = ticket
        return ticket

    def decide(
        self,
        name: str,
        after: float,
        action: Action,
        reason: str,
        reviewer: str = "alice",
        role: Role = Role.REVIEWER,
        revision: int = 1,
    ) -> Decision:
        ticket = self.tickets[name]
        decision = make_decision(
            ticket,
            action,
            reason,
            decided_at=created_of(ticket) + hours(after),
            reviewer=reviewer,
            role=role,
            ticket_revision=revision,
            decision_id=str(uuid.uuid4()),
        )
        self.pushes.append(decision)
        return decision

    def ingest_all(self) -> None:
        outcome = self.store.ingest(enumerate(self.tickets.values(), start=1))
        assert not outcome.refused, outcome.refused[:3]

    def push_all(self, batch: int = 1) -> None:
        """Push in decision-time order, `batch` at a time (1: each reviewer syncs at once)."""
        ordered = sorted(self.pushes, key=lambda d: d.decided_at)
        for i in range(0, len(ordered), batch):
            chunk = ordered[i : i + batch]
            if self.wired:
                with translate_errors(self.store.url), self.store.engine.begin() as conn:
                    outcome = PUSH_WITH_SECOND_REVIEW(conn, chunk)
            else:
                outcome = self.store.push_decisions(chunk)
            assert not outcome.refused, outcome.refused
        self.pushes.clear()

    def volume(self, workflow: str, day: date, items: int) -> None:
        store_volume(self.store, [VolumeRow(workflow, day, items)], VolumeReport())


def known_history(store: Store) -> Builder:
    """Twelve tickets created on T0's day, every figure worked out by hand in test_metrics.py."""
    b = Builder(store)
    for number, confidence in enumerate([0.95, 0.90, 0.85, 0.80, 0.60, 0.70, 0.75, 0.65], start=1):
        b.ticket(f"k{number}", created=T0 + timedelta(minutes=number), confidence=confidence)
    minute = timedelta(minutes=1)
    b.ticket("k9", created=T0 + 9 * minute, confidence=0.66, version="v2", routing={"due_at": T0 + hours(1)})
    b.ticket(
        "k10", created=T0 + 10 * minute, confidence=0.62, version="v2", routing={"due_at": T0 + hours(720)}
    )
    b.ticket("k11", created=T0 + 11 * minute, confidence=0.68, version="v2", routing={"queue": "escalation"})
    b.ticket(
        "k12", created=T0 + 12 * minute, confidence=0.9, workflow=ASK, routing={"due_at": T0 + hours(720)}
    )
    b.ingest_all()
    manager = {"reviewer": "erin", "role": Role.ESCALATION_MANAGER}
    b.decide("k1", 1, Action.APPROVE, "ai_correct")
    b.decide("k2", 2, Action.APPROVE, "ai_correct")
    b.decide("k3", 3, Action.APPROVE, "ai_correct")
    b.decide("k4", 4, Action.REJECT, "wrong_segment")
    b.decide("k5", 5, Action.REJECT, "stale_data")
    b.decide("k6", 6, Action.CLARIFY, "needs_more_info", reviewer="bob")
    b.decide("k7", 7, Action.REJECT, "policy_legal")  # escalates: due an hour later
    b.decide("k7", 9, Action.APPROVE, "verified_manually", **manager)
    b.decide("k8", 8, Action.APPROVE, "ai_correct")
    b.decide("k8", 9, Action.REJECT, "wrong_segment", reviewer="bob")  # a conflict
    b.decide("k8", 12, Action.REJECT, "wrong_segment", **manager)
    b.decide("k11", 0.5, Action.APPROVE, "ai_correct", **manager)
    b.push_all()
    # The clarification's answer arrives: the ticket reopens as revision 2 and is approved.
    answered = dict(b.tickets["k6"])
    answered["exception"] = {**answered["exception"], "summary": "Company size: 40 (answered)"}
    b.tickets["k6"] = answered
    store.ingest([(1, answered)])
    b.decide("k6", 30, Action.APPROVE, "context_supports", reviewer="bob", revision=2)
    b.push_all()
    b.volume(LEAD, T0.date(), 220)
    return b


@dataclass(frozen=True)
class Pipeline:
    """One workflow in a simulated month: confidence range, how often people reject, exception
    codes; and for the last week optionally a shifted range, another reject rate, a new code."""

    workflow: str
    per_day: int
    confidence: tuple[float, float]
    reject_rate: float
    codes: tuple[str, ...] = ("missing_field", "low_confidence")
    late_confidence: tuple[float, float] | None = None
    late_reject_rate: float | None = None
    late_code: str | None = None


REVIEWERS = ("alice", "bob", "carol", "dave")


def simulated_history(
    store: Store,
    pipelines: tuple[Pipeline, ...],
    *,
    days: int = 35,
    seed: int = 11,
    end: datetime = NOW,
    wired: bool = False,
) -> Builder:
    """`days` of tickets up to `end`: most decided within hours, some clarified, a few escalated,
    the youngest partly still open. People reject less the surer the AI is."""
    rng = random.Random(seed)
    b = Builder(store, wired=wired)
    start = end - timedelta(days=days)
    plans: list[tuple[str, Pipeline, bool]] = []
    for day in range(days):
        day_start = start + timedelta(days=day)
        late = end - day_start <= timedelta(days=7)
        for pipe in pipelines:
            low, high = pipe.late_confidence if late and pipe.late_confidence else pipe.confidence
            for i in range(pipe.per_day):
                code = rng.choice(pipe.codes)
                if late and pipe.late_code and i % 10 == 0:
                    code = pipe.late_code
                name = f"{pipe.workflow[:4]}-{day:02d}-{i:03d}"
                b.ticket(
                    name,
                    created=day_start + timedelta(minutes=rng.randrange(0, 24 * 60)),
                    confidence=round(rng.uniform(low, high), 3),
                    workflow=pipe.workflow,
                    version="2026.03" if day < days // 2 else "2026.04",
                    code=code,
                )
                plans.append((name, pipe, late))
            b.volume(pipe.workflow, day_start.date(), pipe.per_day * rng.randint(18, 25))
    b.ingest_all()
    for name, pipe, late in plans:
        created = created_of(b.tickets[name])
        after = min(rng.lognormvariate(1.2, 0.9), 60.0)
        if created + hours(after) >= end or (end - created < hours(36) and rng.random() < 0.4):
            continue  # still open
        reviewer = rng.choice(REVIEWERS)
        rate = pipe.late_reject_rate if late and pipe.late_reject_rate is not None else pipe.reject_rate
        confidence = b.tickets[name]["ai"]["confidence"]
        roll = rng.random()
        if roll < 0.03:
            b.decide(name, after, Action.REJECT, "policy_legal", reviewer)
            b.decide(
                name,
                after + rng.uniform(0.2, 3),
                Action.REJECT,
                "compliance_concern",
                "erin",
                Role.ESCALATION_MANAGER,
            )
        elif roll < 0.08:
            b.decide(name, after, Action.CLARIFY, "needs_more_info", reviewer)
        elif rng.random() < min(0.95, rate * 3 * (1.05 - confidence)):
            b.decide(
                name,
                after,
                Action.REJECT,
                rng.choice(("wrong_segment", "stale_data", "poor_timing")),
                reviewer,
            )
        else:
            b.decide(
                name,
                after,
                Action.APPROVE,
                rng.choice(("ai_correct", "ai_correct", "verified_manually")),
                reviewer,
            )
    b.push_all(batch=500)
    return b


DASHBOARD_PIPELINES = (
    Pipeline(LEAD, per_day=30, confidence=(0.45, 0.98), reject_rate=0.25),
    Pipeline(
        ASK,
        per_day=12,
        confidence=(0.5, 0.97),
        reject_rate=0.2,
        late_confidence=(0.3, 0.75),
        late_reject_rate=0.55,
        late_code="bereavement_flag",
    ),
    Pipeline("donor_segmentation", per_day=20, confidence=(0.55, 0.99), reject_rate=0.12),
)


def dashboard_history(store: Store, *, end: datetime | None = None, days: int = 35) -> Builder:
    """A working month up to `end` (now): three workflows, one drifting in its last week, one in
    shadow mode from the start with a fifth of its tickets reviewed blind a second time."""
    end = end or utcnow().replace(minute=0, second=0, microsecond=0)
    shadow = "donor_segmentation"
    workflow_settings.change(
        store, shadow, actor="root", role="admin", shadow_mode=True, second_review_share=0.2
    )
    with store.engine.begin() as conn:  # it went into shadow mode when the month began
        table = WorkflowSettings.__table__
        conn.execute(update(table).values(shadow_since=end - timedelta(days=days)))
    b = simulated_history(store, DASHBOARD_PIPELINES, days=days, end=end, wired=True)
    rng = random.Random(4)
    reviews, tickets = SecondReview.__table__, StoreTicket.__table__
    with store.engine.connect() as conn:
        waiting = conn.execute(
            select(tickets.c.external_id, reviews.c.first_reviewer, reviews.c.first_action)
            .join(reviews, reviews.c.ticket_id == tickets.c.id)
            .where(tickets.c.status == AWAITING_SECOND_REVIEW)
        ).all()
    for name, first_reviewer, first_action in waiting:
        after = rng.uniform(6, 30)
        if created_of(b.tickets[name]) + hours(after) >= end:
            continue  # still waiting for its second reviewer
        agree = rng.random() < 0.85
        approve = (first_action == Action.APPROVE) == agree
        action, reason = (Action.APPROVE, "ai_correct") if approve else (Action.REJECT, "wrong_segment")
        b.decide(name, after, action, reason, rng.choice([r for r in REVIEWERS if r != first_reviewer]))
    b.push_all(batch=200)
    return b


def dashboard_store(path: Path, *, end: datetime | None = None) -> Store:
    store = Store.initialize(f"sqlite:///{path}")
    dashboard_history(store, end=end)
    return store
