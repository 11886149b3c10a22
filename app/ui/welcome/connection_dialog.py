"""Choosing a store: the welcome screen on first run, and "Connect to store…" later.

Three paths: the demo, a shared SQLite file (a new file becomes a store, as `signoff init-store`
would make it), or a PostgreSQL server. Everything that touches a database or the keyring runs on
the TaskRunner's "sync" lane; the dialog shows a busy state meanwhile and ignores answers to a
request it has moved on from. The URL it hands out never holds the password: that is in the
session (and, when asked, the system keyring) for the Launcher's `resolve_store_url` to find.
"""

from __future__ import annotations

from pathlib import Path

import shiboken6
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QCommandLinkButton,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QStackedWidget,
    QStyle,
    QVBoxLayout,
    QWidget,
)

from app.core.connection import (
    ConnectionReport,
    PostgresTarget,
    can_create_sqlite_store,
    create_sqlite_store,
    sqlite_url,
    test_connection,
)
from app.core.credentials import (
    DEFAULT_TIMEOUT_S,
    KeyringStatus,
    SessionPasswords,
    password_refused,
    probe_keyring,
    resolve_store_url,
    save_password,
    url_with_password,
)
from app.core.demo import prepare_demo
from app.ui.tasks import TaskRunner
from app.ui.welcome.postgres_form import PostgresForm, plain_label

# The keyring's own timeout plus a margin for a lane busy with other work (see password_dialog).
KEYRING_DEADLINE_MARGIN_S = 0.7


def check_postgres(
    url: str, password: str, session: SessionPasswords, keyring_timeout_s: float
) -> ConnectionReport:
    """The test connection, on a worker: the typed password, else whatever the session or keyring
    holds (none at all is fine for trust, peer or ~/.pgpass)."""
    if password:
        engine_url = url_with_password(url, password)
    else:
        engine_url = resolve_store_url(url, keyring_timeout_s=keyring_timeout_s, session=session).url
    return test_connection(engine_url)


