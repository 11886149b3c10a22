"""Opening the store off the GUI thread, then showing the window; asking for what is missing (a store:
the welcome dialog; a password) and saying clearly what went wrong."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

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
from app.core.urls import url_without_password
from app.core.workspace import Workspace, open_workspace
from app.ui.main_window import MainWindow
from app.ui.message_boxes import plain_box
from app.ui.settings_dialog import Preferences
from app.ui.tasks import TaskRunner
from app.ui.window_builder import build_window, verify_chain

if TYPE_CHECKING:  # imported when first needed: a start with a known store never shows them
    from app.ui.password_dialog import PasswordDialog
    from app.ui.welcome import ConnectionDialog


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
        self._busy_text = ""
        self._busy_timer = QTimer(self)
        self._busy_timer.setSingleShot(True)
        self._busy_timer.setInterval(300)
        self._busy_timer.timeout.connect(self._show_progress)
        self.passwords = SessionPasswords()  # session-only passwords when no keyring works
        self.password_dialog: PasswordDialog | None = None
        self.welcome: ConnectionDialog | None = None

    def start(self) -> None:
        if self.store_url is None:
            self.show_welcome()
            return
        self._open(self.store_url)

    def show_welcome(self, current_url: str | None = None) -> None:
        """No store yet (or the chosen one failed): the demo, a SQLite file or a Postgres server.
        A Postgres `current_url` opens the form filled in, to correct it."""
        from app.ui.welcome import ConnectionDialog

        self._idle()
        dialog = self.welcome = ConnectionDialog(
            self.runner,
            self.home,
            session=self.passwords,
            current_url=current_url,
            allow_superuser=self.allow_superuser,
        )
        dialog.store_chosen.connect(self._chosen)
        # Queued: the event loop may not run yet, and a direct quit() would then be lost.
        dialog.rejected.connect(lambda: QTimer.singleShot(0, QApplication.quit))
        dialog.show()

    def _chosen(self, url: str, demo: bool) -> None:
        self.demo = demo
        self._open(url)

    def _busy(self, text: str) -> None:
        """Say what is being waited for, if it takes more than 300 ms: an open that is quicker
        (the usual case) never builds the dialog, which costs start-up time of its own."""
        self._busy_text = text
        if self.progress is not None:
            self.progress.setLabelText(text)
        elif not self._busy_timer.isActive():
            self._busy_timer.start()

    def _show_progress(self) -> None:
        self.progress = QProgressDialog()
        self.progress.setWindowTitle("Signoff")
        self.progress.setRange(0, 0)
        self.progress.setCancelButton(None)
        self.progress.setMinimumDuration(0)
        self.progress.setWindowModality(Qt.WindowModality.ApplicationModal)
        self.progress.setLabelText(self._busy_text)
        self.progress.show()

    def _idle(self) -> None:
        self._busy_timer.stop()
        if self.progress is not None:
            self.progress.close()
            self.progress = None

    def _open(self, url: str) -> None:
        self.store_url = url
        # The dialog that chose the store closes now and the progress dialog waits 300 ms: for
        # that moment no window is open, which must not end the app (_opened turns it back on;
        # every failure ends in a dialog that quits explicitly).
        _quit_with_last_window(False)
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
        _quit_with_last_window(True)
        note = "demo" if self.demo else ("offline" if workspace.store is None else "")
        if workspace.development:
            from app.core.roles import DEVELOPMENT_TITLE  # roles: Postgres logins only

            note = DEVELOPMENT_TITLE
        self.window = build_window(workspace, self.runner, self.home / "ui.ini", title_note=note)
        for warning in warnings:
            self.window.show_notice(warning)
        preferences = self.window.findChild(Preferences)
        if preferences is not None:
            preferences.store_change_requested.connect(self.switch_store)
        # The chain check reads the whole log (seconds at a million entries): after the first
        # ticket is on screen, on the background lane (never in front of a page or a ticket).
        self.window.session.after_first_ticket(
            lambda: self.runner.submit("background", lambda: verify_chain(workspace), self._verified)
        )
        self.window.show()
        self.window.start()
        if resolved.offer_to_save:
            from app.ui.password_dialog import PasswordDialog

            # A password typed on the command line: offer the keyring, never the settings file.
            self.password_dialog = PasswordDialog(
                url_without_password(resolved.url),
                self.runner,
                self.passwords,
                given_password=password_of(resolved.url),
                parent=self.window,
            )
            self.password_dialog.open()

    def switch_store(self, url: str, demo: bool) -> None:
        """Preferences ▸ Change store…: close this store's window (drafts, layout and any
        decision being written are kept first) and open the chosen store in its place."""
        old = self.window
        if old is None:
            return
        _quit_with_last_window(False)  # the window goes before the next one is built
        self.window = None
        old.close()
        old.session.workspace.close()
        old.deleteLater()
        self.demo = demo
        self._open(url)

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
            from app.ui.password_dialog import PasswordDialog

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
        other = box.addButton(self.tr("Choose another store…"), QMessageBox.ButtonRole.ActionRole)
        box.addButton(self.tr("Quit"), QMessageBox.ButtonRole.RejectRole)
        box.exec()
        if box.clickedButton() is retry and self.store_url:
            self._open(self.store_url)
        elif box.clickedButton() is other:
            # the demo is one of its choices; a failed Postgres store comes back filled in
            self.show_welcome(url_without_password(self.store_url) if self.store_url else None)
        else:
            QApplication.quit()


def _quit_with_last_window(quit: bool) -> None:
    app = QApplication.instance()
    if isinstance(app, QApplication):
        app.setQuitOnLastWindowClosed(quit)
