"""SLA attainment: of tickets whose due time has come (answered, or not answered and overdue),
the share answered in time. Breaches count both the late answers and the open overdue tickets."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import Any

from app.core.metrics.outcomes import SlaState
from app.core.metrics.rates import rounded

STATES: tuple[SlaState, ...] = ("met", "breached", "open_breach", "pending")


def attainment(counts: Counter[str]) -> dict[str, Any]:
    judged = counts["met"] + counts["breached"] + counts["open_breach"]
    return {
        "attainment": rounded(counts["met"] / judged if judged else None),
        "met": counts["met"],
        "breaches": counts["breached"] + counts["open_breach"],
        "late": counts["breached"],
        "open_breaches": counts["open_breach"],
        "pending": counts["pending"],
        "of": judged,
    }


class SlaSeries:
    def __init__(self) -> None:
        self.by_bucket: dict[str, Counter[str]] = defaultdict(Counter)

    def add(self, bucket: str, state: SlaState) -> None:
        if state != "none":
            self.by_bucket[bucket][state] += 1

    def as_dict(self, buckets: Iterable[str]) -> dict[str, Any]:
        total: Counter[str] = Counter()
        for counts in self.by_bucket.values():
            total.update(counts)
        series = [{"bucket": b, **attainment(self.by_bucket.get(b, Counter()))} for b in buckets]
        return {**attainment(total), "series": series}
