"""Preferences: who you are, which store, how often to sync, notifications, theme, font size
and keys. The dialog edits a copy of the settings; `applied` hands it over on OK or Apply."""

from __future__ import annotations

import copy
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.core.domain import Role
from app.core.settings import FONT_SIZE_RANGE, Settings
from app.core.urls import display_url
from app.ui.settings_dialog.shortcuts_page import ShortcutsPage
from app.ui.settings_dialog.store_hook import connection_dialog_available, open_connection_dialog
from app.ui.tasks import TaskRunner

THEME_LABELS = {"system": "Follow the system", "light": "Light", "dark": "Dark"}
ROLE_LABELS = {
    Role.REVIEWER: "Reviewer",
    Role.ESCALATION_MANAGER: "Escalation manager",
    Role.ADMIN: "Administrator",
}
SYNC_MIN_S, SYNC_MAX_S = 15, 3600


def _plain(text: str) -> QLabel:
    label = QLabel(text)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setWordWrap(True)
    return label


class SettingsDialog(QDialog):
    applied = Signal(object)  # Settings
    store_chosen = Signal(str, bool)  # a new store (URL without password, is demo)

    def __init__(
        self,
        settings: Settings,
        store_url: str,
        *,
        identity_from_login: bool,
        runner: TaskRunner | None = None,
        home: Path | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._runner, self._home, self._store_url = runner, home, store_url
        self.connection_dialog: QWidget | None = None
        self.setObjectName("settingsDialog")
        self.setWindowTitle(self.tr("Preferences"))
        self.settings = copy.deepcopy(settings)
        self.tabs = QTabWidget()
        self.tabs.setObjectName("settingsTabs")
        self.tabs.addTab(self._general_page(store_url, identity_from_login), self.tr("General"))
        self.tabs.addTab(self._appearance_page(), self.tr("Appearance"))
        self.shortcuts = ShortcutsPage(self.settings.shortcuts)
        self.tabs.addTab(self.shortcuts, self.tr("Shortcuts"))
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok
            | QDialogButtonBox.StandardButton.Cancel
            | QDialogButtonBox.StandardButton.Apply
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        buttons.button(QDialogButtonBox.StandardButton.Apply).clicked.connect(self.apply)
        self.buttons = buttons
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(buttons)
        self.resize(640, 560)

    # --- pages ---------------------------------------------------------------------------

    def _general_page(self, store_url: str, identity_from_login: bool) -> QWidget:
        page = QWidget()
        form = QFormLayout(page)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.ExpandingFieldsGrow)
        self.reviewer = QLineEdit(self.settings.reviewer)
        self.reviewer.setObjectName("reviewerEdit")
        self.reviewer.setAccessibleName(self.tr("Your name"))
        self.reviewer.setMaxLength(200)
        self.role = QComboBox()
        self.role.setObjectName("roleCombo")
        self.role.setAccessibleName(self.tr("Your role"))
        for role, label in ROLE_LABELS.items():
            self.role.addItem(self.tr(label), str(role))
        self.role.setCurrentIndex(max(0, self.role.findData(self.settings.role)))
        form.addRow(self.tr("&Name:"), self.reviewer)
        form.addRow(self.tr("&Role:"), self.role)
        if identity_from_login:
            # On Postgres the database login is the identity: a name typed here would be refused.
            self.reviewer.setEnabled(False)
            self.role.setEnabled(False)
            form.addRow("", _plain(self.tr("Name and role come from your database login on this store.")))
        else:
            form.addRow("", _plain(
                    self.tr(
                        "A new role applies from the next start. On a shared SQLite file roles are "
                        "advisory (anyone with the file can change theirs); on PostgreSQL your login "
                        "decides."
                    )
                ))

        self.store_label = QLineEdit(display_url(store_url))
        self.store_label.setObjectName("storeUrl")
        self.store_label.setAccessibleName(self.tr("Store in use"))
        self.store_label.setReadOnly(True)
        self.change_store = QPushButton(self.tr("Change &store…"))
        self.change_store.setObjectName("changeStore")
        self.change_store.clicked.connect(self._change_store)
        if self._runner is None or self._home is None or not connection_dialog_available():
            self.change_store.setEnabled(False)
            self.change_store.setToolTip(self.tr("Start Signoff with --store URL to use another store"))
        store_row = QHBoxLayout()
        store_row.addWidget(self.store_label, 1)
        store_row.addWidget(self.change_store)
        form.addRow(self.tr("Store:"), store_row)

        self.sync_interval = QSpinBox()
        self.sync_interval.setObjectName("syncInterval")
        self.sync_interval.setAccessibleName(self.tr("Sync interval in seconds"))
        self.sync_interval.setRange(SYNC_MIN_S, SYNC_MAX_S)
        self.sync_interval.setSingleStep(15)
        self.sync_interval.setSuffix(self.tr(" s"))
        self.sync_interval.setValue(min(max(self.settings.sync_interval_s, SYNC_MIN_S), SYNC_MAX_S))
        form.addRow(self.tr("S&ync every:"), self.sync_interval)

        self.notifications = QCheckBox(self.tr("Show desktop &notifications (past-due tickets, escalations)"))
        self.notifications.setObjectName("notificationsCheck")
        self.notifications.setChecked(self.settings.notifications)
        form.addRow("", self.notifications)
        return page

    def _appearance_page(self) -> QWidget:
        page = QWidget()
        form = QFormLayout(page)
        self.theme = QComboBox()
        self.theme.setObjectName("themeCombo")
        self.theme.setAccessibleName(self.tr("Theme"))
        for key, label in THEME_LABELS.items():
            self.theme.addItem(self.tr(label), key)
        self.theme.setCurrentIndex(max(0, self.theme.findData(self.settings.theme)))
        form.addRow(self.tr("&Theme:"), self.theme)
        self.font_size = QSpinBox()
        self.font_size.setObjectName("fontSize")
        self.font_size.setAccessibleName(self.tr("Font size in points"))
        self.font_size.setRange(FONT_SIZE_RANGE[0], FONT_SIZE_RANGE[1])
        self.font_size.setSpecialValueText(self.tr("System size"))
        self.font_size.setSuffix(self.tr(" pt"))
        self.font_size.setValue(self.settings.font_size)
        form.addRow(self.tr("&Font size:"), self.font_size)
        return page

    # --- results -------------------------------------------------------------------------

    def result_settings(self) -> Settings:
        s = copy.deepcopy(self.settings)
        if self.reviewer.isEnabled():
            s.reviewer = self.reviewer.text().strip() or s.reviewer
            s.role = str(self.role.currentData())
        s.sync_interval_s = self.sync_interval.value()
        s.notifications = self.notifications.isChecked()
        s.theme = str(self.theme.currentData())
        s.font_size = self.font_size.value()
        s.shortcuts = self.shortcuts.overrides()
        return s

    def apply(self) -> None:
        self.settings = self.result_settings()
        self.applied.emit(self.settings)

    def accept(self) -> None:
        self.apply()
        super().accept()

    def _change_store(self) -> None:
        assert self._runner is not None and self._home is not None
        self.connection_dialog = open_connection_dialog(
            self, self._runner, self._home, self._store_url, self._chosen
        )

    def _chosen(self, url: str, demo: bool) -> None:
        self.store_label.setText(display_url(url))
        self.store_chosen.emit(url, demo)
