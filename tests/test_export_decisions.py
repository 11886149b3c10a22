"""`signoff export decisions` writes each line straight from raw columns (app/core/decision_export):
the text must be exactly what dumping `Decision.to_record()` gives, on both backends."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from helpers import BACKENDS, backend_url, example_tickets, make_decision, numbered, pg_database

from app.core.decision_export import _rfc3339, write_decisions
from app.core.domain import Action, to_rfc3339
from app.core.store import Store

pg_database = pytest.fixture(scope="module")(pg_database)


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    store = Store.initialize(backend_url(request, tmp_path))
    yield store
    store.close()


def reference(store: Store) -> str:
    """What the export wrote before it was made fast: every record through json.dumps."""
    return "".join(
        json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"
        for record in store.iter_decisions()
    )


def test_export_is_the_records_dumped_in_change_order(store: Store) -> None:
    tickets = example_tickets()
    store.ingest(numbered(tickets))
    notes = [
        None,
        'quote " backslash \\ slash / tab \t newline \n',
        "ünïcødé — 日本語 \U0001f600",
        "\x01\x1f\x7f",
        "",
    ]
    decisions = []
    for ticket, note in zip(tickets, notes, strict=True):
        decisions.append(
            make_decision(
                ticket,
                Action.REJECT,
                "wrong_segment",
                note=note,
                ai={"model": "m", "why": 'nested "quoted" ✓ \u2028', "scores": [0.1, 1e-07, 3], "z": None},
                decided_at=datetime(2026, 11, 21, 9, 30, 1, 987654, tzinfo=UTC),
            )
        )
    for decision in decisions:
        store.push_decisions([decision])
    out = io.StringIO()
    assert write_decisions(store, out, page=2) == 5
    assert out.getvalue() == reference(store)
    lines = out.getvalue().split("\n")[:-1]  # not splitlines: U+2028 is no line end here
    assert [json.loads(line)["decision_id"] for line in lines] == [d.decision_id for d in decisions]
    assert json.loads(lines[0])["decided_at"] == "2026-11-21T09:30:01.987Z"


def test_export_of_an_empty_store(store: Store) -> None:
    out = io.StringIO()
    assert (write_decisions(store, out), out.getvalue()) == (0, "")


@pytest.mark.parametrize(
    "value",
    [
        "2026-11-21 09:30:01.987654",  # as SQLAlchemy writes SQLite datetimes
        "2026-11-21 09:30:01.000000",
        "2026-11-21T09:30:01",  # raw text from another tool
        "2026-11-21 09:30:01.5+02:00",
        datetime(2026, 11, 21, 9, 30, 1, 999999, tzinfo=UTC),  # Postgres
    ],
)
def test_decided_at_as_to_rfc3339_formats_it(value: str | datetime) -> None:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    assert _rfc3339(value) == to_rfc3339(moment)
