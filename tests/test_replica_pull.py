"""replica_pull.stage/commit: staged rows (a private, compact format) land in `tickets` exactly as
the store has them, the latest version of a ticket staged twice wins, and clearing the staging
leaves the connection's secure_delete setting as it found it. replica_fill (a pull into a replica
without tickets, straight into `tickets` in one transaction) stores exactly what a staged pull
stores, and a kill -9 in the middle of it leaves the replica empty; store_fetch reads the same
values as a SQLAlchemy select, on SQLite and on Postgres (in a session zone other than UTC)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from helpers import BACKENDS, backend_url, example_tickets, make_ticket, numbered, open_replica, pg_database
from sqlalchemy import select, update

from app.core import replica_fill, replica_pull, store_fetch, store_witness
from app.core.replica import TICKETS, Replica
from app.core.store import Store

pg_database = pytest.fixture(scope="module")(pg_database)
ROOT = Path(__file__).resolve().parents[1]


def _store_rows(store: Store) -> list[dict[str, Any]]:
    return store.pull_tickets(0, 1000)


def test_staged_tickets_land_as_the_store_has_them(tmp_path: Path) -> None:
    store = Store.initialize(f"sqlite:///{tmp_path / 'store.db'}")
    replica = open_replica(tmp_path, store)
    try:
        store.ingest(numbered([*example_tickets(), make_ticket(external_id='naïve ☃ "quoted"\nline')]))
        rows = _store_rows(store)
        # Awkward values the staging must carry exactly: a float with a long repr, a time in
        # another zone, no due time.
        rows[0] = {
            **rows[0],
            "confidence": 0.1 + 0.2,
            "due_at": None,
            "created_at": datetime(2026, 3, 1, 1, 2, 3, 456789, tzinfo=timezone(timedelta(hours=-5))),
        }
        with replica.engine.begin() as conn:
            replica_pull.begin(conn)
            replica_pull.stage(conn, rows[:2])
            replica_pull.stage(conn, rows[1:])  # one ticket in two pages: staged once
        with replica.engine.begin() as conn:
            assert replica_pull.commit(conn, rows[-1]["change_seq"]) == len(rows)
            got = {r.id: r._asdict() for r in conn.execute(select(TICKETS))}
        assert replica.pull_cursor == rows[-1]["change_seq"]
        for row in rows:
            expected = replica_pull.ticket_values(row)
            expected["status"] = row["status"]
            if expected["created_at"].tzinfo is not UTC:
                expected["created_at"] = expected["created_at"].astimezone(UTC)
            assert got[row["id"]] == expected
        assert got[rows[0]["id"]]["confidence"] == 0.1 + 0.2
    finally:
        replica.close()
        store.close()


def test_a_later_version_staged_first_is_not_overwritten(tmp_path: Path) -> None:
    store = Store.initialize(f"sqlite:///{tmp_path / 'store.db'}")
    replica = open_replica(tmp_path, store)
    try:
        store.ingest(numbered([make_ticket(external_id="t-1")]))
        (row,) = _store_rows(store)
        newer = {**row, "title": "newer", "change_seq": row["change_seq"] + 5}
        with replica.engine.begin() as conn:
            replica_pull.begin(conn)
            replica_pull.stage(conn, [newer])
            replica_pull.stage(conn, [row])
            replica_pull.commit(conn, newer["change_seq"])
            assert conn.execute(select(TICKETS.c.title)).scalar_one() == "newer"
    finally:
        replica.close()
        store.close()


def test_clearing_the_staging_puts_secure_delete_back(tmp_path: Path) -> None:
    store = Store.initialize(f"sqlite:///{tmp_path / 'store.db'}")
    replica = open_replica(tmp_path, store)
    try:
        store.ingest(numbered([make_ticket(external_id="t-1")]))
        for setting, name in ((0, "OFF"), (1, "ON"), (2, "FAST")):
            with replica.engine.begin() as conn:
                conn.exec_driver_sql(f"PRAGMA secure_delete = {name}").all()
                replica_pull.begin(conn)
                replica_pull.stage(conn, _store_rows(store))
                replica_pull.commit(conn, 0)
                assert conn.exec_driver_sql("PRAGMA secure_delete").scalar() == setting
                assert conn.exec_driver_sql("SELECT count(*) FROM pull_staging").scalar() == 0
    finally:
        replica.close()
        store.close()


# --- a pull into a replica without tickets (replica_fill) -----------------------------------------


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    url = backend_url(request, tmp_path)
    if request.param == "postgres":  # dates must come back as UTC whatever the session's zone
        store = Store.initialize(url)
        with store.engine.begin() as conn:
            conn.exec_driver_sql(
                "DO $$ BEGIN EXECUTE format('ALTER DATABASE %%I SET timezone = %%L', "
                "current_database(), 'America/New_York'); END $$"
            )
        store.close()
    return url


def _awkward_store(url: str) -> Store:
    store = Store.initialize(url)
    tickets = [*example_tickets(), make_ticket(external_id='naïve ☃ "quoted"\nline')]
    tickets += [make_ticket(external_id=f"t-{n}") for n in range(4)]
    store.ingest(numbered(tickets))
    table = store_fetch.TICKETS
    with store.engine.begin() as conn:  # as the policy leaves automated tickets: no due time
        conn.execute(update(table).where(table.c.external_id.in_(["t-1", "t-2"])).values(due_at=None))
    return store


def _staged_pull(replica: Replica, store: Store, page: int) -> int:
    """A pull the staged way, as Syncer does it for a replica that has tickets."""
    latest: dict[int, store_witness.TicketMark] = {}
    cursor = 0
    with replica.engine.begin() as conn:
        replica_pull.begin(conn)
    while rows := store.pull_tickets(cursor, page):
        with replica.engine.begin() as conn:
            replica_pull.stage(conn, rows)
        store_witness.keep_latest(latest, rows)
        cursor = rows[-1]["change_seq"]
    with replica.engine.begin() as conn:
        applied = replica_pull.commit(conn, cursor)
        store_witness.remember(conn, list(latest.values()), fresh=True, wide=None)
        replica_pull.settle_statuses(conn)
    return applied


def _contents(replica: Replica) -> tuple[Any, ...]:
    info = replica_pull.INFO
    with replica.engine.connect() as conn:
        rows = [tuple(r) for r in conn.execute(select(TICKETS).order_by(TICKETS.c.id))]
        witnesses = conn.execute(select(info.c.value).where(info.c.key == store_witness.WITNESS_KEY))
        schema = conn.exec_driver_sql("SELECT type, name, sql FROM sqlite_master ORDER BY name").all()
        return rows, replica.pull_cursor, witnesses.scalar_one_or_none(), schema


def test_the_fresh_insert_names_every_replica_column() -> None:
    assert sorted(replica_pull._FRESH_COLUMNS) == sorted(c.name for c in TICKETS.columns)


def test_store_fetch_reads_what_a_select_reads(store_url: str) -> None:
    store = _awkward_store(store_url)
    try:
        with store.engine.connect() as conn:
            table = store_fetch.TICKETS
            expected = [r._asdict() for r in conn.execute(select(table).order_by(table.c.change_seq))]
            assert store_fetch.ticket_dicts(conn, 0, 100) == expected
            assert store_fetch.ticket_dicts(conn, expected[2]["change_seq"], 3) == expected[3:6]
            as_text = store_fetch.ticket_rows(conn, 0, 100, dates_as_text=True)
        for row, text in zip(expected, as_text, strict=True):
            for i in store_fetch.DATES:
                value = row[store_fetch.COLUMNS[i]]
                assert text[i] == (None if value is None else store_fetch.utc_text(value))
        assert any(row["due_at"] is None for row in expected)
    finally:
        store.close()


@pytest.mark.parametrize(("dates", "indexes"), [("as fetched", "rebuilt"), ("through the processor", "kept")])
def test_a_fresh_fill_stores_what_a_staged_pull_stores(
    store_url: str, tmp_path: Path, dates: str, indexes: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = _awkward_store(store_url)
    staged, fresh = open_replica(tmp_path, store, "staged"), open_replica(tmp_path, store, "fresh")
    try:
        assert _staged_pull(staged, store, page=3) == 10
        if dates != "as fetched":  # a dialect writing another date format: converted per value
            monkeypatch.setattr(replica_pull, "_same_text", lambda _process: False)
        # Rebuilt: every page counts as big, so the queue indexes are dropped and put back.
        monkeypatch.setattr(replica_pull, "BULK_PAGE", 1 if indexes == "rebuilt" else 10**9)
        pages = []
        with fresh.engine.begin() as conn:
            assert replica_pull.is_empty(conn)
            progress = lambda _phase, done: pages.append(done)  # noqa: E731
            assert replica_fill.fill(conn, store, 0, 3, wide=None, progress=progress) == 10
            assert not replica_pull.is_empty(conn)
        assert pages == [3, 6, 9, 10]
        assert _contents(fresh) == _contents(staged)
    finally:
        staged.close()
        fresh.close()
        store.close()


def test_planner_statistics_keep_the_indexes_in_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = _awkward_store(f"sqlite:///{tmp_path / 'store.db'}")
    replica = open_replica(tmp_path, store)
    monkeypatch.setattr(replica_pull, "BULK_PAGE", 1)
    try:
        with replica.engine.begin() as conn:  # as some tool's ANALYZE leaves them
            conn.exec_driver_sql("ANALYZE")
            stat = "INSERT INTO sqlite_stat1 VALUES ('tickets', 'ix_tickets_status_due', '10 5 2 1')"
            conn.exec_driver_sql(stat)
        with replica.engine.begin() as conn:
            assert replica_fill.fill(conn, store, 0, 3, wide=None) == 10
        with replica.engine.connect() as conn:
            stats = conn.exec_driver_sql("SELECT idx FROM sqlite_stat1 WHERE tbl = 'tickets'").scalars().all()
        assert stats == ["ix_tickets_status_due"]
    finally:
        replica.close()
        store.close()


def test_a_ticket_met_twice_keeps_its_later_version(tmp_path: Path) -> None:
    store = _awkward_store(f"sqlite:///{tmp_path / 'store.db'}")
    replica = open_replica(tmp_path, store)
    try:
        with store.engine.connect() as conn:
            row = store_fetch.ticket_rows(conn, 0, 1, dates_as_text=True)[0]
        title = store_fetch.COLUMNS.index("title")
        newer = (*row[:title], "newer", *row[title + 1 :])
        with replica.engine.begin() as conn:
            writer = replica_pull.FreshWriter(conn)
            writer.write([row])
            writer.write([newer])
            assert conn.execute(select(TICKETS.c.title)).scalar_one() == "newer"
    finally:
        replica.close()
        store.close()


_KILLED_FILL = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from app.core import replica_fill, replica_pull
    from app.core.replica import Replica
    from app.core.store import Store

    store = Store.open(sys.argv[1])
    replica = Replica.open(Path(sys.argv[2]), store_id=store.store_id)

    replica_pull.BULK_PAGE = 1  # the queue indexes are dropped with the first page

    def progress(_phase, done):
        if done >= 4:  # two pages are in `tickets`, not committed
            os.kill(os.getpid(), signal.SIGKILL)

    with replica.engine.begin() as conn:
        replica_fill.fill(conn, store, 0, 2, wide=None, progress=progress)
    """
)


def test_a_kill_9_in_the_middle_of_a_fresh_fill_leaves_the_replica_empty(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    store = _awkward_store(url)
    path = tmp_path / "replica.sqlite3"
    before = Replica.open(path, store_id=store.store_id)
    schema = _contents(before)[3]
    before.close()
    try:
        child = subprocess.run(
            [sys.executable, "-c", _KILLED_FILL, url, str(path)], cwd=ROOT, capture_output=True, timeout=120
        )
        assert child.returncode == -9, child.stderr.decode()
        replica = Replica.open(path, store_id=store.store_id)
        try:
            with replica.engine.connect() as conn:
                assert replica_pull.is_empty(conn)
            assert replica.pull_cursor == 0
            assert _contents(replica)[3] == schema  # the indexes are back
            with replica.engine.begin() as conn:
                assert replica_fill.fill(conn, store, 0, 2, wide=None) == 10
            assert len(_contents(replica)[0]) == 10
        finally:
            replica.close()
    finally:
        store.close()
