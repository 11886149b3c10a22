"""Agreement between blind reviewers: Cohen's kappa per workflow and per reviewer pair.

kappa = (p_o − p_e) / (1 − p_e), where p_o is the share of tickets both reviewers decided alike
and p_e the share expected by chance from each side's own mix of actions. Undefined (None) when
chance agreement is certain (both sides always chose the same single action).
Per workflow, the two sides are "first review" and "second review"; per pair, the two people
(named in sorted order), whichever of them decided first.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import Any

from app.core.metrics.rates import rounded
from app.core.metrics.rows import SecondReviewRow


def cohen_kappa(pairs: Iterable[tuple[str, str]]) -> float | None:
    """Kappa of (rater A, rater B) labels; None for no pairs or certain chance agreement."""
    pairs = list(pairs)
    n = len(pairs)
    if not n:
        return None
    observed = sum(a == b for a, b in pairs) / n
    left = Counter(a for a, _ in pairs)
    right = Counter(b for _, b in pairs)
    expected = sum(left[label] * right[label] for label in left) / (n * n)
    if expected >= 1:
        return None
    return (observed - expected) / (1 - expected)


def _entry(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    agreed = sum(a == b for a, b in pairs)
    return {
        "n": len(pairs),
        "agreed": agreed,
        "agreement": rounded(agreed / len(pairs) if pairs else None),
        "kappa": rounded(cohen_kappa(pairs), 4),
    }


def summarize(reviews: Iterable[SecondReviewRow]) -> dict[str, Any]:
    by_workflow: dict[str, list[tuple[str, str]]] = defaultdict(list)
    by_pair: dict[tuple[str, str], list[tuple[str, str]]] = defaultdict(list)
    for review in reviews:
        by_workflow[review.workflow].append((review.first_action, review.second_action))
        people = {review.first_reviewer: review.first_action, review.second_reviewer: review.second_action}
        a, b = sorted((review.first_reviewer, review.second_reviewer))
        by_pair[(a, b)].append((people[a], people[b]))
    everything = [pair for pairs in by_workflow.values() for pair in pairs]
    return {
        **_entry(everything),
        "by_workflow": [{"workflow": w, **_entry(p)} for w, p in sorted(by_workflow.items())],
        "by_pair": [{"reviewers": list(k), **_entry(p)} for k, p in sorted(by_pair.items())],
    }
