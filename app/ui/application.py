"""Starting the reviewer app: QApplication, logging, opening the store off the GUI thread."""

from __future__ import annotations

import logging
import sys
from logging.handlers import RotatingFileHandler
from pathlib import Path

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication, QMessageBox, QProgressDialog, QWidget

from app.core.audit import VerifyResult
from app.core.demo import prepare_demo
from app.core.settings import Settings
from app.core.workspace import Workspace, open_workspace
from app.paths import logs_dir
from app.ui.main_window import MainWindow
from app.ui.review_session import ReviewSession
from app.ui.tasks import TaskRunner

log = logging.getLogger(__name__)
ICON = Path(__file__).resolve().parents[2] / "resources" / "icons" / "signoff.svg"


def configure_logging(home: Path) -> None:
    handler = RotatingFileHandler(
        logs_dir(home) / "signoff.log", maxBytes=2_000_000, backupCount=5, encoding="utf-8"
    )
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)


def application() -> QApplication:
    app = QApplication.instance()
    if not isinstance(app, QApplication):
        app = QApplication(sys.argv[:1])
    app.setApplicationName("Signoff")
    app.setApplicationDisplayName("Signoff")
    app.setOrganizationName("Signoff")
    if ICON.exists():
        app.setWindowIcon(QIcon(str(ICON)))
    return app


class Launcher(QObject):
    """Opens the workspace on a worker, then shows the window; says clearly what went wrong."""

    def __init__(self, home: Path, store_url: str | None, *, demo: bool, runner: TaskRunner) -> None:
        super().__init__()
        self.home = home
        self.store_url = store_url
        self.demo = demo
        self.runner = runner
        self.window: MainWindow | None = None
        self.progress: QProgressDialog | None = None

    def start(self) -> None:
        if self.store_url is None:
            self._offer_demo()
            return
        self._open(self.store_url)

    def _busy(self, text: str) -> None:
        if self.progress is None:
            self.progress = QProgressDialog()
            self.progress.setWindowTitle("Signoff")
            self.progress.setRange(0, 0)
            self.progress.setCancelButton(None)
            self.progress.setMinimumDuration(300)
            self.progress.setWindowModality(Qt.WindowModality.ApplicationModal)
        self.progress.setLabelText(text)
        self.progress.show()

    def _idle(self) -> None:
        if self.progress is not None:
            self.progress.close()
            self.progress = None

    def _offer_demo(self) -> None:
        answer = QMessageBox.question(
            None,
            "Signoff",
            self.tr(
                "No shared store is set up yet.\n\nOpen the demo? It makes a throwaway store with a few "
                "hundred realistic tickets on this computer; nothing is sent anywhere.\n\n"
                "(To use a team store later: signoff --store URL)"
            ),
        )
        if answer != QMessageBox.StandardButton.Yes:
            QApplication.quit()
            return
        self.demo = True
        self._busy(self.tr("Preparing the demo store…"))
        self.runner.submit("sync", lambda: prepare_demo(self.home), self._open, self._failed)

    def _open(self, url: str) -> None:
        self.store_url = url
        self._busy(self.tr("Opening the store…"))

        def work() -> tuple[Workspace, VerifyResult]:
            workspace = open_workspace(self.home, url)
            return workspace, workspace.replica.verify_audit()

        self.runner.submit("sync", work, self._opened, self._failed)

    def _opened(self, result: tuple[Workspace, VerifyResult]) -> None:
        workspace, audit = result
        self._idle()
        session = ReviewSession(workspace, self.runner)
        note = "demo" if self.demo else ("offline" if workspace.store is None else "")
        self.window = MainWindow(session, self.home / "ui.ini", title_note=note)
        self.window.show()
        self.window.start()
        if not audit.ok:
            _plain_box(
                self.window,
                QMessageBox.Icon.Critical,
                self.tr("Audit log damaged"),
                self.tr(
                    "This installation's audit log failed verification. Decisions still work, but the "
                    "log may have been altered; tell your administrator.\n\n"
                )
                + audit.describe(),
            )

    def _failed(self, error: Exception) -> None:
        self._idle()
        box = QMessageBox(QMessageBox.Icon.Critical, "Signoff", "")
        box.setTextFormat(Qt.TextFormat.PlainText)
        box.setText(self.tr("Could not open the store.\n\n") + str(error))
        retry = box.addButton(self.tr("Try again"), QMessageBox.ButtonRole.AcceptRole)
        demo = box.addButton(self.tr("Open the demo"), QMessageBox.ButtonRole.ActionRole)
        box.addButton(self.tr("Quit"), QMessageBox.ButtonRole.RejectRole)
        box.exec()
        if box.clickedButton() is retry and self.store_url:
            self._open(self.store_url)
        elif box.clickedButton() is demo:
            self.demo = True
            self._busy(self.tr("Preparing the demo store…"))
            self.runner.submit("sync", lambda: prepare_demo(self.home), self._open, self._failed)
        else:
            QApplication.quit()


def _plain_box(parent: QWidget, icon: QMessageBox.Icon, title: str, text: str) -> None:
    box = QMessageBox(icon, title, "", parent=parent)
    box.setTextFormat(Qt.TextFormat.PlainText)
    box.setText(text)
    box.open()


def run_app(*, home: Path, store_url: str | None, demo: bool, reviewer: str | None = None) -> int:
    configure_logging(home)
    app = application()
    settings = Settings.load(home)
    if reviewer and reviewer != settings.reviewer:
        settings.reviewer = reviewer
        settings.save(home)
    runner = TaskRunner()
    launcher = Launcher(home, store_url or settings.last_store, demo=demo, runner=runner)
    launcher.start()
    code = app.exec()
    runner.shutdown()
    if launcher.window is not None:
        launcher.window.session.workspace.close()
    return code
