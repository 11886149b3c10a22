"""The audit trail in the shared store: pushing entries with checkpoints, the database's own
refusals (SQLite and Postgres), and the verifier against a forger with full database access."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import BACKENDS, backend_url, example_tickets, numbered, pg_database, sqlite_path_of
from sqlalchemy import create_engine, delete, insert, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError

from app.core import audit, audit_store
from app.core.domain import Role, utcnow
from app.core.replica import Replica
from app.core.store import Store
from app.core.store_models import StoreTicket, TicketRevision

ENTRIES = audit_store.ENTRIES
CHECKPOINTS = audit_store.CHECKPOINTS
CLIENTS = audit_store.CLIENTS
REVISIONS = TicketRevision.__table__
TICKETS = StoreTicket.__table__
AUDIT_TABLES = ("audit_entries", "audit_checkpoints", "audit_clients", "retention_purges", "ticket_revisions")

pg_database = pytest.fixture(scope="module")(pg_database)


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return backend_url(request, tmp_path)


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    store = Store.initialize(store_url)
    yield store
    store.close()


class Log:
    """An installation's local audit log (a replica used only for its log)."""

    def __init__(self, path: Path, actor: str) -> None:
        self.replica = Replica.open(path)
        self.actor = actor

    def add(self, count: int) -> None:
        for n in range(count):
            self.replica.record_event("note", actor=self.actor, role=Role.REVIEWER, data={"n": n})

    def push(self, store: Store) -> audit_store.PushAuditResult:
        return audit_store.push_entries(self.replica, store, label=self.actor)

    def rows(self) -> list[Any]:
        with self.replica.engine.connect() as conn:
            return conn.execute(select(audit.AUDIT).order_by(audit.AUDIT.c.seq)).all()

    @property
    def client_id(self) -> str:
        assert self.replica.client_id
        return self.replica.client_id


@pytest.fixture
def logs(tmp_path: Path) -> Iterator[tuple[Log, Log]]:
    alice, bob = Log(tmp_path / "alice.sqlite3", "alice"), Log(tmp_path / "bob.sqlite3", "bob")
    yield alice, bob
    alice.replica.close()
    bob.replica.close()


@pytest.fixture
def pushed(store: Store, logs: tuple[Log, Log]) -> tuple[Log, Log]:
    """Two installations whose logs reached the store: alice in two syncs (checkpoints 4, 7)."""
    alice, bob = logs
    alice.add(4)
    assert alice.push(store).ok
    alice.add(3)
    bob.add(5)
    assert (alice.push(store).pushed, bob.push(store).pushed) == (3, 5)
    return alice, bob


def store_rows(store: Store, table: Any, client_id: str) -> list[Any]:
    order = {ENTRIES: ENTRIES.c.seq, CLIENTS: CLIENTS.c.client_id}.get(table, table.c.get("id"))
    with store.engine.connect() as conn:
        return conn.execute(select(table).where(table.c.client_id == client_id).order_by(order)).all()


def refused(store: Store, statement: Any, match: str) -> None:
    with pytest.raises(IntegrityError, match=match), store.engine.begin() as conn:
        conn.execute(statement)


def entry_values(row: Any, **changes: Any) -> dict[str, Any]:
    return {**row._mapping, "received_at": utcnow(), **changes}


class Forger:
    """Someone with full write access to the store's database, triggers out of the way."""

    def __init__(self, store: Store) -> None:
        self.engine = create_engine(store.url)
        self.postgres = not store.is_sqlite
        if not self.postgres:
            with self.engine.begin() as conn:
                for (name,) in conn.exec_driver_sql(
                    "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name IN "
                    f"({', '.join(repr(t) for t in AUDIT_TABLES)})"
                ):
                    conn.exec_driver_sql(f"DROP TRIGGER {name}")

    def run(self, *statements: Any) -> None:
        with self.engine.begin() as conn:
            if self.postgres:  # as superuser: skip triggers (and foreign keys) for this session
                conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
            for statement in statements:
                conn.execute(statement)

    def close(self) -> None:
        self.engine.dispose()


@pytest.fixture
def forger(store: Store) -> Iterator[Forger]:
    forger = Forger(store)
    yield forger
    forger.close()


