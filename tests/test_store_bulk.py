"""store_bulk: a page of rows written set-based on Postgres (COPY to a temp table) leaves exactly
what executemany leaves, including awkward text and NULLs; the executemany fallback (no
TEMPORARY privilege) and SQLite agree; a refused row fails the statement as executemany does."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from helpers import BACKENDS, backend_url, pg_database
from sqlalchemy import Connection, exc, select

from app.core import store_bulk
from app.core.store import Store
from app.core.store_models import Workflow

WORKFLOWS = Workflow.__table__
pg_database = pytest.fixture(scope="module")(pg_database)
AWKWARD = ["tab\there", "new\nline", "back\\slash", "quote ' \" ", "\\N", "ünïcødé ✓", "", "{a,b}"]


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    store = Store.initialize(backend_url(request, tmp_path))
    yield store
    store.close()


def _rows(store: Store) -> list[tuple[Any, ...]]:
    with store.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(WORKFLOWS).order_by(WORKFLOWS.c.name))]


def _write(conn: Connection) -> None:
    at = datetime(2026, 11, 21, 18, 0, tzinfo=UTC)
    new = [
        {"name": f"bulk-{i}", "label": text, "created_at": at + timedelta(seconds=i)}
        for i, text in enumerate(AWKWARD)
    ]
    store_bulk.insert_rows(conn, WORKFLOWS, new)
    later = at.astimezone(UTC) + timedelta(days=1)
    store_bulk.update_rows(
        conn,
        WORKFLOWS,
        "name",
        [
            {"name": f"bulk-{i}", "label": f"{text}!", "created_at": later}
            for i, text in enumerate(AWKWARD[:4])
        ],
    )


def _expected() -> list[tuple[Any, ...]]:
    at = datetime(2026, 11, 21, 18, 0, tzinfo=UTC)
    return sorted(
        (
            f"bulk-{i}",
            f"{text}!" if i < 4 else text,
            at + timedelta(days=1) if i < 4 else at + timedelta(seconds=i),
        )
        for i, text in enumerate(AWKWARD)
    )


@pytest.mark.parametrize("may_stage", [True, False], ids=["set-based", "executemany"])
def test_a_page_of_rows_lands_exactly(store: Store, may_stage: bool) -> None:
    before = _rows(store)
    with store.engine.begin() as conn:
        if not may_stage:
            conn.connection.info["signoff_may_stage"] = False  # as without TEMPORARY privilege
        _write(conn)
        # A second page of the same columns in the same transaction starts from an empty table.
        store_bulk.insert_rows(
            conn,
            WORKFLOWS,
            [{"name": "bulk-z", "label": "z", "created_at": datetime(2026, 1, 1, tzinfo=UTC)}],
        )
    assert sorted(set(_rows(store)) - set(before)) == sorted(
        [*_expected(), ("bulk-z", "z", datetime(2026, 1, 1, tzinfo=UTC))]
    )


def test_a_refused_row_fails_the_whole_statement(store: Store) -> None:
    before = _rows(store)
    with pytest.raises(exc.DBAPIError), store.engine.begin() as conn:
        store_bulk.insert_rows(
            conn,
            WORKFLOWS,
            [
                {"name": "fine", "label": "ok", "created_at": datetime(2026, 1, 1, tzinfo=UTC)},
                {"name": "fine", "label": "twice", "created_at": datetime(2026, 1, 1, tzinfo=UTC)},
            ],
        )
    assert _rows(store) == before
    # and the connection is usable afterwards (the failed transaction was rolled back)
    with store.engine.begin() as conn:
        _write(conn)
    assert sorted(set(_rows(store)) - set(before)) == _expected()


def test_among_matches_in(store: Store) -> None:
    with store.engine.begin() as conn:
        _write(conn)
        names = conn.execute(
            select(WORKFLOWS.c.name).where(
                store_bulk.among(conn, WORKFLOWS.c.name, ["bulk-1", "bulk-3", "nope"])
            )
        ).scalars()
        assert sorted(names) == ["bulk-1", "bulk-3"]
        assert (
            conn.execute(select(WORKFLOWS.c.name).where(store_bulk.among(conn, WORKFLOWS.c.name, []))).all()
            == []
        )
