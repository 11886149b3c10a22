"""The compact header above the panes: who or what the ticket is about, and which ticket it is."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QSizePolicy, QVBoxLayout, QWidget

from app.core.domain import TicketView
from app.ui.ticket_panes.pii_controls import PiiControls
from app.ui.ticket_panes.plain import bold, muted, plain_label
from app.ui.ticket_panes.tones import badge
from app.ui.ticket_panes.value_text import MASK, pairs, scalar_text


class SubjectHeader(QWidget):
    """Kind, name, value tier and a sensitive flag; reference and contact, with the personal-data
    line (hidden / Reveal); subject attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.setObjectName("subjectHeader")
        self.setAccessibleName(self.tr("Subject"))
        unit = self.fontMetrics().height()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(unit, unit * 2 // 3, unit, unit * 2 // 3)
        layout.setSpacing(unit // 4)

        top = QHBoxLayout()
        top.setSpacing(unit // 2)
        self._kind = badge("", "neutral")
        self._kind.setAccessibleName(self.tr("Subject kind"))
        self.subject_name = bold(plain_label(wrap=False, capped=True), 1.3)
        self.subject_name.setAccessibleName(self.tr("Display name"))
        self._tier = badge("", "neutral")
        self._tier.setAccessibleName(self.tr("Value tier"))
        self.ticket_identity = muted(plain_label(wrap=False, capped=True))
        self.ticket_identity.setAccessibleName(self.tr("Workflow and ticket id"))
        self.ticket_identity.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.subject_name.setSizePolicy(QSizePolicy.Policy.Maximum, QSizePolicy.Policy.Preferred)
        top.addWidget(self._kind, 0, Qt.AlignmentFlag.AlignVCenter)
        top.addWidget(self.subject_name)
        top.addWidget(self._tier, 0, Qt.AlignmentFlag.AlignVCenter)
        # Repeated up here so a sensitive ticket is obvious before anyone scrolls.
        self._sensitive = badge(self.tr("⚠ Sensitive"), "bad")
        self._sensitive.setAccessibleName(self.tr("Sensitive"))
        top.addWidget(self._sensitive, 0, Qt.AlignmentFlag.AlignVCenter)
        top.addStretch(1)
        top.addWidget(self.ticket_identity)
        layout.addLayout(top)

        self.subject_contact = plain_label(capped=True)
        self.subject_contact.setAccessibleName(self.tr("Reference, organization and contact"))
        self.subject_attributes = muted(plain_label(capped=True))
        self.subject_attributes.setAccessibleName(self.tr("Subject attributes"))
        self.pii = PiiControls()
        contact_row = QHBoxLayout()
        contact_row.setSpacing(unit // 2)
        contact_row.addWidget(self.subject_contact, 1)
        contact_row.addWidget(self.pii, 0, Qt.AlignmentFlag.AlignVCenter)
        layout.addLayout(contact_row)
        layout.addWidget(self.subject_attributes)

    def show_subject(self, ticket: TicketView, payload: Mapping[str, Any], mask_pii: bool) -> None:
        subject = payload.get("subject") or {}
        self._kind.setText(scalar_text(subject.get("kind", "other")).upper())
        name = subject.get("display_name")
        self.subject_name.setText(
            MASK if mask_pii and name else scalar_text(name) if name else self.tr("(no name)")
        )
        tier = subject.get("value_tier")
        self._tier.setText(self.tr("Value tier: {tier}").format(tier=scalar_text(tier)) if tier else "")
        self._tier.setVisible(bool(tier))
        self.ticket_identity.setText(f"{ticket.workflow}  ·  {ticket.source} / {ticket.external_id}")
        risk = payload.get("risk") or {}
        self._sensitive.setVisible(risk.get("sensitive") is True)

        contact = [scalar_text(subject.get("ref", ""))]
        if subject.get("organization"):
            contact.append(scalar_text(subject["organization"]))
        for key in ("email", "phone"):
            if subject.get(key):
                contact.append(MASK if mask_pii else scalar_text(subject[key]))
        self.subject_contact.setText("  ·  ".join(contact))
        attributes = pairs(subject.get("attributes"))
        # Always one line at least, so the panes below do not jump as the reviewer moves on.
        self.subject_attributes.setText("   ·   ".join(attributes) or self.tr("No attributes"))
