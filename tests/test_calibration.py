"""Calibration and threshold advice: Wilson intervals, the reliability curve, and advice on a
simulated pipeline whose true error rate per confidence is known: within 0.02 of the true
threshold once the sample is large, refused below the minimum sample."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import pytest
from metrics_history import LEAD, NOW, T0, Builder

from app.core.domain import Action
from app.core.metrics.calibration import GRID, MIN_SAMPLE, Cells, advise, cell_of, reliability, wilson
from app.core.metrics.report import build_report
from app.core.store import Store

Truth = Callable[[float], float]  # P(people approve | confidence)


def simulate(n: int, truth: Truth, low: float, high: float, seed: int = 3) -> list[tuple[float, bool]]:
    rng = random.Random(seed)
    points = []
    for _ in range(n):
        confidence = round(rng.uniform(low, high), 4)
        points.append((confidence, rng.random() < truth(confidence)))
    return points


def true_threshold(precision_at: Callable[[float], float], target: float) -> float:
    """The lowest grid threshold whose true precision (analytic) reaches the target."""
    return next(k / GRID for k in range(GRID + 1) if precision_at(k / GRID) >= target)


def test_wilson_interval_matches_hand_computation() -> None:
    low, high = wilson(5, 10) or (0, 0)
    assert (round(low, 4), round(high, 4)) == (0.2366, 0.7634)
    low, high = wilson(0, 10) or (1, 1)
    assert low == 0.0 and round(high, 4) == 0.2775
    low, high = wilson(10, 10) or (0, 0)
    assert (round(low, 4), round(high, 4)) == (0.7225, 1.0)
    assert wilson(0, 0) is None


def test_cells_and_bands_put_edges_where_they_belong() -> None:
    assert (cell_of(0.905), cell_of(0.9), cell_of(0.8999), cell_of(1.0), cell_of(0.0)) == (90, 90, 89, 100, 0)
    cells = Cells.of([(0.05, False), (0.1, True), (0.95, True), (1.0, True), (0.99, False)])
    bands = reliability(cells)
    assert len(bands) == 10
    assert (bands[0].n, bands[0].approved) == (1, 0)
    assert (bands[1].n, bands[1].approved) == (1, 1)  # 0.1 opens the second band
    assert (bands[9].n, bands[9].approved) == (3, 2)  # 1.0 belongs to the last band
    assert bands[9].as_dict()["rate"] == round(2 / 3, 6)


@pytest.mark.parametrize(
    ("truth", "low", "high", "precision_at", "target", "n"),
    [
        # Perfectly calibrated, confidence uniform on [0.5, 1]: precision(t) = (1 + t) / 2.
        (lambda c: c, 0.5, 1.0, lambda t: (1 + t) / 2, 0.95, 60_000),
        (lambda c: c, 0.5, 1.0, lambda t: (1 + t) / 2, 0.90, 60_000),
        # Over-confident, uniform on [0, 1]: P = c², precision(t) = (1 + t + t²) / 3.
        (lambda c: c * c, 0.0, 1.0, lambda t: (1 + t + t * t) / 3, 0.95, 150_000),
    ],
)
def test_advised_threshold_is_within_two_points_of_the_true_one(
    truth: Truth, low: float, high: float, precision_at: Callable[[float], float], target: float, n: int
) -> None:
    cells = Cells.of(simulate(n, truth, low, high))
    advice = advise(cells, target)
    expected = true_threshold(precision_at, target)
    assert advice.refused is None
    assert advice.threshold is not None and round(abs(advice.threshold - expected), 6) <= 0.02
    cautious_low, cautious_high = advice.interval or (None, None)
    assert cautious_low is not None and cautious_low <= advice.threshold
    assert cautious_high is not None and round(abs(cautious_high - expected), 6) <= 0.02
    assert advice.precision is not None and advice.precision >= target
    assert advice.sample == n and advice.auto_approved > 0


def test_advice_is_refused_below_the_minimum_sample() -> None:
    calibrated = lambda c: c  # noqa: E731
    few = advise(Cells.of(simulate(MIN_SAMPLE - 1, calibrated, 0.5, 1.0)))
    assert few.threshold is None
    assert few.refused == f"Too few settled tickets for advice: {MIN_SAMPLE - 1} of the {MIN_SAMPLE} needed."
    assert few.as_dict()["sample"] == MIN_SAMPLE - 1
    enough = advise(Cells.of(simulate(MIN_SAMPLE * 5, calibrated, 0.5, 1.0)))
    assert enough.refused is None and enough.threshold is not None


def test_advice_is_refused_when_no_threshold_reaches_the_target() -> None:
    coin = advise(Cells.of(simulate(5_000, lambda c: 0.5, 0.0, 1.0)))
    assert coin.threshold is None
    assert coin.refused is not None and coin.refused.startswith("No threshold reaches 95% precision")


def test_store_advice_matches_the_decisions_pushed(tmp_path: Path) -> None:
    """The same advice through the store: confidences read back from the decisions' AI block."""
    store = Store.initialize(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    b = Builder(store)
    rng = random.Random(5)
    points = []
    for i in range(400):
        confidence = round(rng.uniform(0.5, 1.0), 3)
        b.ticket(f"c{i}", created=T0 + i * (NOW - T0) / 500, confidence=confidence)
        points.append((f"c{i}", confidence, rng.random() < confidence))
    b.ingest_all()
    for name, _confidence, approved in points:
        action, reason = (Action.APPROVE, "ai_correct") if approved else (Action.REJECT, "wrong_segment")
        b.decide(name, 1, action, reason)
    b.push_all(batch=200)
    try:
        report = build_report(store, now=NOW)
    finally:
        store.close()
    (entry,) = [c for c in report["calibration"] if c["workflow"] == LEAD]
    expected = advise(Cells.of((c, a) for _, c, a in points)).as_dict()
    assert entry["n"] == 400
    assert entry["advice"] == expected
    assert sum(band["n"] for band in entry["bands"]) == 400
