"""The demo's past: four weeks of tickets that reviewers already decided, so the dashboard has
something to show on first start.

Tickets come from the demo generator (app/core/demo_data.py) with the arrival times and model
versions of a working month; decisions go through the store's own write paths (`Store.ingest`,
`Store.push_decisions`), exactly as pipelines and other reviewers' replicas would have sent them.
Everything is decided before `now`: today's open queue stays the one `generate_tickets` makes.

The story, for a dashboard to tell:
- five reviewers and an escalation manager work weekdays, lighter at weekends;
- most first decisions come within the SLA of their queue, about one in ten late;
- a few policy/legal rejections escalate and the manager settles them; some clarifications get
  answered (the ticket comes back as revision 2) and decided;
- each model's previous version was rolled out mid-period (older versions are less sure of
  themselves and overridden a little more), the newest a few days ago as today's queue shows;
- donor segmentation had a blind second review on a tenth of its tickets;
- ask_amount drifts in the last week: a new exception code (`bereavement_flag`) that reviewers
  mostly reject;
- processed volumes per workflow and day, so the exception rate has a denominator.

Deterministic for (seed, now)."""

from __future__ import annotations

import random
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, update

from app.core import policy
from app.core.demo_data import _Builder  # the demo generator, its arrival times and versions ours
from app.core.domain import Action, Decision, Queue, Role, TicketStatus, parse_rfc3339
from app.core.store import Store
from app.core.store_models import StoreTicket, WorkflowSettings
from app.core.volume import VolumeReport, VolumeRow, store_volume

DAYS = 28
PER_OPEN = 0.115  # tickets a weekday for each open ticket of today (300 open: 34 a weekday)
REVIEWERS = ("dana.whitfield", "marcus.lee", "ruth.kamau", "sam.okoro", "alexis.romero")
REVIEWER_WEIGHTS = (0.27, 0.24, 0.2, 0.17, 0.12)
MANAGER = "helen.park"
ADMIN = "demo.admin"
DRIFTING = "ask_amount"
DRIFT_CODE = "bereavement_flag"
SECOND_REVIEWED = "donor_segmentation"
SECOND_REVIEW_SHARE = 0.1
LATE_SHARE = 0.09  # first decisions after the due time
_HOUR = 3600
_DAY = 86_400

# How often reviewers reject what each workflow proposes (scaled by how unsure the AI was), and
# how many items a pipeline processes for each one it sends to review (1 / exception rate).
_REJECT_BASE = {
    "lead_qualification": 0.55,
    "ask_amount": 0.5,
    "donor_segmentation": 0.35,
    "reactivation_outreach": 0.45,
    "message_draft": 0.6,
}
_ITEMS_PER_EXCEPTION = {
    "lead_qualification": 9.0,
    "ask_amount": 6.5,
    "donor_segmentation": 14.0,
    "reactivation_outreach": 8.0,
    "message_draft": 11.0,
}
_REJECT_REASONS = {
    "stale_data": ("stale_data", "stale_data", "poor_timing"),
    "sensitive_attribute": ("compliance_concern", "too_aggressive", "poor_timing"),
    "policy_flag": ("too_aggressive", "compliance_concern", "poor_timing"),
    "high_value": ("too_aggressive", "wrong_segment", "missing_context"),
    "ambiguous_intent": ("misread_intent", "misread_intent", "missing_context"),
    "sentiment_conflict": ("misread_intent", "poor_timing", "missing_context"),
    DRIFT_CODE: ("poor_timing", "poor_timing", "compliance_concern"),
}
_DEFAULT_REJECTS = ("wrong_segment", "stale_data", "missing_context", "misread_intent", "poor_timing")
_CLARIFY_REASONS = {
    "missing_field": "missing_field",
    "ambiguous_intent": "ambiguous_intent",
    "sentiment_conflict": "conflicting_data",
}


@dataclass
class History:
    """What was made: the tickets (by key) and counts for a summary line."""

    tickets: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    decisions: int = 0
    escalated: int = 0
    clarified: int = 0
    second_reviews: int = 0
    volume_rows: int = 0

    def summary(self) -> str:
        return (
            f"{len(self.tickets)} past tickets, {self.decisions} decisions "
            f"({self.escalated} escalated, {self.clarified} clarified, "
            f"{self.second_reviews} second reviews), {self.volume_rows} volume rows"
        )


