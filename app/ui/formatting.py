"""Short human wording for times and numbers in lists and status lines."""

from __future__ import annotations

from datetime import datetime

from app.core.domain import utcnow


def span(seconds: float) -> str:
    seconds = abs(int(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes:02d} min" if minutes else f"{hours} h"
    return f"{hours // 24} d {hours % 24} h"


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
