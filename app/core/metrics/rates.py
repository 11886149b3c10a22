"""Rates with their sample sizes, overall and per time bucket, and the rates of what happened to
reviewed tickets. Every rate says how many it counted (`count`) out of how many (`of`): a rate of
nothing is None, never 0."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from app.core.domain import Action
from app.core.metrics.outcomes import CaseFacts


@dataclass
class Rate:
    count: int = 0
    of: int = 0

    def add(self, hit: bool, weight: int = 1) -> None:
        self.of += weight
        self.count += weight if hit else 0

    @property
    def value(self) -> float | None:
        return self.count / self.of if self.of else None

    def as_dict(self) -> dict[str, Any]:
        return {"value": rounded(self.value), "count": self.count, "of": self.of}


def rounded(value: float | None, places: int = 6) -> float | None:
    return None if value is None else round(value, places)


class RateSeries:
    """One rate overall and per bucket."""

    def __init__(self) -> None:
        self.total = Rate()
        self.by_bucket: dict[str, Rate] = defaultdict(Rate)

    def add(self, bucket: str, hit: bool) -> None:
        self.total.add(hit)
        self.by_bucket[bucket].add(hit)

    def as_dict(self, buckets: Iterable[str]) -> dict[str, Any]:
        series = [{"bucket": b, **self.by_bucket.get(b, Rate()).as_dict()} for b in buckets]
        return {**self.total.as_dict(), "series": series}


class OutcomeRates:
    """Of reviewed tickets: how often the AI was overridden, approved as proposed on the first
    pass, escalated, asked about. Override and first-pass count settled tickets only."""

    def __init__(self) -> None:
        self.override = RateSeries()
        self.first_pass = RateSeries()
        self.escalation = RateSeries()
        self.clarification = RateSeries()

    def add(self, facts: CaseFacts, bucket: str) -> None:
        if not facts.reviewed:
            return
        self.escalation.add(bucket, facts.escalated_at is not None)
        self.clarification.add(bucket, facts.clarified)
        if facts.outcome is not None:
            self.override.add(bucket, facts.outcome == Action.REJECT)
            self.first_pass.add(bucket, facts.first_pass)

    def as_dict(self, buckets: list[str]) -> dict[str, Any]:
        return {
            "override_rate": self.override.as_dict(buckets),
            "first_pass_accuracy": self.first_pass.as_dict(buckets),
            "escalation_rate": self.escalation.as_dict(buckets),
            "clarification_rate": self.clarification.as_dict(buckets),
        }


def exception_rate(
    tickets: Mapping[tuple[str, date], int],
    volume: Mapping[tuple[str, date], int],
    bucket_of_day: Callable[[date], str],
    buckets: Iterable[str],
) -> dict[str, Any]:
    """Tickets ÷ items processed, over the (workflow, day)s the pipeline reported a volume for;
    tickets on days without a reported volume are counted apart, never divided by a guess."""
    total, by_bucket, by_workflow = _Ratio(), defaultdict(_Ratio), defaultdict(_Ratio)
    uncovered = 0
    for key in set(tickets) | set(volume):
        count, items = tickets.get(key, 0), volume.get(key)
        if items is None:
            uncovered += count
            continue
        for ratio in (total, by_bucket[bucket_of_day(key[1])], by_workflow[key[0]]):
            ratio.add(count, items)
    return {
        **total.as_dict(),
        "tickets_without_volume": uncovered,
        "by_workflow": {name: ratio.as_dict() for name, ratio in sorted(by_workflow.items())},
        "series": [{"bucket": b, **by_bucket.get(b, _Ratio()).as_dict()} for b in buckets],
    }


@dataclass
class _Ratio:
    tickets: int = 0
    items: int = 0

    def add(self, tickets: int, items: int) -> None:
        self.tickets += tickets
        self.items += items

    def as_dict(self) -> dict[str, Any]:
        value = self.tickets / self.items if self.items else None
        return {"value": rounded(value), "tickets": self.tickets, "items": self.items}
