"""The audit browser's filters: reviewer, event, action, reason, workflow, model version, queue,
ticket and a date range. Emits one AuditQuery whenever they change; `apply` sets them all at once
(a saved query) and emits once."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from PySide6.QtCore import QDate, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDateEdit,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.core.governance import AuditQuery, Choices
from app.ui.audit_model import event_label

TYPING_DEBOUNCE_MS = 300
NO_DATE = QDate(2000, 1, 1)  # the minimum of the date fields, shown as "any"
# (query field, "any" wording, accessible name)
COMBOS = (
    ("actor", "Any reviewer", "Reviewer filter"),
    ("event", "Any event", "Event filter"),
    ("action", "Any action", "Action filter"),
    ("reason_code", "Any reason", "Reason code filter"),
    ("workflow", "Any workflow", "Workflow filter"),
    ("model_version", "Any model version", "Model version filter"),
    ("queue", "Any queue", "Queue filter"),
)


def local_midnight(day: QDate) -> datetime:
    return datetime.combine(day.toPython(), time()).astimezone()


class AuditFilters(QWidget):
    query_changed = Signal(object)  # AuditQuery

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("auditFilters")
        self.combos: dict[str, QComboBox] = {}
        for name, any_text, accessible in COMBOS:
            combo = QComboBox()
            combo.setObjectName(f"audit_{name}")
            combo.setAccessibleName(self.tr(accessible))
            combo.addItem(self.tr(any_text), None)
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
            combo.setMinimumContentsLength(10)
            combo.currentIndexChanged.connect(lambda _i: self._emit())
            self.combos[name] = combo
        self.ticket = QLineEdit()
        self.ticket.setObjectName("audit_ticket")
        self.ticket.setAccessibleName(self.tr("Ticket filter"))
        self.ticket.setPlaceholderText(self.tr("Ticket id or number"))
        self.ticket.setClearButtonEnabled(True)
        self.since = self._date_edit("audit_since", "From date")
        self.until = self._date_edit("audit_until", "To date (inclusive)")
        self.effective = QCheckBox(self.tr("Leave out undone and refused decisions"))
        self.effective.setObjectName("audit_effective")
        self.effective.toggled.connect(lambda _on: self._emit())
        self.clear_button = QPushButton(self.tr("Clear filters"))
        self.clear_button.setObjectName("audit_clear")
        self.clear_button.clicked.connect(self.clear)

        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(TYPING_DEBOUNCE_MS)
        self._debounce.timeout.connect(self._emit)
        self.ticket.textChanged.connect(lambda _text: self._debounce.start())
        self._quiet = False

        combos = QHBoxLayout()
        for combo in self.combos.values():
            combos.addWidget(combo)
        combos.addStretch(1)
        self.ticket.setMinimumWidth(self.fontMetrics().averageCharWidth() * 26)
        others = QHBoxLayout()
        others.addWidget(self.ticket)
        others.addSpacing(12)
        for label, edit in ((self.tr("From"), self.since), (self.tr("To"), self.until)):
            caption = QLabel(label)
            caption.setBuddy(edit)
            others.addWidget(caption)
            others.addWidget(edit)
        others.addSpacing(12)
        others.addWidget(self.effective)
        others.addStretch(1)
        others.addWidget(self.clear_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(combos)
        layout.addLayout(others)

    def _date_edit(self, name: str, accessible: str) -> QDateEdit:
        edit = QDateEdit()
        edit.setObjectName(name)
        edit.setAccessibleName(self.tr(accessible))
        edit.setCalendarPopup(True)
        edit.setDisplayFormat("yyyy-MM-dd")
        edit.setMinimumDate(NO_DATE)
        edit.setSpecialValueText(self.tr("any"))
        edit.setMinimumWidth(self.fontMetrics().averageCharWidth() * 14)
        edit.setDate(NO_DATE)
        edit.dateChanged.connect(lambda _d: self._debounce.start())
        return edit

    # --- reading and setting -------------------------------------------------------------

    def query(self) -> AuditQuery:
        values = {name: combo.currentData() for name, combo in self.combos.items()}
        since = self.since.date()
        until = self.until.date()
        return AuditQuery(
            **values,
            ticket=self.ticket.text().strip() or None,
            since=local_midnight(since) if since != NO_DATE else None,
            # The "to" day is included: the query's end is the midnight after it.
            until=local_midnight(until.addDays(1)) if until != NO_DATE else None,
            effective_only=self.effective.isChecked(),
        )

    def set_choices(self, choices: Choices) -> None:
        """Offer the values the trail holds, keeping what is selected."""
        lists = {
            "actor": choices.actors,
            "event": choices.events,
            "action": choices.actions,
            "reason_code": choices.reason_codes,
            "workflow": choices.workflows,
            "model_version": choices.model_versions,
            "queue": choices.queues,
        }
        self._quiet = True
        for name, values in lists.items():
            combo = self.combos[name]
            current = combo.currentData()
            combo.blockSignals(True)
            while combo.count() > 1:
                combo.removeItem(1)
            for value in values:
                label = event_label(value) if name == "event" else value.replace("_", " ")
                combo.addItem(label, value)
            if current is not None and combo.findData(current) < 0:
                combo.addItem(current, current)  # a value set by a saved query, not seen yet
            combo.setCurrentIndex(max(0, combo.findData(current)))
            combo.blockSignals(False)
        self._quiet = False

    def apply(self, query: AuditQuery) -> None:
        """Show a query's values in the fields (a saved query), then emit it once."""
        self._quiet = True
        for name, combo in self.combos.items():
            value = getattr(query, name)
            if value is not None and combo.findData(value) < 0:
                combo.addItem(value, value)
            combo.setCurrentIndex(max(0, combo.findData(value)))
        self.ticket.setText(query.ticket or "")
        self.since.setDate(_day(query.since) if query.since else NO_DATE)
        self.until.setDate(_day(query.until - timedelta(days=1)) if query.until else NO_DATE)
        self.effective.setChecked(query.effective_only)
        self._quiet = False
        self._debounce.stop()
        self._emit()

    def clear(self) -> None:
        self.apply(AuditQuery())

    def _emit(self) -> None:
        if not self._quiet:
            self.query_changed.emit(self.query())


def _day(moment: datetime) -> QDate:
    local = moment.astimezone()
    return QDate(local.year, local.month, local.day)
