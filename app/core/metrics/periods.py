"""Time buckets for series: UTC days for short ranges, ISO weeks (starting Monday) for long ones."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Literal

Period = Literal["day", "week"]
DAILY_UP_TO_DAYS = 45


def choose_period(start: datetime, end: datetime) -> Period:
    return "day" if end - start <= timedelta(days=DAILY_UP_TO_DAYS) else "week"


def day_of(moment: datetime) -> date:
    return (moment if moment.tzinfo is UTC else moment.astimezone(UTC)).date()


def bucket_of(moment: datetime, period: Period) -> str:
    """The bucket a moment falls in, as the ISO date of its first day."""
    return _bucket_of_day(day_of(moment), period)


@lru_cache(maxsize=4096)
def _bucket_of_day(day: date, period: Period) -> str:
    if period == "week":
        day -= timedelta(days=day.weekday())
    return day.isoformat()


def bucket_of_day(day: date, period: Period) -> str:
    """The bucket a UTC day falls in."""
    return _bucket_of_day(day, period)


def buckets_between(start: datetime, end: datetime, period: Period) -> list[str]:
    """Every bucket from the one holding `start` to the one holding the last moment before `end`."""
    if end <= start:
        return []
    step = timedelta(days=7 if period == "week" else 1)
    first = date.fromisoformat(bucket_of(start, period))
    last = date.fromisoformat(bucket_of(end - timedelta(microseconds=1), period))
    out = []
    while first <= last:
        out.append(first.isoformat())
        first += step
    return out
