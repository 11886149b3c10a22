"""The interaction pane: what came in (channel, time received) and the message thread.

Threads longer than `THREAD_LIMIT` show the first and last messages with a note and a button
to materialise the rest (at most 500 by the schema).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from PySide6.QtCore import QT_TRANSLATE_NOOP
from PySide6.QtWidgets import QHBoxLayout, QPushButton, QVBoxLayout, QWidget

from app.ui.formatting import span_text
from app.ui.ticket_panes.layout import Card, Form, Pane, pool_fill, pool_trim
from app.ui.ticket_panes.plain import TextBlock, muted, plain_label
from app.ui.ticket_panes.timefmt import parse_time, raw_time, time_text
from app.ui.ticket_panes.value_text import MASK, named, scalar_text

# Threads up to this many messages are shown whole; longer ones show the opening messages
# (context) and the latest ones (where the thread stands), with a button for the rest. Each
# message card costs ~3 ms to lay out, so 20 keeps even a huge thread near 60 ms.
THREAD_LIMIT = 20
THREAD_HEAD = 5
THREAD_TAIL = 15

_CHANNELS = {
    "email": QT_TRANSLATE_NOOP("TicketDetail", "Email"),
    "web_form": QT_TRANSLATE_NOOP("TicketDetail", "Web form"),
    "chat": QT_TRANSLATE_NOOP("TicketDetail", "Chat"),
    "phone_note": QT_TRANSLATE_NOOP("TicketDetail", "Phone note"),
    "crm_note": QT_TRANSLATE_NOOP("TicketDetail", "CRM note"),
    "event": QT_TRANSLATE_NOOP("TicketDetail", "Event"),
    "other": QT_TRANSLATE_NOOP("TicketDetail", "Other"),
}


class _MessageView(Card):
    def __init__(self) -> None:
        super().__init__()
        self.meta = muted(plain_label())
        self.meta.setAccessibleName(self.tr("Message sender and time"))
        self.body = TextBlock(self.tr("Message text"))
        self.layout_.addWidget(self.meta)
        self.layout_.addWidget(self.body)

    def set_message(self, message: Any, index: int, total: int, mask_pii: bool) -> None:
        message = message if isinstance(message, Mapping) else {"text": scalar_text(message)}
        parts = [self.tr("#{i} of {n}").format(i=index, n=total)] if total > 1 else []
        if "from" in message:
            parts.append(MASK if mask_pii else scalar_text(message.get("from")))
        if message.get("at"):
            parts.append(raw_time(message.get("at")))
        self.meta.setText("  ·  ".join(parts))
        self.meta.setVisible(bool(parts))
        self.body.set_text(scalar_text(message.get("text", "")))


class InteractionPane(Pane):
    def __init__(self) -> None:
        super().__init__("interactionPane", self.tr("Interaction"), self.tr("What came in"))
        self._interaction: Mapping[str, Any] | None = None
        self._mask_pii = False
        self._show_all = False
        self._message_pool: list[_MessageView] = []
        self._tail_pool: list[_MessageView] = []

        form = Form()
        self._channel = form.value_row(self.tr("Channel"))
        self._received = form.value_row(self.tr("Received"))
        self._message_count = form.value_row(self.tr("Messages"), self.tr("Message count"))
        self._form = form
        self.add(form)

        self._thread = QWidget()
        self._thread.setAccessibleName(self.tr("Message thread"))
        thread_layout = QVBoxLayout(self._thread)
        thread_layout.setContentsMargins(0, self.fontMetrics().height() // 3, 0, 0)
        thread_layout.setSpacing(self.fontMetrics().height() // 2)
        self._head_box = QVBoxLayout()
        self._head_box.setSpacing(thread_layout.spacing())
        self._tail_box = QVBoxLayout()
        self._tail_box.setSpacing(thread_layout.spacing())
        self._gap = QWidget()
        gap_layout = QHBoxLayout(self._gap)
        gap_layout.setContentsMargins(0, 0, 0, 0)
        self._gap_note = muted(plain_label(selectable=False))
        self.gap_button = QPushButton()
        self.gap_button.clicked.connect(self._expand_thread)
        gap_layout.addWidget(self._gap_note, 1)
        gap_layout.addWidget(self.gap_button)
        thread_layout.addLayout(self._head_box)
        thread_layout.addWidget(self._gap)
        thread_layout.addLayout(self._tail_box)
        self.add(self._thread)
        self.finish()

    def collapse(self) -> None:
        """The next `show_interaction` shows a long thread as head and tail again."""
        self._show_all = False

    def show_interaction(self, interaction: Mapping[str, Any], mask_pii: bool) -> None:
        self._interaction = interaction
        self._mask_pii = mask_pii
        self._form.show_value(self._channel, named(_CHANNELS, interaction.get("channel", "other")))
        messages = interaction.get("messages") or []
        if not isinstance(messages, Sequence) or isinstance(messages, str):
            messages = [messages]
        total = len(messages)
        self._form.show_value(self._message_count, str(total) if total != 1 else "")

        if total <= THREAD_LIMIT or self._show_all:
            head, tail = list(enumerate(messages, 1)), []
        else:
            head = list(enumerate(messages[:THREAD_HEAD], 1))
            tail = list(enumerate(messages[-THREAD_TAIL:], total - THREAD_TAIL + 1))
        # Re-showing dozens of cards one by one inside a visible parent costs a relayout each;
        # with the container hidden the changes are free and it is shown once at the end.
        self._thread.hide()
        if len(self._message_pool) > THREAD_LIMIT and len(head) <= THREAD_LIMIT:
            pool_trim(self._message_pool, THREAD_LIMIT)
        for view, (index, message) in zip(
            pool_fill(self._message_pool, self._head_box, _MessageView, len(head)), head, strict=True
        ):
            view.set_message(message, index, total, mask_pii)
        for view, (index, message) in zip(
            pool_fill(self._tail_pool, self._tail_box, _MessageView, len(tail)), tail, strict=True
        ):
            view.set_message(message, index, total, mask_pii)
        hidden = total - len(head) - len(tail)
        self._gap.setVisible(hidden > 0)
        if hidden > 0:
            self._gap_note.setText(
                self.tr("… {n} messages not shown (#{a} to #{b})").format(
                    n=hidden, a=THREAD_HEAD + 1, b=total - THREAD_TAIL
                )
            )
            self.gap_button.setText(self.tr("Show all {n}").format(n=total))
        self._thread.show()

    def _expand_thread(self) -> None:
        if self._interaction is not None:
            self._show_all = True
            self.show_interaction(self._interaction, self._mask_pii)

    def refresh_times(self, now: datetime) -> None:
        """The 'received' row, which says how long ago that was."""
        interaction = self._interaction or {}
        received = parse_time(interaction.get("received_at"))
        if received is not None:
            text = self.tr("{time} ({span} ago)").format(
                time=time_text(received), span=span_text(now - received)
            )
        else:
            text = raw_time(interaction.get("received_at")) if interaction.get("received_at") else None
        self._form.show_value(self._received, text)
