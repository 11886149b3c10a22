"""Preferences: what the dialog saves is applied to the running window at once and again after a
restart; the window comes back where it was, or on a screen when its monitor is gone."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from gui_window import Opened, make_store, reset_appearance
from PySide6.QtCore import QByteArray, QRect, QSettings
from PySide6.QtGui import QGuiApplication, QKeySequence
from PySide6.QtWidgets import QApplication, QMainWindow

from app.core.settings import Settings
from app.ui.settings_dialog import SettingsDialog
from app.ui.settings_dialog.appearance import is_dark

pytestmark = pytest.mark.gui


@pytest.fixture
def store_url(tmp_path: Path, examples_path: Path) -> str:
    return make_store(tmp_path, examples_path)


@pytest.fixture(autouse=True)
def _plain_look_after() -> Iterator[None]:
    yield
    reset_appearance()  # a dark palette must not leak into the next test


def test_preferences_are_applied_live_saved_and_back_after_a_restart(
    qtbot, home: Path, store_url: str
) -> None:
    first = Opened(qtbot, home, store_url)
    try:
        window = first.window
        assert not is_dark(QApplication.palette())
        first.window.actions_by_id["preferences"].trigger()  # what Ctrl+, does
        dialog: SettingsDialog = window.preferences.dialog  # type: ignore[attr-defined]
        qtbot.waitExposed(dialog)
        assert dialog.reviewer.isEnabled()  # a SQLite store: the name is a setting
        assert "shared.db" in dialog.store_label.text()
        dialog.reviewer.setText("Ada Lovelace")
        dialog.theme.setCurrentIndex(dialog.theme.findData("dark"))
        dialog.font_size.setValue(15)
        dialog.sync_interval.setValue(120)
        dialog.notifications.setChecked(False)
        dialog.accept()

        # Live: no restart needed.
        assert is_dark(QApplication.palette())
        assert QApplication.font().pointSize() == 15
        qtbot.waitUntil(lambda: window.decision_bar.note.font().pointSize() == 15)
        assert window.session.sync_timer.interval() == 120_000
        assert window.notifier.enabled is False  # type: ignore[attr-defined]
        assert "Ada Lovelace" in window.windowTitle()
        assert first.workspace.reviewer == "Ada Lovelace"
        saved = Settings.load(home)
        assert (saved.reviewer, saved.theme, saved.font_size, saved.sync_interval_s, saved.notifications) == (
            "Ada Lovelace",
            "dark",
            15,
            120,
            False,
        )
        assert saved.known_stores  # what the dialog does not edit is left alone
    finally:
        first.close()
    reset_appearance()
    assert not is_dark(QApplication.palette())

    second = Opened(qtbot, home, store_url)  # the start-up path applies the saved look
    try:
        assert is_dark(QApplication.palette())
        assert QApplication.font().pointSize() == 15
        assert second.window.session.sync_timer.interval() == 120_000
        assert second.window.notifier.enabled is False  # type: ignore[attr-defined]
        assert second.workspace.reviewer == "Ada Lovelace"
    finally:
        second.close()


def test_system_theme_and_font_go_back_to_the_platform(qtbot, home: Path, store_url: str) -> None:
    opened = Opened(qtbot, home, store_url)
    try:
        system_size = QApplication.font().pointSize()
        prefs = opened.window.preferences  # type: ignore[attr-defined]
        chosen = Settings.load(home)
        chosen.theme, chosen.font_size = "dark", system_size + 4
        prefs.apply(chosen)
        assert is_dark(QApplication.palette())
        chosen.theme, chosen.font_size = "system", 0
        prefs.apply(chosen)
        assert not is_dark(QApplication.palette())
        assert QApplication.font().pointSize() == system_size
    finally:
        opened.close()


def test_cancel_changes_nothing(qtbot, home: Path, store_url: str) -> None:
    opened = Opened(qtbot, home, store_url)
    try:
        before = Settings.load(home)
        dialog = opened.window.preferences.open()  # type: ignore[attr-defined]
        dialog.reviewer.setText("someone else")
        dialog.theme.setCurrentIndex(dialog.theme.findData("dark"))
        dialog.reject()
        assert Settings.load(home) == before
        assert not is_dark(QApplication.palette())
        assert "someone else" not in opened.window.windowTitle()
    finally:
        opened.close()


def test_a_damaged_value_in_the_file_falls_back(home: Path) -> None:
    (home / "settings.json").write_text(
        '{"theme": "purple", "font_size": 400, "sync_interval_s": 1, "shortcuts": "x"}', encoding="utf-8"
    )
    loaded = Settings.load(home)
    assert (loaded.theme, loaded.font_size, loaded.sync_interval_s, loaded.shortcuts) == ("system", 32, 5, {})


def test_layout_tab_and_filters_restore(qtbot, home: Path, store_url: str) -> None:
    first = Opened(qtbot, home, store_url)
    try:
        first.window.resize(760, 540)  # fits the offscreen screen: restored as it is
        first.window.splitter.setSizes([300, 440])
        sizes = first.window.splitter.sizes()
        first.window.tabs.setCurrentIndex(1)
        first.window.filters.sort.setCurrentIndex(first.window.filters.sort.findData("confidence"))
    finally:
        first.close()
    second = Opened(qtbot, home, store_url)
    try:
        assert second.window.splitter.sizes() == sizes
        assert second.window.tabs.currentIndex() == 1
        assert second.window.filters.query().sort == "confidence"
    finally:
        second.close()


def test_a_window_saved_on_a_missing_monitor_opens_on_screen(qtbot, home: Path, store_url: str) -> None:
    # A geometry saved while a second monitor stood far to the right.
    probe = QMainWindow()
    probe.setGeometry(QRect(9000, 7000, 900, 700))
    saved = probe.saveGeometry()
    probe.deleteLater()
    settings = QSettings(str(home / "ui.ini"), QSettings.Format.IniFormat)
    settings.setValue("window/geometry", QByteArray(saved))
    settings.sync()
    screens = QGuiApplication.screens()
    assert not any(s.availableGeometry().intersects(QRect(9000, 7000, 900, 700)) for s in screens)

    opened = Opened(qtbot, home, store_url)
    try:
        frame = opened.window.frameGeometry()
        assert any(s.availableGeometry().intersects(frame) for s in screens), frame
    finally:
        opened.close()


def test_standard_platform_keys_are_bound(qtbot, home: Path, store_url: str) -> None:
    opened = Opened(qtbot, home, store_url)
    try:
        actions = opened.window.actions_by_id
        for action_id, standard in (
            ("quit", QKeySequence.StandardKey.Quit),
            ("find", QKeySequence.StandardKey.Find),
            ("preferences", QKeySequence.StandardKey.Preferences),
        ):
            bound = actions[action_id].shortcuts()  # type: ignore[index]
            assert bound, action_id
            assert all(k in bound for k in QKeySequence.keyBindings(standard) if not k.isEmpty())
        assert QKeySequence("Ctrl+,") in actions["preferences"].shortcuts()  # type: ignore[index]
        # Find puts the cursor in the queue search.
        actions["find"].trigger()  # type: ignore[index]
        qtbot.waitUntil(opened.window.filters.search.hasFocus)
    finally:
        opened.close()


def test_a_new_role_is_saved_for_the_next_start_and_changes_nothing_now(
    qtbot, home: Path, store_url: str
) -> None:
    opened = Opened(qtbot, home, store_url)
    try:
        window = opened.window
        tabs_before = [window.tabs.tabText(i) for i in range(window.tabs.count())]
        window.actions_by_id["preferences"].trigger()
        dialog: SettingsDialog = window.preferences.dialog  # type: ignore[attr-defined]
        qtbot.waitExposed(dialog)
        dialog.role.setCurrentIndex(dialog.role.findData("admin"))
        dialog.accept()
        assert Settings.load(home).role == "admin"  # kept for the next start
        assert str(opened.workspace.role) == "reviewer"  # this run's decisions, masks and tabs
        assert [window.tabs.tabText(i) for i in range(window.tabs.count())] == tabs_before
    finally:
        opened.close()


def test_a_new_font_size_reaches_the_ticket_panes_headings_and_cards(
    qtbot, home: Path, store_url: str
) -> None:
    from PySide6.QtWidgets import QLabel

    from app.ui.settings_dialog import apply_appearance

    opened = Opened(qtbot, home, store_url)
    try:
        app = QApplication.instance()
        assert isinstance(app, QApplication)
        labels = [label for label in opened.window.detail.findChildren(QLabel) if label.text()]
        assert labels

        def sizes() -> list[float]:
            return [label.font().pointSizeF() for label in labels]

        # Eyebrows are 0.8 of the text size, titles at most 1.3: none stays at the old size
        # (Qt hands inherited fonts down through posted events: wait for them).
        apply_appearance(app, "system", 18)
        qtbot.waitUntil(lambda: min(sizes()) >= 18 * 0.8 - 0.01)
        apply_appearance(app, "system", 7)
        qtbot.waitUntil(lambda: max(sizes()) <= 7 * 1.3 + 0.01)
    finally:
        opened.close()
