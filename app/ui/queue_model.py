"""The queue list: a lazy table model over the replica.

Rows arrive a page at a time through keyset paging on the read lane (fetchMore), so a queue of
a million tickets costs what its visible pages cost. Responses carry a generation number; a
page that belongs to an older filter is dropped.

Memory stays bounded at any queue length: for every loaded row the model keeps only the ticket id
(8 bytes, in an array), and full rows in a small cache around what was last shown. A row scrolled
back into view after its cache entry was dropped is fetched again by id, with the ids around it.
The next page continues after the last row received, kept whole for its sort key. Pages grow
from `PAGE_SIZE` (the first rows come fast) to `MAX_PAGE_SIZE` while the view keeps asking (each
insert costs the view time in the row count).
"""

from __future__ import annotations

from array import array
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

from app.core.domain import QueueQuery, QueueRow, utcnow
from app.ui.formatting import due_text, percent
from app.ui.tasks import TaskRunner

PAGE_SIZE = 200
MAX_PAGE_SIZE = 2000  # bigger pages leave more row objects behind for little gain
REFILL_SIZE = 200  # rows fetched again around a row whose cached copy was dropped
ROW_CACHE = 2500  # full rows kept (a page, and screens either side of the last ones shown)
COLUMNS = ("Due", "Exception", "Workflow", "Conf.", "Risk", "Queue")
TICKET_ID_ROLE = Qt.ItemDataRole.UserRole + 1
SOON = timedelta(hours=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_PLACEHOLDER = QueueRow(0, "", "…", "", 0.0, "", "", None, _EPOCH, None)
_GONE = QueueRow(0, "", "(no longer in this view)", "", 0.0, "", "", None, _EPOCH, None)

# The view asks data() for about seven roles per cell on every repaint (~1,300 calls for one
# screen of rows, after each decision); the roles are plain ints here so the ones this model
# never answers return at once, and flags() hands back one precomputed value.
_DISPLAY = int(Qt.ItemDataRole.DisplayRole)
_FOREGROUND = int(Qt.ItemDataRole.ForegroundRole)
_ALIGNMENT = int(Qt.ItemDataRole.TextAlignmentRole)
_ANSWERED = frozenset({_DISPLAY, _FOREGROUND, _ALIGNMENT, int(TICKET_ID_ROLE)})
_RIGHT_ALIGNED = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
_ROW_FLAGS = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
_OVERDUE = QColor("#d64541")
_DUE_SOON = QColor("#d68910")
_PLACEHOLDER_TEXTS = ("", "…", "", "", "", "")
# A shown row: its six cell texts and the due cell's colour (None: no due time; _NORMAL: the
# palette's text colour, read when painted so a theme change shows at once).
_NORMAL = QColor()
Shown = tuple[tuple[str, ...], QColor | None]

Index = QModelIndex | QPersistentModelIndex
PageSource = Callable[[QueueQuery, QueueRow | None, int], list[QueueRow]]
CountSource = Callable[[QueueQuery], int]
RowsSource = Callable[[QueueQuery, Sequence[int]], list[QueueRow]]  # those of the ids still in view


class QueueModel(QAbstractTableModel):
    total_changed = Signal(int)  # tickets matching the filter, not only the ones loaded
    page_loaded = Signal()

    def __init__(
        self,
        runner: TaskRunner,
        page: PageSource,
        count: CountSource,
        rows: RowsSource,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._runner = runner
        self._page = page
        self._count = count
        self._rows = rows
        self._query = QueueQuery()
        self._ids = array("q")
        # The last row received, the next page's keyset anchor: still right after it is removed.
        self._tail: QueueRow | None = None
        self._cache: OrderedDict[int, QueueRow] = OrderedDict()
        # Cell texts per cached row, made on the first paint of the row: after a decision the view
        # repaints every visible row, and formatting them again per cell and role is what cost.
        self._shown: dict[int, Shown] = {}
        self._refilling: set[int] = set()  # first rows of refills under way
        self._page_size = PAGE_SIZE
        self._generation = 0
        self._fetching = False
        self._count_wanted = False
        self._exhausted = True
        self._now = utcnow()
        self.total = 0

    def _remember(self, rows: list[QueueRow]) -> None:
        for item in rows:
            self._cache[item.id] = item
            self._cache.move_to_end(item.id)
            self._shown.pop(item.id, None)  # its data may be newer
        while len(self._cache) > ROW_CACHE:
            dropped, _row = self._cache.popitem(last=False)
            self._shown.pop(dropped, None)

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
        self._ids = array("q")
        self._tail = None
        self._cache.clear()
        self._shown.clear()
        self._refilling.clear()
        self._page_size = PAGE_SIZE
        self._generation += 1
        self._exhausted = False
        self._fetching = False
        self.endResetModel()
        self._count_wanted = True  # asked for once the first page is in (see _got_page)
        self._request_page()

    def _request_count(self) -> None:
        generation, query = self._generation, self._query
        self._runner.submit(
            "read",
            lambda: self._count(query),
            lambda n: self._got_count(generation, n),
            owner=self,  # it may arrive after the window (and this model) closed
        )

    def canFetchMore(self, parent: Index = QModelIndex()) -> bool:  # noqa: B008 - Qt signature
        return not parent.isValid() and not self._exhausted and not self._fetching

    def fetchMore(self, parent: Index = QModelIndex()) -> None:  # noqa: B008 - Qt signature
        if self.canFetchMore(parent):
            self._request_page()

    def _request_page(self) -> None:
        self._fetching = True
        generation, query, size, after = self._generation, self._query, self._page_size, self._tail
        self._runner.submit(
            "read",
            lambda: self._page(query, after, size),
            lambda rows: self._got_page(generation, rows, size),
            lambda _error: self._got_page(generation, [], size),
        )

    def _got_page(self, generation: int, rows: list[QueueRow], size: int) -> None:
        if generation != self._generation:
            return
        self._fetching = False
        self._exhausted = len(rows) < size
        if len(self._ids) >= PAGE_SIZE:  # past the first screens: the reviewer is scrolling
            self._page_size = min(MAX_PAGE_SIZE, self._page_size * 2)
        if rows:
            first = len(self._ids)
            self.beginInsertRows(QModelIndex(), first, first + len(rows) - 1)
            self._ids.extend(item.id for item in rows)
            self._tail = rows[-1]
            self._remember(rows)
            self.endInsertRows()
        self.page_loaded.emit()
        if self._count_wanted:
            # Counting a whole view takes ~0.1–0.2 s at a million tickets. Asked after the first
            # page is shown (page_loaded opens its first ticket), it queues behind that ticket on
            # the read lane instead of in front of it.
            self._count_wanted = False
            self._request_count()

    def _refill(self, position: int) -> None:
        """Fetch again the rows from `position` on (their cached copies were dropped)."""
        start = position - position % REFILL_SIZE
        if start in self._refilling:
            return
        self._refilling.add(start)
        generation, query = self._generation, self._query
        wanted = self._ids[start : start + REFILL_SIZE].tolist()
        self._runner.submit(
            "read",
            lambda: self._rows(query, wanted),
            lambda rows: self._got_refill(generation, start, wanted, rows),
            lambda _error: self._refilling.discard(start),
        )

    def _got_refill(self, generation: int, start: int, wanted: list[int], rows: list[QueueRow]) -> None:
        if generation != self._generation:
            return
        self._refilling.discard(start)
        found = {row.id for row in rows}
        # A ticket that left the view since (decided elsewhere, withdrawn) shows as gone until
        # the next reload, instead of being asked for at every repaint.
        self._remember(rows + [replace(_GONE, id=i) for i in wanted if i not in found])
        last = min(len(self._ids), start + REFILL_SIZE) - 1
        if last >= start:
            self.dataChanged.emit(self.index(start, 0), self.index(last, len(COLUMNS) - 1))

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
        del self._ids[row]
        self._cache.pop(ticket_id, None)
        self._shown.pop(ticket_id, None)
        self._refilling.clear()  # their first rows moved
        self.endRemoveRows()
        self.total = max(0, self.total - 1)
        self.total_changed.emit(self.total)
        return row

    def tick(self) -> None:
        """Time passed: due times read differently now."""
        self._now = utcnow()
        self._shown.clear()
        if self._ids:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self._ids) - 1, 0))

    # --- lookups -----------------------------------------------------------------------

    def row_of(self, ticket_id: int) -> int | None:
        try:
            return self._ids.index(ticket_id)
        except ValueError:
            return None

    def ticket_id(self, row: int) -> int | None:
        return self._ids[row] if 0 <= row < len(self._ids) else None

    def loaded_ids(self) -> list[int]:
        return self._ids.tolist()

    def cached_rows(self) -> int:
        """How many full rows are held (bounded by ROW_CACHE, whatever the queue's length)."""
        return len(self._cache)

    # --- Qt model API ------------------------------------------------------------------

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 - Qt signature
        return 0 if parent.isValid() else len(self._ids)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 - Qt signature
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.tr(COLUMNS[section])
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        # No ToolTipRole on purpose: tooltips render rich text, and titles are untrusted.
        if role not in _ANSWERED:
            return None
        column = index.column()
        if (role == _FOREGROUND and column != 0) or (role == _ALIGNMENT and column != 3):
            return None
        row = index.row()
        if not 0 <= row < len(self._ids) or not index.isValid():
            return None
        if role == _ALIGNMENT:
            return _RIGHT_ALIGNED
        ticket_id = self._ids[row]
        if role == TICKET_ID_ROLE:
            return ticket_id
        shown = self._shown.get(ticket_id) or self._show(ticket_id, row)
        if role == _DISPLAY:
            return shown[0][column]
        colour = shown[1]
        if colour is _NORMAL:
            return QApplication.palette().color(QPalette.ColorRole.Text)
        return colour

    def _show(self, ticket_id: int, row: int) -> Shown:
        """The row's cell texts and due colour, kept until the row's data or the time changes."""
        item = self._cache.get(ticket_id)
        if item is None:  # on its way from the replica
            self._refill(row)
            return _PLACEHOLDER_TEXTS, None
        texts = tuple(self._display(item, column) for column in range(len(COLUMNS)))
        shown = (texts, self._due_colour(item.due_at))
        self._shown[ticket_id] = shown
        return shown

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
            return _OVERDUE
        if due - self._now <= SOON:
            return _DUE_SOON
        return _NORMAL

    def flags(self, index: Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return _ROW_FLAGS
