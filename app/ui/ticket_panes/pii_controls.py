"""The personal-data line in the subject header: whether names and contact details are hidden,
and the Reveal / Hide button.

Personal values reach the window only from the store, on demand (app.core.pii_access), and only
into memory: TicketDetail keeps them as an overlay for the ticket on screen and drops them when
another ticket opens. This widget only shows the state and asks; the window does the fetching
(and the audit entry) on a worker lane.
"""

from __future__ import annotations

import enum

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QPushButton, QWidget

from app.ui.ticket_panes.plain import muted, plain_label


class PiiState(enum.Enum):
    NONE = "none"  # the ticket has no personal fields, or they are shown by role
    HIDDEN = "hidden"  # masked; Reveal offered when the role may reveal
    REVEALING = "revealing"  # asked the store, waiting
    REVEALED = "revealed"  # shown after a reveal (audited)
    SHOWN = "shown"  # shown because this role sees personal data
    UNAVAILABLE = "unavailable"  # masked, and the store could not be asked (offline, refused)


class PiiControls(QWidget):
    reveal_clicked = Signal()
    hide_clicked = Signal()

    def __init__(self) -> None:
        super().__init__()
        self.setObjectName("piiControls")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.note = muted(plain_label(selectable=False, wrap=False))
        self.note.setObjectName("piiNote")
        self.note.setAccessibleName(self.tr("Personal data"))
        self.button = QPushButton()
        self.button.setObjectName("revealPii")
        self.button.clicked.connect(self._clicked)
        layout.addWidget(self.note)
        layout.addWidget(self.button)
        self.state = PiiState.NONE
        self.show_state(PiiState.NONE, may_reveal=False)

    def show_state(self, state: PiiState, *, may_reveal: bool, message: str = "") -> None:
        self.state = state
        notes = {
            PiiState.NONE: "",
            PiiState.HIDDEN: self.tr("Personal data hidden for your role"),
            PiiState.REVEALING: self.tr("Asking the store…"),
            PiiState.REVEALED: self.tr("Personal data revealed: recorded in the audit log"),
            PiiState.SHOWN: "",
            PiiState.UNAVAILABLE: message or self.tr("Personal data cannot be shown now"),
        }
        self.note.setText(notes[state])
        self.note.setVisible(bool(notes[state]))
        offer = state in (PiiState.HIDDEN, PiiState.REVEALING, PiiState.UNAVAILABLE) and may_reveal
        self.button.setVisible(offer or state is PiiState.REVEALED)
        self.button.setEnabled(state is not PiiState.REVEALING)
        self.button.setText(self.tr("Hide") if state is PiiState.REVEALED else self.tr("Reveal"))
        # No tooltip: nothing in the ticket panes may render as rich text (see plain.py).
        self.button.setAccessibleDescription(
            self.tr("Hide the personal data again")
            if state is PiiState.REVEALED
            else self.tr("Show name and contact details of this ticket; the reveal is audited")
        )
        self.setVisible(bool(notes[state]) or self.button.isVisibleTo(self))

    def _clicked(self) -> None:
        if self.state is PiiState.REVEALED:
            self.hide_clicked.emit()
        else:
            self.reveal_clicked.emit()
