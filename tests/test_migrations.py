"""Alembic migrations of the store (SQLite and Postgres) and the replica, against the models."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from helpers import BACKENDS, backend_url, open_replica, pg_database, sqlite_store, sqlite_url
from sqlalchemy import create_engine, inspect, select, text

from app.core.db import sqlite_path
from app.core.migrations import runner
from app.core.reasons import default_reason_codes
from app.core.replica import Replica
from app.core.replica_models import ReplicaModel
from app.core.store import Store, StoreNotInitialized, StoreOutdated, StoreUnavailable
from app.core.store_models import Counter, StoreModel, StoreReasonCode

# Every table the models declare, and Alembic's own; test_*_schema_matches_the_models checks
# the columns, so this only has to name the tables.
STORE_TABLES = set(StoreModel.metadata.tables) | {"alembic_version"}
REPLICA_TABLES = set(ReplicaModel.metadata.tables) | {"alembic_version"}


pg_database = pytest.fixture(scope="module")(pg_database)


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return backend_url(request, tmp_path)


def _stamp(url: str, revision: str) -> None:
    """Set the recorded schema revision by hand, as an older or newer Signoff would have left it."""
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = :rev"), {"rev": revision})
    finally:
        engine.dispose()


def test_initialize_creates_the_schema_and_seeds_it(store_url: str) -> None:
    store = Store.initialize(store_url)
    try:
        assert runner.current_revision(store.engine, "store") == runner.head_revision("store")
        with store.engine.connect() as conn:
            assert set(inspect(conn).get_table_names()) == STORE_TABLES
            counter = conn.execute(select(Counter.__table__.c.value)).scalar_one()
            codes = conn.execute(select(StoreReasonCode.__table__.c.code)).scalars().all()
        assert counter == 0
        assert sorted(codes) == sorted(r.code for r in default_reason_codes())
        assert len(store.store_id) == 36
    finally:
        store.close()


def test_migrated_store_schema_matches_the_models(store_url: str) -> None:
    store = Store.initialize(store_url)
    try:
        with store.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), StoreModel.metadata)
    finally:
        store.close()
    assert diff == []


def test_migrated_replica_schema_matches_the_models(tmp_path: Path) -> None:
    replica = Replica.open(tmp_path / "replica.sqlite3")
    try:
        with replica.engine.connect() as conn:
            assert set(inspect(conn).get_table_names()) == REPLICA_TABLES
            diff = compare_metadata(MigrationContext.configure(conn), ReplicaModel.metadata)
    finally:
        replica.close()
    assert diff == []


def test_initialize_twice_is_idempotent(store_url: str) -> None:
    first = Store.initialize(store_url)
    first_id = first.store_id
    first.close()
    second = Store.initialize(store_url)
    try:
        assert second.store_id == first_id
        assert len(second.reason_codes()) == len(default_reason_codes())  # not seeded twice
    finally:
        second.close()
    reopened = Store.open(store_url)
    try:
        assert reopened.store_id == first_id
    finally:
        reopened.close()


def test_open_on_an_empty_database_says_to_run_init_store(store_url: str) -> None:
    path = sqlite_path(store_url)
    if path is not None:
        path.touch()  # an empty SQLite database is an empty file
    with pytest.raises(StoreNotInitialized) as raised:
        Store.open(store_url)
    assert "signoff init-store" in str(raised.value)


def test_open_never_shows_the_password(pg_url: str) -> None:
    url = pg_url.replace("postgres@", "postgres:s3cret-pw@")  # trust auth: the password is ignored
    with pytest.raises(StoreNotInitialized) as raised:
        Store.open(url)
    assert "s3cret-pw" not in str(raised.value)
    assert "***" in str(raised.value)


def test_open_on_an_unknown_newer_revision_says_to_install_that_version(store_url: str) -> None:
    Store.initialize(store_url).close()
    _stamp(store_url, "s9999")
    with pytest.raises(StoreOutdated) as raised:
        Store.open(store_url)
    assert "s9999" in str(raised.value)
    assert "newer Signoff" in str(raised.value)
    # init-store must refuse it the same way, not crash inside Alembic.
    with pytest.raises(StoreOutdated):
        Store.initialize(store_url)


def _use_newer_migrations(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """From now on, run a copy of the store's migrations with one more revision, as a newer
    Signoff would. Returns the new head."""
    head = runner.head_revision("store")
    tree = tmp_path / "migrations"
    shutil.copytree(Path(runner.__file__).parent / "store", tree / "store")
    (tree / "store" / "versions" / "s9998_test.py").write_text(
        '"""Test-only revision."""\n'
        "import sqlalchemy as sa\n"
        "from alembic import op\n\n"
        f'revision = "s9998"\ndown_revision = "{head}"\nbranch_labels = None\ndepends_on = None\n\n\n'
        "def upgrade() -> None:\n"
        '    op.create_table("newer_marker", sa.Column("id", sa.Integer(), primary_key=True))\n\n\n'
        "def downgrade() -> None:\n"
        '    op.drop_table("newer_marker")\n',
        encoding="utf-8",
    )
    monkeypatch.setattr(runner, "_HERE", tree)
    assert runner.head_revision("store") == "s9998"
    return "s9998"


def test_open_on_an_older_revision_says_how_to_upgrade(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = sqlite_url(tmp_path)
    Store.initialize(url).close()  # made by this Signoff: its head revision
    ours = runner.head_revision("store")
    newer_migrations = _use_newer_migrations(tmp_path, monkeypatch)
    with pytest.raises(StoreOutdated) as raised:
        Store.open(url)
    message = str(raised.value)
    assert ours in message and newer_migrations in message
    assert "signoff init-store --store" in message
    # Following the advice works: init-store upgrades, then open succeeds.
    Store.initialize(url).close()
    store = Store.open(url)
    try:
        assert runner.current_revision(store.engine, "store") == newer_migrations
        with store.engine.connect() as conn:
            assert "newer_marker" in inspect(conn).get_table_names()
    finally:
        store.close()


@pytest.mark.parametrize("where", ["missing-folder", "missing-file"])
def test_open_with_an_unreachable_sqlite_store_is_unavailable(tmp_path: Path, where: str) -> None:
    url = (
        sqlite_url(tmp_path / "no" / "such" / "folder") if where == "missing-folder" else sqlite_url(tmp_path)
    )
    with pytest.raises(StoreUnavailable) as raised:
        Store.open(url)
    assert "cannot reach the store" in str(raised.value)
    assert not (tmp_path / "store.sqlite3").exists()  # no empty store file left behind


def test_replica_reopens_at_head_keeping_its_identity(tmp_path: Path) -> None:
    store = sqlite_store(tmp_path)
    first = open_replica(tmp_path, store)
    client_id = first.client_id
    first.close()
    again = open_replica(tmp_path, store)
    try:
        assert again.client_id == client_id
        assert again.store_id == store.store_id
        assert runner.current_revision(again.engine, "replica") == runner.head_revision("replica")
    finally:
        again.close()
        store.close()


def test_replica_refuses_to_be_rebound_to_another_store(tmp_path: Path) -> None:
    path = tmp_path / "replica.sqlite3"
    Replica.open(path, store_id="store-a").close()
    with pytest.raises(ValueError, match="belongs to store store-a"):
        Replica.open(path, store_id="store-b")
    replica = Replica.open(path)
    try:
        with replica.engine.connect() as conn:
            assert (
                conn.execute(text("SELECT value FROM replica_info WHERE key='store_id'")).scalar()
                == "store-a"
            )
    finally:
        replica.close()


def test_the_fast_head_and_revisions_are_alembics() -> None:
    """The runner reads heads from the version files to spare start-up the Alembic import;
    it must say exactly what Alembic says."""
    from alembic.script import ScriptDirectory

    for which in ("store", "replica"):
        scripts = ScriptDirectory.from_config(runner._config(which))
        assert runner.head_revision(which) == scripts.get_current_head()
        assert runner.known_revisions(which) == {s.revision for s in scripts.walk_revisions()}


def test_an_outdated_replica_is_still_upgraded(tmp_path: Path) -> None:
    path = tmp_path / "replica.sqlite3"
    Replica.open(path, store_id="store-a").close()
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:  # as r0005 left it: without the filter indexes
        conn.execute(text("DROP INDEX ix_tickets_status_workflow_due"))
        conn.execute(text("DROP INDEX ix_tickets_status_queue_due"))
        conn.execute(text("UPDATE alembic_version SET version_num = 'r0005'"))
    engine.dispose()
    replica = Replica.open(path, store_id="store-a")
    try:
        assert runner.current_revision(replica.engine, "replica") == runner.head_revision("replica")
        indexes = {ix["name"] for ix in inspect(replica.engine).get_indexes("tickets")}
        assert {"ix_tickets_status_workflow_due", "ix_tickets_status_queue_due"} <= indexes
    finally:
        replica.close()


def test_partial_planner_statistics_are_dropped_on_open(tmp_path: Path) -> None:
    """An ANALYZE from before a migration added indexes misleads SQLite's planner into sorting
    the whole queue for every page; opening the replica forgets such statistics."""
    path = tmp_path / "replica.sqlite3"
    Replica.open(path, store_id="store-a").close()
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))
        conn.execute(text("DELETE FROM sqlite_stat1 WHERE idx = 'ix_tickets_status_queue_due'"))
        conn.execute(
            text("INSERT INTO sqlite_stat1 VALUES ('tickets', 'ix_tickets_status_due', '1000 1000 1 1')")
        )
    engine.dispose()
    replica = Replica.open(path, store_id="store-a")
    try:
        with replica.engine.connect() as conn:
            left = conn.execute(text("SELECT count(*) FROM sqlite_stat1 WHERE tbl = 'tickets'")).scalar()
        assert left == 0
    finally:
        replica.close()
