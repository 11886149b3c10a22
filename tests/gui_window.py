"""The reviewer window as the app builds it (build_window), on a SQLite store with the spec's
example tickets: for the settings, shortcut, crash and accessibility tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication

from app.cli import main as cli
from app.core.workspace import Workspace, open_workspace
from app.ui.main_window import MainWindow
from app.ui.settings_dialog import apply_appearance
from app.ui.tasks import TaskRunner
from app.ui.window_builder import build_window


def make_store(tmp_path: Path, examples_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    assert cli(["init-store", "--store", url]) == 0
    assert cli(["ingest", str(examples_path), "--store", url]) == 0
    return url


class Opened:
    """One run of the app: workspace, runner and window; `close()` ends the run."""

    def __init__(self, qtbot: pytest.FixtureRequest, home: Path, url: str) -> None:
        self.qtbot = qtbot
        self.workspace: Workspace = open_workspace(home, url)
        # As run_app does at start-up: the saved theme and font size.
        app = QApplication.instance()
        assert isinstance(app, QApplication)
        apply_appearance(app, self.workspace.settings.theme, self.workspace.settings.font_size)
        self.runner = TaskRunner()
        self.window: MainWindow = build_window(self.workspace, self.runner, home / "ui.ini")
        qtbot.addWidget(self.window)  # type: ignore[attr-defined]
        self.window.show()
        qtbot.waitExposed(self.window)  # type: ignore[attr-defined]
        self.window.activateWindow()
        self.window.start()
        qtbot.waitUntil(lambda: self.window._current is not None)  # type: ignore[attr-defined]

    def close(self) -> None:
        self.window.close()
        self.runner.shutdown()
        self.workspace.close()


def reset_appearance() -> None:
    app = QApplication.instance()
    if isinstance(app, QApplication):
        apply_appearance(app, "system", 0)
