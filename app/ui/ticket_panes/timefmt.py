"""Points in time as display text. Durations are worded by app.ui.formatting.span_text."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from app.core.domain import parse_rfc3339
from app.ui.ticket_panes.value_text import scalar_text


def as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse_time(text: Any) -> datetime | None:
    """An RFC 3339 payload timestamp, or None when it is missing or unparsable."""
    if not isinstance(text, str) or not text:
        return None
    try:
        return parse_rfc3339(text)
    except ValueError:
        return None


def time_text(moment: datetime) -> str:
    """Reviewer's local time with its zone, minute precision: unambiguous and short."""
    local = as_utc(moment).astimezone()
    return f"{local:%Y-%m-%d %H:%M} {local.tzname() or ''}".rstrip()


def raw_time(value: Any) -> str:
    """A payload timestamp for display; an unparsable one is shown as received."""
    moment = parse_time(value)
    return time_text(moment) if moment else scalar_text(value)
