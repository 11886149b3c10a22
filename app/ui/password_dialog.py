"""Asking for a store password, and whether to remember it in the system keyring.

The keyring is probed and written on the "sync" lane. Its answer can take minutes (an unlock prompt
nobody sees), so the dialog also keeps its own deadline: within 5 s it either knows the keyring
works or says it does not and offers to keep the password for this session only.
"""

from __future__ import annotations

import shiboken6
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QStyle,
    QVBoxLayout,
    QWidget,
)

from app.core.credentials import (
    DEFAULT_TIMEOUT_S,
    KeyringStatus,
    SessionPasswords,
    account_label,
    probe_keyring,
    role,
    save_password,
    server_label,
    url_with_password,
)
from app.ui.tasks import TaskRunner

# Past the keyring's own timeout: a result still queued behind other work on the lane must not
# keep the reviewer waiting either. 4.0 s + 0.7 s stays inside the 5 s the reviewer is promised.
DEADLINE_MARGIN_S = 0.7


def _plain(label: QLabel) -> QLabel:
    label.setTextFormat(Qt.TextFormat.PlainText)  # URL parts and keyring messages are not markup
    label.setWordWrap(True)
    return label


class PasswordDialog(QDialog):
    """Asks for the password of role@host/db. On accept the password is in `session` (and, when
    "remember" was ticked and worked, in the system keyring); `engine_url()` is the URL to open."""

    keyring_checked = Signal(object)  # KeyringStatus, each time the keyring's state is known
    saving_finished = Signal(bool)  # True when the password went into the keyring

    def __init__(
        self,
        url: str,
        runner: TaskRunner,
        session: SessionPasswords,
        *,
        problem: str | None = None,
        given_password: str | None = None,
        keyring_timeout_s: float = DEFAULT_TIMEOUT_S,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._url = url
        self._runner = runner
        self._session = session
        self._timeout_s = keyring_timeout_s
        self._status: KeyringStatus | None = None
        self._generation = 0  # answers to an earlier probe or save are ignored
        self._saving = False
        self._remembered = False
        account = account_label(url)

        self.setWindowTitle(self.tr("Store password"))
        self.setAccessibleName(self.tr("Password for {account}").format(account=account))

        if given_password is None:
            intro_text = self.tr(
                "Signoff needs a password to open the store: database role “{role}” on {server}."
            ).format(role=role(url), server=server_label(url))
        else:
            intro_text = self.tr(
                "The store {server} was opened as database role “{role}” with a password given on "
                "the command line. Remember it in the system keyring so you need not give it again? "
                "Other programs on this computer can read command lines: once it is remembered, "
                "leave it out of --store."
            ).format(role=role(url), server=server_label(url))
        intro = _plain(QLabel(intro_text, self))
        intro.setObjectName("introLabel")

        self.problem_label = _plain(QLabel(problem or "", self))
        self.problem_label.setObjectName("problemLabel")
        self.problem_label.setAccessibleName(self.tr("Why the password is asked for"))
        self.problem_label.setVisible(bool(problem))

        self.password_edit = QLineEdit(self)
        self.password_edit.setObjectName("passwordEdit")
        self.password_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.password_edit.setAccessibleName(self.tr("Password for {account}").format(account=account))
        if given_password:
            self.password_edit.setText(given_password)
        self.password_edit.textChanged.connect(self._update_buttons)
        password_label = QLabel(self.tr("&Password:"), self)
        password_label.setBuddy(self.password_edit)

        self.remember_box = QCheckBox(self.tr("&Remember in the system keyring"), self)
        self.remember_box.setObjectName("rememberBox")
        self.remember_box.setAccessibleName(self.tr("Remember the password in the system keyring"))

        self.status_icon = QLabel(self)
        self.status_label = _plain(QLabel(self))
        self.status_label.setObjectName("keyringStatusLabel")
        self.status_label.setAccessibleName(self.tr("System keyring status"))
        self.status_label.setMinimumWidth(360)
        self.retry_button = QPushButton(self.tr("Check the keyring &again"), self)
        self.retry_button.setObjectName("retryKeyringButton")
        self.retry_button.setAccessibleName(self.tr("Check the system keyring again"))
        self.retry_button.clicked.connect(self.check_keyring)

        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self
        )
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.ok_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setAccessibleName(self.tr("Use this password"))
        self.cancel_button = self.buttons.button(QDialogButtonBox.StandardButton.Cancel)
        self.cancel_button.setAccessibleName(self.tr("Cancel without storing anything"))

        form = QFormLayout()
        form.addRow(password_label, self.password_edit)
        status_row = QHBoxLayout()
        status_row.addWidget(self.status_icon, 0, Qt.AlignmentFlag.AlignTop)
        status_row.addWidget(self.status_label, 1)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.problem_label)
        layout.addLayout(form)
        layout.addWidget(self.remember_box)
        layout.addLayout(status_row)
        layout.addWidget(self.retry_button, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addWidget(self.buttons)

        self._deadline = QTimer(self)
        self._deadline.setSingleShot(True)
        self._deadline.timeout.connect(self._deadline_passed)
        self.password_edit.setFocus()
        self.check_keyring()

    # --- what the caller reads ------------------------------------------------------------------

    def keyring_status(self) -> KeyringStatus | None:
        """The last probe's answer; None while it is still checking."""
        return self._status

    def password(self) -> str:
        return self.password_edit.text()

    def remembered(self) -> bool:
        """True when the password was saved in the system keyring."""
        return self._remembered

    def engine_url(self) -> str:
        """The URL to open the store with (holds the password: never show, log or store it)."""
        return url_with_password(self._url, self.password())

    # --- the keyring probe ----------------------------------------------------------------------

    def check_keyring(self) -> None:
        self._generation += 1
        generation = self._generation
        self._status = None
        self.retry_button.hide()
        self.remember_box.setEnabled(False)
        self.remember_box.setChecked(False)  # unknown yet: ticked once the keyring answers
        self._show_status(self.tr("Checking the system keyring…"), QStyle.StandardPixmap.SP_BrowserReload)
        self._update_buttons()
        self._deadline.start(int((self._timeout_s + DEADLINE_MARGIN_S) * 1000))
        timeout_s = self._timeout_s
        self._runner.submit(
            "sync",
            lambda: probe_keyring(timeout_s),
            lambda status: self._probed(generation, status),
            lambda error: self._probed(generation, KeyringStatus(False, "", str(error))),
        )

    def _probed(self, generation: int, status: KeyringStatus) -> None:
        if not shiboken6.isValid(self) or generation != self._generation or self._saving:
            return
        late = self._status is not None  # the deadline already answered "unavailable"
        self._deadline.stop()
        self._apply_status(status, tick=not late)

    def _deadline_passed(self) -> None:
        if self._saving:
            self._save_failed(
                self._generation,
                self.tr("the system keyring did not answer in time"),
            )
            return
        reason = self.tr(
            "the system keyring did not answer within {seconds} s (it may be locked and waiting "
            "to be unlocked)"
        ).format(seconds=f"{self._timeout_s + DEADLINE_MARGIN_S:g}")
        self._apply_status(KeyringStatus(False, "", reason), tick=False)

    def _apply_status(self, status: KeyringStatus, *, tick: bool) -> None:
        self._status = status
        if status.available:
            self.remember_box.setEnabled(True)
            if tick:
                self.remember_box.setChecked(True)
            self._show_status(
                self.tr("The password can be kept in the system keyring ({backend}).").format(
                    backend=status.backend
                ),
                QStyle.StandardPixmap.SP_DialogApplyButton,
            )
            self.retry_button.hide()
        else:
            self._session_only(
                self.tr("The system keyring is not available: {reason}.").format(reason=status.reason)
            )
        self._update_buttons()
        self.keyring_checked.emit(status)

    def _session_only(self, why: str) -> None:
        self.remember_box.setChecked(False)
        self.remember_box.setEnabled(False)
        self._show_status(
            why
            + "\n"
            + self.tr(
                "The password will be kept for this session only: Signoff will ask for it again "
                "next time it starts."
            ),
            QStyle.StandardPixmap.SP_MessageBoxWarning,
        )
        self.retry_button.show()

    def _show_status(self, text: str, icon: QStyle.StandardPixmap) -> None:
        self.status_label.setText(text)
        self.status_icon.setPixmap(self.style().standardIcon(icon).pixmap(20, 20))

    def _update_buttons(self) -> None:
        checking = self._status is None
        self.ok_button.setEnabled(bool(self.password()) and not checking and not self._saving)
        self.cancel_button.setEnabled(not self._saving)
        self.password_edit.setEnabled(not self._saving)

    # --- accepting ------------------------------------------------------------------------------

    def accept(self) -> None:
        password = self.password()
        if self._saving or self._status is None or not password:
            return
        if self.remember_box.isEnabled() and self.remember_box.isChecked():
            self._start_save(password)
            return
        self._finish(password)

    def reject(self) -> None:
        if self._saving:  # a save under way would store the password after all: let it end first
            return
        super().reject()

    def _start_save(self, password: str) -> None:
        self._generation += 1
        generation = self._generation
        self._saving = True
        self.remember_box.setEnabled(False)
        self.retry_button.hide()
        self._show_status(
            self.tr("Saving the password in the system keyring…"), QStyle.StandardPixmap.SP_BrowserReload
        )
        self._update_buttons()
        self._deadline.start(int((self._timeout_s + DEADLINE_MARGIN_S) * 1000))
        url, timeout_s = self._url, self._timeout_s
        self._runner.submit(
            "sync",
            lambda: save_password(url, password, timeout_s),
            lambda _result: self._saved(generation, password),
            lambda error: self._save_failed(generation, str(error)),
        )

    def _saved(self, generation: int, password: str) -> None:
        if not shiboken6.isValid(self) or generation != self._generation:
            return
        self._deadline.stop()
        self._saving = False
        self._remembered = True
        self.saving_finished.emit(True)
        self._finish(password)

    def _save_failed(self, generation: int, reason: str) -> None:
        if not shiboken6.isValid(self) or generation != self._generation:
            return
        self._generation += 1  # a save answering after the deadline is not waited for any more
        self._deadline.stop()
        self._saving = False
        self._session_only(
            self.tr("The password could not be saved in the system keyring: {reason}.").format(reason=reason)
        )
        self.retry_button.hide()  # the keyring answered; press OK to go on for this session
        self._update_buttons()
        self.saving_finished.emit(False)

    def _finish(self, password: str) -> None:
        self._session.put(self._url, password)  # this session asks no one again
        super().accept()
