"""Human wording for durations, times and numbers: the one home of duration wording.

Two wordings, one for each place a duration is read:
- `span` (with `due_text` and `ago`): compact, for list cells and status lines: '45 s',
  '3 h 05 min', '17 h', '2 d 3 h'.
- `span_text`: for reading in the ticket detail, translatable: 'less than a minute',
  '3 h 5 min', '1 day 6 h', '2 days', '7 weeks'.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from PySide6.QtCore import QCoreApplication

from app.core.domain import utcnow

# pyside6-lupdate extracts translate("Context", "literal").
translate = QCoreApplication.translate


def span(seconds: float) -> str:
    seconds = abs(int(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 10:  # minutes still matter when the deadline is this close
        return f"{hours} h {minutes:02d} min" if minutes else f"{hours} h"
    if hours < 48:
        return f"{hours} h"
    return f"{hours // 24} d {hours % 24} h"


def span_text(delta: timedelta) -> str:
    """A human duration: '45 min', '3 h 20 min', '2 days', '7 weeks', '4 months'.

    Each unit starts at a count of 2 (1 day 6 h, then 2 days; 13 days, then 2 weeks), so every
    plural string is always plural and needs no Qt %n plural forms. Its strings stay in the
    "TicketDetail" translation context, where the ticket detail reads them.
    """
    minutes = int(abs(delta).total_seconds() // 60)
    if minutes < 1:
        return translate("TicketDetail", "less than a minute")
    if minutes < 60:
        return translate("TicketDetail", "{n} min").format(n=minutes)
    hours, rest = divmod(minutes, 60)
    if hours < 24:
        if rest:
            return translate("TicketDetail", "{h} h {m} min").format(h=hours, m=rest)
        return translate("TicketDetail", "{h} h").format(h=hours)
    days = hours // 24
    if days < 2:
        return (
            translate("TicketDetail", "1 day {h} h").format(h=hours - 24)
            if hours > 24
            else translate("TicketDetail", "1 day")
        )
    if days < 14:
        return translate("TicketDetail", "{n} days").format(n=days)
    if days < 60:
        return translate("TicketDetail", "{n} weeks").format(n=days // 7)
    if days < 730:
        return translate("TicketDetail", "{n} months").format(n=days // 30)
    return translate("TicketDetail", "{n} years").format(n=days // 365)


def due_text(due: datetime | None, now: datetime | None = None) -> str:
    if due is None:
        return "—"
    left = (due - (now or utcnow())).total_seconds()
    return f"in {span(left)}" if left >= 0 else f"overdue {span(left)}"


def ago(moment: datetime | None, now: datetime | None = None) -> str:
    if moment is None:
        return "never"
    return f"{span(((now or utcnow()) - moment).total_seconds())} ago"


def percent(value: float) -> str:
    return f"{value * 100:.0f} %"
