"""Opening the store off the GUI thread, then showing the window; asking for what is missing (a store,
a password) and saying clearly what went wrong."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtWidgets import QApplication, QMessageBox, QProgressDialog

from app.core.audit import VerifyResult
from app.core.credentials import (
    ResolvedUrl,
    SessionPasswords,
    password_of,
    password_refused,
    resolve_store_url,
)
from app.core.demo import prepare_demo
from app.core.roles import DEVELOPMENT_TITLE
from app.core.urls import url_without_password
from app.core.workspace import Workspace, open_workspace
from app.ui.main_window import MainWindow
from app.ui.message_boxes import plain_box
from app.ui.password_dialog import PasswordDialog
from app.ui.tasks import TaskRunner
from app.ui.window_builder import build_window, verify_chain


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
        allow_superuser: bool = False,
    ) -> None:
        super().__init__()
        self.allow_superuser = allow_superuser  # development only: the title bar says so
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
            workspace = open_workspace(
                self.home,
                resolved.url,
                reviewer=self.reviewer,
                login=True,
                allow_superuser=self.allow_superuser,
            )
            warnings = workspace.store.warnings() if workspace.store is not None else []
            return workspace, warnings, resolved

        self.runner.submit("sync", work, self._opened, self._failed)

    def _opened(self, result: tuple[Workspace, list[str], ResolvedUrl]) -> None:
        workspace, warnings, resolved = result
        self._idle()
        note = "demo" if self.demo else ("offline" if workspace.store is None else "")
        if workspace.development:
            note = DEVELOPMENT_TITLE
        self.window = build_window(workspace, self.runner, self.home / "ui.ini", title_note=note)
        for warning in warnings:
            self.window.show_notice(warning)
        self.window.show()
        self.window.start()
        # The chain check reads the whole log (seconds at a million entries): after the window.
        self.runner.submit("read", lambda: verify_chain(workspace), self._verified)
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
        plain_box(
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
