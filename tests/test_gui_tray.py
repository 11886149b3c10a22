"""The tray icon shows how many tickets wait and how many are past due; desktop messages follow
the notifications setting (the window's status line always hears them)."""

from __future__ import annotations

from pathlib import Path

import pytest
from gui_window import Opened, make_store

from app.ui.tray import TrayIcon

pytestmark = pytest.mark.gui


@pytest.fixture
def store_url(tmp_path: Path, examples_path: Path) -> str:
    return make_store(tmp_path, examples_path)


def test_tray_text_has_the_counts(qtbot) -> None:
    tray = TrayIcon()
    tray.set_counts(1, 0)
    assert tray.tooltip() == "Signoff — 1 ticket waiting, 0 past due"
    tray.set_counts(12, 3)
    assert tray.tooltip() == "Signoff — 12 tickets waiting, 3 past due"
    assert tray.menu_texts()[:2] == ["12 tickets waiting", "3 past due"]
    assert "Show Signoff" in tray.menu_texts() and "Quit" in tray.menu_texts()
    with qtbot.waitSignal(tray.show_window):
        tray.menu.actions()[-2].trigger()


def test_the_window_feeds_the_tray_and_respects_the_setting(qtbot, home: Path, store_url: str) -> None:
    opened = Opened(qtbot, home, store_url)
    try:
        notifier = opened.window.notifier  # type: ignore[attr-defined]
        tray = TrayIcon()  # offscreen has no system tray: attach one as a desktop would have
        shown: list[tuple[str, str]] = []
        tray.message = lambda title, text: shown.append((title, text))  # type: ignore[method-assign]
        notifier.attach_tray(tray)
        with qtbot.waitSignal(notifier.counts_changed):
            notifier.poll()
        # Waiting = open tickets in the replica; the spec's examples are due in the past.
        assert tray.tooltip() == (
            f"Signoff — {notifier.waiting} tickets waiting, {notifier.breached} past due"
        )
        assert notifier.waiting == opened.window.model.rowCount() > 0
        notifier.notify("SLA breached", "2 tickets passed the due time")
        assert shown == [("SLA breached", "2 tickets passed the due time")]
        notifier.set_enabled(False)
        with qtbot.waitSignal(notifier.notified):  # the status bar still says it
            notifier.notify("SLA breached", "1 ticket passed the due time")
        assert len(shown) == 1
        assert "1 ticket passed the due time" in opened.window.statusBar().currentMessage()
    finally:
        opened.close()
