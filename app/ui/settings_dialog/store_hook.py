"""The one place Preferences reaches the connection dialog of the first-run flow
(app/ui/welcome.ConnectionDialog: `store_chosen(url, is_demo)`, the URL without its password)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QWidget

from app.ui.tasks import TaskRunner


def _dialog_class() -> Any:
    try:
        from app.ui.welcome import ConnectionDialog
    except ImportError:  # the first-run flow is optional for Preferences: the button says so
        return None
    return ConnectionDialog


def connection_dialog_available() -> bool:
    return _dialog_class() is not None


def open_connection_dialog(
    parent: QWidget,
    runner: TaskRunner,
    home: Path,
    current_url: str,
    chosen: Callable[[str, bool], None],
) -> QWidget | None:
    """Open "Connect to a store"; `chosen(url, is_demo)` once the user picked one."""
    cls = _dialog_class()
    if cls is None:
        return None
    dialog = cls(runner, home, current_url=current_url, welcome=False, parent=parent)
    dialog.store_chosen.connect(chosen)
    dialog.open()
    return dialog
