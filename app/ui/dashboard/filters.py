"""The dashboard's filter row: workflow, model version, queue and a date range (local days, "to"
included; the last four weeks to begin with, "All time" for everything). Emits one
MetricsFilter whenever they change."""

from __future__ import annotations

from PySide6.QtCore import QDate, QTimer, Signal
from PySide6.QtWidgets import QComboBox, QDateEdit, QHBoxLayout, QLabel, QPushButton, QWidget

from app.core.metrics.query import Choices, MetricsFilter
from app.ui.audit_filters import NO_DATE, local_midnight

DEBOUNCE_MS = 250
DEFAULT_DAYS = 28
COMBOS = (
    ("workflow", "All workflows", "Workflow filter"),
    ("model_version", "All model versions", "Model version filter"),
    ("queue", "All queues", "Queue filter"),
)


class DashboardFilters(QWidget):
    changed = Signal(object)  # MetricsFilter
    refresh_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("dashboardFilters")
        self.combos: dict[str, QComboBox] = {}
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for name, any_text, accessible in COMBOS:
            combo = QComboBox()
            combo.setObjectName(f"dashboard_{name}")
            combo.setAccessibleName(self.tr(accessible))
            combo.addItem(self.tr(any_text), None)
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
            combo.setMinimumContentsLength(12)
            combo.currentIndexChanged.connect(lambda _i: self._emit())
            self.combos[name] = combo
            layout.addWidget(combo)
        layout.addSpacing(12)
        self.since = self._date_edit("dashboard_since", "From date")
        self.until = self._date_edit("dashboard_until", "To date (inclusive)")
        for caption, edit in ((self.tr("From"), self.since), (self.tr("To"), self.until)):
            label = QLabel(caption)
            label.setBuddy(edit)
            layout.addWidget(label)
            layout.addWidget(edit)
        self.all_time = QPushButton(self.tr("All time"))
        self.all_time.setObjectName("dashboardAllTime")
        self.all_time.clicked.connect(lambda: self.set_range(None, None))
        layout.addWidget(self.all_time)
        layout.addStretch(1)
        self.refresh_button = QPushButton(self.tr("Refresh"))
        self.refresh_button.setObjectName("dashboardRefresh")
        self.refresh_button.clicked.connect(self.refresh_requested)
        layout.addWidget(self.refresh_button)
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(DEBOUNCE_MS)
        self._debounce.timeout.connect(self._emit)
        # The last four weeks to start with: what a team looks at most, and quick on a big store.
        self.since.setDate(QDate.currentDate().addDays(-(DEFAULT_DAYS - 1)))
        self.since.dateChanged.connect(lambda _d: self._debounce.start())
        self.until.dateChanged.connect(lambda _d: self._debounce.start())
        self._quiet = False

    def _date_edit(self, name: str, accessible: str) -> QDateEdit:
        edit = QDateEdit()
        edit.setObjectName(name)
        edit.setAccessibleName(self.tr(accessible))
        edit.setCalendarPopup(True)
        edit.setDisplayFormat("yyyy-MM-dd")
        edit.setMinimumDate(NO_DATE)
        edit.setSpecialValueText(self.tr("any"))
        edit.setDate(NO_DATE)
        return edit

    def value(self) -> MetricsFilter:
        since, until = self.since.date(), self.until.date()
        return MetricsFilter(
            workflow=self.combos["workflow"].currentData(),
            model_version=self.combos["model_version"].currentData(),
            queue=self.combos["queue"].currentData(),
            since=local_midnight(since) if since != NO_DATE else None,
            until=local_midnight(until.addDays(1)) if until != NO_DATE else None,
        )

    def set_range(self, since: QDate | None, until: QDate | None) -> None:
        self._quiet = True
        self.since.setDate(since or NO_DATE)
        self.until.setDate(until or NO_DATE)
        self._quiet = False
        self._debounce.stop()
        self._emit()

    def set_choices(self, choices: Choices) -> None:
        """Offer what the store holds, keeping what is selected (and saying nothing)."""
        lists = {
            "workflow": choices.workflows,
            "model_version": choices.model_versions,
            "queue": choices.queues,
        }
        for name, values in lists.items():
            combo = self.combos[name]
            current = combo.currentData()
            combo.blockSignals(True)
            while combo.count() > 1:
                combo.removeItem(1)
            for value in values:
                combo.addItem(value.replace("_", " ") if name != "model_version" else value, value)
            index = combo.findData(current)
            combo.setCurrentIndex(index if index >= 0 else 0)
            combo.blockSignals(False)

    def select(self, name: str, value: str | None) -> None:
        combo = self.combos[name]
        index = combo.findData(value)
        combo.setCurrentIndex(index if index >= 0 else 0)

    def _emit(self) -> None:
        if not self._quiet:
            self.changed.emit(self.value())
