"""Filter and sort controls above the queue; emits one QueueQuery whenever they change."""

from __future__ import annotations

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QLineEdit, QWidget

from app.core.domain import Queue, QueueQuery, TicketStatus
from app.core.replica import SENT_FOR_SECOND_REVIEW

SORT_LABELS = {"due": "Due time", "confidence": "Confidence", "age": "Age (oldest first)"}
# What a reviewer can look at: the open queue, and decided tickets to correct a decision.
VIEW_LABELS: dict[str, str] = {
    TicketStatus.OPEN: "To review",
    # Blind second reviews: the ones others decided first, which this reviewer may decide.
    TicketStatus.AWAITING_SECOND_REVIEW: "Second review",
    TicketStatus.AWAITING_CLARIFICATION: "Awaiting clarification",
    TicketStatus.ESCALATED: "Escalated",
    TicketStatus.CONFLICT: "Conflicts",
    TicketStatus.DECIDED: "Decided",
    # Decided here first, waiting for a second reviewer: corrections until then.
    SENT_FOR_SECOND_REVIEW: "Sent for second review",
}
SEARCH_DEBOUNCE_MS = 250


class FilterBar(QWidget):
    query_changed = Signal(object)  # QueueQuery

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("filterBar")
        self.view = QComboBox()
        self.view.setObjectName("viewFilter")
        self.view.setAccessibleName(self.tr("Which tickets"))
        for status, label in VIEW_LABELS.items():
            self.view.addItem(self.tr(label), str(status))
        self.workflow = QComboBox()
        self.workflow.setObjectName("workflowFilter")
        self.workflow.setAccessibleName(self.tr("Workflow filter"))
        self.workflow.addItem(self.tr("All workflows"), None)
        self.queue = QComboBox()
        self.queue.setObjectName("queueFilter")
        self.queue.setAccessibleName(self.tr("Queue filter"))
        self.queue.addItem(self.tr("All queues"), None)
        for queue in Queue:
            self.queue.addItem(queue.value.replace("_", " "), queue.value)
        self.search = QLineEdit()
        self.search.setObjectName("searchEdit")
        self.search.setAccessibleName(self.tr("Search the queue"))
        self.search.setPlaceholderText(self.tr("Search id, summary, organisation…  (Ctrl+F)"))
        self.search.setClearButtonEnabled(True)
        self.sort = QComboBox()
        self.sort.setObjectName("sortOrder")
        self.sort.setAccessibleName(self.tr("Sort order"))
        for key, label in SORT_LABELS.items():
            self.sort.addItem(self.tr(label), key)

        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(SEARCH_DEBOUNCE_MS)
        self._debounce.timeout.connect(self._emit)
        self.search.textChanged.connect(lambda _text: self._debounce.start())
        for combo in (self.view, self.workflow, self.queue, self.sort):
            combo.currentIndexChanged.connect(lambda _index: self._emit())

        for combo in (self.view, self.workflow, self.queue, self.sort):
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 0, 6, 0)
        layout.addWidget(self.view)
        layout.addWidget(self.workflow)
        layout.addWidget(self.queue)
        layout.addWidget(self.search, 1)
        sort_label = QLabel(self.tr("Sort:"))
        sort_label.setBuddy(self.sort)
        layout.addWidget(sort_label)
        layout.addWidget(self.sort)

    def set_workflows(self, names: list[str]) -> None:
        current = self.workflow.currentData()
        self.workflow.blockSignals(True)
        self.workflow.clear()
        self.workflow.addItem(self.tr("All workflows"), None)
        for name in names:
            self.workflow.addItem(name, name)
        index = self.workflow.findData(current)
        self.workflow.setCurrentIndex(max(0, index))
        self.workflow.blockSignals(False)

    def query(self) -> QueueQuery:
        return QueueQuery(
            workflow=self.workflow.currentData(),
            queue=self.queue.currentData(),
            text=self.search.text().strip(),
            sort=self.sort.currentData() or "due",
            status=self.view.currentData() or TicketStatus.OPEN,
        )

    def restore(self, query: QueueQuery) -> None:
        """Put saved filters back without emitting for each control."""
        for combo, value in ((self.queue, query.queue), (self.sort, query.sort), (self.view, query.status)):
            combo.blockSignals(True)
            combo.setCurrentIndex(max(0, combo.findData(value)))
            combo.blockSignals(False)
        if query.workflow:
            self.workflow.blockSignals(True)
            if self.workflow.findData(query.workflow) < 0:
                self.workflow.addItem(query.workflow, query.workflow)
            self.workflow.setCurrentIndex(self.workflow.findData(query.workflow))
            self.workflow.blockSignals(False)
        self.search.blockSignals(True)
        self.search.setText(query.text)
        self.search.blockSignals(False)

    def is_filtered(self) -> bool:
        """Anything narrowing the view besides which tickets (the view combo) it shows."""
        query = self.query()
        return bool(query.workflow or query.queue or query.text)

    def _emit(self) -> None:
        self.query_changed.emit(self.query())
