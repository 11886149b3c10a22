"""Every figure in one JSON-able dict: `signoff metrics --json` prints it, the dashboard draws it.

Every figure is about the tickets created in the filter's date range (default: all of them, up to
now) and their decisions; drift compares the last week before the range's end with the four weeks
before that, whatever the range's start. Time buckets are UTC days, or ISO weeks for long ranges.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import replace
from datetime import date, datetime
from typing import Any

from app.core.domain import Action, Role, to_rfc3339, utcnow
from app.core.metrics import agreement
from app.core.metrics.calibration import DEFAULT_TARGET, Cells, calibration_entry
from app.core.metrics.drift import DriftTally
from app.core.metrics.latency import DurationSeries
from app.core.metrics.outcomes import CaseFacts, facts_of
from app.core.metrics.periods import Period, bucket_of, bucket_of_day, buckets_between, choose_period, day_of
from app.core.metrics.query import MetricsFilter, MetricsReader
from app.core.metrics.rates import OutcomeRates, exception_rate
from app.core.metrics.reasons import ReasonSeries
from app.core.metrics.reviewers import ReviewerTally
from app.core.metrics.rows import DecisionRow
from app.core.metrics.shadow import ShadowTally
from app.core.metrics.sla import SlaSeries
from app.core.metrics.workflow_settings import WorkflowConfig, read_configs
from app.core.store import Store

SCHEMA = "signoff.metrics/1"
REVIEWER_ROLES = (str(Role.ADMIN),)


class Tallies:
    """Everything counted over the range's cases, one case at a time."""

    def __init__(self, period: Period, until: datetime, configs: dict[str, WorkflowConfig], reviewers: bool):
        self.period = period
        self.until = until
        self.tickets = 0
        self.reviewed = 0
        self.settled = 0
        self.per_workflow_day: Counter[tuple[str, date]] = Counter()
        self.outcomes = OutcomeRates()
        self.latency = DurationSeries()
        self.resolution = DurationSeries()
        self.sla = SlaSeries()
        self.reasons = ReasonSeries()
        self.reviewers = ReviewerTally() if reviewers else None
        self.calibration: dict[tuple[str, str], Cells] = defaultdict(Cells)
        self.shadow = ShadowTally(configs)

    def add(self, facts: CaseFacts) -> None:
        ticket = facts.ticket
        bucket = bucket_of(ticket.created_at, self.period)
        self.tickets += 1
        self.reviewed += facts.reviewed
        self.settled += facts.outcome is not None
        self.per_workflow_day[(ticket.workflow, day_of(ticket.created_at))] += 1
        self.outcomes.add(facts, bucket)
        self.sla.add(bucket, facts.sla)
        self.shadow.add(facts)
        if (latency := facts.latency_hours) is not None:
            self.latency.add(bucket, latency)
        if (resolution := facts.resolution_hours) is not None:
            self.resolution.add(bucket, resolution)
        judged = facts.outcome_decision
        if judged is not None and judged.confidence is not None:
            key = (ticket.workflow, judged.model_version or "unknown")
            self.calibration[key].add(judged.confidence, facts.outcome == Action.APPROVE)

    def add_decisions(self, decisions: Iterable[DecisionRow]) -> None:
        for decision in decisions:
            if decision.decided_at >= self.until:
                continue
            if not decision.second_review:
                self.reasons.add(bucket_of(decision.decided_at, self.period), decision.reason_code)
            if self.reviewers is not None:
                self.reviewers.add(decision)


def build_report(
    store: Store,
    filt: MetricsFilter | None = None,
    *,
    role: str = str(Role.REVIEWER),
    now: datetime | None = None,
    target: float = DEFAULT_TARGET,
) -> dict[str, Any]:
    """Every figure for the tickets the filter selects. Per-reviewer figures only for `role`s
    allowed to see them (administrators)."""
    filt = filt or MetricsFilter()
    reader = MetricsReader(store)
    now = now or utcnow()
    until = filt.until or now
    start = filt.since or reader.first_created(filt) or until
    period = choose_period(start, until)
    buckets = buckets_between(start, until, period)
    configs = read_configs(store)
    show_reviewers = str(role) in REVIEWER_ROLES
    tallies = Tallies(period, until, configs, show_reviewers)
    drift = DriftTally(until)
    for case in reader.cases(filt, min(start, drift.start), until):
        facts = facts_of(case, now)
        drift.add(facts)
        if case.ticket.created_at >= start:
            tallies.add(facts)
            tallies.add_decisions(case.decisions)
    in_range = replace(filt, since=start, until=until)
    reviews = reader.second_reviews(in_range)
    if tallies.reviewers is not None:
        tallies.reviewers.add_second_reviews(reviews)
    volume = reader.volume(filt, start, until)
    report: dict[str, Any] = {
        "schema": SCHEMA,
        "generated_at": to_rfc3339(now),
        "filters": filt.as_record(),
        "range": {"from": to_rfc3339(start), "to": to_rfc3339(until)},
        "period": period,
        "buckets": buckets,
        "tickets": tallies.tickets,
        "reviewed": tallies.reviewed,
        "settled": tallies.settled,
        "exception_rate": exception_rate(
            tallies.per_workflow_day,
            volume,
            lambda day: bucket_of_day(day, period),
            buckets,
        ),
        **tallies.outcomes.as_dict(buckets),
        "review_latency_hours": tallies.latency.as_dict(buckets),
        "escalation_resolution_hours": tallies.resolution.as_dict(buckets),
        "sla": tallies.sla.as_dict(buckets),
        "reason_codes": tallies.reasons.as_dict(buckets),
        "calibration": [
            {"workflow": workflow, "model_version": version, **calibration_entry(cells, target)}
            for (workflow, version), cells in sorted(tallies.calibration.items())
        ],
        "drift": drift.as_dict(),
        "agreement": {**agreement.summarize(reviews), "pending": reader.pending_second_reviews(in_range)},
        "shadow": tallies.shadow.as_list(target),
        "settings": [config.as_dict() for config in configs.values()],
        "reviewers": tallies.reviewers.as_list() if tallies.reviewers is not None else None,
    }
    if tallies.reviewers is None:
        report["reviewers_note"] = "per-reviewer figures are for administrators only"
    return report
