"""Plain-text banners of the review page: a standing notice, and who else is reviewing."""

from __future__ import annotations

from datetime import datetime

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QWidget


class _Banner(QLabel):
    def __init__(self, name: str, style: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName(name)
        # Banner text carries names and errors from the store: never rich text.
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setWordWrap(True)
        self.setStyleSheet(style)
        self.hide()


class NoticeBar(_Banner):
    """Standing warnings above the queue (a store on a network share …); they add up."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("noticeBar", "padding: 6px 10px; background: rgba(192, 57, 43, 0.16);", parent)

    def add(self, text: str) -> None:
        current = self.text()
        self.setText(f"{current}\n{text}" if current else text)
        self.show()


class ClaimBanner(_Banner):
    """ "In review by X" over the ticket another reviewer holds."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(
            "claimBanner", "padding: 6px; border-radius: 4px; background: rgba(214, 137, 16, 0.18);", parent
        )

    def show_claim(self, holder: str | None, until: datetime | None = None) -> None:
        if not holder:
            self.hide()
            return
        text = self.tr("In review by {0}").format(holder)
        if until is not None:
            text += self.tr(" until {0:%H:%M} UTC").format(until)
        text += self.tr(" — if you decide too, both decisions are kept and the ticket goes to escalation.")
        self.setText(text)
        self.show()
