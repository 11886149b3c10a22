"""Starting the reviewer app: QApplication, logging, opening the store off the GUI thread."""

from __future__ import annotations

import logging
import sys
from logging.handlers import RotatingFileHandler
from pathlib import Path

from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication, QMessageBox, QProgressDialog, QWidget

from app.core import audit_store
from app.core.audit import VerifyResult
from app.core.credentials import (
    ResolvedUrl,
    SessionPasswords,
    password_of,
    password_refused,
    resolve_store_url,
)
from app.core.demo import prepare_demo
from app.core.governance import trail_for
from app.core.settings import Settings
from app.core.store import StoreError
from app.core.urls import url_without_password
from app.core.workspace import Workspace, open_workspace
from app.paths import logs_dir
from app.resources import resource_path
from app.ui.audit_browser import AuditBrowser
from app.ui.main_window import MainWindow
from app.ui.password_dialog import PasswordDialog
from app.ui.review_session import ReviewSession
from app.ui.tasks import TaskRunner

log = logging.getLogger(__name__)
ICON = resource_path("icons", "signoff.svg")  # None when no layout has it: no window icon then


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
    app.setOrganizationName("Signoff")
    if ICON is not None:
        app.setWindowIcon(QIcon(str(ICON)))
    return app


class Launcher(QObject):
    """Opens the workspace on a worker, then shows the window; says clearly what went wrong."""

    def __init__(
        self,
        home: Path,
        store_url: str | None,
        *,
        demo: bool,
        runner: TaskRunner,
        reviewer: str | None = None,
    ) -> None:
        super().__init__()
        self.reviewer = reviewer  # --reviewer: for this run only, never saved
        self.home = home
        self.store_url = store_url
        self.demo = demo
        self.runner = runner
        self.window: MainWindow | None = None
        self.progress: QProgressDialog | None = None
        self.passwords = SessionPasswords()  # session-only passwords when no keyring works
        self.password_dialog: PasswordDialog | None = None

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
            # The event loop has not started yet: a direct quit() would be lost.
            QTimer.singleShot(0, QApplication.quit)
            return
        self.demo = True
        self._busy(self.tr("Preparing the demo store…"))
        self.runner.submit("sync", lambda: prepare_demo(self.home), self._open, self._failed)

    def _open(self, url: str) -> None:
        self.store_url = url
        self._busy(self.tr("Opening the store…"))

        def work() -> tuple[Workspace, list[str], ResolvedUrl]:
            # On the sync lane: a hung keyring costs at most its timeout behind "Opening…".
            resolved = resolve_store_url(url, keyring_timeout_s=4.0, session=self.passwords)
            workspace = open_workspace(self.home, resolved.url, reviewer=self.reviewer, login=True)
            warnings = workspace.store.warnings() if workspace.store is not None else []
            return workspace, warnings, resolved

        self.runner.submit("sync", work, self._opened, self._failed)

    def _opened(self, result: tuple[Workspace, list[str], ResolvedUrl]) -> None:
        workspace, warnings, resolved = result
        self._idle()
        note = "demo" if self.demo else ("offline" if workspace.store is None else "")
        self.window = build_window(workspace, self.runner, self.home / "ui.ini", title_note=note)
        for warning in warnings:
            self.window.show_notice(warning)
        self.window.show()
        self.window.start()
        # The chain check reads the whole log (seconds at a million entries): after the window.
        self.runner.submit("read", lambda: _verify_chain(workspace), self._verified)
        if resolved.offer_to_save:
            # A password typed on the command line: offer the keyring, never the settings file.
            self.password_dialog = PasswordDialog(
                url_without_password(resolved.url),
                self.runner,
                self.passwords,
                given_password=password_of(resolved.url),
                parent=self.window,
            )
            self.password_dialog.open()

    def _verified(self, result: VerifyResult) -> None:
        if result.ok or self.window is None:
            return
        self.window.show_notice(self.tr("Audit log damaged: ") + result.describe())
        _plain_box(
            self.window,
            QMessageBox.Icon.Critical,
            self.tr("Audit log damaged"),
            self.tr(
                "This installation's audit log failed verification. Decisions still work, but the "
                "log may have been altered; tell your administrator.\n\n"
            )
            + result.describe(),
        )

    def _failed(self, error: Exception) -> None:
        if self.store_url and password_refused(error):
            self._idle()
            self.passwords.forget(self.store_url)
            bare = url_without_password(self.store_url)  # a refused --store password must not win again
            dialog = self.password_dialog = PasswordDialog(
                bare, self.runner, self.passwords, problem=str(error)
            )
            dialog.accepted.connect(lambda: self._open(bare))
            dialog.rejected.connect(lambda: self._show_failure(error))
            dialog.open()
            return
        self._show_failure(error)

    def _show_failure(self, error: Exception) -> None:
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


def build_window(
    workspace: Workspace, runner: TaskRunner, ui_settings: Path, *, title_note: str = ""
) -> MainWindow:
    """The reviewer window with all its tabs, wired to the workspace (also used by the
    screenshot script, so the pictures show what users get)."""
    session = ReviewSession(workspace, runner)
    window = MainWindow(session, ui_settings, title_note=title_note)

    def record(event: str, data: dict[str, object], ticket_id: int | None) -> None:
        workspace.replica.record_event(
            event, actor=workspace.reviewer, role=workspace.role, data=data, ticket_id=ticket_id
        )

    browser = AuditBrowser(runner, lambda: trail_for(workspace.store, workspace.replica), record)
    window.add_tab(browser, window.tr("Audit"))
    return window


def _verify_chain(workspace: Workspace) -> VerifyResult:
    """The local chain, and when online also against the store's checkpoint: the only check
    that catches a local log cut short after it was pushed."""
    local = workspace.replica.verify_audit()
    if not local.ok or workspace.store is None:
        return local
    try:
        return audit_store.verify_local_against_store(workspace.replica, workspace.store)
    except StoreError:
        return local  # offline after all: the local check stands


def _plain_box(parent: QWidget, icon: QMessageBox.Icon, title: str, text: str) -> None:
    box = QMessageBox(icon, title, "", parent=parent)
    box.setTextFormat(Qt.TextFormat.PlainText)
    box.setText(text)
    box.open()


def run_app(*, home: Path, store_url: str | None, demo: bool, reviewer: str | None = None) -> int:
    configure_logging(home)
    app = application()
    settings = Settings.load(home)
    runner = TaskRunner()
    launcher = Launcher(home, store_url or settings.last_store, demo=demo, runner=runner, reviewer=reviewer)
    launcher.start()
    code = app.exec()
    runner.shutdown()
    if launcher.window is not None:
        launcher.window.session.workspace.close()
    return code