def assert_store_broken(store: Store, client_id: str, seq: int, words: str) -> None:
    report = audit_store.verify_store(store)
    assert not report.ok
    bad = report.first_bad
    assert bad is not None and bad.client_id == client_id, report.describe()
    assert bad.result.first_bad_seq == seq, bad.result.problem
    assert words in (bad.result.problem or ""), bad.result.problem
    assert f"BROKEN at entry {seq}" in report.describe()


# --- pushing ---------------------------------------------------------------------------------------


def test_push_sends_new_entries_with_a_checkpoint_each_time(store: Store, pushed: tuple[Log, Log]) -> None:
    alice, bob = pushed
    assert [(c.size, c.head_hash) for c in store_rows(store, CHECKPOINTS, alice.client_id)] == [
        (4, alice.rows()[3].hash),
        (7, alice.rows()[6].hash),
    ]
    copies = store_rows(store, ENTRIES, alice.client_id)
    assert [{k: v for k, v in r._mapping.items() if k != "received_at"} for r in copies] == [
        dict(r._mapping) for r in alice.rows()
    ]
    assert [c.size for c in store_rows(store, CHECKPOINTS, bob.client_id)] == [5]
    # Nothing new: nothing sent, no checkpoint added.
    again = alice.push(store)
    assert (again.pushed, again.checkpoint, again.error) == (0, 7, None)
    assert len(store_rows(store, CHECKPOINTS, alice.client_id)) == 2
    report = audit_store.verify_store(store)
    assert report.ok, report.describe()
    assert [(c.client_id, c.result.entries, c.confirmed) for c in report.clients] == [
        (alice.client_id, 7, 7),
        (bob.client_id, 5, 5),
    ]
    assert "store audit trail OK: 2 installations, 12 entries checked" in report.describe()


def test_push_goes_in_batches_each_with_its_checkpoint(store: Store, logs: tuple[Log, Log]) -> None:
    alice, _ = logs
    alice.add(12)
    result = audit_store.push_entries(alice.replica, store, label="alice", batch_size=5)
    assert (result.pushed, result.checkpoint) == (12, 12)
    assert [c.size for c in store_rows(store, CHECKPOINTS, alice.client_id)] == [5, 10, 12]
    assert audit_store.verify_store(store).ok


def test_registration_records_the_origin(store: Store, pushed: tuple[Log, Log]) -> None:
    alice, _ = pushed
    client = store_rows(store, CLIENTS, alice.client_id)[0]
    assert client.label == "alice"
    if store.is_sqlite:
        assert client.origin == audit_store.default_origin()  # a note: SQLite has no logins
    else:
        assert client.origin == make_url(store.url).username  # session_user, set by the trigger


def test_a_local_log_rewritten_after_pushing_is_not_pushed(store: Store, pushed: tuple[Log, Log]) -> None:
    alice, _ = pushed
    fifth = alice.rows()[4].hash
    with alice.replica.engine.begin() as conn:
        for trigger in ("audit_log_no_update", "audit_log_no_delete", "audit_head_forward"):
            conn.exec_driver_sql(f"DROP TRIGGER {trigger}")
        conn.execute(delete(audit.AUDIT).where(audit.AUDIT.c.seq > 5))
        conn.execute(update(audit.HEAD).values(size=5, hash=fifth))
    assert alice.replica.verify_audit().ok  # cut short and the head moved back: locally invisible
    compared = audit_store.verify_local_against_store(alice.replica, store)
    assert (compared.ok, compared.first_bad_seq) == (False, 6)
    assert "local entries were removed" in (compared.problem or "")
    alice.add(2)  # a new entry 6 and 7, different from the store's
    result = alice.push(store)
    assert (result.pushed, result.error) == (
        0,
        "local audit entry 7 differs from the store's copy: the local log was rewritten",
    )
    assert audit_store.verify_local_against_store(alice.replica, store).first_bad_seq == 6


