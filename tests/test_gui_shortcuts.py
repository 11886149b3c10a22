"""Remapping keys in Preferences: the new key works in the window at once and after a restart, a
key already taken is refused naming the other action, and the defaults come back on request."""

from __future__ import annotations

from pathlib import Path

import pytest
from gui_window import Opened, make_store
from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QTableWidget

from app.core.domain import Action
from app.core.settings import Settings
from app.ui.actions import ActionId
from app.ui.settings_dialog import SettingsDialog
from app.ui.shortcuts_dialog import ShortcutsDialog

pytestmark = pytest.mark.gui


@pytest.fixture
def store_url(tmp_path: Path, examples_path: Path) -> str:
    return make_store(tmp_path, examples_path)


def open_preferences(opened: Opened) -> SettingsDialog:
    dialog: SettingsDialog = opened.window.preferences.open()  # type: ignore[attr-defined]
    dialog.tabs.setCurrentWidget(dialog.shortcuts)
    return dialog


def test_remap_refuse_a_taken_key_and_use_the_new_one(qtbot, home: Path, store_url: str) -> None:
    first = Opened(qtbot, home, store_url)
    try:
        dialog = open_preferences(first)
        page = dialog.shortcuts
        approve = page.editors[ActionId.APPROVE]
        with qtbot.waitSignal(approve.editingFinished):
            qtbot.keyClick(approve, Qt.Key.Key_Y)
        assert page.keys[ActionId.APPROVE] == [QKeySequence("Y")]

        # Y is Approve's now: Reject may not have it too, and the message says whose it is.
        reject = page.editors[ActionId.REJECT]
        with qtbot.waitSignal(page.refused) as refused:
            qtbot.keyClick(reject, Qt.Key.Key_Y)
        assert "Approve" in refused.args[0]
        assert page.keys[ActionId.REJECT] == [QKeySequence("R")]
        assert reject.keySequence() == QKeySequence("R")
        assert page.refusal_box is not None and "Approve" in page.refusal_box.text()
        page.refusal_box.accept()
        dialog.accept()

        window = first.window
        window.activateWindow()
        qtbot.waitUntil(window.isActiveWindow)
        qtbot.keyClick(window.table, Qt.Key.Key_A)  # the old key does nothing now
        assert not window.decision_bar.is_picking
        qtbot.keyClick(window.table, Qt.Key.Key_Y)
        assert window.decision_bar.action == Action.APPROVE
        assert window.decision_bar.action_buttons[Action.APPROVE].text().endswith("Y")
        qtbot.keyClick(window.table, Qt.Key.Key_Escape)
        # The ? overlay lists the key in use.
        overlay = ShortcutsDialog(window, first.workspace.settings.shortcuts)
        table = overlay.findChild(QTableWidget, "shortcutTable")
        rows = [(table.item(r, 0).text(), table.item(r, 1).text()) for r in range(table.rowCount())]
        assert ("Y", "Approve the AI's proposal, then pick a reason") in rows
        overlay.deleteLater()
        assert Settings.load(home).shortcuts == {"approve": ["Y"]}
    finally:
        first.close()

    second = Opened(qtbot, home, store_url)  # survives a restart
    try:
        qtbot.keyClick(second.window.table, Qt.Key.Key_Y)
        assert second.window.decision_bar.action == Action.APPROVE
        qtbot.keyClick(second.window.table, Qt.Key.Key_Escape)

        dialog = open_preferences(second)
        dialog.shortcuts.restore_defaults()
        assert dialog.shortcuts.overrides() == {}
        dialog.accept()
        assert Settings.load(home).shortcuts == {}
        second.window.activateWindow()
        qtbot.waitUntil(second.window.isActiveWindow)
        qtbot.keyClick(second.window.table, Qt.Key.Key_A)
        assert second.window.decision_bar.action == Action.APPROVE
    finally:
        second.close()


def test_a_cleared_key_leaves_the_action_keyless(qtbot, home: Path, store_url: str) -> None:
    opened = Opened(qtbot, home, store_url)
    try:
        dialog = open_preferences(opened)
        dialog.shortcuts.editors[ActionId.NOTE].clear()  # what the field's clear button does
        qtbot.waitUntil(lambda: dialog.shortcuts.overrides() == {"note": []})
        dialog.accept()
        assert opened.window.actions_by_id[ActionId.NOTE].shortcuts() == []
        # Its old key is free again for another action.
        dialog = open_preferences(opened)
        assert dialog.shortcuts.set_key(ActionId.SYNC, QKeySequence("N"))
        dialog.reject()
    finally:
        opened.close()
