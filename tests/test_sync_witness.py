"""Restore detection by witness tickets (issue 3 item 5, app/core/store_witness.py): a replica
that only reads notices a store put back from an older backup even after the restored store
handed out more change numbers than the replica saw, and raises no false alarm for what a
genuine store does (deleting a ticket, hiding an escalated one from a reviewer).

On SQLite the backup is taken and put back through SQLite itself (VACUUM INTO, the backup API);
on Postgres as a database copied with CREATE DATABASE … TEMPLATE, the way a cluster snapshot
would bring back the data and the id sequences together.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from helpers import STORE_TICKETS, make_ticket, numbered
from psycopg import sql
from sqlalchemy import select, update
from sqlalchemy.engine import make_url
from sync_support import (
    Installation,
    audit_events,
    delete_ticket,
    replica_ticket_statuses,
    sqlite_restore,
    store_counter,
)

from app.core import roles, store_witness
from app.core.domain import Action, Role
from app.core.replica import TICKETS as REPLICA_TICKETS
from app.core.store import Store
from app.core.sync import StoreRestored

TICKETS = [f"t-{n:02d}" for n in range(12)]


@dataclass
class Shared:
    """A store as its administrator has it, with a backup that can be put back."""

    admin_url: str
    login_url: Callable[[str], str]
    backup: Callable[[], None]
    restore: Callable[[], None]
    kind: str

    def ingest(self, tickets: list[dict[str, Any]]) -> None:
        store = Store.open(self.admin_url)
        try:
            store.ingest(numbered(tickets))
        finally:
            store.close()

    def admin(self) -> Store:
        return Store.open(self.admin_url)


def _sqlite(tmp_path: Path) -> Shared:
    path = tmp_path / "share" / "store.sqlite3"
    path.parent.mkdir()
    backup = tmp_path / "backup.sqlite3"
    url = f"sqlite:///{path}"

    def take() -> None:
        with closing(sqlite3.connect(path)) as conn:
            conn.execute("VACUUM INTO ?", (str(backup),))

    return Shared(url, lambda _login: url, take, lambda: sqlite_restore(backup, path), "sqlite")


def _postgres(pg_server: Any, pg_url: str) -> Iterator[Shared]:
    name = make_url(pg_url).database or ""
    copy = f"{name}_backup"
    store = Store.initialize(pg_url)
    roles.setup_postgres(store)
    for login, role in (("rita", Role.REVIEWER), ("bob", Role.REVIEWER), ("mia", Role.ESCALATION_MANAGER)):
        roles.add_user(store, login, role, password=None)  # trust auth in the test cluster
    store.close()

    def admin(*statements: sql.Composable) -> None:
        with psycopg.connect(pg_server.admin_dsn(), autocommit=True) as conn:
            for statement in statements:
                conn.execute(statement)

    def take() -> None:
        admin(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(copy), sql.Identifier(name)))

    def put_back() -> None:
        admin(
            sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)),
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(copy)),
        )

    try:
        yield Shared(pg_url, lambda login: pg_server.url(name, user=login), take, put_back, "postgres")
    finally:
        pg_server.drop_database(copy)


@pytest.fixture
def sqlite_shared(tmp_path: Path) -> Shared:
    shared = _sqlite(tmp_path)
    Store.initialize(shared.admin_url).close()
    shared.ingest([make_ticket(external_id=e) for e in TICKETS])
    return shared


@pytest.fixture
def pg_shared(pg_server: Any, pg_url: str) -> Iterator[Shared]:
    for shared in _postgres(pg_server, pg_url):
        shared.ingest([make_ticket(external_id=e) for e in TICKETS])
        yield shared


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def shared(request: pytest.FixtureRequest) -> Shared:
    return request.getfixturevalue("sqlite_shared" if request.param == "sqlite" else "pg_shared")


@pytest.fixture
def opened() -> Iterator[list[Installation]]:
    installations: list[Installation] = []
    yield installations
    for inst in installations:
        inst.close()


def install(
    opened: list[Installation], shared: Shared, folder: Path, login: str, role: Role = Role.REVIEWER
) -> Installation:
    inst = Installation.open(shared.login_url(login), folder / f"{login}.sqlite3", login, role)
    opened.append(inst)
    report = inst.sync()
    assert report.ok and not report.rebuilt, report.describe()
    return inst


def restore(shared: Shared, *installations: Installation) -> None:
    for inst in installations:
        inst.store.close()  # no session left on the database being replaced (it reconnects)
    shared.restore()


def assert_sees_what_the_store_shows(inst: Installation) -> None:
    """The replica holds exactly the tickets (and versions) this login can pull afresh."""
    visible = {row["external_id"]: row["change_seq"] for row in inst.store.pull_tickets(0, 100_000)}
    with inst.replica.engine.connect() as conn:
        mine = dict(conn.execute(select(REPLICA_TICKETS.c.external_id, REPLICA_TICKETS.c.change_seq)).all())
    assert mine == visible


def expect_rebuild(inst: Installation, match: str) -> None:
    with pytest.raises(StoreRestored, match=match):
        inst.syncer().check_identity()
    report = inst.sync()
    assert report.ok and report.rebuilt, report.describe()
    assert len(audit_events(inst.replica, "store_restore_detected")) == 1
    again = inst.sync()
    assert again.ok and not again.rebuilt, again.describe()
    assert_sees_what_the_store_shows(inst)


# --- restores the counter alone would miss -------------------------------------------------------


def test_a_reader_notices_lost_tickets_whose_ids_went_to_others(
    shared: Shared, tmp_path: Path, opened: list[Installation]
) -> None:
    """The restored store gives the lost tickets' ids and numbers to new tickets."""
    shared.backup()
    shared.ingest([make_ticket(external_id=f"gone-{n}") for n in range(4)])
    reader = install(opened, shared, tmp_path, "rita")  # a reviewer: row security on Postgres
    seen = reader.replica.pull_cursor
    restore(shared, reader)
    shared.ingest([make_ticket(external_id=f"new-{n}") for n in range(8)])
    admin = shared.admin()
    try:
        assert store_counter(admin) > seen  # the counter alone no longer tells
    finally:
        admin.close()
    expect_rebuild(reader, "now gives that id to")
    assert not any(e.startswith("gone-") for e in replica_ticket_statuses(reader.replica))


