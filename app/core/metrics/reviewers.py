"""Per reviewer (administrators only): how many decisions, how often they agreed with the AI's
proposal, and how often a blind second reviewer agreed with them (or they with a first one)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from app.core.domain import Action
from app.core.metrics.periods import day_of
from app.core.metrics.rates import Rate
from app.core.metrics.rows import DecisionRow, SecondReviewRow


@dataclass
class _Reviewer:
    decisions: int = 0
    days: set[date] = field(default_factory=set)
    actions: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    with_ai: Rate = field(default_factory=Rate)
    with_peer: Rate = field(default_factory=Rate)


class ReviewerTally:
    def __init__(self) -> None:
        self._by_name: dict[str, _Reviewer] = defaultdict(_Reviewer)

    def add(self, decision: DecisionRow) -> None:
        reviewer = self._by_name[decision.reviewer]
        reviewer.decisions += 1
        reviewer.days.add(day_of(decision.decided_at))
        reviewer.actions[decision.action] += 1
        if decision.action in (Action.APPROVE, Action.REJECT):
            reviewer.with_ai.add(decision.action == Action.APPROVE)

    def add_second_reviews(self, reviews: Iterable[SecondReviewRow]) -> None:
        for review in reviews:
            agreed = review.first_action == review.second_action
            for name in (review.first_reviewer, review.second_reviewer):
                self._by_name[name].with_peer.add(agreed)

    def as_list(self) -> list[dict[str, Any]]:
        rows = []
        for name, r in sorted(self._by_name.items(), key=lambda item: (-item[1].decisions, item[0])):
            rows.append(
                {
                    "reviewer": name,
                    "decisions": r.decisions,
                    "active_days": len(r.days),
                    "per_active_day": round(r.decisions / len(r.days), 2) if r.days else None,
                    "actions": dict(sorted(r.actions.items())),
                    "agreed_with_ai": r.with_ai.as_dict(),
                    "agreed_with_peer": r.with_peer.as_dict(),
                }
            )
        return rows
