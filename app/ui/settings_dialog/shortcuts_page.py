"""Remapping keys: one key editor per action of the registry; a key already bound to another
action is refused with a message naming that action; "Restore defaults" undoes it all."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QKeySequenceEdit,
    QLabel,
    QMessageBox,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.ui.actions import REGISTRY, SPECS, ActionId, Overrides, conflict, default_keys, keys_for


def action_name(action_id: ActionId) -> str:
    return SPECS[action_id].text.replace("&", "").rstrip("…")


class ShortcutsPage(QWidget):
    refused = Signal(str)  # the message shown when a key is refused

    def __init__(self, overrides: Overrides, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("shortcutsPage")
        self.keys: dict[ActionId, list[QKeySequence]] = {s.id: keys_for(s.id, overrides) for s in REGISTRY}
        self.editors: dict[ActionId, QKeySequenceEdit] = {}
        self.refusal_box: QMessageBox | None = None
        self.table = QTableWidget(len(REGISTRY), 3, self)
        self.table.setObjectName("shortcutEditorTable")
        self.table.setAccessibleName(self.tr("Keyboard shortcuts"))
        self.table.setHorizontalHeaderLabels([self.tr("Action"), self.tr("Key"), self.tr("Also")])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QTableWidget.SelectionMode.NoSelection)
        for row, spec in enumerate(REGISTRY):
            name = QTableWidgetItem(self.tr(action_name(spec.id)))
            name.setToolTip(self.tr(spec.help))
            self.table.setItem(row, 0, name)
            editor = QKeySequenceEdit()
            editor.setObjectName(f"keyEdit_{spec.id}")
            editor.setAccessibleName(self.tr("Key for {0}").format(self.tr(action_name(spec.id))))
            editor.setMaximumSequenceLength(1)
            editor.setClearButtonEnabled(True)
            editor.editingFinished.connect(lambda a=spec.id: self._edited(a))
            editor.keySequenceChanged.connect(lambda seq, a=spec.id: self._cleared(a, seq))
            self.editors[spec.id] = editor
            self.table.setCellWidget(row, 1, editor)
            self.table.setItem(row, 2, QTableWidgetItem())
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Fixed)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        self.table.setColumnWidth(1, 170)
        self.table.verticalHeader().setDefaultSectionSize(self.table.fontMetrics().height() + 14)
        hint = QLabel(
            self.tr("Click a key field and press the new key. A key can belong to one action only.")
        )
        hint.setTextFormat(Qt.TextFormat.PlainText)
        hint.setWordWrap(True)
        restore = QPushButton(self.tr("&Restore defaults"))
        restore.setObjectName("restoreShortcuts")
        restore.clicked.connect(self.restore_defaults)
        self.restore_button = restore
        buttons = QHBoxLayout()
        buttons.addWidget(hint, 1)
        buttons.addWidget(restore)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table, 1)
        layout.addLayout(buttons)
        self._show_all()

    # --- editing -------------------------------------------------------------------------

    def set_key(self, action_id: ActionId, keys: QKeySequence) -> bool:
        """Bind `keys` (empty: none) as the action's only key; False, with a message, on a conflict."""
        other = conflict(action_id, keys, self.keys)
        if other is not None:
            text = keys.toString(QKeySequence.SequenceFormat.NativeText)
            message = self.tr(
                "{0} is already the key for “{1}”. Choose another key, or change that one first."
            ).format(text, self.tr(action_name(other)))
            self._show(action_id)
            self.refused.emit(message)
            box = self.refusal_box = QMessageBox(
                QMessageBox.Icon.Warning, self.tr("Key already in use"), "", parent=self
            )
            box.setTextFormat(Qt.TextFormat.PlainText)
            box.setText(message)
            box.open()
            return False
        self.keys[action_id] = [] if keys.isEmpty() else [keys]
        self._show(action_id)
        return True

    def _edited(self, action_id: ActionId) -> None:
        typed = self.editors[action_id].keySequence()
        current = self.keys[action_id]
        if current and typed == current[0]:
            return
        self.set_key(action_id, typed)

    def _cleared(self, action_id: ActionId, keys: QKeySequence) -> None:
        # The editor also empties itself when a new key press starts: only a field still empty
        # once events settle was cleared on purpose (the clear button): no key for this action.
        if keys.isEmpty():
            QTimer.singleShot(0, self, lambda: self._still_cleared(action_id))

    def _still_cleared(self, action_id: ActionId) -> None:
        if self.editors[action_id].keySequence().isEmpty() and self.keys[action_id]:
            self.keys[action_id] = []
            self._show(action_id)

    def restore_defaults(self) -> None:
        self.keys = {s.id: default_keys(s.id) for s in REGISTRY}
        self._show_all()

    def overrides(self) -> dict[str, list[str]]:
        """Only what differs from the defaults, as portable strings (for Settings.shortcuts)."""
        return {
            str(action_id): [k.toString(QKeySequence.SequenceFormat.PortableText) for k in keys]
            for action_id, keys in self.keys.items()
            if keys != default_keys(action_id)
        }

    # --- showing -------------------------------------------------------------------------

    def _show_all(self) -> None:
        for action_id in self.keys:
            self._show(action_id)

    def _show(self, action_id: ActionId) -> None:
        keys = self.keys[action_id]
        editor = self.editors[action_id]
        editor.blockSignals(True)
        editor.setKeySequence(keys[0] if keys else QKeySequence())
        editor.blockSignals(False)
        row = [s.id for s in REGISTRY].index(action_id)
        item = self.table.item(row, 2)
        item.setText(", ".join(k.toString(QKeySequence.SequenceFormat.NativeText) for k in keys[1:]))
