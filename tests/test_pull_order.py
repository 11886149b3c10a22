"""Writers committing out of order while a replica pulls (issue 3, test 5), on Postgres.

Writer A takes its change numbers and keeps its transaction open; writer B starts after it and
wants to commit first. A pull in between must not move its cursor past A's numbers, or A's
rows would be skipped forever once they commit. Real transactions on their own connections,
ordered with threading.Event and the server's own view of who waits on a lock, never sleeps.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import empty_pg_database, make_decision, make_ticket, numbered, pg_database
from sqlalchemy import Connection, select
from sync_support import (
    Installation,
    pg_waiting_on_lock,
    replica_remote_decisions,
    replica_ticket_statuses,
    store_counter,
    wait_for,
)

from app.core.store import Store
from app.core.store_ingest import IngestOutcome, ingest_chunk
from app.core.store_models import StoreDecision, StoreTicket
from app.core.store_push import push_decisions

TICKETS = StoreTicket.__table__
DECISIONS = StoreDecision.__table__

pg_database = pytest.fixture(scope="module")(pg_database)

pytestmark = pytest.mark.postgres


@pytest.fixture
def url(pg_database: str) -> Iterator[str]:
    empty_pg_database(pg_database)
    store = Store.initialize(pg_database)
    store.ingest(numbered(make_ticket(external_id=f"base-{n}") for n in range(6)))
    store.close()
    yield pg_database


def ingest_in(conn: Connection, prefix: str) -> list[str]:
    names = [f"{prefix}-{n}" for n in range(3)]
    ingest_chunk(conn, numbered(make_ticket(external_id=e) for e in names), IngestOutcome())
    return names


def push_in(conn: Connection, prefix: str) -> list[str]:
    decisions = [make_decision(make_ticket(external_id=f"base-{n}")) for n in _targets(prefix)]
    assert push_decisions(conn, decisions).accepted == [d.decision_id for d in decisions]
    return [d.decision_id for d in decisions]


def _targets(prefix: str) -> range:
    return range(0, 3) if prefix == "a" else range(3, 6)


WRITES: dict[str, Callable[[Connection, str], list[str]]] = {"ingest": ingest_in, "push": push_in}


@pytest.mark.parametrize(
    ("a_writes", "b_writes"),
    [("ingest", "ingest"), ("push", "push"), ("push", "ingest"), ("ingest", "push")],
)
def test_a_pull_between_out_of_order_commits_loses_nothing(
    url: str, tmp_path: Path, a_writes: str, b_writes: str
) -> None:
    reader = Installation.open(url, tmp_path / "reader.sqlite3", "rita")
    writer_a, writer_b = Store.open(url), Store.open(url)
    a_has_numbers, a_may_commit, b_done = threading.Event(), threading.Event(), threading.Event()
    written: dict[str, list[str]] = {}
    a_numbers: list[int] = []
    failures: list[BaseException] = []

    def write_a() -> None:
        try:
            with writer_a.engine.begin() as conn:
                written["a"] = WRITES[a_writes](conn, "a")
                a_numbers.extend(_numbers_of(conn, a_writes, written["a"]))
                a_has_numbers.set()
                assert a_may_commit.wait(timeout=60), "never told to commit"
        except BaseException as error:
            failures.append(error)
            a_has_numbers.set()

    def write_b() -> None:
        try:
            with writer_b.engine.begin() as conn:
                written["b"] = WRITES[b_writes](conn, "b")
            b_done.set()
        except BaseException as error:
            failures.append(error)
            b_done.set()

    threads = [threading.Thread(target=write_a), threading.Thread(target=write_b)]
    try:
        assert reader.sync().ok
        seen_before = reader.replica.pull_cursor
        threads[0].start()
        assert a_has_numbers.wait(timeout=60) and not failures, failures
        threads[1].start()
        # B either waits for A (on the change counter's lock) or has committed already.
        wait_for(lambda: b_done.is_set() or pg_waiting_on_lock(url) >= 1, "writer B to commit or wait")

        report = reader.sync()  # the pull in between
        assert report.ok, report.error
        cursor = max(reader.replica.pull_cursor, reader.replica.cursor("decision_cursor"))
        assert cursor < min(a_numbers), (
            f"the pull moved its cursor to #{cursor}, past writer A's uncommitted #{min(a_numbers)}"
        )
        assert reader.replica.pull_cursor == seen_before

        a_may_commit.set()
        for thread in threads:
            thread.join(timeout=60)
        assert not failures, failures

        report = reader.sync()
        assert report.ok, report.error
        have = set(replica_ticket_statuses(reader.replica)) | set(replica_remote_decisions(reader.replica))
        missing = [name for name in [*written["a"], *written["b"]] if name not in have]
        assert missing == [], f"lost by the pull: {missing}"
        assert reader.replica.pull_cursor <= store_counter(writer_a)
        assert reader.sync().pulled == 0
    finally:
        a_may_commit.set()
        for thread in threads:
            if thread.is_alive():
                thread.join(timeout=60)
        reader.close()
        writer_a.close()
        writer_b.close()


def _numbers_of(conn: Connection, kind: str, names: list[str]) -> list[Any]:
    if kind == "ingest":
        stmt = select(TICKETS.c.change_seq).where(TICKETS.c.external_id.in_(names))
    else:
        stmt = select(DECISIONS.c.change_seq).where(DECISIONS.c.decision_id.in_(names))
    return list(conn.execute(stmt).scalars())
