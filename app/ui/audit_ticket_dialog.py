"""A ticket as the reviewer of an audit entry saw it, in the same panes the Review tab uses.

Personal fields start masked: showing them is a "PII revealed" event the browser records. Their
values come from the store's `ticket_pii` when asked for (the browser fetches them).
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QPushButton, QVBoxLayout, QWidget

from app.core.domain import parse_rfc3339
from app.core.governance import SeenTicket, TrailRow
from app.ui.audit_model import event_label, local_time
from app.ui.ticket_panes import TicketDetail, plain_label
from app.ui.ticket_panes.plain import bold, muted


def entry_summary(row: TrailRow) -> str:
    parts = [f"{event_label(row.event)} by {row.actor} ({row.role.replace('_', ' ')})", local_time(row.at)]
    parts += [value for value in (row.action, row.reason_code, row.model_version) if value]
    return "  ·  ".join(parts)


class SeenTicketDialog(QDialog):
    reveal_requested = Signal()  # the viewer asked to see the masked personal fields

    def __init__(self, row: TrailRow, seen: SeenTicket, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("seenTicketDialog")
        self.setWindowTitle(self.tr("Ticket as seen — {0}").format(row.external_id or row.ticket_id))
        self.row = row
        self.seen = seen
        self.summary = bold(plain_label(entry_summary(row)))
        self.summary.setObjectName("seenSummary")
        self.note = muted(plain_label(seen.note))
        self.note.setObjectName("seenNote")
        if seen.purged:
            self.note.setStyleSheet("color: #b9770e;")  # amber: something was removed
        self.detail = TicketDetail()
        self.detail.set_pii_masked(True)
        # Relative times ("due in 2 h", "data 3 days old") as they read when the entry was written.
        self.detail.show_ticket(seen.ticket, now=parse_rfc3339(row.at))
        self.detail.setVisible(seen.ticket is not None)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        self.reveal_button = QPushButton(self.tr("Show personal data"))
        self.reveal_button.setObjectName("revealPersonalData")
        self.reveal_button.setEnabled(seen.ticket is not None)
        self.reveal_button.clicked.connect(self.reveal)
        buttons.addButton(self.reveal_button, QDialogButtonBox.ButtonRole.ActionRole)

        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.note)
        layout.addWidget(self.detail, 1)
        layout.addWidget(buttons)
        if seen.ticket is not None:
            self.resize(1280, 780)

    def reveal(self) -> None:
        self.detail.set_pii_masked(False)
        self.reveal_button.setEnabled(False)
        self.reveal_requested.emit()