def test_a_broken_local_log_is_pushed_only_up_to_the_bad_entry(store: Store, logs: tuple[Log, Log]) -> None:
    alice, _ = logs
    alice.add(6)
    with alice.replica.engine.begin() as conn:
        conn.exec_driver_sql("DROP TRIGGER audit_log_no_update")
        conn.execute(update(audit.AUDIT).where(audit.AUDIT.c.seq == 4).values(actor="mallory"))
    result = alice.push(store)
    assert result.pushed == 3 and result.checkpoint == 3
    assert result.error and result.error.startswith("local audit log fails verification at entry 4")
    assert len(store_rows(store, ENTRIES, alice.client_id)) == 3


def test_verify_local_against_store_agrees_with_an_honest_log(store: Store, pushed: tuple[Log, Log]) -> None:
    alice, _ = pushed
    alice.add(2)  # not pushed yet: fine
    result = audit_store.verify_local_against_store(alice.replica, store)
    assert (result.ok, result.entries) == (True, 7)


# --- the database refuses (SQLite triggers, Postgres PL/pgSQL) ------------------------------------


def test_the_store_refuses_an_entry_that_skips_a_sequence_number(
    store: Store, pushed: tuple[Log, Log]
) -> None:
    alice, _ = pushed
    alice.add(2)
    seven, eight, nine = alice.rows()[6:9]
    gap = entry_values(nine, prev_hash=seven.hash)  # linked to the head, but seq 8 is missing
    refused(store, insert(ENTRIES).values(gap), "not the next entry of its client's chain")
    refused(store, insert(ENTRIES).values(entry_values(eight, seq=7)), "not the next entry")


def test_the_store_refuses_an_entry_with_the_wrong_previous_hash(
    store: Store, pushed: tuple[Log, Log]
) -> None:
    alice, bob = pushed
    alice.add(1)
    eight = alice.rows()[7]
    refused(
        store, insert(ENTRIES).values(entry_values(eight, prev_hash="f" * 64)), "previous hash does not match"
    )
    # Another client's head is not this chain's previous hash either.
    bob_head = store_rows(store, ENTRIES, bob.client_id)[-1].hash
    refused(
        store, insert(ENTRIES).values(entry_values(eight, prev_hash=bob_head)), "previous hash does not match"
    )


@pytest.mark.parametrize("size", [4, 7, 3], ids=["replayed-older", "same-size-other-hash", "smaller"])
def test_the_store_refuses_a_checkpoint_that_does_not_extend(
    store: Store, pushed: tuple[Log, Log], size: int
) -> None:
    alice, _ = pushed
    head = alice.rows()[size - 1].hash if size != 7 else "e" * 64
    statement = insert(CHECKPOINTS).values(
        client_id=alice.client_id, size=size, head_hash=head, received_at=utcnow()
    )
    refused(store, statement, "does not extend the client's previous checkpoint")


def test_an_identical_resend_of_the_latest_checkpoint_is_a_no_op(
    store: Store, pushed: tuple[Log, Log]
) -> None:
    alice, _ = pushed
    latest = store_rows(store, CHECKPOINTS, alice.client_id)[-1]
    with store.engine.begin() as conn:
        conn.execute(
            insert(CHECKPOINTS).values(
                client_id=alice.client_id, size=latest.size, head_hash=latest.head_hash, received_at=utcnow()
            )
        )
    assert len(store_rows(store, CHECKPOINTS, alice.client_id)) == 2


def test_the_store_refuses_a_checkpoint_whose_head_is_not_the_stored_entry(
    store: Store, pushed: tuple[Log, Log]
) -> None:
    alice, bob = pushed
    alice.add(3)
    assert alice.push(store).ok  # entries 8-10 and a checkpoint at 10
    bob_row = store_rows(store, ENTRIES, bob.client_id)[4]
    for size, head in ((5, bob_row.hash), (10, bob_row.hash), (11, alice.rows()[9].hash)):
        # bob's checkpoint under alice's id, a forged head, a checkpoint beyond the stored entries
        statement = insert(CHECKPOINTS).values(
            client_id=alice.client_id, size=size, head_hash=head, received_at=utcnow()
        )
        refused(store, statement, "does not (match the stored entry|extend)")
    statement = insert(CHECKPOINTS).values(
        client_id=bob.client_id, size=6, head_hash=alice.rows()[5].hash, received_at=utcnow()
    )
    refused(store, statement, "head hash does not match the stored entry")


