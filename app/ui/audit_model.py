"""The audit browser's table: a lazy model over a governance Trail.

Rows arrive a page at a time through keyset paging on the read lane (fetchMore), so a trail of a
million entries costs what its visible pages cost. Each reload bumps a generation number; a page
that answers an older filter is dropped.
"""

from __future__ import annotations

from datetime import datetime

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QApplication

from app.core.audit import AuditEvent
from app.core.governance import AuditQuery, Trail, TrailRow
from app.ui.tasks import TaskRunner

PAGE_SIZE = 200
COLUMNS = (
    "Time",
    "Reviewer",
    "Role",
    "Event",
    "Action",
    "Reason",
    "Workflow",
    "Model version",
    "Queue",
    "Ticket",
    "Details",
)
# Which TrailRow field each column shows (Time and Event are worded for reading).
COLUMN_FIELDS = (
    "at",
    "actor",
    "role",
    "event",
    "action",
    "reason_code",
    "workflow",
    "model_version",
    "queue",
    "external_id",
    "details",
)
EVENT_LABELS = {
    AuditEvent.DECISION_RECORDED: "Decision recorded",
    AuditEvent.DECISION_PUSHED: "Decision sent",
    AuditEvent.DECISION_REJECTED_BY_STORE: "Refused by the store",
    AuditEvent.DECISION_UNDONE: "Decision undone",
    AuditEvent.CONFLICT_DETECTED: "Conflict detected",
    AuditEvent.PII_REVEALED: "PII revealed",
    AuditEvent.SETTINGS_CHANGED: "Settings changed",
    AuditEvent.POLICY_CHANGED: "Policy changed",
    AuditEvent.REASON_CODES_CHANGED: "Reason codes changed",
    AuditEvent.LOGIN: "Signed in",
    AuditEvent.STORE_OPENED: "Store opened",
    AuditEvent.STORE_SWITCHED: "Store switched",
    AuditEvent.STORE_RESTORE_DETECTED: "Store restore detected",
    AuditEvent.EXPORT_MADE: "Export made",
    AuditEvent.RETENTION_PURGE: "Retention purge",
    AuditEvent.AUTOMATION_PAUSED: "Automation paused",
    AuditEvent.AUTOMATION_RESUMED: "Automation resumed",
}

Index = QModelIndex | QPersistentModelIndex


def event_label(event: str) -> str:
    return EVENT_LABELS.get(event, event.replace("_", " "))


def local_time(at: str) -> str:
    """An entry's UTC time as this computer's local time, to the second."""
    moment = datetime.fromisoformat(at.replace("Z", "+00:00")).astimezone()
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def cell_text(row: TrailRow, column: int) -> str:
    """What a cell shows: the one wording, shared by the view and anything checking it."""
    name = COLUMN_FIELDS[column]
    if name == "at":
        return local_time(row.at)
    if name == "event":
        return event_label(row.event)
    if name == "external_id":
        return row.external_id or (str(row.ticket_id) if row.ticket_id is not None else "")
    value = getattr(row, name)
    return "" if value is None else str(value).replace("_", " ") if name in ("role", "queue") else str(value)


class AuditTableModel(QAbstractTableModel):
    total_changed = Signal(int)  # entries matching the filter, not only the ones loaded
    page_loaded = Signal()
    failed = Signal(str)  # the trail could not be read (store gone, file locked)

    def __init__(self, runner: TaskRunner, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._runner = runner
        self._trail: Trail | None = None
        self._query = AuditQuery()
        self._rows: list[TrailRow] = []
        self._generation = 0
        self._fetching = False
        self._exhausted = True
        self.total = 0

    # --- loading -----------------------------------------------------------------------

    @property
    def query(self) -> AuditQuery:
        return self._query

    @property
    def trail(self) -> Trail | None:
        return self._trail

    @property
    def is_loading(self) -> bool:
        return self._fetching

    def show(self, trail: Trail, query: AuditQuery) -> None:
        """Start again from the first page of this trail under this filter."""
        self._trail, self._query = trail, query
        self.beginResetModel()
        self._rows = []
        self._generation += 1
        self._exhausted = False
        self._fetching = False
        self.endResetModel()
        self._request_page()
        generation = self._generation
        self._runner.submit(
            "read",
            lambda: trail.count(query),
            lambda total: self._got_count(generation, total),
            lambda error: self._failed(generation, error),
            owner=self,
        )

    def canFetchMore(self, parent: Index = QModelIndex()) -> bool:  # noqa: B008 - Qt signature
        return not parent.isValid() and not self._exhausted and not self._fetching

    def fetchMore(self, parent: Index = QModelIndex()) -> None:  # noqa: B008 - Qt signature
        if self.canFetchMore(parent):
            self._request_page()

    def _request_page(self) -> None:
        trail = self._trail
        if trail is None:
            return
        self._fetching = True
        generation, query = self._generation, self._query
        after = self._rows[-1] if self._rows else None
        self._runner.submit(
            "read",
            lambda: trail.page(query, after, PAGE_SIZE),
            lambda rows: self._got_page(generation, rows),
            lambda error: self._failed(generation, error),
            owner=self,
        )

    def _got_page(self, generation: int, rows: list[TrailRow]) -> None:
        if generation != self._generation:
            return
        self._fetching = False
        self._exhausted = len(rows) < PAGE_SIZE
        if rows:
            first = len(self._rows)
            self.beginInsertRows(QModelIndex(), first, first + len(rows) - 1)
            self._rows.extend(rows)
            self.endInsertRows()
        self.page_loaded.emit()

    def _got_count(self, generation: int, total: int) -> None:
        if generation == self._generation:
            self.total = total
            self.total_changed.emit(total)

    def _failed(self, generation: int, error: Exception) -> None:
        if generation != self._generation:
            return
        self._fetching = False
        self._exhausted = True
        self.failed.emit(str(error))

    # --- lookups -----------------------------------------------------------------------

    def row_at(self, row: int) -> TrailRow | None:
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def loaded_rows(self) -> list[TrailRow]:
        return list(self._rows)

    # --- Qt model API ------------------------------------------------------------------

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 - Qt signature
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 - Qt signature
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> object:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.tr(COLUMNS[section])
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        row = self.row_at(index.row()) if index.isValid() else None
        if row is None:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return cell_text(row, index.column())
        if role == Qt.ItemDataRole.ForegroundRole and row.purged:
            # Entries whose payload a retention purge removed read as faded.
            return QApplication.palette().color(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text)
        # No ToolTipRole on purpose: tooltips render rich text, and notes are untrusted.
        return None

    def flags(self, index: Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
