"""Drift: a shifted confidence distribution, a new exception code and a rising override rate
raise alerts; a stable workflow raises none; a workflow without a reference raises nothing."""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from metrics_history import LEAD, NOW, Pipeline, simulated_history

from app.core.metrics.drift import EPSILON, MIN_TICKETS, PSI_WARNING, bin_of, histogram, psi, rise_z
from app.core.metrics.query import MetricsFilter
from app.core.metrics.rates import Rate
from app.core.metrics.report import build_report
from app.core.store import Store

DONOR = "donor_segmentation"


@pytest.fixture(scope="module")
def drifted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    store = Store.initialize(f"sqlite:///{tmp_path_factory.mktemp('drift') / 'store.sqlite3'}")
    simulated_history(
        store,
        (
            Pipeline(LEAD, per_day=30, confidence=(0.55, 0.95), reject_rate=0.2),
            Pipeline(
                DONOR,
                per_day=20,
                confidence=(0.6, 0.95),
                reject_rate=0.15,
                late_confidence=(0.3, 0.7),
                late_reject_rate=0.6,
                late_code="novel_signal",
            ),
        ),
    )
    yield store
    store.close()


def test_a_drifting_workflow_raises_every_alert(drifted: Store) -> None:
    drift = build_report(drifted, now=NOW)["drift"]
    kinds = {(a["workflow"], a["kind"]) for a in drift["alerts"]}
    assert kinds == {(DONOR, "new_exception_code"), (DONOR, "confidence_shift"), (DONOR, "override_rising")}
    entry = {w["workflow"]: w for w in drift["workflows"]}[DONOR]
    assert [c["code"] for c in entry["new_exception_codes"]] == ["novel_signal"]
    assert entry["psi"] >= 0.25
    shift = next(a for a in drift["alerts"] if a["kind"] == "confidence_shift")
    assert shift["severity"] == "alert"
    override = entry["override"]
    assert override["window"]["value"] > override["reference"]["value"] + 0.05
    assert override["z"] >= 1.96


def test_a_stable_workflow_raises_none(drifted: Store) -> None:
    drift = build_report(drifted, MetricsFilter(workflow=LEAD), now=NOW)["drift"]
    assert drift["alerts"] == []
    (entry,) = drift["workflows"]
    assert entry["tickets"]["window"] >= 100 and entry["tickets"]["reference"] >= 100
    assert entry["psi"] < PSI_WARNING
    assert entry["new_exception_codes"] == []


def test_drift_looks_back_past_the_ranges_start(drifted: Store) -> None:
    """The dashboard's range may be the last three days; the reference weeks still count."""
    report = build_report(drifted, MetricsFilter(since=NOW.replace(day=3)), now=NOW)
    assert {a["kind"] for a in report["drift"]["alerts"] if a["workflow"] == DONOR} == {
        "new_exception_code",
        "confidence_shift",
        "override_rising",
    }


def test_no_reference_no_alerts(tmp_path: Path) -> None:
    store = Store.initialize(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    try:
        simulated_history(
            store, (Pipeline("message_draft", per_day=25, confidence=(0.2, 0.9), reject_rate=0.3),), days=6
        )
        drift = build_report(store, now=NOW)["drift"]
    finally:
        store.close()
    assert drift["alerts"] == []
    assert drift["workflows"][0]["note"] == "no reference yet"


def test_a_new_code_against_a_thin_reference_is_only_a_warning(tmp_path: Path) -> None:
    store = Store.initialize(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    try:
        # Two tickets a day: 56 in the four reference weeks, fewer than MIN_TICKETS.
        simulated_history(
            store,
            (Pipeline(DONOR, per_day=2, confidence=(0.6, 0.95), reject_rate=0.15, late_code="novel_signal"),),
        )
        drift = build_report(store, now=NOW)["drift"]
    finally:
        store.close()
    (entry,) = drift["workflows"]
    assert 0 < entry["tickets"]["reference"] < MIN_TICKETS
    (alert,) = drift["alerts"]
    assert (alert["kind"], alert["severity"]) == ("new_exception_code", "warning")
    assert alert["message"].startswith(f"New exception codes against only {entry['tickets']['reference']} ")
    assert "'novel_signal' (" in alert["message"]


def test_a_new_code_against_a_full_reference_is_an_alert(drifted: Store) -> None:
    alerts = build_report(drifted, now=NOW)["drift"]["alerts"]
    alert = next(a for a in alerts if a["kind"] == "new_exception_code")
    assert alert["severity"] == "alert" and "only" not in alert["message"]


# --- the pure pieces ---------------------------------------------------------------------------


def test_psi_matches_hand_computation() -> None:
    assert psi([10, 20, 30], [1, 2, 3]) == 0.0  # same shape, other size
    # (0.9 − 0.5)·ln(0.9/0.5) + (0.1 − 0.5)·ln(0.1/0.5)
    assert psi([50, 50], [90, 10]) == pytest.approx(0.4 * math.log(1.8) + 0.4 * math.log(5))
    # An empty reference bin is taken as EPSILON, not as zero (which would be infinite).
    expected = (0.5 - 1) * math.log(0.5 / 1) + (0.5 - EPSILON) * math.log(0.5 / EPSILON)
    assert psi([100, 0], [50, 50]) == pytest.approx(expected)
    assert psi([0, 0], [1, 1]) is None


def test_fixed_bins() -> None:
    assert [bin_of(c) for c in (0.0, 0.0999, 0.1, 0.55, 0.9, 0.99, 1.0)] == [0, 0, 1, 5, 9, 9, 9]
    assert histogram([0.05, 0.15, 0.15, 1.0]) == [1, 2, 0, 0, 0, 0, 0, 0, 0, 1]


@pytest.mark.parametrize("seed", range(5))
def test_samples_of_one_distribution_stay_below_the_warning(seed: int) -> None:
    rng = random.Random(seed)
    reference = histogram(rng.betavariate(5, 2) for _ in range(2000))
    current = histogram(rng.betavariate(5, 2) for _ in range(500))
    shifted = histogram(rng.betavariate(2, 2) for _ in range(500))
    assert (psi(reference, current) or 0) < PSI_WARNING
    assert (psi(reference, shifted) or 0) >= 0.25


def test_rise_z() -> None:
    assert rise_z(Rate(10, 100), Rate(30, 100)) == pytest.approx(3.5355, abs=1e-4)
    assert rise_z(Rate(0, 0), Rate(1, 2)) is None
    assert rise_z(Rate(0, 10), Rate(0, 10)) is None  # no variation at all
