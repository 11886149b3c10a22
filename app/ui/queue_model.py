"""The queue list: a lazy table model over the replica.

Rows arrive a page at a time through keyset paging on the read lane (fetchMore), so a queue of
a million tickets costs what its visible pages cost. Responses carry a generation number; a
page that belongs to an older filter is dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

from app.core.domain import QueueQuery, QueueRow, utcnow
from app.ui.formatting import due_text, percent
from app.ui.tasks import TaskRunner

PAGE_SIZE = 200
COLUMNS = ("Due", "Exception", "Workflow", "Conf.", "Risk", "Queue")
TICKET_ID_ROLE = Qt.ItemDataRole.UserRole + 1
SOON = timedelta(hours=1)

Index = QModelIndex | QPersistentModelIndex
PageSource = Callable[[QueueQuery, QueueRow | None, int], list[QueueRow]]
CountSource = Callable[[QueueQuery], int]


class QueueModel(QAbstractTableModel):
    total_changed = Signal(int)  # tickets matching the filter, not only the ones loaded
    page_loaded = Signal()

    def __init__(
        self, runner: TaskRunner, page: PageSource, count: CountSource, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self._runner = runner
        self._page = page
        self._count = count
        self._rows: list[QueueRow] = []
        self._query = QueueQuery()
        self._generation = 0
        self._fetching = False
        self._exhausted = True
        self._now = utcnow()
        self.total = 0

    # --- loading -----------------------------------------------------------------------

    @property
    def query(self) -> QueueQuery:
        return self._query

    def set_query(self, query: QueueQuery) -> None:
        self._query = query
        self.reload()

    def reload(self) -> None:
        """Start again from the first page (new filter, or the replica changed under us)."""
        self.beginResetModel()
        self._rows = []
        self._generation += 1
        self._exhausted = False
        self._fetching = False
        self.endResetModel()
        self._request_page()
        generation, query = self._generation, self._query
        self._runner.submit("read", lambda: self._count(query), lambda n: self._got_count(generation, n))

    def canFetchMore(self, parent: Index = QModelIndex()) -> bool:  # noqa: B008 - Qt signature
        return not parent.isValid() and not self._exhausted and not self._fetching

    def fetchMore(self, parent: Index = QModelIndex()) -> None:  # noqa: B008 - Qt signature
        if self.canFetchMore(parent):
            self._request_page()

    def _request_page(self) -> None:
        self._fetching = True
        generation, query = self._generation, self._query
        after = self._rows[-1] if self._rows else None
        self._runner.submit(
            "read",
            lambda: self._page(query, after, PAGE_SIZE),
            lambda rows: self._got_page(generation, rows),
            lambda _error: self._got_page(generation, []),
        )

    def _got_page(self, generation: int, rows: list[QueueRow]) -> None:
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

    @property
    def is_loading(self) -> bool:
        return self._fetching

    # --- changes made here -------------------------------------------------------------

    def remove_ticket(self, ticket_id: int) -> int | None:
        """Drop a decided ticket without reloading; returns the row it was at."""
        row = self.row_of(ticket_id)
        if row is None:
            return None
        self.beginRemoveRows(QModelIndex(), row, row)
        del self._rows[row]
        self.endRemoveRows()
        self.total = max(0, self.total - 1)
        self.total_changed.emit(self.total)
        return row

    def tick(self) -> None:
        """Time passed: due times read differently now."""
        self._now = utcnow()
        if self._rows:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self._rows) - 1, 0))

    # --- lookups -----------------------------------------------------------------------

    def row_of(self, ticket_id: int) -> int | None:
        for row, item in enumerate(self._rows):
            if item.id == ticket_id:
                return row
        return None

    def ticket_id(self, row: int) -> int | None:
        return self._rows[row].id if 0 <= row < len(self._rows) else None

    def loaded_ids(self) -> list[int]:
        return [r.id for r in self._rows]

    # --- Qt model API ------------------------------------------------------------------

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 - Qt signature
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 - Qt signature
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.tr(COLUMNS[section])
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        item = self._rows[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(item, column)
        if role == TICKET_ID_ROLE:
            return item.id
        if role == Qt.ItemDataRole.ForegroundRole and column == 0:
            return self._due_colour(item.due_at)
        if role == Qt.ItemDataRole.TextAlignmentRole and column == 3:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        # No ToolTipRole on purpose: tooltips render rich text, and titles are untrusted.
        return None

    def _display(self, item: QueueRow, column: int) -> str:
        match column:
            case 0:
                return due_text(item.due_at, self._now)
            case 1:
                return f"[{item.claimed_by}] {item.title}" if item.claimed_by else item.title
            case 2:
                return item.workflow
            case 3:
                return percent(item.confidence)
            case 4:
                return item.risk_tier or "—"
            case _:
                return item.queue.replace("_", " ")

    def _due_colour(self, due: datetime | None) -> QColor | None:
        if due is None:
            return None
        if due <= self._now:
            return QColor("#d64541")
        if due - self._now <= SOON:
            return QColor("#d68910")
        return QApplication.palette().color(QPalette.ColorRole.Text)

    def flags(self, index: Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
