"""Preferences, from the menu to the running window: opens the dialog, saves what it returns
to settings.json and applies it at once (theme, font, keys, sync interval, notifications,
identity where the store lets the user choose it)."""

from __future__ import annotations

import logging

from PySide6.QtCore import SIGNAL, QObject, Signal
from PySide6.QtWidgets import QApplication, QMessageBox
from sqlalchemy.engine import make_url

from app.core.settings import Settings
from app.core.urls import display_url, url_without_password
from app.core.workspace import Workspace
from app.ui.main_window import MainWindow
from app.ui.message_boxes import plain_box
from app.ui.notifications import Notifier
from app.ui.settings_dialog.appearance import apply_appearance
from app.ui.settings_dialog.dialog import SettingsDialog

log = logging.getLogger(__name__)
# What the dialog edits; everything else in settings.json (known stores …) is left as it is.
USER_FIELDS = ("sync_interval_s", "notifications", "theme", "font_size", "shortcuts")
IDENTITY_FIELDS = ("reviewer", "role")


def identity_from_login(workspace: Workspace) -> bool:
    """On Postgres the login is who you are (the database checks it); on a file it is a setting."""
    try:
        return make_url(workspace.store_url).get_backend_name() == "postgresql"
    except Exception:
        return False


class Preferences(QObject):
    # A store picked under "Change store…": the launcher reopens the window on it.
    store_change_requested = Signal(str, bool)
    changed = Signal(object)  # Settings, once saved and applied

    def __init__(self, window: MainWindow, notifier: Notifier | None = None) -> None:
        super().__init__(window)
        self.window = window
        self.notifier = notifier
        self.dialog: SettingsDialog | None = None

    @property
    def workspace(self) -> Workspace:
        return self.window.session.workspace

    def open(self) -> SettingsDialog:
        workspace = self.workspace
        current = Settings.load(workspace.home)
        if identity_from_login(workspace):  # show who the store says you are
            current.reviewer, current.role = workspace.reviewer, str(workspace.role)
        dialog = SettingsDialog(
            current,
            workspace.store_url,
            identity_from_login=identity_from_login(workspace),
            runner=self.window.session.runner,
            home=workspace.home,
            parent=self.window,
        )
        dialog.applied.connect(self.apply)
        dialog.store_chosen.connect(self._store_chosen)
        self.dialog = dialog
        dialog.open()
        return dialog

    def apply(self, chosen: Settings) -> None:
        workspace = self.workspace
        own_identity = not identity_from_login(workspace)
        fields = USER_FIELDS + (IDENTITY_FIELDS if own_identity else ())
        saved = Settings.load(workspace.home)  # fresh: the store list may have changed meanwhile
        for name in fields:
            setattr(saved, name, getattr(chosen, name))
            # A new role takes effect at the next start, whole: tabs, what is masked and the role
            # decisions carry all change together, never half now and half later.
            if name != "role":
                setattr(workspace.settings, name, getattr(chosen, name))
        saved.checked().save(workspace.home)
        self._apply_live(saved)
        self.changed.emit(saved)

    def _apply_live(self, settings: Settings) -> None:
        app = QApplication.instance()
        if isinstance(app, QApplication):
            apply_appearance(app, settings.theme, settings.font_size)
        self.window.apply_shortcuts(settings.shortcuts)
        self.window.session.sync_timer.setInterval(max(5, settings.sync_interval_s) * 1000)
        if self.notifier is not None:
            self.notifier.set_enabled(settings.notifications)
        self.window.update_title()

    def _store_chosen(self, url: str, demo: bool) -> None:
        if self.receivers(SIGNAL("store_change_requested(QString,bool)")) > 0:
            self.store_change_requested.emit(url, demo)
            return
        # Nobody here can reopen the window: the next start opens the chosen store.
        settings = Settings.load(self.workspace.home)
        settings.last_store = url_without_password(url)
        settings.save(self.workspace.home)
        plain_box(
            self.window,
            QMessageBox.Icon.Information,
            self.tr("Store changed"),
            self.tr("Signoff opens {0} the next time it starts.").format(display_url(url)),
        )