def test_the_window_catches_a_restore_whose_witnesses_moved_on(
    shared: Shared, tmp_path: Path, opened: list[Installation]
) -> None:
    """The one ticket changed after the backup is changed again after the restore, at a higher
    number: every witness looks fine, but a new ticket sits below the replica's cursor. Seen by
    a login that sees every ticket (SQLite; a manager on Postgres)."""
    shared.backup()
    shared.ingest([make_ticket(external_id="t-11", exception__summary="Changed after the backup")])
    reader = install(opened, shared, tmp_path, "mia", Role.ESCALATION_MANAGER)
    restore(shared, reader)
    shared.ingest([make_ticket(external_id=f"new-{n}") for n in range(5)])
    shared.ingest([make_ticket(external_id="t-11", exception__summary="Changed after the restore")])
    expect_rebuild(reader, "within what this replica already pulled")
    assert {f"new-{n}" for n in range(5)} <= set(replica_ticket_statuses(reader.replica))


def test_a_witness_at_a_lower_change_number_gives_the_restore_away(
    sqlite_shared: Shared, tmp_path: Path, opened: list[Installation]
) -> None:
    shared = sqlite_shared
    shared.backup()
    shared.ingest([make_ticket(external_id="t-03", exception__summary="Changed after the backup")])
    reader = install(opened, shared, tmp_path, "rita")
    restore(shared, reader)
    shared.ingest([make_ticket(external_id=f"new-{n}") for n in range(5)])
    expect_rebuild(reader, r"t-03\) is at change #4 in the store")


def test_other_content_at_the_same_change_number_gives_the_restore_away(
    sqlite_shared: Shared, tmp_path: Path, opened: list[Installation]
) -> None:
    shared = sqlite_shared
    shared.backup()
    shared.ingest([make_ticket(external_id="t-11", exception__summary="Changed after the backup")])
    reader = install(opened, shared, tmp_path, "rita")
    restore(shared, reader)
    shared.ingest([make_ticket(external_id="t-11", exception__summary="Changed after the restore")])
    expect_rebuild(reader, "other content at change #13")
    assert reader.replica.ticket(reader.tid("t-11")).revision == 2  # type: ignore[union-attr]


# --- no false alarm -------------------------------------------------------------------------------


def test_a_deleted_witness_whose_id_goes_to_a_new_ticket_is_no_restore(
    sqlite_shared: Shared, tmp_path: Path, opened: list[Installation]
) -> None:
    """An administrator deletes the newest ticket behind everyone's back; SQLite gives its id to
    the next one. Decisions on it are refused (test_sync), but it is not a restore."""
    shared = sqlite_shared
    reader = install(opened, shared, tmp_path, "rita")
    newest = reader.tid("t-11")
    admin = shared.admin()
    try:
        delete_ticket(admin, "t-11")
        assert store_witness.restore_evidence(admin, reader.replica) is None
        shared.ingest([make_ticket(external_id="after-delete")])
    finally:
        admin.close()
    assert reader.tid("t-11") == newest
    report = reader.sync()
    assert report.ok and not report.rebuilt, report.describe()
    assert reader.tid("after-delete") == newest  # the id went to the new ticket
    assert audit_events(reader.replica, "store_restore_detected") == []


