"""Ingest's speed paths (issue 7, P6) give exactly what the plain paths give: the SQLite store's
DBAPI writes against SQLAlchemy Core, one canonical encoding against two."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from helpers import example_tickets, make_ticket, numbered, sqlite_store
from sqlalchemy import select, text

from app.core import pii, store_ingest
from app.core.store import Store
from app.core.store_ingest_sqlite import sqlite_moment
from app.core.store_models import StoreTicket, Workflow
from app.core.store_pii_models import TicketPii
from app.core.validation import canonical_json

NOW = datetime(2026, 11, 21, 18, 0, 0, 123456, tzinfo=UTC)


@pytest.mark.parametrize(
    "moment",
    [
        NOW,
        datetime(2026, 5, 31, 23, 7, 51, tzinfo=UTC),
        datetime(2, 1, 1, tzinfo=UTC),
        datetime(9998, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(2026, 3, 1, 1, 30, tzinfo=timezone(timedelta(hours=5, minutes=30))),
        datetime(2026, 3, 1, 1, 30, tzinfo=timezone(timedelta(hours=-8))),
        None,
    ],
)
def test_sqlite_moment_is_what_sqlalchemy_writes(tmp_path: Path, moment: datetime | None) -> None:
    store = sqlite_store(tmp_path)
    try:
        dialect = store.engine.dialect
        column = StoreTicket.__table__.c.created_at.type
        assert sqlite_moment(moment) == column.dialect_impl(dialect).bind_processor(dialect)(moment)
    finally:
        store.close()


def test_sqlite_moment_refuses_a_naive_datetime() -> None:
    with pytest.raises(ValueError, match="naive datetime would be ambiguous"):
        sqlite_moment(datetime(2026, 1, 1))


def _rows(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    tables = [StoreTicket.__table__, TicketPii.__table__, Workflow.__table__]
    with store.engine.connect() as conn:
        rows = {t.name: [tuple(r) for r in conn.execute(select(t).order_by(*t.primary_key))] for t in tables}
        # The text SQLite holds, not what SQLAlchemy reads back from it.
        for t in tables[:2]:
            order = ", ".join(c.name for c in t.primary_key)
            raw = conn.execute(text(f"SELECT * FROM {t.name} ORDER BY {order}"))
            rows[f"raw {t.name}"] = [tuple(r) for r in raw]
    return rows


def _ingest_rounds(store: Store) -> list[tuple[int, int, int, list[tuple[int, str, str]]]]:
    first = example_tickets()
    several = make_ticket(external_id="several-senders")
    several["interaction"]["messages"] = [
        {"from": "a@example.org", "text": "one"},
        {"text": "no sender"},
        {"from": "", "text": "empty sender"},
        {"from": "b@example.org", "at": "2026-11-21T10:00:00+02:00", "text": "two"},
    ]
    no_pii = make_ticket(external_id="nothing-personal")
    for name in ("display_name", "email", "phone"):
        no_pii["subject"].pop(name, None)
    for message in no_pii["interaction"]["messages"]:
        message.pop("from", None)
    changed = copy.deepcopy(first[0])
    changed["ai"]["confidence"] = 0.42
    renamed = copy.deepcopy(first[1])
    renamed["subject"]["display_name"] = "Someone Else"
    decided = copy.deepcopy(first[2])
    decided["exception"]["summary"] = "new content for a decided ticket"
    twice = make_ticket(external_id="twice")
    twice_changed = make_ticket(external_id="twice", ai__confidence=0.2)
    outcomes = []
    for batch in (
        [*first, several, no_pii],
        [*first, changed, renamed, twice, twice_changed, twice_changed],
        [decided, changed],
    ):
        outcome = store.ingest(numbered(copy.deepcopy(batch)), batch_size=4)
        outcomes.append((outcome.inserted, outcome.updated, outcome.unchanged, outcome.refused))
        if batch[0] is first[0]:
            with store.engine.begin() as conn:  # a reviewer decided the third example
                conn.execute(
                    text("UPDATE tickets SET status = 'decided' WHERE external_id = :e"),
                    {"e": first[2]["external_id"]},
                )
    return outcomes


def test_sqlite_writes_store_what_core_stores(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_ingest, "utcnow", lambda: NOW)
    results = []
    for name, driver_level in (("fast", True), ("core", False)):
        monkeypatch.setattr(store_ingest, "driver_level", lambda _conn, on=driver_level: on)
        store = sqlite_store(tmp_path, f"{name}.sqlite3")
        try:
            results.append((_ingest_rounds(store), _rows(store)))
        finally:
            store.close()
    (fast_outcomes, fast_rows), (core_outcomes, core_rows) = results
    assert fast_outcomes == core_outcomes
    assert fast_outcomes[2][3], "the decided ticket's new content was refused"
    for table, rows in core_rows.items():
        assert fast_rows[table] == rows, table
    assert len(fast_rows["tickets"]) == 8 and len(fast_rows["ticket_pii"]) > 8  # revisions too


def _split_the_slow_way(ticket: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
    masked, values = pii.split(ticket)
    return canonical_json(masked), canonical_json(ticket), values


def _odd_tickets() -> list[dict[str, Any]]:
    """Tickets whose text holds what split_canonical's placeholders look like."""
    placeholder_summary = make_ticket(exception__summary="\x000\x00")
    placeholder_key = make_ticket()
    placeholder_key["subject"]["attributes"] = {"\x001\x00": "\x000\x00", "x": '"\x000\x00"'}
    placeholder_value = make_ticket(subject__email="\x001\x00", subject__display_name='\x000\x00 \\ " é')
    escaped_quote = make_ticket(exception__details='\\"\x000\x00\\"', subject__phone="+1 555 0100")
    odd_shapes = make_ticket()
    odd_shapes["interaction"]["messages"] = [{"from": "a@example.org", "text": "one"}, {"text": "x"}, "x"]
    empty: list[dict[str, Any]] = [{}, {"subject": None}]
    return [placeholder_summary, placeholder_key, placeholder_value, escaped_quote, odd_shapes, *empty]


@pytest.mark.parametrize("ticket", [*example_tickets(), *_odd_tickets()])
def test_split_canonical_is_split_then_encoded(ticket: dict[str, Any]) -> None:
    before = canonical_json(ticket)
    payload, whole, values = pii.split_canonical(ticket)
    slow_payload, slow_whole, slow_values = _split_the_slow_way(ticket)
    assert (payload, whole) == (slow_payload, slow_whole)
    assert list(values.items()) == list(slow_values.items())  # same paths, same order
    assert canonical_json(ticket) == before  # the input is left alone
