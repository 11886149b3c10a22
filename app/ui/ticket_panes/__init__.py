"""Ticket detail: a compact subject header and the three panes a reviewer reads before deciding.

Modules: `detail` (TicketDetail, pane_texts), `subject_header` (with `pii_controls`: personal
data hidden, Reveal / Hide), `interaction_pane`, `assessment_pane`, `exception_pane`; the shared
pieces `plain` (the plain-text rule for untrusted ticket text), `tones` (colour by meaning),
`confidence`, `layout` (pane frame, cards, forms, widget pools), `value_text` and `timefmt`.
Durations are worded by app.ui.formatting.
"""

from app.ui.formatting import span_text
from app.ui.ticket_panes.confidence import ConfidenceBar, confidence_band
from app.ui.ticket_panes.detail import TicketDetail, pane_texts
from app.ui.ticket_panes.interaction_pane import THREAD_LIMIT
from app.ui.ticket_panes.plain import TextBlock, plain_label
from app.ui.ticket_panes.timefmt import time_text
from app.ui.ticket_panes.value_text import scalar_text

__all__ = [
    "THREAD_LIMIT",
    "ConfidenceBar",
    "TextBlock",
    "TicketDetail",
    "confidence_band",
    "pane_texts",
    "plain_label",
    "scalar_text",
    "span_text",
    "time_text",
]
