"""The system-tray icon: counts of waiting and past-due tickets in its tooltip and menu, a way
back to the window, and the desktop notifications the Notifier sends.

Counts and fixed wording only: some desktops render tray text as markup, and ticket text is
untrusted.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QAction, QColor, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import QApplication, QMenu, QSystemTrayIcon

MESSAGE_MS = 10_000


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def fallback_icon() -> QIcon:
    pixmap = QPixmap(32, 32)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setBrush(QColor("#2e86c1"))
    painter.setPen(Qt.PenStyle.NoPen)
    painter.drawEllipse(2, 2, 28, 28)
    painter.end()
    return QIcon(pixmap)


class TrayIcon(QObject):
    show_window = Signal()
    quit_requested = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        icon = QApplication.windowIcon()
        self.icon = QSystemTrayIcon(icon if not icon.isNull() else fallback_icon(), self)
        self.menu = QMenu()  # a QMenu needs a widget parent; the tray icon has none, so we keep it
        self.waiting_action = QAction(self.menu)
        self.breached_action = QAction(self.menu)
        for action in (self.waiting_action, self.breached_action):
            action.setEnabled(False)  # information, not commands
            self.menu.addAction(action)
        self.menu.addSeparator()
        self.menu.addAction(self.tr("Show Signoff"), self.show_window.emit)
        self.menu.addAction(self.tr("Quit"), self.quit_requested.emit)
        self.icon.setContextMenu(self.menu)
        self.icon.activated.connect(self._activated)
        self.set_counts(0, 0)

    @staticmethod
    def available() -> bool:
        return QSystemTrayIcon.isSystemTrayAvailable()

    def show(self) -> None:
        self.icon.show()

    def hide(self) -> None:
        self.icon.hide()

    def set_counts(self, waiting: int, breached: int) -> None:
        self.waiting_action.setText(self.tr("{0} waiting").format(plural(waiting, "ticket")))
        self.breached_action.setText(self.tr("{0} past due").format(breached))
        self.icon.setToolTip(
            self.tr("Signoff — {0} waiting, {1} past due").format(plural(waiting, "ticket"), breached)
        )

    def tooltip(self) -> str:
        return self.icon.toolTip()

    def menu_texts(self) -> list[str]:
        return [a.text() for a in self.menu.actions() if not a.isSeparator()]

    def message(self, title: str, text: str) -> None:
        self.icon.showMessage(title, text, QSystemTrayIcon.MessageIcon.Warning, MESSAGE_MS)

    def _activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason in (QSystemTrayIcon.ActivationReason.Trigger, QSystemTrayIcon.ActivationReason.DoubleClick):
            self.show_window.emit()
