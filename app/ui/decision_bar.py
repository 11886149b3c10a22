"""The decision bar: Approve / Reject / Clarify, then a numbered reason picker.

Two keys decide (`A` then `1`). A clarification also needs its question, so for Clarify the
reason is held until the question is typed and Enter pressed. Nothing leaves this widget
without a reason code.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from app.core.domain import Action, ReasonCode

REASONS_PER_ROW = 4
ACTION_KEYS = {Action.APPROVE: "A", Action.REJECT: "R", Action.CLARIFY: "C"}
ACTION_TEXT = {Action.APPROVE: "Approve", Action.REJECT: "Reject", Action.CLARIFY: "Clarify"}


class DecisionBar(QWidget):
    decided = Signal(str, str, str)  # action, reason code, note
    picking_changed = Signal(bool)
    note_done = Signal()  # Enter in the note without a decision to complete: back to the queue

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("decisionBar")
        self._reasons: dict[Action, list[ReasonCode]] = {}
        self._action: Action | None = None
        self._held_reason: str | None = None
        self._action_keys: dict[Action, str] = dict(ACTION_KEYS)
        self._reason_keys: list[str] = [str(n) for n in range(1, 10)]

        self.action_buttons: dict[Action, QPushButton] = {}
        buttons = QHBoxLayout()
        for action in ACTION_KEYS:
            button = QPushButton()
            button.setObjectName(f"{action}Button")
            button.setAccessibleName(self.tr(ACTION_TEXT[action]))
            button.setCheckable(True)
            button.setMinimumHeight(34)
            button.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
            button.clicked.connect(lambda _checked=False, a=action: self.begin(a))
            buttons.addWidget(button)
            self.action_buttons[action] = button

        self.note = QLineEdit()
        self.note.setObjectName("noteEdit")
        self.note.setAccessibleName(self.tr("Decision note"))
        self.note.setClearButtonEnabled(True)
        self.note.setMaxLength(4000)
        self.note.returnPressed.connect(self._note_entered)

        self.prompt = QLabel()
        self.prompt.setObjectName("reasonPrompt")
        self.prompt.setTextFormat(Qt.TextFormat.PlainText)
        # A grid, four to a row: eight reject reasons on one line would widen the whole pane
        # and squeeze the queue beside it.
        self.reason_row = QGridLayout()
        self.reason_row.setSpacing(6)
        self.reason_buttons: list[QPushButton] = []  # the current action's, in key order
        self._reason_pool: list[QPushButton] = []
        picker = QWidget()
        picker.setObjectName("reasonPicker")
        picker_layout = QVBoxLayout(picker)
        picker_layout.setContentsMargins(0, 0, 0, 0)
        picker_layout.addWidget(self.prompt)
        picker_layout.addLayout(self.reason_row)
        self.picker = picker

        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 6)
        layout.addLayout(buttons)
        layout.addWidget(self.picker)
        layout.addWidget(self.note)
        self._reset_note_placeholder()
        self._label_action_buttons()
        self.cancel()
        self.set_ticket_reasons({})

    # --- state -------------------------------------------------------------------------

    @property
    def action(self) -> Action | None:
        return self._action

    @property
    def is_picking(self) -> bool:
        return self._action is not None

    def set_ticket_reasons(self, reasons: dict[Action, list[ReasonCode]]) -> None:
        """A new ticket is shown: its workflow's reason codes; any half-made decision is dropped."""
        self._reasons = reasons
        self.cancel()
        self.note.clear()
        for action, button in self.action_buttons.items():
            button.setEnabled(bool(reasons.get(action)))

    def begin(self, action: Action) -> None:
        if not self._reasons.get(action):
            self._sync_buttons()
            return
        self._action = action
        self._held_reason = None
        self._fill_reasons(self._reasons[action])
        label = ACTION_TEXT[action]
        self.prompt.setText(
            self.tr("{0}: pick a reason (1–{1}), Esc to cancel").format(
                self.tr(label), len(self._reasons[action])
            )
        )
        if action == Action.CLARIFY:
            self.note.setPlaceholderText(self.tr("Question to ask (required for a clarification)"))
        self.picker.show()
        self._sync_buttons()
        self.picking_changed.emit(True)

    def cancel(self) -> None:
        was_picking = self._action is not None
        self._action = None
        self._held_reason = None
        self.picker.hide()
        self._reset_note_placeholder()
        self._sync_buttons()
        if was_picking:
            self.picking_changed.emit(False)

    def choose(self, number: int) -> bool:
        """Pick reason `number` (1-based) of the open picker. True when a decision was emitted."""
        if self._action is None:
            return False
        reasons = self._reasons[self._action]
        if not 1 <= number <= len(reasons):
            return False
        code = reasons[number - 1].code
        note = self.note.text().strip()
        if self._action == Action.CLARIFY and not note:
            self._held_reason = code
            self.prompt.setText(self.tr("Type the question to ask, then press Enter"))
            for i, button in enumerate(self.reason_buttons, start=1):
                button.setChecked(i == number)
            self.note.setFocus()
            return False
        self._emit(code, note)
        return True

    def focus_note(self) -> None:
        self.note.setFocus()
        self.note.selectAll()

    def _note_entered(self) -> None:
        if self._action is not None and self._held_reason is not None:
            if self.note.text().strip():
                self._emit(self._held_reason, self.note.text().strip())
            else:
                self.prompt.setText(self.tr("A clarification needs its question: type it, then press Enter"))
            return
        # The note is written; the reason digit comes next and must reach the window, not the field.
        self.note_done.emit()

    def _emit(self, code: str, note: str) -> None:
        action = self._action
        assert action is not None
        self.cancel()
        self.note.clear()
        self.decided.emit(str(action), code, note)

    def set_keys(self, action_keys: dict[Action, str], reason_keys: list[str]) -> None:
        """The keys printed on the buttons, when the reviewer remapped them."""
        self._action_keys = {**ACTION_KEYS, **action_keys}
        self._reason_keys = reason_keys + [""] * (9 - len(reason_keys))
        self._label_action_buttons()
        if self._action is not None:
            self._fill_reasons(self._reasons[self._action])

    # --- looks -------------------------------------------------------------------------

    def _label_action_buttons(self) -> None:
        for action, button in self.action_buttons.items():
            key = self._action_keys.get(action, "")
            button.setText(f"{self.tr(ACTION_TEXT[action])}   {key}".rstrip())
            button.setToolTip(
                self.tr("{0} (key: {1})").format(self.tr(ACTION_TEXT[action]), key) if key else ""
            )

    def _fill_reasons(self, reasons: list[ReasonCode]) -> None:
        # The buttons are made once and relabelled: deleted and made anew at every key press,
        # the dead ones left the layout a tick later and the window was laid out again.
        shown = reasons[:9]
        while len(self._reason_pool) < len(shown):
            self._reason_pool.append(self._reason_button(len(self._reason_pool) + 1))
        for number, button in enumerate(self._reason_pool, start=1):
            if number > len(shown):
                button.hide()
                continue
            reason = shown[number - 1]
            key = self._reason_keys[number - 1]
            button.setText(f"{key}  {reason.label}" if key else reason.label)
            button.setObjectName(f"reason_{reason.code}")
            button.setAccessibleName(reason.label)
            button.setChecked(False)
            button.show()
        self.reason_buttons = self._reason_pool[: len(shown)]

    def _reason_button(self, number: int) -> QPushButton:
        button = QPushButton()
        button.setCheckable(True)
        button.clicked.connect(lambda _checked=False, n=number: self.choose(n))
        button.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.reason_row.addWidget(button, (number - 1) // REASONS_PER_ROW, (number - 1) % REASONS_PER_ROW)
        return button

    def _sync_buttons(self) -> None:
        for action, button in self.action_buttons.items():
            button.setChecked(action == self._action)

    def _reset_note_placeholder(self) -> None:
        self.note.setPlaceholderText(
            self.tr("Note for the decision (optional) — N to type, Enter to confirm")
        )
