"""Sync status in the status bar: online / offline / syncing, decisions waiting, last sync."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QLabel, QWidget

from app.ui.formatting import ago
from app.ui.review_session import SyncState


def describe(state: SyncState) -> str:
    if state.syncing:
        mode = "syncing…"
    elif state.online:
        mode = "online"
    else:
        mode = "offline"
    parts = [mode, f"{state.waiting} waiting"]
    if state.rejected:
        parts.append(f"{state.rejected} refused by the store")
    parts.append(f"last sync {ago(state.last_sync)}")
    return " · ".join(parts)


class SyncStatus(QLabel):
    """Click it to see the last error in full."""

    clicked = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("syncStatus")
        self.setAccessibleName(self.tr("Sync status"))
        # Error text comes from drivers and servers: never let it render as rich text.
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.state: SyncState | None = None

    def show_state(self, state: SyncState) -> None:
        self.state = state
        text = describe(state)
        if state.last_error and not state.syncing:
            text += " · " + self.tr("error (click for details)")
        self.setText(text)
        colour = "" if state.online or state.syncing else "color: #c0392b;"
        self.setStyleSheet(colour)

    def mousePressEvent(self, event: object) -> None:
        self.clicked.emit()
