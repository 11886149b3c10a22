"""Drift, per workflow: the last `window` days of incoming tickets against the `reference` days
before them.

- New exception code: a code in the window never seen in the reference (an alert per code; one
  warning naming them all while the reference holds fewer than MIN_TICKETS tickets).
- Confidence shift: the population stability index (PSI) of the confidence distribution over ten
  fixed bins of 0.1, empty bins taken as EPSILON. Below 0.1 is stable; from 0.1 a warning; from
  0.25 an alert. Needs MIN_TICKETS on each side.
- Override rate trending up: the window's rate at least MIN_RISE above the reference's, and the
  rise significant (two-proportion z ≥ 1.96). Needs MIN_SETTLED settled tickets on each side.
A workflow without a reference yet raises nothing.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from app.core.domain import Action, to_rfc3339
from app.core.metrics.outcomes import CaseFacts
from app.core.metrics.rates import Rate, rounded

WINDOW = timedelta(days=7)
REFERENCE = timedelta(days=28)
BINS = 10
EPSILON = 1e-4
PSI_WARNING = 0.1
PSI_ALERT = 0.25
MIN_TICKETS = 100
MIN_SETTLED = 30
MIN_RISE = 0.05
Z_RISE = 1.96


def histogram(confidences: Iterable[float], bins: int = BINS) -> list[int]:
    counts = [0] * bins
    for confidence in confidences:
        counts[bin_of(confidence, bins)] += 1
    return counts


def bin_of(confidence: float, bins: int = BINS) -> int:
    return min(bins - 1, max(0, round(confidence * bins * 1000) // 1000))


def psi(reference: Sequence[int], current: Sequence[int], epsilon: float = EPSILON) -> float | None:
    """Population stability index of two histograms over the same bins; None if either is empty."""
    ref_total, cur_total = sum(reference), sum(current)
    if not ref_total or not cur_total:
        return None
    value = 0.0
    for ref, cur in zip(reference, current, strict=True):
        expected = max(ref / ref_total, epsilon)
        actual = max(cur / cur_total, epsilon)
        value += (actual - expected) * math.log(actual / expected)
    return value


def rise_z(reference: Rate, current: Rate) -> float | None:
    """Two-proportion z statistic of current over reference (pooled); None when undefined."""
    if not reference.of or not current.of:
        return None
    pooled = (reference.count + current.count) / (reference.of + current.of)
    spread = math.sqrt(pooled * (1 - pooled) * (1 / reference.of + 1 / current.of))
    if spread == 0:
        return None
    return ((current.value or 0.0) - (reference.value or 0.0)) / spread


@dataclass
class _Side:
    confidences: list[int] = field(default_factory=lambda: [0] * BINS)
    codes: Counter[str] = field(default_factory=Counter)
    override: Rate = field(default_factory=Rate)

    @property
    def tickets(self) -> int:
        return sum(self.confidences)


@dataclass(frozen=True)
class Alert:
    workflow: str
    kind: str  # new_exception_code | confidence_shift | override_rising
    severity: str  # warning | alert
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "workflow": self.workflow,
            "kind": self.kind,
            "severity": self.severity,
            "message": self.message,
        }


class DriftTally:
    def __init__(self, end: datetime, window: timedelta = WINDOW, reference: timedelta = REFERENCE) -> None:
        self.end = end
        self.window_start = end - window
        self.reference_start = self.window_start - reference
        self._sides: dict[str, dict[str, _Side]] = defaultdict(
            lambda: {"window": _Side(), "reference": _Side()}
        )

    @property
    def start(self) -> datetime:
        return self.reference_start

    def add(self, facts: CaseFacts) -> None:
        ticket = facts.ticket
        if not self.reference_start <= ticket.created_at < self.end:
            return
        side = self._sides[ticket.workflow][
            "window" if ticket.created_at >= self.window_start else "reference"
        ]
        side.confidences[bin_of(ticket.confidence)] += 1
        side.codes[ticket.exception_code] += 1
        if facts.outcome is not None:
            side.override.add(facts.outcome == Action.REJECT)

    def as_dict(self) -> dict[str, Any]:
        workflows, alerts = [], []
        for name in sorted(self._sides):
            entry, raised = _workflow_drift(name, self._sides[name]["reference"], self._sides[name]["window"])
            workflows.append(entry)
            alerts.extend(raised)
        return {
            "window": {"from": to_rfc3339(self.window_start), "to": to_rfc3339(self.end)},
            "reference": {"from": to_rfc3339(self.reference_start), "to": to_rfc3339(self.window_start)},
            "alerts": [a.as_dict() for a in alerts],
            "workflows": workflows,
        }


def _workflow_drift(name: str, ref: _Side, cur: _Side) -> tuple[dict[str, Any], list[Alert]]:
    alerts: list[Alert] = []
    entry: dict[str, Any] = {
        "workflow": name,
        "tickets": {"window": cur.tickets, "reference": ref.tickets},
        "new_exception_codes": [],
        "psi": None,
        "override": {"window": cur.override.as_dict(), "reference": ref.override.as_dict(), "z": None},
    }
    if not ref.tickets:
        entry["note"] = "no reference yet"
        return entry, alerts
    new = sorted(code for code in cur.codes if code not in ref.codes)
    entry["new_exception_codes"] = [{"code": c, "tickets": cur.codes[c]} for c in new]
    if new and ref.tickets < MIN_TICKETS:
        # A code missing from a thin reference is weak evidence that it is new: one warning.
        listed = ", ".join(f"{code!r} ({cur.codes[code]})" for code in new)
        message = f"New exception codes against only {ref.tickets} reference tickets: {listed}"
        alerts.append(Alert(name, "new_exception_code", "warning", message))
    elif new:
        for code in new:
            message = f"New exception code {code!r}: {cur.codes[code]} tickets"
            alerts.append(Alert(name, "new_exception_code", "alert", message))
    if cur.tickets >= MIN_TICKETS and ref.tickets >= MIN_TICKETS:
        value = psi(ref.confidences, cur.confidences)
        entry["psi"] = rounded(value, 4)
        if value is not None and value >= PSI_WARNING:
            severity = "alert" if value >= PSI_ALERT else "warning"
            alerts.append(
                Alert(
                    name, "confidence_shift", severity, f"Confidence distribution shifted (PSI {value:.2f})"
                )
            )
    if cur.override.of >= MIN_SETTLED and ref.override.of >= MIN_SETTLED:
        z = rise_z(ref.override, cur.override)
        entry["override"]["z"] = rounded(z, 3)
        rise = (cur.override.value or 0.0) - (ref.override.value or 0.0)
        if z is not None and z >= Z_RISE and rise >= MIN_RISE:
            alerts.append(
                Alert(
                    name,
                    "override_rising",
                    "alert",
                    f"Override rate up from {ref.override.value:.0%} to {cur.override.value:.0%}",
                )
            )
    return entry, alerts
