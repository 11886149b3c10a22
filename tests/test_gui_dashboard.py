"""The Dashboard tab on a generated month: it renders with data (and a picture of it is saved to
look at), the filters change the charts, every chart has its table, per-reviewer figures are for
administrators only, advice says why it is refused, and names from the data stay plain text."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from helpers import sqlite_url
from metrics_history import dashboard_store, known_history
from PySide6.QtCharts import QBarCategoryAxis, QChart, QXYSeries
from PySide6.QtCore import QDate

from app.core.domain import utcnow
from app.core.store import Store
from app.ui.dashboard import Dashboard
from app.ui.dashboard.charts import Line, bar_chart
from app.ui.dashboard.panels import advice_text
from app.ui.tasks import TaskRunner

pytestmark = pytest.mark.gui
SHOT = Path("/tmp/dashboard_test.png")


@pytest.fixture(scope="module")
def month(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    store = dashboard_store(tmp_path_factory.mktemp("dashboard") / "store.sqlite3")
    yield store
    store.close()


def open_dashboard(qtbot: Any, store: Store | None, role: str = "admin") -> Dashboard:
    runner = TaskRunner()
    board = Dashboard(runner, lambda: store, role)
    qtbot.addWidget(board)
    board.resize(1500, 950)
    if store is not None:
        with qtbot.waitSignal(board.report_shown, timeout=60000):
            board.show()
    else:
        board.show()
    qtbot.waitExposed(board)
    return board


def points(chart: QChart) -> list[tuple[float, float]]:
    """The points of a chart's first line (its scatter twin carries the same)."""
    series = [s for s in chart.series() if isinstance(s, QXYSeries)]
    return [(p.x(), p.y()) for p in series[0].points()] if series else []


def test_renders_a_month_with_data(qtbot: Any, month: Store) -> None:
    board = open_dashboard(qtbot, month)
    report = board.report
    assert report is not None and report["tickets"] > 1500
    SHOT.parent.mkdir(exist_ok=True)
    board.grab().save(str(SHOT))
    for key, card in board.time_cards.items():
        chart = card.view.chart()
        assert card.stack.currentWidget() is card.view, key
        assert chart.series(), key
        assert chart.axes(), key
    assert len(report["buckets"]) in (28, 29)  # the last four weeks (local days) to begin with
    assert len(points(board.time_cards["exceptions"].view.chart())) >= 27
    assert f"{report['settled']:,} settled tickets" in board.time_cards["outcomes"].subtitle.text()
    assert f"n = {report['review_latency_hours']['n']:,}" in board.time_cards["latency"].subtitle.text()
    assert board.summary.text().endswith(
        f"{report['tickets']:,} tickets, {report['reviewed']:,} reviewed, {report['settled']:,} settled"
    )
    alerts = [board.drift.alerts.item(i).text() for i in range(board.drift.alerts.count())]
    assert any("bereavement_flag" in text and text.startswith("Alert") for text in alerts)
    assert any(text.startswith("lead qualification: no new exception code") for text in alerts)
    assert board.calibration.group.count() == len(report["calibration"])
    assert board.calibration.advice.text()
    assert board.shadow.group.currentText() == "donor segmentation"
    assert "In shadow mode since" in board.shadow.subtitle.text()
    assert "Blind second reviews" in board.agreement.subtitle.text()
    assert board.reviewers is not None and board.reviewers.view.chart().series()


def test_filters_change_the_charts(qtbot: Any, month: Store) -> None:
    board = open_dashboard(qtbot, month)
    everything = board.report
    before = points(board.time_cards["exceptions"].view.chart())
    qtbot.waitUntil(lambda: board.filters.combos["workflow"].count() > 1, timeout=10000)
    with qtbot.waitSignal(board.report_shown, timeout=60000):
        board.filters.select("workflow", "ask_amount")
    narrowed = board.report
    assert narrowed["filters"]["workflow"] == "ask_amount"
    assert 0 < narrowed["tickets"] < everything["tickets"]
    assert points(board.time_cards["exceptions"].view.chart()) != before
    assert "ask amount" in board.summary.text()
    assert {c["workflow"] for c in narrowed["calibration"]} == {"ask_amount"}
    week_ago = (utcnow() - timedelta(days=7)).astimezone().date()
    with qtbot.waitSignal(board.report_shown, timeout=60000):
        board.filters.set_range(QDate(week_ago.year, week_ago.month, week_ago.day), None)
    assert board.report["tickets"] < narrowed["tickets"]
    assert len(board.report["buckets"]) <= 9
    with qtbot.waitSignal(board.report_shown, timeout=60000):
        board.filters.all_time.click()
    with qtbot.waitSignal(board.report_shown, timeout=60000):
        board.filters.select("workflow", None)
    assert board.report["tickets"] > everything["tickets"]  # the whole five weeks
    assert board.report["filters"]["since"] is None


