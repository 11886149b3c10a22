"""TicketDetail: the subject header over the three panes, and `pane_texts` to read them back.

Speed rule: `show_ticket` runs on every key press in the queue, so all widgets are built once and
only their text and visibility change; repeating parts (messages, decisions) come from pools that
grow on demand.

Personal data (the fields the schema marks PII) arrives masked from the replica. A role that
sees it (`set_pii_masked(False)`) gets it fetched from the store: `personal_data_wanted(id)`
asks, `show_personal_data` shows it. A role that sees the mask may be offered Reveal
(`set_reveal_allowed`): `reveal_requested(id)` asks, `show_personal_data(..., revealed=True)`
shows it, Hide or another ticket forgets it. `personal_data_unavailable` says why not (offline).
The values live only in this widget's memory, for the ticket on screen.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from PySide6.QtCore import QEvent, Qt, QTimer, Signal
from PySide6.QtGui import QMouseEvent, QPalette
from PySide6.QtWidgets import QFrame, QSplitter, QStackedWidget, QVBoxLayout, QWidget

from app.core import pii
from app.core.domain import TicketView, utcnow
from app.ui.ticket_panes.assessment_pane import AssessmentPane
from app.ui.ticket_panes.exception_pane import ExceptionPane
from app.ui.ticket_panes.interaction_pane import InteractionPane
from app.ui.ticket_panes.pii_controls import PiiState
from app.ui.ticket_panes.plain import bold, defer_selection, muted, plain_label, select_on_press, shown_text
from app.ui.ticket_panes.subject_header import SubjectHeader
from app.ui.ticket_panes.timefmt import as_utc
from app.ui.ticket_panes.tones import is_dark


class TicketDetail(QWidget):
    """Subject header plus three panes (interaction, AI assessment, exception) in a splitter."""

    reveal_requested = Signal(int)  # ticket id: the reviewer pressed Reveal
    personal_data_wanted = Signal(int)  # ticket id: a role that sees personal data opened it

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("ticketDetail")
        self._ticket: TicketView | None = None
        self._now: datetime | None = None
        self._mask_pii = False
        self._may_reveal = False
        self._personal: dict[str, Any] | None = None  # values for the ticket on screen, memory only
        self._pii_state = PiiState.NONE
        self._pii_message = ""
        # Relative times ("due in 20 min") would go stale while a reviewer reads; refresh them.
        self._clock = QTimer(self)
        self._clock.setInterval(30_000)
        self._clock.timeout.connect(self._refresh_times)

        self._stack = QStackedWidget()
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(self._stack)
        self._stack.addWidget(self._build_empty())
        content = QWidget()
        content_layout = QVBoxLayout(content)
        content_layout.setContentsMargins(0, 0, 0, 0)
        content_layout.setSpacing(0)
        self.subject_header = SubjectHeader()
        self.subject_header.pii.reveal_clicked.connect(self._reveal_clicked)
        self.subject_header.pii.hide_clicked.connect(self.hide_personal_data)
        content_layout.addWidget(self.subject_header)
        line = QFrame()
        line.setFrameShape(QFrame.Shape.HLine)
        line.setFrameShadow(QFrame.Shadow.Plain)
        line.setForegroundRole(QPalette.ColorRole.Mid)
        content_layout.addWidget(line)

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setObjectName("detailSplitter")
        self.splitter.setChildrenCollapsible(False)
        self.interaction_pane = InteractionPane()
        self.assessment_pane = AssessmentPane()
        self.exception_pane = ExceptionPane()
        for index, pane in enumerate(self._panes()):
            self.splitter.addWidget(pane)
            self.splitter.setStretchFactor(index, 1)
        # Equal thirds to start with; the owner may restoreState() a reviewer's own split.
        self.splitter.setSizes([1000, 1000, 1000])
        content_layout.addWidget(self.splitter, 1)
        self._stack.addWidget(content)
        # Widgets tests and callers reach directly, from when the panes were one module.
        self.confidence = self.assessment_pane.confidence
        self.signals = self.assessment_pane.signals
        self.due = self.exception_pane.due
        self._gap_button = self.interaction_pane.gap_button
        defer_selection(self)  # labels turn selectable when pressed (see plain.select_on_press)
        self.show_ticket(None)

    def _panes(self) -> tuple[InteractionPane, AssessmentPane, ExceptionPane]:
        return self.interaction_pane, self.assessment_pane, self.exception_pane

    def _build_empty(self) -> QWidget:
        page = QWidget()
        page.setObjectName("emptyState")
        layout = QVBoxLayout(page)
        layout.addStretch(1)
        self._empty_title = bold(plain_label(selectable=False), 1.3)
        self._empty_title.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        self._empty_hint = muted(plain_label(selectable=False))
        self._empty_hint.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        layout.addWidget(self._empty_title)
        layout.addWidget(self._empty_hint)
        layout.addStretch(2)
        return page

    # --- public API ---------------------------------------------------------------------------

    @property
    def ticket(self) -> TicketView | None:
        return self._ticket

    def set_pii_masked(self, masked: bool) -> None:
        """Mask fields the schema marks PII (name, email, phone, message senders) for this role.
        Unmasked, a ticket whose payload holds the store's mask asks for its values
        (`personal_data_wanted`)."""
        if masked != self._mask_pii:
            self._mask_pii = masked
            if self._ticket is not None:
                self._start_personal_data(self._ticket)
                self._render(self._ticket)

    def set_reveal_allowed(self, allowed: bool) -> None:
        """Offer Reveal on masked tickets (the store's setting lets this role reveal)."""
        self._may_reveal = allowed
        self._show_pii_state()

    @property
    def pii_state(self) -> PiiState:
        return self._pii_state

    def show_personal_data(self, ticket_id: int, values: Mapping[str, Any], *, revealed: bool) -> None:
        """Show the personal values fetched for a ticket, if it is still the one on screen.
        `revealed`: after a Reveal (audited), with a Hide button; else shown by role."""
        if self._ticket is None or self._ticket.id != ticket_id:
            return
        self._personal = dict(values)
        self._set_pii_state(PiiState.REVEALED if revealed else PiiState.SHOWN)
        self._render(self._ticket)

    def personal_data_unavailable(self, ticket_id: int, message: str) -> None:
        """The store could not be asked (offline) or refused: say so, keep the mask."""
        if self._ticket is None or self._ticket.id != ticket_id:
            return
        self._set_pii_state(PiiState.UNAVAILABLE, message)

    def hide_personal_data(self) -> None:
        """Forget revealed values and mask again (nothing to audit: nothing more is seen)."""
        self._personal = None
        if self._ticket is not None:
            self._start_personal_data(self._ticket)
            self._render(self._ticket)

    def _reveal_clicked(self) -> None:
        if self._ticket is not None and self._may_reveal:
            self._set_pii_state(PiiState.REVEALING)
            self.reveal_requested.emit(self._ticket.id)

    def _start_personal_data(self, ticket: TicketView) -> None:
        """The personal-data state of a freshly shown ticket (nothing fetched yet)."""
        self._personal = None
        payload = ticket.payload if isinstance(ticket.payload, Mapping) else {}
        if not pii.masked_paths(payload):
            state = PiiState.HIDDEN if self._mask_pii and pii.has_personal_values(payload) else PiiState.NONE
            self._set_pii_state(state)
        elif self._mask_pii:
            self._set_pii_state(PiiState.HIDDEN)
        else:
            self._set_pii_state(PiiState.REVEALING)
            self.personal_data_wanted.emit(ticket.id)

    def _set_pii_state(self, state: PiiState, message: str = "") -> None:
        self._pii_state, self._pii_message = state, message
        self._show_pii_state()

    def _show_pii_state(self) -> None:
        # Reveal is for masked roles only; a role that sees personal data just waits for it.
        may_reveal = self._may_reveal and self._mask_pii
        self.subject_header.pii.show_state(self._pii_state, may_reveal=may_reveal, message=self._pii_message)

    def show_ticket(
        self,
        ticket: TicketView | None,
        *,
        now: datetime | None = None,
        queue_empty: bool = False,
        filtered: bool = False,
    ) -> None:
        """Show one ticket, or the empty state for None. `now` pins relative times (tests);
        `filtered` says the view is empty because of filters, not because the work is done."""
        self._now = as_utc(now) if now is not None else None
        changed = ticket is None or self._ticket is None or ticket.id != self._ticket.id
        # Fetched personal values belong to one revision of one ticket: anything else forgets them.
        other_content = changed or self._ticket is None or ticket.revision != self._ticket.revision
        self._ticket = ticket
        if ticket is None:
            self._personal = None
            self._set_pii_state(PiiState.NONE)
            self._clock.stop()
            if queue_empty and filtered:
                self._empty_title.setText(self.tr("No tickets match this view"))
                self._empty_hint.setText(
                    self.tr(
                        "Clear the search or the filters above to see the whole queue. "
                        "The search looks at ids, summaries, organisations and proposals, "
                        "not names or emails."
                    )
                )
            elif queue_empty:
                self._empty_title.setText(self.tr("Queue is empty"))
                self._empty_hint.setText(self.tr("Nothing needs a human right now."))
            else:
                self._empty_title.setText(self.tr("No ticket selected"))
                self._empty_hint.setText(self.tr("Pick a ticket from the queue, or move with ↑ and ↓."))
            self._stack.setCurrentIndex(0)
            return
        if changed:
            self.interaction_pane.collapse()
        if other_content:
            self._start_personal_data(ticket)
        self._render(ticket)
        if changed:
            for pane in self._panes():
                pane.to_top()
        self._stack.setCurrentIndex(1)
        if now is None:
            self._clock.start()
        else:
            self._clock.stop()

    def visible_text(self) -> str:
        """Everything on screen, header and panes (or the empty state), one item per line."""
        if self._stack.currentIndex() == 0:
            return f"{self._empty_title.text()}\n{self._empty_hint.text()}"
        return "\n".join(pane_texts(self).values())

    # --- rendering ----------------------------------------------------------------------------

    def _render(self, ticket: TicketView) -> None:
        payload = ticket.payload if isinstance(ticket.payload, Mapping) else {}
        masked = self._mask_pii
        if self._personal is not None:
            payload, masked = pii.restore(payload, self._personal), False
        self.subject_header.show_subject(ticket, payload, masked)
        self.interaction_pane.show_interaction(payload.get("interaction") or {}, masked)
        # The detail's own theme: on a theme change it re-renders before its panes get the new palette.
        self.assessment_pane.show_assessment(payload.get("ai") or {}, dark=is_dark(self))
        self.exception_pane.show_exception(ticket, payload)
        self._refresh_times()

    def _refresh_times(self) -> None:
        """Everything that depends on 'now': received, data age, due."""
        if self._ticket is None:
            return
        now = self._now or utcnow()
        for pane in self._panes():
            pane.refresh_times(now)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if not select_on_press(self, event):
            super().mousePressEvent(event)

    def changeEvent(self, event: QEvent) -> None:
        # Semantic colours are picked for the current theme; re-pick them when it changes.
        theme_changed = event.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange)
        if theme_changed and self._ticket is not None:
            self._render(self._ticket)
        super().changeEvent(event)


def pane_texts(detail: TicketDetail) -> dict[str, str]:
    """All text now shown, per area: 'header', 'interaction', 'assessment', 'exception'.

    Hidden rows and unmaterialised messages are left out; in the empty state all are ''.
    """
    if detail._stack.currentIndex() == 0:
        return {"header": "", "interaction": "", "assessment": "", "exception": ""}
    return {
        "header": shown_text(detail.subject_header),
        "interaction": shown_text(detail.interaction_pane),
        "assessment": shown_text(detail.assessment_pane),
        "exception": shown_text(detail.exception_pane),
    }
