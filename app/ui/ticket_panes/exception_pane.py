"""The exception pane: why a human must look, the risk, routing and earlier decisions."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from PySide6.QtCore import QT_TRANSLATE_NOOP
from PySide6.QtWidgets import QVBoxLayout, QWidget

from app.core.domain import Decision, TicketView
from app.ui.formatting import span_text
from app.ui.ticket_panes.layout import Card, Form, Pane, pool_fill
from app.ui.ticket_panes.plain import TextBlock, bold, mono, muted, plain_label, section_title
from app.ui.ticket_panes.timefmt import as_utc, time_text
from app.ui.ticket_panes.tones import badge, set_tone
from app.ui.ticket_panes.value_text import amount_text, named, scalar_text

DUE_SOON = timedelta(hours=4)

_QUEUES = {
    "review": QT_TRANSLATE_NOOP("TicketDetail", "Review"),
    "human_only": QT_TRANSLATE_NOOP("TicketDetail", "Human only"),
    "escalation": QT_TRANSLATE_NOOP("TicketDetail", "Escalation"),
    "sample_audit": QT_TRANSLATE_NOOP("TicketDetail", "Sample audit"),
}
_STATUSES = {
    "open": QT_TRANSLATE_NOOP("TicketDetail", "Open"),
    "awaiting_clarification": QT_TRANSLATE_NOOP("TicketDetail", "Awaiting clarification"),
    "decided": QT_TRANSLATE_NOOP("TicketDetail", "Decided"),
    "escalated": QT_TRANSLATE_NOOP("TicketDetail", "Escalated"),
    "conflict": QT_TRANSLATE_NOOP("TicketDetail", "Conflict: two reviewers decided"),
    "awaiting_second_review": QT_TRANSLATE_NOOP("TicketDetail", "Awaiting a blind second review"),
}
_ACTIONS = {
    "approve": QT_TRANSLATE_NOOP("TicketDetail", "Approved"),
    "reject": QT_TRANSLATE_NOOP("TicketDetail", "Rejected"),
    "clarify": QT_TRANSLATE_NOOP("TicketDetail", "Clarification requested"),
    "escalate": QT_TRANSLATE_NOOP("TicketDetail", "Escalated"),
}
_RISK_TONES = {"low": "good", "medium": "warn", "high": "bad"}


def _texts(value: Any) -> list[str]:
    """A payload list (or a single value where a list belongs) as display strings."""
    return [scalar_text(v) for v in value] if isinstance(value, list) else [scalar_text(value)]


class _DecisionView(Card):
    def __init__(self) -> None:
        super().__init__()
        self.title = bold(plain_label())
        self.title.setAccessibleName(self.tr("Decision"))
        self.meta = muted(plain_label())
        self.meta.setAccessibleName(self.tr("Decided by and when"))
        self.note = TextBlock(self.tr("Decision note"))
        self.layout_.addWidget(self.title)
        self.layout_.addWidget(self.meta)
        self.layout_.addWidget(self.note)

    def set_decision(self, decision: Decision) -> None:
        self.title.setText(f"{named(_ACTIONS, str(decision.action))}  ·  {decision.reason_code}")
        meta = [f"{decision.reviewer} ({decision.role})", time_text(decision.decided_at)]
        status = str(decision.status)
        if status != "final":
            meta.append(status)
        self.meta.setText("  ·  ".join(meta))
        set_tone(self.title, "bad" if status == "conflict" else None)
        self.note.setVisible(bool(decision.note))
        self.note.set_text(decision.note or "")


class ExceptionPane(Pane):
    def __init__(self) -> None:
        super().__init__("exceptionPane", self.tr("Exception"), self.tr("Why a human must look"))
        self._due_at: datetime | None = None
        self._decision_pool: list[_DecisionView] = []
        card = Card()
        self.exception_code = mono(muted(plain_label()))
        self.exception_code.setAccessibleName(self.tr("Exception code"))
        self.exception_summary = TextBlock(self.tr("Exception summary"), emphasis=1.1)
        self.exception_details = TextBlock(self.tr("Exception details"))
        card.layout_.addWidget(self.exception_code)
        card.layout_.addWidget(self.exception_summary)
        card.layout_.addWidget(self.exception_details)
        self.add(card)

        self._risk_title = section_title(self.tr("Risk"))
        self.add(self._risk_title)
        self._sensitive = badge(self.tr("⚠ Sensitive: handle with care"), "bad")
        self._sensitive.setAccessibleName(self.tr("Sensitive"))
        self.add(self._sensitive)
        form = Form()
        self._risk_tier = form.value_row(self.tr("Tier"), self.tr("Risk tier"))
        self._risk_amount = form.value_row(self.tr("Amount"), self.tr("Amount at stake"))
        self._risk_flags = form.value_row(self.tr("Flags"), self.tr("Risk flags"))
        self._risk_form = form
        self.add(form)

        self.add(section_title(self.tr("Routing")))
        form = Form()
        self.due = form.value_row(self.tr("Due"), self.tr("Due time"))
        self._queue = form.value_row(self.tr("Queue"))
        self._priority = form.value_row(self.tr("Priority"))
        self._assignee = form.value_row(self.tr("Assignee"))
        self.status = form.value_row(self.tr("Status"))
        self._routing_form = form
        self.add(form)

        self._triggers_title = section_title(self.tr("Triggers"))
        self._triggers = plain_label()
        self._triggers.setAccessibleName(self.tr("Triggers"))
        self.add(self._triggers_title)
        self.add(self._triggers)

        self._decisions_title = section_title(self.tr("Previous decisions"))
        self._decisions = QWidget()
        self._decisions.setAccessibleName(self.tr("Previous decisions"))
        self._decisions_box = QVBoxLayout(self._decisions)
        self._decisions_box.setContentsMargins(0, 0, 0, 0)
        self._decisions_box.setSpacing(self.fontMetrics().height() // 3)
        self.add(self._decisions_title)
        self.add(self._decisions)
        self.finish()

    def show_exception(self, ticket: TicketView, payload: Mapping[str, Any]) -> None:
        self._due_at = ticket.due_at
        exception = payload.get("exception") or {}
        self.exception_code.setText(scalar_text(exception.get("code", "")))
        self.exception_summary.set_text(scalar_text(exception.get("summary", "")))
        details = exception.get("details")
        self.exception_details.set_text(scalar_text(details) if details else "")
        self.exception_details.setVisible(bool(details))
        triggers = _texts(exception.get("triggers") or [])
        self._triggers.setText("\n".join(f"•  {t}" for t in triggers))
        self._triggers_title.setVisible(bool(triggers))
        self._triggers.setVisible(bool(triggers))

        risk = payload.get("risk") or {}
        form = self._risk_form
        tier = risk.get("tier")
        form.show_value(self._risk_tier, scalar_text(tier).capitalize() if tier else None)
        set_tone(self._risk_tier, _RISK_TONES.get(str(tier)))
        form.show_value(self._risk_amount, amount_text(risk.get("amount"), risk.get("currency")))
        flags = _texts(risk.get("flags") or [])
        form.show_value(self._risk_flags, ", ".join(flags))
        self._sensitive.setVisible(risk.get("sensitive") is True)
        self._risk_title.setVisible(bool(tier or flags or risk.get("sensitive") or risk.get("amount")))

        routing = payload.get("routing") or {}
        form = self._routing_form
        form.show_value(self._queue, named(_QUEUES, ticket.queue))
        form.show_value(self._priority, self.tr("{p} of 100").format(p=ticket.priority))
        assignee = ticket.claimed_by or routing.get("assignee")
        form.show_value(self._assignee, scalar_text(assignee) if assignee else None)
        form.show_value(self.status, named(_STATUSES, ticket.status))
        set_tone(self.status, "bad" if ticket.status == "conflict" else None)

        decisions = list(ticket.decisions or [])
        for view, decision in zip(
            pool_fill(self._decision_pool, self._decisions_box, _DecisionView, len(decisions)),
            decisions,
            strict=True,
        ):
            view.set_decision(decision)
        self._decisions_title.setVisible(bool(decisions))
        self._decisions.setVisible(bool(decisions))

    def refresh_times(self, now: datetime) -> None:
        """The due row: how long is left (or overdue by how much), and when exactly."""
        if self._due_at is None:
            self._routing_form.show_value(self.due, self.tr("No due time"))
            set_tone(self.due, None)
            return
        due = as_utc(self._due_at)
        left = due - now
        if left < timedelta(0):
            text, tone = self.tr("overdue by {span}").format(span=span_text(left)), "bad"
        else:
            text = self.tr("due in {span}").format(span=span_text(left))
            tone = "warn" if left < DUE_SOON else None
        self._routing_form.show_value(self.due, f"{text}  ·  {time_text(due)}")
        set_tone(self.due, tone)
