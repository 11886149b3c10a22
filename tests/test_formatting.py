from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.ui.formatting import ago, due_text, percent, span

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (5, "5 s"),
        (59, "59 s"),
        (60, "1 min"),
        (3599, "59 min"),
        (3 * 3600 + 300, "3 h 05 min"),
        (7200, "2 h"),
        (17 * 3600 + 1440, "17 h"),
        (47 * 3600, "47 h"),
        (50 * 3600, "2 d 2 h"),
        (-90, "1 min"),
    ],
)
def test_span_is_compact_for_list_cells(seconds: int, text: str) -> None:
    assert span(seconds) == text


def test_due_text_reads_both_ways() -> None:
    assert due_text(NOW + timedelta(minutes=30), NOW) == "in 30 min"
    assert due_text(NOW - timedelta(hours=20), NOW) == "overdue 20 h"
    assert due_text(None, NOW) == "—"


def test_ago_and_percent() -> None:
    assert ago(None) == "never"
    assert ago(NOW - timedelta(seconds=10), NOW) == "10 s ago"
    assert percent(0.714) == "71 %"