class ConnectionDialog(QDialog):
    """Emits `store_chosen(url, is_demo)` once a store is ready to open, then accepts. The URL has no
    password; typed passwords are in `session` (and in the keyring when "remember" was ticked)."""

    store_chosen = Signal(str, bool)
    checked = Signal(object)  # ConnectionReport: a test connection (or store check) succeeded
    check_failed = Signal(str)  # the store's error, as shown
    keyring_checked = Signal(object)  # KeyringStatus
    saving_finished = Signal(bool)  # True when the password went into the keyring

    CHOICES, POSTGRES = 0, 1

    def __init__(
        self,
        runner: TaskRunner,
        home: Path,
        *,
        session: SessionPasswords | None = None,
        current_url: str | None = None,
        welcome: bool = True,
        allow_superuser: bool = False,
        keyring_timeout_s: float = DEFAULT_TIMEOUT_S,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._runner = runner
        self._home = home
        self.session = session if session is not None else SessionPasswords()
        self._allow_superuser = allow_superuser
        self._keyring_timeout_s = keyring_timeout_s
        self._generation = 0  # answers to an abandoned request are ignored
        self._keyring: KeyringStatus | None = None
        self._probing = False
        self._busy = False
        self.file_dialog: QFileDialog | None = None
        self.confirm_box: QMessageBox | None = None

        self.setWindowTitle(self.tr("Welcome to Signoff") if welcome else self.tr("Connect to a store"))
        self.setAccessibleName(self.windowTitle())
        self.setMinimumWidth(560)

        self.stack = QStackedWidget(self)
        self.stack.addWidget(self._choices_page(welcome))
        self.stack.addWidget(self._postgres_page())

        self.progress = QProgressBar(self)
        self.progress.setRange(0, 0)  # indeterminate: a connection has no percentage
        self.progress.setTextVisible(False)
        self.progress.setMaximumHeight(8)
        self.progress.setAccessibleName(self.tr("Working"))
        self.progress.hide()
        self.status_icon = QLabel(self)
        self.status_label = plain_label(self)
        self.status_label.setObjectName("statusLabel")
        self.status_label.setAccessibleName(self.tr("Connection status"))
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        status_row = QHBoxLayout()
        status_row.addWidget(self.status_icon, 0, Qt.AlignmentFlag.AlignTop)
        status_row.addWidget(self.status_label, 1)

        self.back_button = QPushButton(self.tr("&Back"), self)
        self.back_button.setAccessibleName(self.tr("Back to the choices"))
        self.back_button.clicked.connect(self.show_choices)
        self.test_button = QPushButton(self.tr("&Test connection"), self)
        self.test_button.setAccessibleName(self.tr("Test the connection without opening the store"))
        self.test_button.clicked.connect(self.test_postgres)
        self.connect_button = QPushButton(self.tr("&Connect"), self)
        self.connect_button.setAccessibleName(self.tr("Connect and open the store"))
        self.connect_button.clicked.connect(self.connect_postgres)
        self.close_button = QPushButton(self.tr("&Quit") if welcome else self.tr("Cancel"), self)
        self.close_button.setAccessibleName(
            self.tr("Quit Signoff") if welcome else self.tr("Cancel without changing the store")
        )
        self.close_button.clicked.connect(self.reject)
        for button in (self.back_button, self.test_button, self.close_button):
            button.setAutoDefault(False)  # Enter in a field connects; it never quits
        buttons = QHBoxLayout()
        buttons.addWidget(self.back_button)
        buttons.addStretch(1)
        buttons.addWidget(self.test_button)
        buttons.addWidget(self.connect_button)
        buttons.addWidget(self.close_button)

        layout = QVBoxLayout(self)
        layout.addWidget(self.stack)
        layout.addWidget(self.progress)
        layout.addLayout(status_row)
        layout.addLayout(buttons)

        self._deadline = QTimer(self)
        self._deadline.setSingleShot(True)
        self._deadline.timeout.connect(self._keyring_deadline)
        self.form.changed.connect(self._form_changed)

        target = PostgresTarget.from_url(current_url) if current_url else None
        if target is not None:
            self.form.fill(target)
            self.show_postgres()
        else:
            self.show_choices()

    # --- pages ----------------------------------------------------------------------------------

    def _choices_page(self, welcome: bool) -> QWidget:
        page = QWidget(self)
        title = QLabel(self.tr("Welcome to Signoff") if welcome else self.tr("Choose a store"), page)
        font = QFont(title.font())
        font.setPointSizeF(font.pointSizeF() * 1.4)
        font.setBold(True)
        title.setFont(font)
        intro = plain_label(
            page,
            self.tr(
                "Signoff shows the tickets your AI pipelines hand over to people, and records each "
                "decision with its reason. Where should the tickets come from?"
            )
            if welcome
            else self.tr("Where should Signoff take its tickets from?"),
        )
        self.demo_button = QCommandLinkButton(
            self.tr("Try the &demo"),
            self.tr(
                "A throwaway store with a few hundred realistic tickets, on this computer. Nothing "
                "is sent anywhere."
            ),
            page,
        )
        self.demo_button.setAccessibleName(self.tr("Try the demo"))
        self.demo_button.setAccessibleDescription(self.demo_button.description())
        self.demo_button.clicked.connect(self.try_demo)
        self.sqlite_button = QCommandLinkButton(
            self.tr("Open a shared &SQLite file"),
            self.tr(
                "A store file on this computer or a shared drive, for one writer at a time. Type a "
                "new file name to create a store."
            ),
            page,
        )
        self.sqlite_button.setAccessibleName(self.tr("Open a shared SQLite file"))
        self.sqlite_button.setAccessibleDescription(self.sqlite_button.description())
        self.sqlite_button.clicked.connect(self.choose_sqlite_file)
        self.postgres_button = QCommandLinkButton(
            self.tr("Connect to &PostgreSQL"),
            self.tr("The team's store on a database server, with your own login and enforced roles."),
            page,
        )
        self.postgres_button.setAccessibleName(self.tr("Connect to PostgreSQL"))
        self.postgres_button.setAccessibleDescription(self.postgres_button.description())
        self.postgres_button.clicked.connect(self.show_postgres)
        layout = QVBoxLayout(page)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(title)
        layout.addWidget(intro)
        layout.addSpacing(6)
        for button in (self.demo_button, self.sqlite_button, self.postgres_button):
            layout.addWidget(button)
        layout.addStretch(1)
        return page

    def _postgres_page(self) -> QWidget:
        page = QWidget(self)
        title = QLabel(self.tr("Connect to PostgreSQL"), page)
        font = QFont(title.font())
        font.setPointSizeF(font.pointSizeF() * 1.2)
        font.setBold(True)
        title.setFont(font)
        self.form = PostgresForm(page)
        self.missing_label = plain_label(page)
        self.missing_label.setObjectName("missingLabel")
        self.missing_label.setAccessibleName(self.tr("What is still needed"))
        self.missing_label.setEnabled(False)  # greyed: a hint, not an error
        layout = QVBoxLayout(page)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(title)
        layout.addWidget(self.form)
        layout.addWidget(self.missing_label)
        layout.addStretch(1)
        return page

    def show_choices(self) -> None:
        self._generation += 1  # whatever was under way is no longer awaited
        self._set_busy(False)
        self.stack.setCurrentIndex(self.CHOICES)
        for button in (self.back_button, self.test_button, self.connect_button):
            button.hide()
        self.connect_button.setDefault(False)
        self.demo_button.setDefault(True)
        self._show_status("", None)
        self.demo_button.setFocus()

    def show_postgres(self) -> None:
        self._generation += 1
        self._set_busy(False)
        self.stack.setCurrentIndex(self.POSTGRES)
        for button in (self.back_button, self.test_button, self.connect_button):
            button.show()
        self.demo_button.setDefault(False)
        self.connect_button.setDefault(True)
        self._show_status("", None)
        self._form_changed()
        self.form.host_edit.setFocus()
        if self._keyring is None and not self._probing:
            self.check_keyring()

    # --- status ---------------------------------------------------------------------------------

    def _show_status(self, text: str, icon: QStyle.StandardPixmap | None) -> None:
        self.status_label.setText(text)
        self.status_label.setVisible(bool(text))
        if icon is None:
            self.status_icon.clear()
        else:
            self.status_icon.setPixmap(self.style().standardIcon(icon).pixmap(20, 20))
        self.fit_contents()

    def fit_contents(self) -> None:
        """Grow (never shrink) to what is shown now: a layout does not resize its window when
        wrapped text (a keyring note, a long server error) needs more lines."""
        QTimer.singleShot(0, self._grow)

    def _grow(self) -> None:
        before = self.size()
        self.adjustSize()
        self.resize(max(before.width(), self.width()), max(before.height(), self.height()))

    def _set_busy(self, busy: bool, text: str = "") -> None:
        self._busy = busy
        self.progress.setVisible(busy)
        if busy:
            self._show_status(text, QStyle.StandardPixmap.SP_BrowserReload)
        for button in (self.demo_button, self.sqlite_button, self.postgres_button, self.back_button):
            button.setEnabled(not busy)
        self.form.set_busy(busy)
        self._update_buttons()

    def is_busy(self) -> bool:
        return self._busy

    def _update_buttons(self) -> None:
        ready = not self.form.problems()
        self.test_button.setEnabled(ready and not self._busy)
        self.connect_button.setEnabled(ready and not self._busy)

    def _form_changed(self) -> None:
        problems = self.form.problems()
        self.missing_label.setText(
            self.tr("Still needed: {what}.").format(what="; ".join(problems)) if problems else ""
        )
        self.missing_label.setVisible(bool(problems))
        self._update_buttons()

    def _fail(self, generation: int, error: Exception) -> None:
        if not self._current(generation):
            return
        self._set_busy(False)
        text = str(error) or type(error).__name__
        if password_refused(error):
            text += "\n" + self.tr("The server wants a password for this login (or a different one).")
        self._show_status(text, QStyle.StandardPixmap.SP_MessageBoxCritical)
        self.check_failed.emit(text)

    def _current(self, generation: int) -> bool:
        return shiboken6.isValid(self) and generation == self._generation

    def _next(self) -> int:
        self._generation += 1
        return self._generation

    def _choose(self, url: str, demo: bool) -> None:
        self._set_busy(False)
        self.store_chosen.emit(url, demo)
        self.accept()

    # --- the demo -------------------------------------------------------------------------------

    def try_demo(self) -> None:
        generation = self._next()
        self._set_busy(True, self.tr("Preparing the demo store…"))
        home = self._home
        self._runner.submit(
            "sync",
            lambda: prepare_demo(home),
            lambda url: self._demo_ready(generation, url),
            lambda error: self._fail(generation, error),
        )

    def _demo_ready(self, generation: int, url: str) -> None:
        if self._current(generation):
            self._choose(url, True)

    # --- a SQLite file --------------------------------------------------------------------------

    def choose_sqlite_file(self) -> None:
        dialog = self.file_dialog = QFileDialog(
            self, self.tr("Open or create a shared store file"), str(Path.home())
        )
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptOpen)
        dialog.setFileMode(QFileDialog.FileMode.AnyFile)  # a new name creates a store
        dialog.setNameFilters(
            [self.tr("Signoff stores (*.db *.sqlite *.sqlite3 *.signoff)"), self.tr("All files (*)")]
        )
        dialog.setAccessibleName(self.tr("Choose the store file"))
        dialog.fileSelected.connect(self.use_sqlite_file)
        dialog.open()

    def use_sqlite_file(self, path_text: str) -> None:
        path = Path(path_text).expanduser()
        if can_create_sqlite_store(path):
            self._confirm_create(path)
            return
        generation = self._next()
        self._set_busy(True, self.tr("Checking {path}…").format(path=str(path)))
        url = sqlite_url(path)
        self._runner.submit(
            "sync",
            lambda: test_connection(url),
            lambda report: self._sqlite_ready(generation, url, report),
            lambda error: self._fail(generation, error),
        )

    def _confirm_create(self, path: Path) -> None:
        box = self.confirm_box = QMessageBox(
            QMessageBox.Icon.Question, self.tr("Create a store"), "", parent=self
        )
        box.setTextFormat(Qt.TextFormat.PlainText)
        box.setText(
            self.tr(
                "There is no store in {path} yet.\n\nCreate a new, empty Signoff store there? "
                "Pipelines can then add tickets with: signoff ingest FILE.jsonl --store URL"
            ).format(path=str(path))
        )
        create = box.addButton(self.tr("Create store"), QMessageBox.ButtonRole.AcceptRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(create)
        box.buttonClicked.connect(lambda button: button is create and self._create_sqlite(path))
        box.open()

    def _create_sqlite(self, path: Path) -> None:
        generation = self._next()
        self._set_busy(True, self.tr("Creating the store in {path}…").format(path=str(path)))
        url = sqlite_url(path)
        self._runner.submit(
            "sync",
            lambda: create_sqlite_store(path),
            lambda report: self._sqlite_ready(generation, url, report),
            lambda error: self._fail(generation, error),
        )

    def _sqlite_ready(self, generation: int, url: str, report: ConnectionReport) -> None:
        if not self._current(generation):
            return
        self.checked.emit(report)
        self._choose(url, False)

    # --- PostgreSQL -----------------------------------------------------------------------------

    def test_postgres(self) -> None:
        self._check_postgres(connect=False)

    def connect_postgres(self) -> None:
        self._check_postgres(connect=True)

    def _check_postgres(self, *, connect: bool) -> None:
        if self._busy or self.form.problems():
            return
        target = self.form.target()
        url, password = target.url(), self.form.password()
        generation = self._next()
        self._set_busy(
            True,
            self.tr("Connecting to {host}:{port} as {login}…").format(
                host=target.host, port=target.port, login=target.login
            ),
        )
        session, timeout_s = self.session, self._keyring_timeout_s
        self._runner.submit(
            "sync",
            lambda: check_postgres(url, password, session, timeout_s),
            lambda report: self._postgres_checked(generation, url, password, report, connect),
            lambda error: self._fail(generation, error),
        )

    def _postgres_checked(
        self, generation: int, url: str, password: str, report: ConnectionReport, connect: bool
    ) -> None:
        if not self._current(generation):
            return
        self._set_busy(False)
        allowed = report.window_allowed(allow_superuser=self._allow_superuser)
        pixmap = QStyle.StandardPixmap
        icon = pixmap.SP_DialogApplyButton if allowed else pixmap.SP_MessageBoxWarning
        self._show_status(self.describe(report), icon)
        self.checked.emit(report)
        if not connect or not allowed:
            return
        if password:
            self.session.put(url, password)  # the Launcher's open finds it here, keyring or not
        if password and self.form.remember_box.isEnabled() and self.form.remember_box.isChecked():
            self._save_password(url, password)
            return
        self._choose(url, False)

    def describe(self, report: ConnectionReport) -> str:
        lines = [
            self.tr("Connected to {server}. Store {store_id}.").format(
                server=report.server, store_id=report.store_id
            )
        ]
        if report.login is not None:
            lines.append(
                self.tr("Logged in as {login}, role {role}.").format(
                    login=report.login, role=report.role or self.tr("none")
                )
            )
        if report.login_problem:
            lines.append(report.login_problem)
        lines += report.warnings
        return "\n".join(lines)

    # --- the keyring ----------------------------------------------------------------------------

    def check_keyring(self) -> None:
        self._probing = True
        self._keyring = None
        self.form.show_keyring(None, self.tr("Checking the system keyring…"))
        self.fit_contents()
        self._deadline.start(int((self._keyring_timeout_s + KEYRING_DEADLINE_MARGIN_S) * 1000))
        timeout_s = self._keyring_timeout_s
        self._runner.submit(
            "sync",
            lambda: probe_keyring(timeout_s),
            self._keyring_answered,
            lambda error: self._keyring_answered(KeyringStatus(False, "", str(error))),
        )

    def _keyring_answered(self, status: KeyringStatus) -> None:
        if not shiboken6.isValid(self) or not self._probing:
            return  # the deadline already answered "no keyring"; keep what the person saw
        self._deadline.stop()
        self._apply_keyring(status)

    def _keyring_deadline(self) -> None:
        reason = self.tr("the system keyring did not answer within {seconds} s (it may be locked)").format(
            seconds=f"{self._keyring_timeout_s + KEYRING_DEADLINE_MARGIN_S:g}"
        )
        self._apply_keyring(KeyringStatus(False, "", reason))

    def _apply_keyring(self, status: KeyringStatus) -> None:
        self._probing = False
        self._keyring = status
        if status.available:
            self.form.show_keyring(
                True,
                self.tr("The password is kept in the system keyring ({backend}), never in a file.").format(
                    backend=status.backend
                ),
            )
            self.fit_contents()
        else:
            self.form.show_keyring(False, self._session_only(status.reason))
            self.fit_contents()
        self.keyring_checked.emit(status)

    def _session_only(self, why: str) -> str:
        return self.tr(
            "No system keyring: {why}. The password is kept for this session only; Signoff will ask "
            "for it again next time."
        ).format(why=why.rstrip("."))

    def keyring_status(self) -> KeyringStatus | None:
        return self._keyring

    def _save_password(self, url: str, password: str) -> None:
        generation = self._next()
        self._set_busy(True, self.tr("Saving the password in the system keyring…"))
        timeout_s = self._keyring_timeout_s
        self._runner.submit(
            "sync",
            lambda: save_password(url, password, timeout_s),
            lambda _none: self._saved(generation, url),
            lambda error: self._save_failed(generation, error),
        )

    def _saved(self, generation: int, url: str) -> None:
        if not self._current(generation):
            return
        self.saving_finished.emit(True)
        self._choose(url, False)

    def _save_failed(self, generation: int, error: Exception) -> None:
        if not self._current(generation):
            return
        self._set_busy(False)
        self.form.show_keyring(False, self._session_only(str(error)))
        self.fit_contents()
        self._show_status(
            self.tr(
                "The password could not be saved: {reason}.\n"
                "Press Connect to go on with it for this session only."
            ).format(reason=str(error).rstrip(".")),
            QStyle.StandardPixmap.SP_MessageBoxWarning,
        )
        self.saving_finished.emit(False)
