"""The demo store: today's open queue plus four weeks of decided history, made through the store's
own write paths, so the dashboard has figures on first start; the same seed makes the same past."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from app.core.demo import prepare_demo
from app.core.demo_data import generate_tickets
from app.core.demo_history import DRIFT_CODE, DRIFTING, MANAGER, REVIEWERS
from app.core.domain import TicketStatus
from app.core.metrics.report import build_report
from app.core.store import Store
from app.core.store_models import ProcessedVolume, StoreDecision, StoreTicket

NOW = datetime(2026, 11, 18, 15, 37, tzinfo=UTC)  # a Wednesday afternoon
TICKETS, DECISIONS = StoreTicket.__table__, StoreDecision.__table__


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    url = prepare_demo(tmp_path_factory.mktemp("demo"), now=NOW)
    store = Store.open(url)
    yield store
    store.close()


@pytest.fixture(scope="module")
def report(demo: Store) -> dict[str, Any]:
    return build_report(demo, role="admin", now=NOW)


def history_of(store: Store) -> list[tuple[Any, ...]]:
    with store.engine.connect() as conn:
        return [
            tuple(row)
            for row in conn.execute(
                select(
                    TICKETS.c.external_id,
                    TICKETS.c.created_at,
                    DECISIONS.c.decision_id,
                    DECISIONS.c.action,
                    DECISIONS.c.reason_code,
                    DECISIONS.c.reviewer,
                    DECISIONS.c.decided_at,
                )
                .join(TICKETS, TICKETS.c.id == DECISIONS.c.ticket_id)
                .order_by(DECISIONS.c.decision_id)
            )
        ]


def test_todays_open_queue_is_the_generated_one(demo: Store) -> None:
    today = {t["external_id"] for t in generate_tickets(300, seed=7, now=NOW)}
    with demo.engine.connect() as conn:
        open_ids = set(
            conn.execute(select(TICKETS.c.external_id).where(TICKETS.c.status == TicketStatus.OPEN)).scalars()
        )
        decided_today = conn.execute(
            select(func.count())
            .select_from(DECISIONS.join(TICKETS, TICKETS.c.id == DECISIONS.c.ticket_id))
            .where(TICKETS.c.external_id.in_(today))
        ).scalar_one()
    assert open_ids == today  # the past is all decided (or waits on someone outside)
    assert decided_today == 0


def test_the_store_has_four_weeks_of_decisions_by_named_reviewers(demo: Store) -> None:
    rows = history_of(demo)
    assert len(rows) > 500
    reviewers = Counter(r[5] for r in rows)
    assert set(reviewers) == {*REVIEWERS, MANAGER}
    assert all(reviewers[name] > 20 for name in REVIEWERS)
    created = [r[1].replace(tzinfo=UTC) for r in rows]
    decided = [r[6].replace(tzinfo=UTC) for r in rows]
    assert min(created) >= NOW - timedelta(days=29) and max(decided) < NOW
    assert all(d >= c for d, c in zip(decided, created, strict=True))
    actions = Counter(r[3] for r in rows)
    assert set(actions) == {"approve", "reject", "clarify"}
    reasons = {r[4] for r in rows}
    assert {"policy_legal", "ai_correct", "needs_more_info"} <= reasons
    assert reasons <= set(_reason_codes(demo))


def _reason_codes(store: Store) -> list[str]:
    return [r.code for r in store.reason_codes()]


def test_the_metrics_have_figures_to_show(report: dict[str, Any]) -> None:
    assert report["reviewed"] > 500
    override = report["override_rate"]["value"]
    assert override is not None and 0.1 < override < 0.4
    latency = report["review_latency_hours"]
    assert latency["n"] > 500 and 0 < latency["p50"] < latency["p90"]
    sla = report["sla"]
    assert sla["late"] > 10 and 0.7 < sla["attainment"] < 0.97  # mostly in time, some breaches
    rate = report["exception_rate"]
    assert rate["value"] is not None and 0.03 < rate["value"] < 0.3
    assert rate["tickets_without_volume"] == 0
    assert report["escalation_rate"]["count"] > 10
    assert report["escalation_resolution_hours"]["n"] > 10
    assert report["clarification_rate"]["count"] > 10
    assert report["agreement"]["n"] > 0  # a few blind second reviews
    alerts = report["drift"]["alerts"]
    assert any(
        a["workflow"] == DRIFTING and a["kind"] == "new_exception_code" and DRIFT_CODE in a["message"]
        for a in alerts
    )


def test_models_were_upgraded_mid_period(report: dict[str, Any]) -> None:
    versions = Counter(entry["workflow"] for entry in report["calibration"] if entry["n"] >= 20)
    assert sum(n >= 2 for n in versions.values()) >= 4  # most workflows compare two versions


def test_volumes_cover_every_day_and_workflow(demo: Store) -> None:
    volume = ProcessedVolume.__table__
    with demo.engine.connect() as conn:
        days, workflows = conn.execute(
            select(func.count(func.distinct(volume.c.day)), func.count(func.distinct(volume.c.workflow)))
        ).one()
    assert days == 29 and workflows == 5


def test_same_seed_same_history(tmp_path: Path) -> None:
    def made(name: str, seed: int) -> list[tuple[Any, ...]]:
        store = Store.open(prepare_demo(tmp_path / name, tickets=40, seed=seed, now=NOW))
        try:
            return history_of(store)
        finally:
            store.close()

    first = made("a", 7)
    assert first and made("b", 7) == first
    assert made("c", 8) != first


def test_an_existing_demo_store_is_kept(tmp_path: Path) -> None:
    url = prepare_demo(tmp_path, tickets=30, now=NOW)
    store = Store.open(url)
    before = history_of(store)
    store.close()
    assert prepare_demo(tmp_path, tickets=30) == url
    store = Store.open(url)
    try:
        assert history_of(store) == before
    finally:
        store.close()


def test_no_history_when_asked(tmp_path: Path) -> None:
    store = Store.open(prepare_demo(tmp_path, tickets=30, history=False, now=NOW))
    try:
        assert history_of(store) == []
    finally:
        store.close()


def test_demo_command_without_history_makes_only_todays_queue(tmp_path: Path, capsys: Any) -> None:
    from app.cli import main as cli

    assert cli(["demo", "--no-window", "--no-history", "--tickets", "12", "--home", str(tmp_path)]) == 0
    url = capsys.readouterr().out.strip().split("demo store ready: ")[-1]
    store = Store.open(url)
    try:
        with store.engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(StoreDecision)).scalar() == 0
            assert conn.execute(select(func.count()).select_from(StoreTicket)).scalar() == 12
    finally:
        store.close()