def test_renumbered_witnesses_are_no_restore(
    sqlite_shared: Shared, tmp_path: Path, opened: list[Installation]
) -> None:
    """Decisions, new content and renumbering (as a retention purge does) only move tickets to
    higher change numbers: a reader syncing in between never rebuilds."""
    shared = sqlite_shared
    reader = install(opened, shared, tmp_path, "rita")
    decider = install(opened, shared, tmp_path, "ann")
    for round_ in range(3):
        decider.decide(f"t-{round_:02d}")
        decider.decide(f"t-{round_ + 4:02d}", Action.REJECT, "policy_legal")
        assert decider.sync().pushed == 2
        shared.ingest([make_ticket(external_id=f"t-{round_ + 8:02d}", exception__summary=f"v{round_}")])
        admin = shared.admin()
        try:
            renumbered = store_counter(admin) + 1
            with admin.engine.begin() as conn:  # renumber, as a purge does (new numbers, same ids)
                conn.execute(
                    update(STORE_TICKETS)
                    .where(STORE_TICKETS.c.external_id == f"t-{round_ + 8:02d}")
                    .values(change_seq=renumbered)
                )
                conn.exec_driver_sql(f"UPDATE counters SET value = {renumbered} WHERE name = 'change'")
        finally:
            admin.close()
        for inst in (reader, decider):
            report = inst.sync()
            assert report.ok and not report.rebuilt, report.describe()
    assert_sees_what_the_store_shows(reader)


@pytest.mark.postgres
def test_a_witness_hidden_from_a_reviewer_is_no_restore(
    pg_shared: Shared, tmp_path: Path, opened: list[Installation]
) -> None:
    """Bob escalates the newest ticket Rita pulled: row security hides it from her (a missing
    witness), and it came back to nobody at a lower number. Her syncs go on without a rebuild."""
    shared = pg_shared
    rita = install(opened, shared, tmp_path, "rita")
    bob = install(opened, shared, tmp_path, "bob")
    bob.decide("t-11", Action.REJECT, "policy_legal")
    assert bob.sync().pushed == 1
    assert "t-11" not in {row["external_id"] for row in rita.store.pull_tickets(0)}
    assert store_witness.restore_evidence(rita.store, rita.replica) is None
    for _ in range(2):
        report = rita.sync()
        assert report.ok and not report.rebuilt, report.describe()
    assert "t-11" not in replica_ticket_statuses(rita.replica)
    assert_sees_what_the_store_shows(rita)


# --- the witnesses themselves ---------------------------------------------------------------------


def recorded(inst: Installation) -> list[store_witness.TicketMark]:
    with inst.replica.engine.connect() as conn:
        record = store_witness._recorded(conn)
    return record.witnesses if record else []


def test_the_witnesses_are_the_newest_tickets_pulled_across_pages(
    sqlite_shared: Shared, tmp_path: Path, opened: list[Installation]
) -> None:
    shared = sqlite_shared
    shared.ingest([make_ticket(external_id=f"more-{n:02d}") for n in range(30)])
    reader = Installation.open(shared.login_url("rita"), tmp_path / "rita.sqlite3", "rita")
    opened.append(reader)
    assert reader.sync(pull_page=7).ok
    newest = sorted(store_counter_rows(reader), reverse=True)[: store_witness.WITNESSES]
    assert sorted((w.change_seq, w.external_id) for w in recorded(reader)) == sorted(newest)
    # A later pull merges what it brings with what was recorded.
    shared.ingest([make_ticket(external_id="t-00", exception__summary="newer")])
    assert reader.sync(pull_page=7).ok
    marks = {w.external_id: w for w in recorded(reader)}
    assert len(marks) == store_witness.WITNESSES and marks["t-00"].revision == 2
    assert "more-14" not in marks and "more-29" in marks


def store_counter_rows(inst: Installation) -> list[tuple[int, str]]:
    return [(row["change_seq"], row["external_id"]) for row in inst.store.pull_tickets(0, 100_000)]


def test_a_replica_without_recorded_witnesses_finds_them_once(
    sqlite_shared: Shared, tmp_path: Path, opened: list[Installation]
) -> None:
    """A replica last synced by a Signoff that did not record witnesses: the first check scans
    its ticket copies once, records them, and still catches the restore."""
    shared = sqlite_shared
    shared.backup()
    shared.ingest([make_ticket(external_id="t-03", exception__summary="Changed after the backup")])
    reader = install(opened, shared, tmp_path, "rita")
    with reader.replica.engine.begin() as conn:
        conn.execute(
            store_witness.REPLICA_INFO.delete().where(
                store_witness.REPLICA_INFO.c.key == store_witness.WITNESS_KEY
            )
        )
    restore(shared, reader)
    shared.ingest([make_ticket(external_id=f"new-{n}") for n in range(5)])
    with pytest.raises(StoreRestored, match=r"t-03\) is at change #4"):
        reader.syncer().check_identity()
    assert recorded(reader)[0].external_id == "t-03"
