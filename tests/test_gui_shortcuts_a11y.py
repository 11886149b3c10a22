"""Accessibility of the built window: every interactive control a screen reader reaches has a
name, and every menu command can be reached from the keyboard."""

from __future__ import annotations

from pathlib import Path

import pytest
from gui_window import Opened, make_store
from PySide6.QtGui import QAccessible
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QAbstractSlider,
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QHeaderView,
    QKeySequenceEdit,
    QLineEdit,
    QPlainTextEdit,
    QScrollBar,
    QTabBar,
    QTextEdit,
    QWidget,
)

from app.core.domain import Action
from app.ui.actions import REASON_ACTIONS

pytestmark = pytest.mark.gui

INTERACTIVE = (
    QAbstractButton,
    QLineEdit,
    QComboBox,
    QAbstractSpinBox,
    QAbstractItemView,
    QPlainTextEdit,
    QTextEdit,
    QAbstractSlider,
    QKeySequenceEdit,
    QTabBar,
)


@pytest.fixture
def store_url(tmp_path: Path, examples_path: Path) -> str:
    return make_store(tmp_path, examples_path)


def qt_internal(widget: QWidget) -> bool:
    """Parts Qt builds and names itself (scroll bars, headers, combo pop-ups, clear buttons)."""
    if isinstance(widget, (QScrollBar, QHeaderView)) or widget.objectName().startswith("qt_"):
        return True
    parent = widget.parent()
    if isinstance(parent, (QAbstractSpinBox, QLineEdit, QTabBar)):
        return True
    while parent is not None:
        if isinstance(parent, QComboBox):
            return True
        parent = parent.parent()
    return False


def unnamed(root: QWidget) -> list[str]:
    missing = []
    for widget in root.findChildren(QWidget):
        if not isinstance(widget, INTERACTIVE) or qt_internal(widget) or not widget.isVisible():
            continue
        face = QAccessible.queryAccessibleInterface(widget)
        if face is None or not face.text(QAccessible.Text.Name).strip():
            missing.append(
                f"{type(widget).__name__}#{widget.objectName()} in {type(widget.parent()).__name__}"
            )
    return missing


def test_every_control_of_the_review_tab_has_an_accessible_name(qtbot, home: Path, store_url: str) -> None:
    opened = Opened(qtbot, home, store_url)
    try:
        window = opened.window
        window.tabs.setCurrentIndex(0)
        window.begin_decision(Action.APPROVE)  # the reason buttons too
        QApplication.processEvents()
        assert window.decision_bar.reason_buttons
        assert unnamed(window) == []
        window.decision_bar.cancel()
    finally:
        opened.close()


def test_every_tab_has_named_controls(qtbot, home: Path, store_url: str) -> None:
    opened = Opened(qtbot, home, store_url)
    try:
        window = opened.window
        missing = []
        for index in range(window.tabs.count()):
            window.tabs.setCurrentIndex(index)
            QApplication.processEvents()
            missing += unnamed(window)
        assert missing == []
    finally:
        opened.close()


def test_every_menu_command_has_a_key(qtbot, home: Path, store_url: str) -> None:
    opened = Opened(qtbot, home, store_url)
    try:
        keyless = [
            action.text()
            for action_id, action in opened.window.actions_by_id.items()
            if action_id not in REASON_ACTIONS and not action.shortcuts()
        ]
        assert keyless == []
        menus = [a.text() for a in opened.window.menuBar().actions()]
        assert all("&" in text for text in menus)  # Alt+letter opens each menu
    finally:
        opened.close()
