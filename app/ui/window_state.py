"""Window layout, tab and queue filters kept across restarts (QSettings: nothing here is data
that must not be lost; that lives in the replica)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings
from PySide6.QtWidgets import QHeaderView, QMainWindow, QSplitter, QTabWidget

from app.core.domain import QueueQuery, TicketStatus
from app.ui.filter_bar import FilterBar

DEFAULT_SIZE = (1440, 860)


class WindowState:
    def __init__(self, path: Path, store_id: str | None) -> None:
        self.settings = QSettings(str(path), QSettings.Format.IniFormat)
        # Filters belong to a store: another store has other workflows.
        self.filter_key = f"queue-{store_id or 'unknown'}"

    def restore(
        self,
        window: QMainWindow,
        splitters: dict[str, QSplitter | None],
        header: QHeaderView,
        filters: FilterBar,
        default_view: str = TicketStatus.OPEN,
    ) -> int:
        """Put everything back; returns the tab to open once all tabs exist. `default_view` is
        the queue view when none was saved (escalation managers start on Escalated)."""
        s = self.settings
        geometry = s.value("window/geometry")
        if isinstance(geometry, QByteArray) and window.restoreGeometry(geometry):
            keep_on_screen(window)
        else:
            window.resize(*DEFAULT_SIZE)
        for name, splitter in splitters.items():
            state = s.value(f"window/{name}")
            if isinstance(state, QByteArray) and splitter is not None:
                splitter.restoreState(state)
        state = s.value("window/queueHeader")
        if isinstance(state, QByteArray):
            header.restoreState(state)
        # The search text is left out on purpose: an old search silently hiding the queue
        # looks like "no work".
        key = self.filter_key
        filters.restore(
            QueueQuery(
                workflow=s.value(f"{key}/workflow") or None,
                queue=s.value(f"{key}/queue") or None,
                sort=str(s.value(f"{key}/sort") or "due"),
                status=str(s.value(f"{key}/status") or default_view),
            )
        )
        return int(s.value("window/tab") or 0)

    def save(
        self,
        window: QMainWindow,
        splitters: dict[str, QSplitter | None],
        header: QHeaderView,
        filters: FilterBar,
        tabs: QTabWidget,
    ) -> None:
        s = self.settings
        s.setValue("window/geometry", window.saveGeometry())
        for name, splitter in splitters.items():
            if splitter is not None:
                s.setValue(f"window/{name}", splitter.saveState())
        s.setValue("window/queueHeader", header.saveState())
        s.setValue("window/tab", tabs.currentIndex())
        query, key = filters.query(), self.filter_key
        s.setValue(f"{key}/workflow", query.workflow or "")
        s.setValue(f"{key}/queue", query.queue or "")
        s.setValue(f"{key}/sort", query.sort)
        s.setValue(f"{key}/status", query.status)
        s.sync()


def keep_on_screen(window: QMainWindow) -> None:
    """A window saved on a monitor that is gone opens on the primary screen instead."""
    screen = window.screen()
    if screen is None:
        return
    if not any(s.availableGeometry().intersects(window.frameGeometry()) for s in screen.virtualSiblings()):
        window.move(screen.availableGeometry().topLeft())