def test_every_chart_has_its_table(qtbot: Any, month: Store) -> None:
    board = open_dashboard(qtbot, month)
    report = board.report
    card = board.time_cards["sla"]
    card.toggle.click()
    assert card.showing_table and card.toggle.text() == "Chart"
    assert card.table.rowCount() == len(report["buckets"])
    assert card.table.horizontalHeaderItem(5).text() == "Attainment"
    reasons = board.time_cards["reasons"]
    last = reasons.table.rowCount() - 1
    assert reasons.table.item(last, 0).text() == "All"
    for other in board.all_cards:
        other.toggle.setChecked(True)
        assert other.showing_table, other.objectName()
        assert other.table.columnCount() > 1, other.objectName()
    card.toggle.click()
    assert card.stack.currentWidget() is card.view


def test_reviewers_are_for_administrators_only(qtbot: Any, month: Store) -> None:
    board = open_dashboard(qtbot, month, role="reviewer")
    assert board.reviewers is None
    assert board.findChild(object, "card_reviewers") is None
    assert board.report is not None and board.report["reviewers"] is None


def test_refused_advice_says_why_with_the_sample_size(qtbot: Any, tmp_path: Path) -> None:
    store = Store.initialize(sqlite_url(tmp_path))
    known_history(store)
    try:
        board = open_dashboard(qtbot, store)
        with qtbot.waitSignal(board.report_shown, timeout=60000):
            board.filters.all_time.click()  # the history is from March
        board.calibration.group.setCurrentIndex(
            board.calibration.group.findText("lead qualification · model v1")
        )
        assert (
            board.calibration.advice.text()
            == "No advice: Too few settled tickets for advice: 8 of the 200 needed."
        )
        assert "8 settled tickets" in board.calibration.subtitle.text()
        assert board.shadow.view.chart() is None or board.shadow.stack.currentWidget() is board.shadow.empty
        assert "No workflow is in shadow mode" in board.shadow.empty.text()
    finally:
        store.close()


def test_offline_says_so(qtbot: Any) -> None:
    board = open_dashboard(qtbot, None)
    assert board.offline.isVisible() and not board.scroll.isVisible()
    assert "cannot be reached" in board.offline.text()


def test_names_in_charts_are_shown_as_typed(qtbot: Any) -> None:
    chart = bar_chart(["<b>eve</b>"], [Line("<img src=x>", [1.0])], y_title="Decisions", x_title="Reviewer")
    (axis,) = [a for a in chart.axes() if isinstance(a, QBarCategoryAxis)]
    assert axis.categories() == ["&lt;b&gt;eve&lt;/b&gt;"]  # QtCharts reads labels as HTML
    assert chart.series()[0].barSets()[0].label() == "&lt;img src=x&gt;"


def test_advice_in_words() -> None:
    advice = {
        "target": 0.95,
        "sample": 1000,
        "threshold": 0.9,
        "interval": [0.88, 0.92],
        "precision": 0.96,
        "precision_ci": [0.95, 0.97],
        "auto_approved": 300,
        "coverage": 0.3,
        "refused": None,
    }
    assert advice_text(advice) == (
        "Auto-approving from confidence 0.90 would have met the 95% target: 96.0% approved "
        "(95% interval 95.0%–97.0%) on 300 tickets, 30% of the 1,000 settled. "
        "Plausible thresholds: 0.88 to 0.92 (0.92 is the cautious choice)."
    )
