"""replica_pull.stage/commit: staged rows (a private, compact format) land in `tickets` exactly as
the store has them, the latest version of a ticket staged twice wins, and clearing the staging
leaves the connection's secure_delete setting as it found it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from helpers import example_tickets, make_ticket, numbered, open_replica
from sqlalchemy import select

from app.core import replica_pull
from app.core.replica import TICKETS
from app.core.store import Store


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