def test_audit_rows_cannot_be_changed_or_removed(store: Store, pushed: tuple[Log, Log]) -> None:
    alice, _ = pushed
    mine = ENTRIES.c.client_id == alice.client_id
    for statement, match in (
        (update(ENTRIES).where(mine).values(actor="mallory"), "audit_entries is append-only"),
        (update(ENTRIES).where(mine).values(payload=None), "audit_entries is append-only"),  # no purge yet
        (delete(ENTRIES).where(mine), "audit_entries is append-only"),
        (update(CHECKPOINTS).values(size=99), "audit_checkpoints is append-only"),
        (delete(CHECKPOINTS), "audit_checkpoints is append-only"),
        (update(CLIENTS).values(origin="mallory"), "audit_clients is append-only"),
        (delete(CLIENTS), "audit_clients is append-only"),
    ):
        refused(store, statement, match)
    if not store.is_sqlite:
        for table in ("audit_entries", "audit_checkpoints", "audit_clients"):
            refused(store, text(f"TRUNCATE {table} CASCADE"), "is append-only")
    assert audit_store.verify_store(store).ok


def test_an_entry_for_an_unregistered_client_is_refused(store: Store, logs: tuple[Log, Log]) -> None:
    alice, _ = logs
    alice.add(1)
    refused(store, insert(ENTRIES).values(entry_values(alice.rows()[0])), "FOREIGN KEY|not registered")


def test_new_ticket_content_keeps_the_old_revision(store: Store) -> None:
    ticket = example_tickets()[0]
    store.ingest(numbered([ticket]))
    with store.engine.connect() as conn:
        first = conn.execute(select(TICKETS.c.id, TICKETS.c.content_hash, TICKETS.c.payload)).one()
    ticket["exception"]["summary"] = "Company size now known"
    store.ingest(numbered([ticket]))
    store.ingest(numbered([ticket]))  # unchanged content: no new revision
    with store.engine.connect() as conn:
        kept = conn.execute(select(REVISIONS)).all()
    assert [(r.ticket_id, r.revision, r.content_hash, r.payload) for r in kept] == [
        (first.id, 1, first.content_hash, first.payload)
    ]
    refused(store, update(REVISIONS).values(content_hash="x"), "only lose their payload")
    refused(store, delete(REVISIONS), "only lose their payload|append-only")


# --- Postgres: a client id belongs to the login role that registered it -----------------------------


