"""The Dashboard tab: every figure of `app.core.metrics.report` as cards, filterable by workflow,
model version, queue and date range; each chart also as a table.

The report is built on the read lane (never the GUI thread) from the shared store; offline there
is nothing to show and the tab says so. A newer request wins: answers to older filters are
dropped. Per-reviewer figures exist only for administrators (the role given at construction),
and the report leaves them out for everyone else.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QPushButton, QScrollArea, QVBoxLayout, QWidget

from app.core.domain import parse_rfc3339
from app.core.metrics.query import MetricsReader
from app.core.metrics.report import REVIEWER_ROLES, build_report
from app.core.store import Store
from app.ui.dashboard import cards
from app.ui.dashboard.card import ChartCard
from app.ui.dashboard.filters import DashboardFilters
from app.ui.dashboard.panels import AlertsCard, BandsCard, ShadowCard, show_agreement, show_reviewers
from app.ui.tasks import TaskRunner
from app.ui.ticket_panes import plain_label
from app.ui.ticket_panes.plain import muted

STALE_AFTER_S = 300
OFFLINE = "The dashboard reads the shared store, which cannot be reached now; it will show again once it can."


class Dashboard(QWidget):
    report_shown = Signal(object)  # the report dict, once drawn

    def __init__(
        self,
        runner: TaskRunner,
        store: Callable[[], Store | None],
        role: str,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("dashboard")
        self._runner = runner
        self._store_of = store
        self.role = str(role)
        self._generation = 0
        self._loaded_at: float | None = None
        self._choices_loaded = False
        self.report: dict[str, Any] | None = None

        self.filters = DashboardFilters()
        self.filters.changed.connect(lambda _f: self.refresh())
        self.filters.refresh_requested.connect(self.refresh)
        self.summary = plain_label(wrap=True)
        self.summary.setObjectName("dashboardSummary")
        self.status = muted(plain_label(wrap=False))
        self.status.setObjectName("dashboardStatus")
        self.time_cards: dict[str, ChartCard] = {
            key: ChartCard(key, self.tr(title)) for key, title, _ in cards.TIME_CARDS
        }
        self.calibration = BandsCard("calibration", self.tr("Calibration and threshold advice"), "% approved")
        self.shadow = ShadowCard("shadow", self.tr("Shadow mode: agreement with the AI"), "% approved")
        self.drift = AlertsCard()
        self.agreement = ChartCard("agreement", self.tr("Agreement between blind reviewers"))
        self.reviewers: ChartCard | None = None
        if self.role in REVIEWER_ROLES:
            self.reviewers = ChartCard("reviewers", self.tr("Reviewers: throughput and agreement"))
        self._layout()

    @property
    def all_cards(self) -> list[ChartCard]:
        extra = [self.reviewers] if self.reviewers is not None else []
        return [*self.time_cards.values(), self.drift, self.calibration, self.shadow, self.agreement, *extra]

    def _layout(self) -> None:
        grid = QGridLayout()
        grid.setSpacing(10)
        # Drift alerts beside the first chart: what needs attention is seen without scrolling.
        first, *rest = self.time_cards.values()
        order = [first, self.drift, *rest, self.calibration, self.shadow, self.agreement]
        if self.reviewers is not None:
            order.append(self.reviewers)
        for index, card in enumerate(order):
            grid.addWidget(card, index // 2, index % 2)
        grid.setColumnStretch(0, 1)
        grid.setColumnStretch(1, 1)
        page = QWidget()
        page.setObjectName("dashboardPage")
        page.setLayout(grid)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setWidget(page)
        self.scroll = scroll
        self.offline = muted(plain_label(self.tr(OFFLINE)))
        self.offline.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.offline.hide()
        all_tables = QPushButton(self.tr("All as tables"))
        all_tables.setObjectName("dashboardAllTables")
        all_tables.setCheckable(True)
        all_tables.toggled.connect(lambda on: [c.toggle.setChecked(on) for c in self.all_cards])
        top = QHBoxLayout()
        top.addWidget(self.summary, 1)
        top.addWidget(self.status)
        top.addWidget(all_tables)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 6)
        layout.addWidget(self.filters)
        layout.addLayout(top)
        layout.addWidget(self.offline, 1)
        layout.addWidget(scroll, 1)

    # --- loading -------------------------------------------------------------------------

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._loaded_at is None or time.monotonic() - self._loaded_at > STALE_AFTER_S:
            self.refresh()

    def refresh(self) -> None:
        """Build the report for the filters on the read lane; the newest request wins."""
        self._loaded_at = time.monotonic()
        self._generation += 1
        generation = self._generation
        store = self._store_of()
        self.offline.setVisible(store is None)
        self.scroll.setVisible(store is not None)
        if store is None:
            self.status.setText("")
            return
        if not self._choices_loaded:
            self._runner.submit("read", MetricsReader(store).choices, self._got_choices, lambda _e: None)
        filt, role = self.filters.value(), self.role
        self.status.setText(self.tr("Counting…"))
        self._runner.submit(
            "read",
            lambda: build_report(store, filt, role=role),
            lambda report: self._got_report(generation, report),
            lambda error: self._failed(generation, error),
        )

    def _got_choices(self, choices: Any) -> None:
        self._choices_loaded = True
        self.filters.set_choices(choices)

    def _got_report(self, generation: int, report: dict[str, Any]) -> None:
        if generation == self._generation:
            self.show_report(report)

    def _failed(self, generation: int, error: Exception) -> None:
        if generation == self._generation:
            self.status.setText(self.tr("Could not read the store: ") + str(error))

    # --- drawing -------------------------------------------------------------------------

    def show_report(self, report: dict[str, Any]) -> None:
        self.report = report
        self.status.setText("")
        self.summary.setText(summary_text(report))
        for key, _title, fill in cards.TIME_CARDS:
            fill(self.time_cards[key], report)
        self.drift.show_report(report)
        self.calibration.show_entries(report["calibration"], "No settled tickets in this range yet.")
        self.shadow.show_entries(
            report["shadow"],
            "No workflow is in shadow mode (an administrator sets it: signoff metrics --set-shadow).",
        )
        show_agreement(self.agreement, report)
        if self.reviewers is not None:
            show_reviewers(self.reviewers, report)
        self.report_shown.emit(report)


def summary_text(report: dict[str, Any]) -> str:
    since = parse_rfc3339(report["range"]["from"]).astimezone()
    until = (parse_rfc3339(report["range"]["to"]) - timedelta(microseconds=1)).astimezone()  # exclusive
    filters = [v for k, v in report["filters"].items() if v and k in ("workflow", "model_version", "queue")]
    scope = f" · {' · '.join(str(f).replace('_', ' ') for f in filters)}" if filters else ""
    return (
        f"Tickets created {since:%d %b %Y} – {until:%d %b %Y}{scope}: {report['tickets']:,} tickets, "
        f"{report['reviewed']:,} reviewed, {report['settled']:,} settled"
    )
