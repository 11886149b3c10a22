"""The Audit tab: search the trail, answer the saved governance questions, open the ticket as a
decision's reviewer saw it, export the view.

It reads the store's trail (every installation) while the store is reachable and this
installation's own log otherwise; which one is said above the table. All reading happens on the
read lane; the few events the browser itself causes (PII shown, export made) go to the
`record_event` callback, run on the write lane.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from PySide6.QtCore import QModelIndex, Qt, Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.core import audit, pii
from app.core.governance import (
    SAVED_QUERIES,
    AuditQuery,
    ExportFormat,
    SavedQuery,
    SeenTicket,
    Trail,
    TrailRow,
)
from app.ui.audit_export import ExportRunner
from app.ui.audit_filters import AuditFilters
from app.ui.audit_model import AuditTableModel
from app.ui.audit_ticket_dialog import SeenTicketDialog
from app.ui.row_table import row_table
from app.ui.tasks import TaskRunner
from app.ui.ticket_panes import plain_label
from app.ui.ticket_panes.plain import muted

STALE_AFTER_S = 60
RecordEvent = Callable[[str, dict[str, Any], int | None], None]  # (event, data, ticket id)
COLUMN_WIDTHS = (150, 110, 110, 150, 70, 130, 140, 110, 90, 140)  # the last column stretches
FORMATS: dict[ExportFormat, tuple[str, str]] = {
    "csv": ("CSV (*.csv)", ".csv"),
    "jsonl": ("JSON Lines (*.jsonl)", ".jsonl"),
}


def ranking_text(ranking: list[tuple[str, int]]) -> str:
    """The answer to "which model version produced the most rejected recommendations"."""
    if not ranking:
        return "No rejected recommendations in this view."
    (top, count), rest = ranking[0], ranking[1:]
    text = f"Most rejected: model version {top}, {count} rejected recommendation{'s' * (count != 1)}."
    if rest:
        text += "  Then " + " · ".join(f"{version}: {n}" for version, n in rest)
    return text


class AuditBrowser(QWidget):
    export_finished = Signal(object, int)  # path, rows
    ticket_opened = Signal(object)  # the SeenTicketDialog shown

    def __init__(
        self,
        runner: TaskRunner,
        trail: Callable[[], Trail],
        record_event: RecordEvent | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("auditBrowser")
        self._runner = runner
        self._trail_of = trail
        self._record_event = record_event
        self._ranking: SavedQuery | None = None
        self._loaded_at: float | None = None  # monotonic time of the last refresh
        self._exporting: tuple[ExportFormat, AuditQuery] = ("csv", AuditQuery())

        self.source_label = muted(plain_label(wrap=False))
        self.source_label.setObjectName("auditSource")
        self.refresh_button = QPushButton(self.tr("Refresh"))
        self.refresh_button.setObjectName("auditRefresh")
        self.refresh_button.clicked.connect(self.refresh)
        self.saved_buttons: dict[str, QPushButton] = {}
        for saved in SAVED_QUERIES:
            button = QPushButton(self.tr(saved.title))
            button.setCheckable(True)  # shows which question the view answers
            button.setObjectName(f"saved_{saved.key}")
            button.setAccessibleDescription(self.tr(saved.question))
            button.clicked.connect(lambda _checked=False, s=saved: self.run_saved(s))
            self.saved_buttons[saved.key] = button
        self.filters = AuditFilters()
        self.filters.query_changed.connect(self._query_changed)
        self.ranking_label = plain_label()
        self.ranking_label.setObjectName("auditRanking")
        self.ranking_label.hide()
        self.model = AuditTableModel(runner, self)
        self.model.total_changed.connect(self._total_changed)
        self.model.failed.connect(self._failed)
        self.table = self._make_table()
        self.count_label = plain_label(wrap=False)
        self.count_label.setObjectName("auditCount")
        self.status_label = plain_label(wrap=False)
        self.status_label.setObjectName("auditStatus")
        self.open_button = QPushButton(self.tr("Open ticket as seen"))
        self.open_button.setObjectName("auditOpenTicket")
        self.open_button.clicked.connect(self.open_current)
        self.export_buttons = {
            "csv": QPushButton(self.tr("Export CSV…")),
            "jsonl": QPushButton(self.tr("Export JSON Lines…")),
        }
        for fmt, button in self.export_buttons.items():
            button.setObjectName(f"auditExport_{fmt}")
            button.clicked.connect(lambda _checked=False, f=fmt: self.choose_export(f))
        self.exporter = ExportRunner(runner, self)
        self.exporter.finished.connect(self._exported)
        self.exporter.failed.connect(
            lambda message: self._show_status(self.tr("Export failed: ") + message, True)
        )
        self.exporter.cancelled.connect(
            lambda: self._show_status(self.tr("Export cancelled; no file written"))
        )
        self._layout()

    def _make_table(self) -> QTableView:
        table = row_table(self.model, "auditTable", self.tr("Audit trail"))
        header = table.horizontalHeader()
        header.setStretchLastSection(True)
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        for column, width in enumerate(COLUMN_WIDTHS):
            table.setColumnWidth(column, width)
        table.activated.connect(self._activated)
        return table

    def _layout(self) -> None:
        top = QHBoxLayout()
        top.addWidget(self.source_label, 1)
        top.addWidget(self.refresh_button)
        questions = QHBoxLayout()
        questions.addWidget(QLabel(self.tr("Questions:")))
        for button in self.saved_buttons.values():
            questions.addWidget(button)
        questions.addStretch(1)
        bottom = QHBoxLayout()
        bottom.addWidget(self.count_label)
        bottom.addWidget(self.status_label, 1)
        bottom.addWidget(self.open_button)
        for button in self.export_buttons.values():
            bottom.addWidget(button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 6)
        layout.addLayout(top)
        layout.addLayout(questions)
        layout.addWidget(self.filters)
        layout.addWidget(self.ranking_label)
        layout.addWidget(self.table, 1)
        layout.addLayout(bottom)

    # --- loading -----------------------------------------------------------------------

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        # Coming back to the tab after a while: the trail has grown (and the store may have come
        # back, or gone). A quick tab switch keeps the reader's place.
        if self._loaded_at is None or time.monotonic() - self._loaded_at > STALE_AFTER_S:
            self.refresh()

    def refresh(self) -> None:
        """Read the trail again (the store may have come back, or gone)."""
        self._loaded_at = time.monotonic()
        trail = self._trail_of()
        self.source_label.setText(trail.label)
        self._runner.submit("read", trail.choices, self.filters.set_choices, self._failed_quietly)
        self._show(trail, self.filters.query())

    def _show(self, trail: Trail, query: AuditQuery) -> None:
        self._show_status("")
        self.count_label.setText(self.tr("Counting…"))
        self.model.show(trail, query)
        self._load_ranking(trail, query)

    def _query_changed(self, query: AuditQuery) -> None:
        self._ranking = None
        self._mark_saved(None)
        self._show(self.model.trail or self._trail_of(), query)

    def _mark_saved(self, key: str | None) -> None:
        for name, button in self.saved_buttons.items():
            button.setChecked(name == key)

    def run_saved(self, saved: SavedQuery) -> None:
        """Answer a saved question: its filter in the fields, its rows (and ranking) below."""
        self._loaded_at = time.monotonic()
        self.filters.apply(saved.build(datetime.now().astimezone()))
        self._mark_saved(saved.key)
        if saved.ranks_model_versions:
            self._ranking = saved
            trail = self.model.trail or self._trail_of()
            self._load_ranking(trail, self.model.query)

    def _load_ranking(self, trail: Trail, query: AuditQuery) -> None:
        if self._ranking is None:
            self.ranking_label.hide()
            return
        self.ranking_label.setText(self.tr("Ranking model versions…"))
        self.ranking_label.show()

        def shown(ranking: list[tuple[str, int]]) -> None:
            if self._ranking is not None:
                self.ranking_label.setText(ranking_text(ranking))

        self._runner.submit(
            "read", lambda: trail.rejections_by_model_version(query), shown, self._failed_quietly
        )

    def _total_changed(self, total: int) -> None:
        text = self.tr("1 entry") if total == 1 else self.tr("{0} entries")
        self.count_label.setText(text.format(f"{total:,}"))

    def _failed(self, message: str) -> None:
        self.count_label.setText("")
        self._show_status(self.tr("Could not read the audit trail: ") + message, True)

    def _failed_quietly(self, error: Exception) -> None:
        self._show_status(self.tr("Could not read the audit trail: ") + str(error), True)

    def _show_status(self, text: str, problem: bool = False) -> None:
        self.status_label.setText(text)
        self.status_label.setStyleSheet("color: #c0392b;" if problem else "")

    # --- the ticket as seen ------------------------------------------------------------

    def current_row(self) -> TrailRow | None:
        index = self.table.currentIndex()
        return self.model.row_at(index.row()) if index.isValid() else None

    def _activated(self, index: QModelIndex) -> None:
        row = self.model.row_at(index.row())
        if row is not None:
            self.open_row(row)

    def open_current(self) -> None:
        row = self.current_row()
        if row is None:
            self._show_status(self.tr("Select an entry first"))
            return
        self.open_row(row)

    def open_row(self, row: TrailRow) -> None:
        trail = self.model.trail
        if trail is None:
            return
        self._runner.submit(
            "read",
            lambda: trail.ticket_as_seen(row),
            lambda seen: self._show_seen(row, seen),
            self._failed_quietly,
        )

    def _show_seen(self, row: TrailRow, seen: SeenTicket) -> None:
        dialog = SeenTicketDialog(row, seen, self)
        dialog.reveal_requested.connect(lambda: self._revealed(dialog, seen))
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        self.ticket_opened.emit(dialog)

    def _revealed(self, dialog: SeenTicketDialog, seen: SeenTicket) -> None:
        """Personal values of the revision seen come from the store (never from a replica),
        and only as far as this login may read them; whatever is shown is audited."""
        ticket, trail = seen.ticket, self.model.trail
        if ticket is None or trail is None:
            return
        in_clear = pii.field_names(pii.personal_paths(ticket.payload))  # a payload from before s0005

        def shown(values: dict[str, Any] | None) -> None:
            if values:
                dialog.detail.show_personal_data(ticket.id, values, revealed=True)
            elif not in_clear:
                dialog.detail.personal_data_unavailable(
                    ticket.id,
                    self.tr("Personal data is kept in the store only: not available offline")
                    if values is None
                    else self.tr("No personal data kept for this revision, or not for your login"),
                )
            fields = pii.field_names(values or {}) or in_clear
            if fields:
                data = audit.pii_revealed_data(
                    external_id=ticket.external_id,
                    workflow=ticket.workflow,
                    fields=fields,
                    where="audit browser",
                )
                self._record(audit.AuditEvent.PII_REVEALED, data, ticket.id)

        self._runner.submit(
            "read", lambda: trail.personal_values(ticket.id, ticket.revision), shown, self._failed_quietly
        )

    def _record(self, event: str, data: dict[str, Any], ticket_id: int | None) -> None:
        record = self._record_event
        if record is not None:
            self._runner.submit("write", lambda: record(event, data, ticket_id), None, self._failed_quietly)

    # --- export ------------------------------------------------------------------------

    def choose_export(self, fmt: ExportFormat) -> None:
        name_filter, suffix = FORMATS[fmt]
        path, _ = QFileDialog.getSaveFileName(
            self, self.tr("Export the audit view"), str(Path.home() / f"signoff-audit{suffix}"), name_filter
        )
        if path:
            self.export_to(Path(path), fmt)

    def export_to(self, path: Path, fmt: ExportFormat) -> None:
        """Write the current view (every matching entry, not only the loaded ones)."""
        trail = self.model.trail
        if trail is None or self.exporter.busy:
            return
        self._exporting = (fmt, self.model.query)
        self._show_status(self.tr("Exporting…"))
        self.exporter.start(trail, self.model.query, path, fmt, self.model.total)

    def _exported(self, path: Path, rows: int) -> None:
        fmt, query = self._exporting
        self._show_status(self.tr("Exported {0} entries to {1}").format(f"{rows:,}", path.name))
        data = audit.export_data(fmt=fmt, rows=rows, query=query.as_record(), file_name=path.name)
        self._record(audit.AuditEvent.EXPORT_MADE, data, None)
        self.export_finished.emit(path, rows)
