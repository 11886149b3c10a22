"""Start-up work kept off the first ticket's path: tabs built on first show, slow background
reads after the first ticket (issue 7, P2)."""

from __future__ import annotations

from pathlib import Path

import pytest
from gui_window import Opened, make_store

from app.ui.actions import ActionId
from app.ui.dashboard import Dashboard


@pytest.fixture
def store_url(tmp_path: Path, examples_path: Path) -> str:
    return make_store(tmp_path, examples_path)


def _tab(opened: Opened, title: str) -> int:
    tabs = opened.window.tabs
    return next(i for i in range(tabs.count()) if tabs.tabText(i).replace("&", "") == title)


def test_the_dashboard_is_built_when_its_tab_is_first_shown(qtbot, tmp_path: Path, store_url: str) -> None:
    opened = Opened(qtbot, tmp_path / "home", store_url)
    try:
        window = opened.window
        index = _tab(opened, "Dashboard")
        assert not isinstance(window.tabs.widget(index), Dashboard)
        window.tabs.setCurrentIndex(index)
        page = window.tabs.widget(index)
        assert isinstance(page, Dashboard)
        assert window.tabs.currentIndex() == index and window.tabs.tabText(index) == "Dashboard"
        # The tab change itself was seen once, as for any tab: no deciding from here.
        assert not window.actions_by_id[ActionId.APPROVE].isEnabled()
        window.tabs.setCurrentIndex(0)
        assert window.actions_by_id[ActionId.APPROVE].isEnabled()
        window.tabs.setCurrentIndex(index)
        assert window.tabs.widget(index) is page  # built once
    finally:
        opened.close()


def test_the_notifier_counts_once_the_first_ticket_is_shown(qtbot, tmp_path: Path, store_url: str) -> None:
    opened = Opened(qtbot, tmp_path / "home", store_url)  # returns once a ticket is on screen
    try:
        notifier = opened.window.notifier  # type: ignore[attr-defined]
        qtbot.waitUntil(lambda: notifier.waiting > 0)
        assert notifier.waiting == opened.window.model.rowCount()
    finally:
        opened.close()