@pytest.fixture
def role_urls(pg_server: Any, store: Store) -> Iterator[dict[str, str]]:
    if store.is_sqlite:
        pytest.skip("SQLite has no logins: the origin is a note there (see s0002)")
    suffix = uuid.uuid4().hex[:8]
    names = {who: f"signoff_{who}_{suffix}" for who in ("alice", "bob")}
    admin = create_engine(store.url)
    database = make_url(store.url).database
    with admin.begin() as conn:
        for name in names.values():
            conn.exec_driver_sql(f"CREATE ROLE {name} LOGIN")
            conn.exec_driver_sql(f"GRANT USAGE ON SCHEMA public TO {name}")
            conn.exec_driver_sql(
                f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {name}"
            )
            conn.exec_driver_sql(f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {name}")
    yield {who: pg_server.url(database, user=name) for who, name in names.items()}
    with admin.begin() as conn:
        for name in names.values():
            conn.exec_driver_sql(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %(name)s",
                {"name": name},
            )
            conn.exec_driver_sql(f"DROP OWNED BY {name}")
            conn.exec_driver_sql(f"DROP ROLE {name}")
    admin.dispose()


def test_postgres_binds_a_client_to_the_role_that_registered_it(
    role_urls: dict[str, str], logs: tuple[Log, Log]
) -> None:
    alice, _ = logs
    as_alice, as_bob = Store.open(role_urls["alice"]), Store.open(role_urls["bob"])
    try:
        alice.add(3)
        assert alice.push(as_alice).ok
        owner = make_url(role_urls["alice"]).username
        assert store_rows(as_bob, CLIENTS, alice.client_id)[0].origin == owner
        alice.add(2)
        # bob's login cannot extend alice's chain nor checkpoint it, whatever the client says.
        result = alice.push(as_bob)
        assert result.pushed == 0 and f"belongs to origin {owner}" in (result.error or "")
        four = alice.rows()[3]
        refused(as_bob, insert(ENTRIES).values(entry_values(four)), f"belongs to origin {owner}")
        statement = insert(CHECKPOINTS).values(
            client_id=alice.client_id, size=3, head_hash=alice.rows()[2].hash, received_at=utcnow()
        )
        refused(as_bob, statement, f"belongs to origin {owner}")
        # A registration cannot claim someone else's origin either: the trigger writes session_user.
        with as_bob.engine.begin() as conn:
            conn.execute(
                insert(CLIENTS).values(client_id="c-bob", origin=owner, label="bob", registered_at=utcnow())
            )
        assert store_rows(as_bob, CLIENTS, "c-bob")[0].origin == make_url(role_urls["bob"]).username
        assert alice.push(as_alice).pushed == 2
    finally:
        as_alice.close()
        as_bob.close()


# --- the verifier against a forger with the triggers out of the way ---------------------------------


def test_verify_names_an_entry_with_a_wrong_previous_hash(
    store: Store, pushed: tuple[Log, Log], forger: Forger
) -> None:
    alice, _ = pushed
    row = store_rows(store, ENTRIES, alice.client_id)[2]
    forged = {**row._mapping, "prev_hash": "f" * 64}
    forger.run(
        update(ENTRIES)
        .where(ENTRIES.c.client_id == alice.client_id, ENTRIES.c.seq == 3)
        .values(prev_hash=forged["prev_hash"], hash=audit.row_hash(forged))
    )
    assert_store_broken(store, alice.client_id, 3, "previous-hash link")


def test_verify_names_an_entry_with_a_forged_hash(
    store: Store, pushed: tuple[Log, Log], forger: Forger
) -> None:
    _, bob = pushed
    forger.run(
        update(ENTRIES).where(ENTRIES.c.client_id == bob.client_id, ENTRIES.c.seq == 2).values(hash="a" * 64)
    )
    assert_store_broken(store, bob.client_id, 2, "hash does not match")


def test_verify_catches_a_chain_recomputed_after_its_checkpoint(
    store: Store, pushed: tuple[Log, Log], forger: Forger
) -> None:
    alice, _ = pushed
    rows = [dict(r._mapping) for r in store_rows(store, ENTRIES, alice.client_id)]
    # Entry 6 (after the checkpoint at 4, before the one at 7) says something else now.
    rows[5]["payload"] = rows[5]["payload"].replace('"n":1', '"n":42')
    rows[5]["payload_sha256"] = audit.sha256_text(rows[5]["payload"])
    prev = rows[4]["hash"]
    for row in rows[5:]:
        row["prev_hash"] = prev
        row["hash"] = prev = audit.row_hash(row)
    forger.run(
        delete(ENTRIES).where(ENTRIES.c.client_id == alice.client_id, ENTRIES.c.seq > 5),
        insert(ENTRIES).values(rows[5:]),
    )
    # Every link checks out; only the checkpoint at 7 knows: the rewrite is in entries 5-7.
    assert_store_broken(store, alice.client_id, 5, "rewritten (chain recomputed) after it was checkpointed")


def test_verify_catches_a_replayed_checkpoint(store: Store, pushed: tuple[Log, Log], forger: Forger) -> None:
    alice, _ = pushed
    first = store_rows(store, CHECKPOINTS, alice.client_id)[0]
    forger.run(
        delete(CHECKPOINTS).where(CHECKPOINTS.c.id == first.id),
        insert(CHECKPOINTS).values(
            client_id=alice.client_id, size=first.size, head_hash=first.head_hash, received_at=utcnow()
        ),
    )
    assert_store_broken(store, alice.client_id, 4, "replayed or reordered")


def test_verify_catches_another_clients_checkpoint(
    store: Store, pushed: tuple[Log, Log], forger: Forger
) -> None:
    alice, bob = pushed
    bob_head = store_rows(store, CHECKPOINTS, bob.client_id)[0]
    forger.run(
        insert(CHECKPOINTS).values(
            client_id=alice.client_id, size=9, head_hash=bob_head.head_hash, received_at=utcnow()
        )
    )
    assert_store_broken(store, alice.client_id, 8, "entries 8…9 were removed")
    forger.run(delete(CHECKPOINTS).where(CHECKPOINTS.c.size == 9))
    forger.run(
        insert(CHECKPOINTS).values(
            client_id=bob.client_id, size=7, head_hash=alice.rows()[6].hash, received_at=utcnow()
        )
    )
    assert_store_broken(store, bob.client_id, 6, "a checkpoint confirms 7 entries but the store holds 5")


def test_verify_catches_a_checkpoint_naming_another_hash(
    store: Store, pushed: tuple[Log, Log], forger: Forger
) -> None:
    alice, bob = pushed
    bob_entry = store_rows(store, ENTRIES, bob.client_id)[2]
    forger.run(
        update(CHECKPOINTS)
        .where(CHECKPOINTS.c.client_id == alice.client_id, CHECKPOINTS.c.size == 4)
        .values(head_hash=bob_entry.hash)
    )
    assert_store_broken(store, alice.client_id, 1, "or the checkpoint is another chain's")


@pytest.mark.parametrize("keep", [6, 4, 0])
def test_verify_catches_entries_cut_from_the_end(
    store: Store, pushed: tuple[Log, Log], forger: Forger, keep: int
) -> None:
    alice, _ = pushed
    forger.run(delete(ENTRIES).where(ENTRIES.c.client_id == alice.client_id, ENTRIES.c.seq > keep))
    assert_store_broken(store, alice.client_id, keep + 1, "were removed")


@pytest.mark.parametrize("attack", ["edit", "delete", "reorder", "insert"])
def test_verify_catches_edits_deletions_reordering_and_insertions(
    store: Store, pushed: tuple[Log, Log], forger: Forger, attack: str
) -> None:
    alice, _ = pushed
    mine = ENTRIES.c.client_id == alice.client_id
    rows = store_rows(store, ENTRIES, alice.client_id)
    if attack == "edit":
        forger.run(update(ENTRIES).where(mine, ENTRIES.c.seq == 3).values(at="2001-01-01T00:00:00.000Z"))
        seq = 3
    elif attack == "delete":
        forger.run(delete(ENTRIES).where(mine, ENTRIES.c.seq == 3))
        seq = 3
    elif attack == "reorder":
        two, five = dict(rows[1]._mapping), dict(rows[4]._mapping)
        forger.run(
            delete(ENTRIES).where(mine, ENTRIES.c.seq.in_([2, 5])),
            insert(ENTRIES).values([{**five, "seq": 2}, {**two, "seq": 5}]),
        )
        seq = 2
    else:
        forger.run(
            update(ENTRIES).where(mine, ENTRIES.c.seq > 2).values(seq=ENTRIES.c.seq + 1000),
            insert(ENTRIES).values({**rows[1]._mapping, "seq": 3}),
            update(ENTRIES).where(mine, ENTRIES.c.seq > 1000).values(seq=ENTRIES.c.seq - 999),
        )
        seq = 3
    assert_store_broken(store, alice.client_id, seq, "")


def test_verify_reports_rows_of_a_client_that_was_never_registered(
    store: Store, pushed: tuple[Log, Log], forger: Forger
) -> None:
    alice, _ = pushed
    row = store_rows(store, ENTRIES, alice.client_id)[0]
    forger.run(insert(ENTRIES).values({**row._mapping, "client_id": "ghost"}))
    report = audit_store.verify_store(store)
    assert not report.ok and report.first_bad is None
    assert report.problems == ["1 audit entries of client ghost, which was never registered"]


def test_a_sqlite_forger_needs_the_file_and_says_so(store: Store) -> None:
    """Documented limit: on SQLite the origin is advisory; whoever can write the file can also
    drop the triggers. The checkpoints still make any change after a sync visible."""
    if not store.is_sqlite:
        pytest.skip("Postgres enforces origins")
    assert sqlite_path_of(store.url) is not None
    with store.engine.connect() as conn:
        names = set(conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'trigger'").scalars())
    assert {
        "audit_entries_next",
        "audit_entries_link",
        "audit_checkpoints_extend",
        "audit_checkpoints_head",
    } <= names
