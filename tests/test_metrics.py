"""Every metric on a generated history whose answers are worked out by hand (tests/metrics_history.py):
exact counts, nearest-rank percentiles, SLA states, filters pushed into SQL; SQLite and Postgres."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from helpers import BACKENDS, backend_url, pg_database
from metrics_history import ASK, LEAD, NOW, T0, Builder, known_history

from app.core.metrics.latency import percentile, summary
from app.core.metrics.outcomes import sla_state
from app.core.metrics.periods import buckets_between, choose_period
from app.core.metrics.query import MetricsFilter, MetricsReader
from app.core.metrics.rates import Rate, exception_rate
from app.core.metrics.report import build_report
from app.core.store import Store

pg_database = pytest.fixture(scope="module")(pg_database)


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    store = Store.initialize(backend_url(request, tmp_path))
    known_history(store)
    yield store
    store.close()


def totals(figure: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in figure.items() if k != "series"}


def test_rates_of_the_known_history(store: Store) -> None:
    report = build_report(store, now=NOW, role="admin")
    assert (report["tickets"], report["reviewed"], report["settled"]) == (12, 9, 9)
    # Settled: k1-k3, k6, k7, k11 approved; k4, k5, k8 rejected.
    assert totals(report["override_rate"]) == {"value": round(3 / 9, 6), "count": 3, "of": 9}
    # Approved on the first pass: k1, k2, k3, k11 (k6 asked first; k7, k8 were rejected first).
    assert totals(report["first_pass_accuracy"]) == {"value": round(4 / 9, 6), "count": 4, "of": 9}
    # Escalated: k7 (policy_legal), k8 (two reviewers disagreed), k11 (arrived in the escalation queue).
    assert totals(report["escalation_rate"]) == {"value": round(3 / 9, 6), "count": 3, "of": 9}
    assert totals(report["clarification_rate"]) == {"value": round(1 / 9, 6), "count": 1, "of": 9}


def test_latency_resolution_and_sla_of_the_known_history(store: Store) -> None:
    report = build_report(store, now=NOW)
    # First decisions after 1, 2, 3, 4, 5, 6, 7, 8 hours and half an hour (k11): p50 is the
    # 5th of 9 sorted values, p90 the 9th.
    assert totals(report["review_latency_hours"]) == {"p50": 4.0, "p90": 8.0, "n": 9}
    # Escalation to resolution: k7 2 h, k8 3 h (from the second reviewer's decision), k11 0.5 h.
    assert totals(report["escalation_resolution_hours"]) == {"p50": 2.0, "p90": 3.0, "n": 3}
    # Met: k1-k6, k8, k11; late: k7 (resolved 2 h after an escalation due in 1 h); open and
    # overdue: k9; not due yet: k10, k12.
    assert totals(report["sla"]) == {
        "attainment": 0.8,
        "met": 8,
        "breaches": 2,
        "late": 1,
        "open_breaches": 1,
        "pending": 2,
        "of": 10,
    }


def test_exception_rate_divides_by_the_reported_volume(store: Store) -> None:
    rate = build_report(store, now=NOW)["exception_rate"]
    # 11 lead tickets on T0's day over 220 items; the ask_amount ticket has no volume reported.
    assert (rate["value"], rate["tickets"], rate["items"], rate["tickets_without_volume"]) == (
        0.05,
        11,
        220,
        1,
    )
    assert rate["by_workflow"] == {LEAD: {"value": 0.05, "tickets": 11, "items": 220}}
    assert rate["series"][0] == {"bucket": "2026-03-02", "value": 0.05, "tickets": 11, "items": 220}
    assert all(point["value"] is None for point in rate["series"][1:])


def test_reason_codes_over_time_and_reviewers(store: Store) -> None:
    report = build_report(store, now=NOW, role="admin")
    reasons = report["reason_codes"]
    assert reasons["totals"] == {
        "ai_correct": 5,
        "wrong_segment": 3,
        "context_supports": 1,
        "needs_more_info": 1,
        "policy_legal": 1,
        "stale_data": 1,
        "verified_manually": 1,
    }
    assert report["buckets"] == ["2026-03-02", "2026-03-03", "2026-03-04", "2026-03-05"]
    assert report["period"] == "day"
    by_day = {point["bucket"]: point["counts"] for point in reasons["series"]}
    assert by_day["2026-03-03"] == {"context_supports": 1}  # k6, approved the next day
    assert sum(by_day["2026-03-02"].values()) == 12
    people = {row["reviewer"]: row for row in report["reviewers"]}
    assert {name: row["decisions"] for name, row in people.items()} == {"alice": 7, "bob": 3, "erin": 3}
    assert people["alice"]["agreed_with_ai"] == {"value": round(4 / 7, 6), "count": 4, "of": 7}
    assert people["bob"]["actions"] == {"approve": 1, "clarify": 1, "reject": 1}
    assert people["bob"]["active_days"] == 2


def test_per_reviewer_figures_are_for_administrators_only(store: Store) -> None:
    for role in ("reviewer", "escalation_manager"):
        report = build_report(store, now=NOW, role=role)
        assert report["reviewers"] is None
        assert "administrators" in report["reviewers_note"]


@pytest.mark.parametrize(
    ("filt", "tickets", "reviewed", "override"),
    [
        (MetricsFilter(model_version="v2"), 3, 1, (0, 1)),  # k9, k10, k11
        (MetricsFilter(queue="escalation"), 3, 3, (1, 3)),  # k7, k8, k11
        (MetricsFilter(workflow=ASK), 1, 0, (0, 0)),
        (MetricsFilter(workflow=LEAD, model_version="v1"), 8, 8, (3, 8)),
        (MetricsFilter(since=T0 + timedelta(minutes=6), until=T0 + timedelta(minutes=9)), 3, 3, (1, 3)),
    ],
)
def test_filters_select_the_tickets(
    store: Store, filt: MetricsFilter, tickets: int, reviewed: int, override: tuple[int, int]
) -> None:
    report = build_report(store, filt, now=NOW)
    assert (report["tickets"], report["reviewed"]) == (tickets, reviewed)
    assert (report["override_rate"]["count"], report["override_rate"]["of"]) == override


def test_calibration_groups_by_workflow_and_model_version_and_refuses_on_few(store: Store) -> None:
    report = build_report(store, now=NOW)
    groups = {(c["workflow"], c["model_version"]): c for c in report["calibration"]}
    assert set(groups) == {(LEAD, "v1"), (LEAD, "v2")}
    v1 = groups[(LEAD, "v1")]
    assert v1["n"] == 8
    band = {b["low"]: b for b in v1["bands"]}
    # 0.6-0.7: k5 (0.60, rejected) and k8 (0.65, rejected); 0.9-1.0: k1 (0.95), k2 (0.90), approved.
    assert (band[0.6]["n"], band[0.6]["approved"]) == (2, 0)
    assert (band[0.9]["n"], band[0.9]["approved"], band[0.9]["rate"]) == (2, 2, 1.0)
    assert "Too few settled tickets" in v1["advice"]["refused"]
    assert v1["advice"]["sample"] == 8


def test_choices_offer_what_the_store_holds(store: Store) -> None:
    choices = MetricsReader(store).choices()
    assert choices.workflows == [ASK, LEAD]
    assert choices.model_versions == ["v1", "v2"]
    assert "escalation" in choices.queues


def test_an_empty_store_has_no_figures_not_zeros(tmp_path: Path) -> None:
    store = Store.initialize(f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    try:
        report = build_report(store, now=NOW)
    finally:
        store.close()
    assert report["tickets"] == 0
    assert report["override_rate"]["value"] is None
    assert report["review_latency_hours"]["p50"] is None
    assert report["sla"]["attainment"] is None
    assert report["exception_rate"]["value"] is None
    assert report["drift"]["alerts"] == []


# --- the pure pieces -------------------------------------------------------------------------------


def test_nearest_rank_percentiles() -> None:
    values = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0]
    assert percentile(values, 50) == 5.0  # ceil(5) = 5th
    assert percentile(values, 90) == 9.0  # ceil(9) = 9th
    assert percentile(values, 91) == 10.0  # ceil(9.1) = 10th
    assert percentile([7.5], 50) == 7.5
    assert percentile([], 50) is None
    assert summary([3.0, 1.0, 2.0]) == {"p50": 2.0, "p90": 3.0, "n": 3}
    with pytest.raises(ValueError):
        percentile(values, 0)


def test_sla_states() -> None:
    due = T0 + timedelta(hours=4)
    assert sla_state(due, T0 + timedelta(hours=4), NOW) == "met"  # on the minute counts
    assert sla_state(due, T0 + timedelta(hours=5), NOW) == "breached"
    assert sla_state(due, None, NOW) == "open_breach"
    assert sla_state(due, None, T0) == "pending"
    assert sla_state(None, None, NOW) == "none"


def test_rates_say_how_many_they_counted() -> None:
    rate = Rate()
    assert rate.as_dict() == {"value": None, "count": 0, "of": 0}
    for hit in (True, False, False, True):
        rate.add(hit)
    assert rate.as_dict() == {"value": 0.5, "count": 2, "of": 4}


def test_exception_rate_leaves_out_days_without_volume() -> None:
    day1, day2 = T0.date(), (T0 + timedelta(days=1)).date()
    result = exception_rate(
        {(LEAD, day1): 10, (LEAD, day2): 7, (ASK, day1): 3},
        {(LEAD, day1): 200, (ASK, day1): 0, (ASK, day2): 50},
        lambda day: day.isoformat(),
        [day1.isoformat(), day2.isoformat()],
    )
    assert (result["tickets"], result["items"], result["tickets_without_volume"]) == (13, 250, 7)
    assert result["value"] == round(13 / 250, 6)
    assert result["by_workflow"][ASK] == {"value": round(3 / 50, 6), "tickets": 3, "items": 50}
    assert result["series"][1] == {"bucket": day2.isoformat(), "value": 0.0, "tickets": 0, "items": 50}


def test_periods_are_days_for_short_ranges_and_weeks_for_long_ones() -> None:
    assert choose_period(T0, T0 + timedelta(days=45)) == "day"
    assert choose_period(T0, T0 + timedelta(days=46)) == "week"
    assert buckets_between(T0, T0 + timedelta(days=15), "week") == ["2026-03-02", "2026-03-09", "2026-03-16"]
    assert buckets_between(T0, T0, "day") == []


def test_batches_stream_every_ticket_once_even_at_equal_times(tmp_path: Path) -> None:
    store = Store.initialize(f"sqlite:///{tmp_path / 'same.sqlite3'}")
    try:
        b = Builder(store)
        for i in range(7):  # three share one moment, then pairs
            b.ticket(f"s{i}", created=T0 + timedelta(minutes=max(0, i - 2) // 2), confidence=0.8)
        b.ingest_all()
        reader = MetricsReader(store, batch=2)
        seen = [case.ticket.id for case in reader.cases(MetricsFilter(), None, None)]
    finally:
        store.close()
    assert sorted(seen) == sorted(set(seen)) and len(seen) == 7
