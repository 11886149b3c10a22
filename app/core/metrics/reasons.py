"""Which reason codes reviewers gave, over time (by the day or week of the decision)."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import Any


class ReasonSeries:
    def __init__(self) -> None:
        self.by_bucket: dict[str, Counter[str]] = defaultdict(Counter)

    def add(self, bucket: str, reason_code: str) -> None:
        self.by_bucket[bucket][reason_code] += 1

    def as_dict(self, buckets: Iterable[str]) -> dict[str, Any]:
        totals: Counter[str] = Counter()
        for counts in self.by_bucket.values():
            totals.update(counts)
        codes = [code for code, _ in sorted(totals.items(), key=lambda item: (-item[1], item[0]))]
        return {
            "totals": {code: totals[code] for code in codes},
            "series": [
                {"bucket": b, "counts": {c: n for c in codes if (n := self.by_bucket.get(b, Counter())[c])}}
                for b in buckets
            ],
        }
