"""Starting the reviewer app: QApplication, logging, the launcher and the event loop."""

from __future__ import annotations

import logging
import sys
from logging.handlers import RotatingFileHandler
from pathlib import Path

from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from app.core.settings import Settings
from app.paths import logs_dir
from app.resources import resource_path
from app.ui.crash_dialog import CrashHandler, LogTail
from app.ui.launcher import Launcher
from app.ui.settings_dialog import apply_appearance
from app.ui.tasks import TaskRunner

log = logging.getLogger(__name__)
ICON = resource_path("icons", "signoff.svg")  # None when no layout has it: no window icon then


def configure_logging(home: Path) -> LogTail:
    """signoff.log in <home>/logs (the platform's user data folder unless --home says otherwise),
    rotated at 2 MB, five kept; plus the in-memory tail that crash reports quote."""
    handler = RotatingFileHandler(
        logs_dir(home) / "signoff.log", maxBytes=2_000_000, backupCount=5, encoding="utf-8"
    )
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    tail = LogTail()
    root.addHandler(tail)
    return tail


def application() -> QApplication:
    app = QApplication.instance()
    if not isinstance(app, QApplication):
        app = QApplication(sys.argv[:1])
    app.setApplicationName("Signoff")
    app.setOrganizationName("Signoff")
    if ICON is not None:
        app.setWindowIcon(QIcon(str(ICON)))
    return app


def run_app(
    *,
    home: Path,
    store_url: str | None,
    demo: bool,
    reviewer: str | None = None,
    allow_superuser: bool = False,
) -> int:
    tail = configure_logging(home)
    app = application()
    crash = CrashHandler(home, tail).install()
    settings = Settings.load(home)
    apply_appearance(app, settings.theme, settings.font_size)
    runner = TaskRunner()
    launcher = Launcher(
        home,
        store_url or settings.last_store,
        demo=demo,
        runner=runner,
        reviewer=reviewer,
        allow_superuser=allow_superuser,
    )
    launcher.start()
    code = app.exec()
    runner.shutdown()
    if launcher.window is not None:
        launcher.window.session.workspace.close()
    crash.uninstall()
    return code
