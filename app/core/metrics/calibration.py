"""Calibration and threshold advice, per workflow and model version.

A settled ticket is one observation: the AI's confidence, and whether people approved its proposal
(the proposal was right) or rejected it. From those:
- the reliability curve: the approval rate in each confidence band of 0.1, with a Wilson interval;
- threshold advice: the lowest confidence threshold (on a 0.01 grid) at which auto-approving every
  ticket at or above it would have met the target precision (default 95 %). The plausible range
  runs from the lowest threshold whose Wilson upper bound reaches the target to the lowest whose
  lower bound does; that upper end is the cautious choice. Advice is refused on too few settled
  tickets, or when no threshold meets the target.

Observations come only from tickets that reached review: what the pipeline auto-approved is not in
them unless it was sampled for audit or the workflow ran in shadow mode.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from app.core.metrics.rates import rounded

Z95 = 1.959963984540054
GRID = 100  # thresholds 0.00, 0.01, … 1.00
BANDS = 10
DEFAULT_TARGET = 0.95
MIN_SAMPLE = 200  # settled tickets before any advice
MIN_ABOVE = 30  # tickets at or above a threshold before it counts


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float] | None:
    """Wilson score interval of a proportion; None for n = 0."""
    if n <= 0:
        return None
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def cell_of(confidence: float) -> int:
    """The 0.01 grid cell a confidence falls in (0.905 → 90: counted from threshold 0.90 down)."""
    return min(GRID, max(0, round(confidence * 100 * GRID) // 100))


@dataclass
class Cells:
    """Observations on the 0.01 grid: how many tickets, and how many approved, per cell."""

    n: list[int] = field(default_factory=lambda: [0] * (GRID + 1))
    approved: list[int] = field(default_factory=lambda: [0] * (GRID + 1))

    def add(self, confidence: float, approved: bool) -> None:
        cell = cell_of(confidence)
        self.n[cell] += 1
        self.approved[cell] += approved

    @classmethod
    def of(cls, points: Iterable[tuple[float, bool]]) -> Cells:
        cells = cls()
        for confidence, approved in points:
            cells.add(confidence, approved)
        return cells

    @property
    def total(self) -> int:
        return sum(self.n)


@dataclass(frozen=True)
class Band:
    low: float
    high: float
    n: int
    approved: int

    def as_dict(self) -> dict[str, Any]:
        ci = wilson(self.approved, self.n)
        return {
            "low": self.low,
            "high": self.high,
            "n": self.n,
            "approved": self.approved,
            "rate": rounded(self.approved / self.n if self.n else None),
            "ci": [rounded(ci[0]), rounded(ci[1])] if ci else None,
        }


def reliability(cells: Cells) -> list[Band]:
    """Approval rate per confidence band [0.0, 0.1), … [0.9, 1.0]."""
    per = GRID // BANDS
    bands = []
    for band in range(BANDS):
        lo, hi = band * per, (band + 1) * per + (1 if band == BANDS - 1 else 0)
        bands.append(
            Band(
                round(band / BANDS, 2),
                round((band + 1) / BANDS, 2),
                sum(cells.n[lo:hi]),
                sum(cells.approved[lo:hi]),
            )
        )
    return bands


@dataclass(frozen=True)
class Advice:
    target: float
    sample: int
    threshold: float | None = None
    interval: tuple[float | None, float | None] | None = None
    precision: float | None = None
    precision_ci: tuple[float, float] | None = None
    auto_approved: int = 0
    refused: str | None = None

    @property
    def coverage(self) -> float | None:
        """The share of these tickets auto-approval at the threshold would have taken off people."""
        return self.auto_approved / self.sample if self.sample and self.threshold is not None else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "sample": self.sample,
            "threshold": self.threshold,
            "interval": list(self.interval) if self.interval else None,
            "precision": rounded(self.precision),
            "precision_ci": [rounded(v) for v in self.precision_ci] if self.precision_ci else None,
            "auto_approved": self.auto_approved,
            "coverage": rounded(self.coverage),
            "refused": self.refused,
        }


def advise(
    cells: Cells, target: float = DEFAULT_TARGET, *, min_sample: int = MIN_SAMPLE, min_above: int = MIN_ABOVE
) -> Advice:
    sample = cells.total
    if sample < min_sample:
        return Advice(
            target,
            sample,
            refused=f"Too few settled tickets for advice: {sample} of the {min_sample} needed.",
        )
    above_n, above_ok = _suffix(cells.n), _suffix(cells.approved)
    point = optimistic = cautious = None
    best: tuple[float, int] | None = None  # (precision, cell) of the most precise usable threshold
    for cell in range(GRID + 1):
        n, ok = above_n[cell], above_ok[cell]
        if n < min_above:
            break  # higher thresholds leave fewer still
        precision = ok / n
        low, high = wilson(ok, n) or (0.0, 0.0)
        if best is None or precision > best[0]:
            best = (precision, cell)
        if optimistic is None and high >= target:
            optimistic = cell
        if point is None and precision >= target:
            point = cell
        if cautious is None and low >= target:
            cautious = cell
    if point is None:
        if best is None:
            return Advice(
                target, sample, refused="Too few tickets at high confidence to judge any threshold."
            )
        return Advice(
            target,
            sample,
            refused=f"No threshold reaches {target:.0%} precision in this data (best {best[0]:.1%} "
            f"at ≥ {best[1] / GRID:.2f}, {above_n[best[1]]} tickets).",
        )
    n, ok = above_n[point], above_ok[point]
    return Advice(
        target,
        sample,
        threshold=point / GRID,
        interval=(_grid(optimistic), _grid(cautious)),
        precision=ok / n,
        precision_ci=wilson(ok, n),
        auto_approved=n,
    )


def _grid(cell: int | None) -> float | None:
    return None if cell is None else cell / GRID


def _suffix(counts: Sequence[int]) -> list[int]:
    """out[k] = sum(counts[k:]): tickets at or above threshold k."""
    out, running = [0] * len(counts), 0
    for k in range(len(counts) - 1, -1, -1):
        running += counts[k]
        out[k] = running
    return out


def calibration_entry(cells: Cells, target: float = DEFAULT_TARGET) -> dict[str, Any]:
    return {
        "n": cells.total,
        "bands": [band.as_dict() for band in reliability(cells)],
        "advice": advise(cells, target).as_dict(),
    }
