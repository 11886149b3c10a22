"""Durations as percentiles: review latency (created → first decision) and time to resolution of
escalations, in hours. Percentiles are nearest-rank: the p-th percentile of n sorted values is
the ceil(p/100·n)-th, always a value that occurred (exact and easy to check by hand)."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from app.core.metrics.rates import rounded

PERCENTILES = (50, 90)


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile of values already sorted ascending; None for none."""
    if not values:
        return None
    if not 0 < p <= 100:
        raise ValueError(f"percentile must be in (0, 100], not {p}")
    return values[max(1, math.ceil(p / 100 * len(values))) - 1]


def summary(values: Iterable[float]) -> dict[str, Any]:
    ordered = sorted(values)
    out: dict[str, Any] = {f"p{p}": rounded(percentile(ordered, p), 4) for p in PERCENTILES}
    out["n"] = len(ordered)
    return out


class DurationSeries:
    """Durations overall and per bucket."""

    def __init__(self) -> None:
        self.by_bucket: dict[str, list[float]] = defaultdict(list)

    def add(self, bucket: str, hours: float) -> None:
        self.by_bucket[bucket].append(hours)

    def as_dict(self, buckets: Iterable[str]) -> dict[str, Any]:
        everything = [h for values in self.by_bucket.values() for h in values]
        series = [{"bucket": b, **summary(self.by_bucket.get(b, ()))} for b in buckets]
        return {**summary(everything), "series": series}