class _PastBuilder(_Builder):
    """The demo generator, fed planned arrival times, with today's model versions on a longer
    timeline: the previous version rolled out at `mid`, the newest when today's queue says."""

    def __init__(self, seed: int, today: _Builder, now: datetime, arrivals: Iterable[int], mid: int) -> None:
        super().__init__(seed, now)
        self.versions = today.versions
        self.rollout = today.rollout
        # Pipelines number their items: the past's come before today's, never the same.
        self.counters = {s: n - 9_000 if n > 10_000 else n + 90_000 for s, n in today.counters.items()}
        self.arrivals = iter(arrivals)
        self.mid = mid

    def _created(self) -> int:
        return next(self.arrivals)

    def _version(self, model: str, created: int) -> tuple[str, int]:
        if created >= self.mid:
            return super()._version(model, created)
        versions = self.versions[model]
        newest = len(versions) - 1
        idx = max(0, newest - 2) if self.rng.random() < 0.88 else newest - 1  # a canary
        return versions[idx], newest - idx


def _arrivals(rng: random.Random, start: datetime, now: datetime, per_weekday: float) -> list[int]:
    """Ticket arrival times: office hours (mostly 13:00-23:00 UTC), weekdays busier."""
    times: list[int] = []
    last = int(now.timestamp()) - 2 * _HOUR  # the last two hours' tickets are today's queue
    day = start.replace(hour=0, minute=0, second=0, microsecond=0)
    while day < now:
        weekend = day.weekday() >= 5
        count = round(per_weekday * (0.35 if weekend else 1.0) * rng.uniform(0.8, 1.2))
        base = int(day.timestamp())
        for _ in range(count):
            if rng.random() < 0.8:
                offset = 13 * _HOUR + int(rng.random() * 10 * _HOUR)
            else:
                offset = int(rng.random() * _DAY)
            moment = base + offset
            if int(start.timestamp()) <= moment < last:
                times.append(moment)
        day += timedelta(days=1)
    times.sort()
    return times


