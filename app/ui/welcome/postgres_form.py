"""The "Connect to PostgreSQL" form: server, database, login, TLS mode and password.

It only holds and checks what was typed; the dialog around it does the connecting. A remote host
gets sslmode=verify-full until the person picks another mode, and a weaker mode on a remote host
shows what it risks and must be acknowledged before anything is sent.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QStyle,
    QVBoxLayout,
    QWidget,
)

from app.core.connection import (
    DEFAULT_DATABASE,
    PG_DEFAULT_PORT,
    SSL_MODES,
    PostgresTarget,
    default_sslmode,
    weak_tls_risk,
)


def plain_label(parent: QWidget, text: str = "") -> QLabel:
    label = QLabel(text, parent)
    label.setTextFormat(Qt.TextFormat.PlainText)  # host names, store errors: never markup
    label.setWordWrap(True)
    return label


class PostgresForm(QWidget):
    changed = Signal()  # anything typed or chosen: the dialog re-checks its buttons

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._tls_chosen = False  # the person picked a mode: host edits no longer change it

        self.host_edit = QLineEdit(self)
        self.host_edit.setObjectName("hostEdit")
        self.host_edit.setPlaceholderText(self.tr("db.example.org"))
        self.host_edit.setAccessibleName(self.tr("Server host name"))
        self.port_spin = QSpinBox(self)
        self.port_spin.setObjectName("portSpin")
        self.port_spin.setRange(1, 65535)
        self.port_spin.setValue(PG_DEFAULT_PORT)
        self.port_spin.setAccessibleName(self.tr("Server port"))
        self.database_edit = QLineEdit(DEFAULT_DATABASE, self)
        self.database_edit.setObjectName("databaseEdit")
        self.database_edit.setAccessibleName(self.tr("Database name"))
        self.login_edit = QLineEdit(self)
        self.login_edit.setObjectName("loginEdit")
        self.login_edit.setPlaceholderText(self.tr("your database login"))
        self.login_edit.setAccessibleName(self.tr("Login (database role)"))

        self.tls_combo = QComboBox(self)
        self.tls_combo.setObjectName("tlsCombo")
        self.tls_combo.setAccessibleName(self.tr("TLS mode"))
        descriptions = {
            "verify-full": self.tr("verify-full — certificate and host name checked (recommended)"),
            "verify-ca": self.tr("verify-ca — certificate checked, host name not"),
            "require": self.tr("require — encrypted, certificate not checked"),
            "prefer": self.tr("prefer — encrypted if the server offers it"),
            "allow": self.tr("allow — encrypted only if the server insists"),
            "disable": self.tr("disable — not encrypted"),
        }
        for mode in reversed(SSL_MODES):  # strongest first
            self.tls_combo.addItem(descriptions[mode], mode)

        self.ca_edit = QLineEdit(self)
        self.ca_edit.setObjectName("caEdit")
        self.ca_edit.setPlaceholderText(self.tr("optional: the server's CA certificate (.crt, .pem)"))
        self.ca_edit.setAccessibleName(self.tr("CA certificate file"))
        self.ca_button = QPushButton(self.tr("Bro&wse…"), self)
        self.ca_button.setObjectName("caBrowseButton")
        self.ca_button.setAccessibleName(self.tr("Choose the CA certificate file"))
        self.ca_button.setAutoDefault(False)
        self.ca_button.clicked.connect(self._browse_ca)

        self.tls_warning = plain_label(self)
        self.tls_warning.setObjectName("tlsWarning")
        self.tls_warning.setAccessibleName(self.tr("TLS warning"))
        self.tls_warning_icon = QLabel(self)
        self.tls_warning_icon.setPixmap(
            self.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning).pixmap(20, 20)
        )
        self.tls_ack = QCheckBox(self)
        self.tls_ack.setObjectName("tlsAck")
        self.tls_ack.setAccessibleName(self.tr("I understand the risk of this TLS mode"))

        self.password_edit = QLineEdit(self)
        self.password_edit.setObjectName("passwordEdit")
        self.password_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.password_edit.setPlaceholderText(self.tr("leave empty if the server needs none"))
        self.password_edit.setAccessibleName(self.tr("Password"))
        self.remember_box = QCheckBox(self.tr("&Remember the password in the system keyring"), self)
        self.remember_box.setObjectName("rememberBox")
        self.remember_box.setAccessibleName(self.tr("Remember the password in the system keyring"))
        self.remember_box.setEnabled(False)  # until the keyring has answered
        self.keyring_label = plain_label(self)
        self.keyring_label.setObjectName("keyringLabel")
        self.keyring_label.setAccessibleName(self.tr("System keyring status"))

        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.ExpandingFieldsGrow)
        for text, field in (
            (self.tr("&Host:"), self.host_edit),
            (self.tr("P&ort:"), self.port_spin),
            (self.tr("&Database:"), self.database_edit),
            (self.tr("&Login:"), self.login_edit),
            (self.tr("&TLS mode:"), self.tls_combo),
        ):
            label = QLabel(text, self)
            label.setBuddy(field)
            form.addRow(label, field)
        ca_row = QHBoxLayout()
        ca_row.addWidget(self.ca_edit, 1)
        ca_row.addWidget(self.ca_button)
        ca_label = QLabel(self.tr("&CA certificate:"), self)
        ca_label.setBuddy(self.ca_edit)
        form.addRow(ca_label, ca_row)
        warning_row = QHBoxLayout()
        warning_row.addWidget(self.tls_warning_icon, 0, Qt.AlignmentFlag.AlignTop)
        warning_row.addWidget(self.tls_warning, 1)
        self.warning_box = QWidget(self)
        warning_box_layout = QVBoxLayout(self.warning_box)
        warning_box_layout.setContentsMargins(0, 0, 0, 0)
        warning_box_layout.addLayout(warning_row)
        warning_box_layout.addWidget(self.tls_ack)
        form.addRow(self.warning_box)
        password_label = QLabel(self.tr("&Password:"), self)
        password_label.setBuddy(self.password_edit)
        form.addRow(password_label, self.password_edit)
        form.addRow("", self.remember_box)
        form.addRow(self.keyring_label)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(form)

        self.host_edit.textChanged.connect(self._host_changed)
        self.tls_combo.activated.connect(self._tls_picked)  # the person's choice, not ours
        self.tls_combo.currentIndexChanged.connect(self._tls_changed)
        for edit in (self.database_edit, self.login_edit, self.ca_edit, self.password_edit):
            edit.textChanged.connect(self.changed)
        self.port_spin.valueChanged.connect(self.changed)
        self.tls_ack.toggled.connect(self.changed)
        self._set_mode(default_sslmode(""))
        self._update_warning()

    # --- what the dialog reads ------------------------------------------------------------------

    def target(self) -> PostgresTarget:
        return PostgresTarget(
            host=self.host_edit.text().strip(),
            port=self.port_spin.value(),
            database=self.database_edit.text().strip(),
            login=self.login_edit.text().strip(),
            sslmode=self.sslmode(),
            sslrootcert=self.ca_edit.text().strip(),
        )

    def sslmode(self) -> str:
        return str(self.tls_combo.currentData())

    def password(self) -> str:
        return self.password_edit.text()

    def weak_tls(self) -> str | None:
        """What the chosen TLS mode risks for this host; None when it is safe."""
        return weak_tls_risk(self.host_edit.text(), self.sslmode())

    def problems(self) -> list[str]:
        """Why nothing can be sent yet (missing fields, an unacknowledged weak TLS mode)."""
        found = [] if self.host_edit.text().strip() else [self.tr("the host is missing")]
        found += self.target().problems()
        if self.weak_tls() is not None and not self.tls_ack.isChecked():
            found.append(self.tr("the weaker TLS mode needs your confirmation"))
        return found

    def fill(self, target: PostgresTarget) -> None:
        """Show a saved store's settings (to change them); its TLS mode counts as chosen."""
        self.host_edit.setText(target.host)
        self.port_spin.setValue(target.port)
        self.database_edit.setText(target.database)
        self.login_edit.setText(target.login)
        self.ca_edit.setText(target.sslrootcert)
        self._tls_chosen = bool(target.sslmode)
        self._set_mode(target.effective_sslmode)
        self.tls_ack.setChecked(False)
        self._update_warning()

    def set_busy(self, busy: bool) -> None:
        for widget in (
            self.host_edit,
            self.port_spin,
            self.database_edit,
            self.login_edit,
            self.tls_combo,
            self.ca_edit,
            self.ca_button,
            self.tls_ack,
            self.password_edit,
        ):
            widget.setEnabled(not busy)

    # --- TLS ------------------------------------------------------------------------------------

    def _set_mode(self, mode: str) -> None:
        index = self.tls_combo.findData(mode)
        if index >= 0:
            self.tls_combo.setCurrentIndex(index)

    def _host_changed(self, host: str) -> None:
        if not self._tls_chosen:
            self._set_mode(default_sslmode(host))
        self.tls_ack.setChecked(False)  # an acknowledgement was for the other host
        self._update_warning()
        self.changed.emit()

    def _tls_picked(self, _index: int) -> None:
        self._tls_chosen = True

    def _tls_changed(self, _index: int) -> None:
        self.tls_ack.setChecked(False)
        self._update_warning()
        self.changed.emit()

    def _update_warning(self) -> None:
        risk = self.weak_tls()
        host = self.host_edit.text().strip()
        self.warning_box.setVisible(risk is not None)
        if risk is None:
            return
        self.tls_warning.setText(
            self.tr("{host} is another computer, and with sslmode={mode} {risk}.").format(
                host=host, mode=self.sslmode(), risk=risk
            )
        )
        self.tls_ack.setText(self.tr("I &understand, use {mode} anyway").format(mode=self.sslmode()))

    def _browse_ca(self) -> None:
        path, _filter = QFileDialog.getOpenFileName(
            self,
            self.tr("The server's CA certificate"),
            self.ca_edit.text(),
            self.tr("Certificates (*.crt *.pem *.cer);;All files (*)"),
        )
        if path:
            self.ca_edit.setText(path)

    # --- the keyring ----------------------------------------------------------------------------

    def show_keyring(self, available: bool | None, text: str) -> None:
        """None: still checking. Without a keyring the password is for this session only."""
        self.keyring_label.setText(text)
        self.remember_box.setEnabled(bool(available))
        self.remember_box.setChecked(bool(available))

