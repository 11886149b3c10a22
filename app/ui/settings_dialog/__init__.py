"""Preferences: the dialog, its shortcut page, applying theme and font, and the controller that
saves and applies what the user chose."""

from app.ui.settings_dialog.appearance import apply_appearance
from app.ui.settings_dialog.controller import Preferences
from app.ui.settings_dialog.dialog import SettingsDialog

__all__ = ["Preferences", "SettingsDialog", "apply_appearance"]