@dataclass
class _Plan:
    rng: random.Random
    now: datetime
    versions: dict[str, tuple[str, ...]]
    pushes: list[Decision] = field(default_factory=list)
    clients: dict[str, str] = field(default_factory=dict)
    judged: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)  # approved/rejected
    last: dict[tuple[str, str], Decision] = field(default_factory=dict)  # each ticket's latest

    def decision_id(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def client(self, reviewer: str) -> str:
        return self.clients.setdefault(reviewer, str(uuid.uuid5(uuid.NAMESPACE_URL, f"demo:{reviewer}")))

    def decide(
        self,
        ticket: dict[str, Any],
        at: datetime,
        action: Action,
        reason: str,
        reviewer: str,
        role: Role = Role.REVIEWER,
        revision: int = 1,
    ) -> Decision:
        ai = ticket["ai"]
        decision = Decision(
            decision_id=self.decision_id(),
            source=ticket["source"],
            external_id=ticket["external_id"],
            workflow=ticket["workflow"],
            action=action,
            reason_code=reason,
            note=_NOTES[reason] if action == Action.CLARIFY else None,
            reviewer=reviewer,
            role=role,
            decided_at=at,
            client_id=self.client(reviewer),
            ai={
                "model": ai["model"],
                "model_version": ai["model_version"],
                "confidence": ai["confidence"],
                "recommended_action": ai["recommendation"]["action"],
            },
            ticket_revision=revision,
        )
        self.pushes.append(decision)
        self.last[(decision.source, decision.external_id)] = decision
        return decision

    def before_now(self, after: datetime, wanted: timedelta) -> datetime:
        """`after + wanted`, or a moment between `after` and now if that would be the future."""
        limit = self.now - timedelta(minutes=5)
        moment = after + wanted
        if moment < limit:
            return moment
        return after + (limit - after) * self.rng.uniform(0.3, 0.95)


_NOTES = {
    "needs_more_info": "Can you confirm the latest gift and contact preferences?",
    "ambiguous_intent": "Is the contact asking to stop, or to change frequency?",
    "conflicting_data": "CRM and the event list disagree; which one is current?",
    "missing_field": "A required field is empty; please fill it in upstream.",
}


def _reviewer(rng: random.Random, *, other_than: str | None = None) -> str:
    while True:
        name = rng.choices(REVIEWERS, REVIEWER_WEIGHTS)[0]
        if name != other_than:
            return name


def _first_latency(rng: random.Random, sla: timedelta) -> timedelta:
    if rng.random() < LATE_SHARE:
        return sla * rng.uniform(1.05, 1.9)
    return sla * min(0.97, rng.betavariate(1.4, 4.0))


def _drift(ticket: dict[str, Any], rng: random.Random) -> None:
    ticket["exception"] = {
        "code": DRIFT_CODE,
        "summary": "Possible bereavement in the donor's household (obituary match)",
        "triggers": ["policy:bereavement_check"],
    }
    ticket["ai"]["confidence"] = round(max(0.3, ticket["ai"]["confidence"] - rng.uniform(0.1, 0.25)), 2)


def make_tickets(
    seed: int, now: datetime, *, days: int = DAYS, per_weekday: float = 300 * PER_OPEN
) -> list[dict[str, Any]]:
    """The past's tickets, oldest first."""
    rng = random.Random(f"demo-history:{seed}")
    start = now - timedelta(days=days)
    mid = now - timedelta(days=days / 2)
    arrivals = _arrivals(rng, start, now, per_weekday)
    today = _Builder(seed, now)  # generate_tickets' own: the same versions and ids as today's queue
    builder = _PastBuilder(rng.randrange(2**32), today, now, arrivals, int(mid.timestamp()))
    drift_from = now - timedelta(days=7)
    tickets = []
    for _ in range(len(arrivals)):
        ticket = builder.normal()
        if (
            ticket["workflow"] == DRIFTING
            and parse_rfc3339(ticket["created_at"]) >= drift_from
            and rng.random() < 0.22
        ):
            _drift(ticket, rng)
        tickets.append(ticket)
    return tickets


def add_history(
    store: Store,
    *,
    seed: int = 7,
    now: datetime,
    today: Iterable[dict[str, Any]] = (),
    days: int = DAYS,
    per_weekday: float | None = None,
) -> History:
    """Ingest and decide `days` of past tickets up to `now`; `today` (the open queue) only
    counts toward the processed volumes and keeps its ids to itself. The past is as busy as
    today's queue is long (`per_weekday`: PER_OPEN tickets a weekday for each open one)."""
    today = list(today)
    if per_weekday is None:
        per_weekday = max(3.0, (len(today) or 300) * PER_OPEN)
    taken = {(t["source"], t["external_id"]) for t in today}
    history = History()
    for ticket in make_tickets(seed, now, days=days, per_weekday=per_weekday):
        key = (ticket["source"], ticket["external_id"])
        if key not in taken and key not in history.tickets:
            history.tickets[key] = ticket
    past = list(history.tickets.values())
    rng = random.Random(f"demo-decisions:{seed}")
    _second_review_on(store, seed)
    outcome = store.ingest(enumerate(past, start=1))
    if outcome.refused:
        raise RuntimeError(f"demo history refused: {outcome.refused[:3]}")
    plan = _Plan(rng, now, _Builder(seed, now).versions)
    answers: list[tuple[dict[str, Any], datetime, str]] = []
    for ticket in past:
        answered = _decide(plan, ticket, history)
        if answered is not None:
            answers.append(answered)
    _push(store, plan)
    if answers:
        _answer_clarifications(store, plan, answers)
    _second_reviews(store, plan, history)
    _second_review_off(store)
    history.volume_rows = _volumes(store, rng, past + today, now, days)
    return history


def _decide(
    plan: _Plan,
    ticket: dict[str, Any],
    history: History,
) -> tuple[dict[str, Any], datetime, str] | None:
    """The ticket's first decision (and the manager's, for an escalation); a clarification
    returns (ticket, when answered, who asked) for its second round."""
    rng = plan.rng
    routing = policy.route(ticket)
    if routing.auto:
        return None  # automated: it never came to review
    created = parse_rfc3339(ticket["created_at"])
    sla = (routing.due_at - created) if routing.due_at else timedelta(hours=24)
    code = ticket["exception"]["code"]
    confidence = ticket["ai"]["confidence"]
    if routing.queue == Queue.ESCALATION:
        at = plan.before_now(created, _first_latency(rng, sla))
        action = Action.APPROVE if rng.random() < 0.6 else Action.REJECT
        reason = "verified_manually" if action == Action.APPROVE else "compliance_concern"
        plan.decide(ticket, at, action, reason, MANAGER, Role.ESCALATION_MANAGER)
        history.decisions += 1
        return None
    reviewer = _reviewer(rng)
    at = plan.before_now(created, _first_latency(rng, sla))
    roll = rng.random()
    if roll < 0.035 or (code in ("sensitive_attribute", DRIFT_CODE) and roll < 0.09):
        plan.decide(ticket, at, Action.REJECT, "policy_legal", reviewer)
        history.escalated += 1
        late = rng.random() < 0.12
        settle = plan.before_now(at, timedelta(hours=rng.uniform(1.1, 5) if late else rng.uniform(0.1, 0.9)))
        action = Action.REJECT if rng.random() < 0.7 else Action.APPROVE
        reason = "compliance_concern" if action == Action.REJECT else "acceptable_risk"
        plan.decide(ticket, settle, action, reason, MANAGER, Role.ESCALATION_MANAGER)
        history.decisions += 2
        return None
    if roll < 0.09:
        reason = _CLARIFY_REASONS.get(code, "needs_more_info")
        plan.decide(ticket, at, Action.CLARIFY, reason, reviewer)
        history.clarified += 1
        history.decisions += 1
        return ticket, plan.before_now(at, timedelta(hours=rng.uniform(2, 40))), reviewer
    _judge(plan, ticket, at, reviewer, confidence, code)
    history.decisions += 1
    return None


def _judge(
    plan: _Plan,
    ticket: dict[str, Any],
    at: datetime,
    reviewer: str,
    confidence: float,
    code: str,
    revision: int = 1,
) -> Decision:
    """Approve or reject: people reject less the surer the AI is, and the newest versions less."""
    rng = plan.rng
    plan.judged[(ticket["source"], ticket["external_id"])] = ticket
    versions = plan.versions.get(ticket["ai"]["model"], ())
    version = ticket["ai"]["model_version"]
    rank = len(versions) - 1 - versions.index(version) if version in versions else 2
    rate = _REJECT_BASE[ticket["workflow"]] * (1.08 - confidence) * _VERSION_FACTOR[min(rank, 2)]
    if code == DRIFT_CODE:
        rate = 0.75
    if rng.random() < min(0.9, rate):
        reasons = _REJECT_REASONS.get(code, _DEFAULT_REJECTS)
        return plan.decide(ticket, at, Action.REJECT, rng.choice(reasons), reviewer, revision=revision)
    reason = rng.choice(("ai_correct", "ai_correct", "ai_correct", "verified_manually", "context_supports"))
    return plan.decide(ticket, at, Action.APPROVE, reason, reviewer, revision=revision)


_VERSION_FACTOR = (0.8, 0.9, 1.0)  # overridden less with each version (0: the newest)


def _push(store: Store, plan: _Plan) -> None:
    ordered = sorted(plan.pushes, key=lambda d: d.decided_at)
    plan.pushes.clear()
    for i in range(0, len(ordered), 1000):
        outcome = store.push_decisions(ordered[i : i + 1000])
        if outcome.refused:
            raise RuntimeError(f"demo history decisions refused: {outcome.refused[:3]}")


def _answer_clarifications(
    store: Store, plan: _Plan, answers: list[tuple[dict[str, Any], datetime, str]]
) -> None:
    """The requester answers: the ticket comes back as revision 2, and the reviewer decides it."""
    revised = []
    for ticket, _, _ in answers:
        again = dict(ticket)
        summary = ticket["exception"]["summary"]
        again["exception"] = {**ticket["exception"], "summary": f"{summary} (answered)"[:500]}
        revised.append(again)
    outcome = store.ingest(enumerate(revised, start=1))
    if outcome.refused:
        raise RuntimeError(f"demo history answers refused: {outcome.refused[:3]}")
    for again, (_, answered, reviewer) in zip(revised, answers, strict=True):
        at = plan.before_now(answered, timedelta(hours=plan.rng.uniform(0.5, 12)))
        code = again["exception"]["code"]
        _judge(plan, again, at, reviewer, again["ai"]["confidence"], code, revision=2)
    _push(store, plan)


def _second_review_on(store: Store, seed: int) -> None:
    table = WorkflowSettings.__table__
    salt = random.Random(f"demo-salt:{seed}").getrandbits(128).to_bytes(16, "big").hex()
    with store.engine.begin() as conn:
        conn.execute(
            insert(table).values(
                workflow=SECOND_REVIEWED,
                shadow_mode=False,
                shadow_since=None,
                second_review_share=SECOND_REVIEW_SHARE,
                second_review_salt=salt,
                updated_at=datetime.now(UTC),
                updated_by=ADMIN,
            )
        )


def _second_review_off(store: Store) -> None:
    """The pilot ended: today's decisions go through the usual single review."""
    table = WorkflowSettings.__table__
    with store.engine.begin() as conn:
        conn.execute(
            update(table)
            .where(table.c.workflow == SECOND_REVIEWED)
            .values(second_review_share=0.0, updated_at=datetime.now(UTC), updated_by=ADMIN)
        )


def _second_reviews(
    store: Store,
    plan: _Plan,
    history: History,
) -> None:
    tickets = StoreTicket.__table__
    with store.engine.connect() as conn:
        waiting = conn.execute(
            select(tickets.c.source, tickets.c.external_id)
            .where(tickets.c.status == TicketStatus.AWAITING_SECOND_REVIEW)
            .order_by(tickets.c.id)
        ).all()
    rng = plan.rng
    for source, external_id in waiting:
        ticket = plan.judged.get((source, external_id))
        if ticket is None:
            continue
        first = plan.last[(source, external_id)]
        at = plan.before_now(first.decided_at, timedelta(hours=rng.uniform(2, 20)))
        agree = rng.random() < 0.85
        approve = (first.action == Action.APPROVE) == agree
        action, reason = (Action.APPROVE, "ai_correct") if approve else (Action.REJECT, "wrong_segment")
        revision = first.ticket_revision
        plan.decide(ticket, at, action, reason, _reviewer(rng, other_than=first.reviewer), revision=revision)
        history.second_reviews += 1
        history.decisions += 1
        if not agree:  # the two disagree: the escalation manager settles it
            settle = plan.before_now(at, timedelta(hours=rng.uniform(0.2, 3)))
            manager = (MANAGER, Role.ESCALATION_MANAGER)
            plan.decide(ticket, settle, first.action, first.reason_code, *manager, revision=revision)
            history.decisions += 1
    _push(store, plan)


def _volumes(
    store: Store, rng: random.Random, tickets: list[dict[str, Any]], now: datetime, days: int
) -> int:
    """Items processed per workflow and day: the tickets that came to review and the many more
    the pipeline automated."""
    counts: Counter[tuple[str, date]] = Counter()
    sources: dict[str, str] = {}
    for ticket in tickets:
        counts[(ticket["workflow"], parse_rfc3339(ticket["created_at"]).date())] += 1
        sources.setdefault(ticket["workflow"], ticket["source"])
    first = (now - timedelta(days=days)).date()
    rows = []
    for workflow in sorted(_ITEMS_PER_EXCEPTION):
        day = first
        while day <= now.date():
            reviewed = counts[(workflow, day)]
            factor = _ITEMS_PER_EXCEPTION[workflow] * rng.uniform(0.85, 1.15)
            items = max(reviewed, round((reviewed + 0.5) * factor))
            rows.append(VolumeRow(workflow, day, items, sources.get(workflow, "default")))
            day += timedelta(days=1)
    store_volume(store, rows, VolumeReport())
    return len(rows)
