"""The throwaway PostgreSQL fixtures themselves, against the real server."""

from __future__ import annotations

import os
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from postgres_fixtures import PgServer, find_pg_bindir, postgres_unavailable


def _dbname(url: str) -> str:
    return url.rsplit("/", 1)[1]


def _database_exists(server: PgServer, name: str) -> bool:
    with psycopg.connect(server.admin_dsn()) as conn:
        row = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
    return row is not None


def test_server_reachable_on_loopback(pg_server: PgServer) -> None:
    assert pg_server.host == "127.0.0.1"
    assert pg_server.superuser == "postgres"
    with psycopg.connect(pg_server.admin_dsn()) as conn:
        user, addr, port = conn.execute(
            "SELECT current_user, host(inet_server_addr()), inet_server_port()"
        ).fetchone()
        listen = conn.execute("SHOW listen_addresses").fetchone()[0]
        fsync = conn.execute("SHOW fsync").fetchone()[0]
    assert (user, addr, port) == ("postgres", "127.0.0.1", pg_server.port)
    assert listen == "127.0.0.1"
    assert fsync == "off"


def test_version_matches_installed_binaries(pg_server: PgServer) -> None:
    with psycopg.connect(pg_server.admin_dsn()) as conn:
        version = conn.execute("SELECT version()").fetchone()[0]
        num = int(conn.execute("SHOW server_version_num").fetchone()[0])
    assert version.startswith(f"PostgreSQL {pg_server.major_version}.")
    assert num // 10000 == pg_server.major_version
    assert pg_server.major_version >= 13  # DROP DATABASE ... WITH (FORCE)


def test_pg_url_works_with_sqlalchemy(pg_url: str) -> None:
    assert pg_url.startswith("postgresql+psycopg://postgres@127.0.0.1:")
    engine = sa.create_engine(pg_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT current_database()")).scalar() == _dbname(pg_url)
            encoding = conn.execute(sa.text("SHOW server_encoding")).scalar()
        assert encoding == "UTF8"
    finally:
        engine.dispose()


def test_postgres_marker_applied(request: pytest.FixtureRequest, pg_url: str) -> None:
    assert request.node.get_closest_marker("postgres") is not None


def test_marker_not_applied_without_fixture(request: pytest.FixtureRequest) -> None:
    assert request.node.get_closest_marker("postgres") is None


# Two consecutive tests each get their own database; the third checks both were dropped.
_seen: list[str] = []


@pytest.mark.parametrize("round_", [1, 2])
def test_each_test_gets_a_fresh_database(pg_url: str, pg_server: PgServer, round_: int) -> None:
    name = _dbname(pg_url)
    assert name not in _seen
    with psycopg.connect(pg_server.admin_dsn(name)) as conn:
        # Would fail in round 2 if the database from round 1 were reused.
        conn.execute("CREATE TABLE marker (round int)")
        conn.execute("INSERT INTO marker VALUES (%s)", (round_,))
    _seen.append(name)


def test_previous_databases_were_dropped(pg_server: PgServer) -> None:
    if len(_seen) != 2:
        pytest.skip("needs both rounds of test_each_test_gets_a_fresh_database to run first")
    assert _seen[0] != _seen[1]
    for name in _seen:
        assert not _database_exists(pg_server, name)


def test_temp_database_dropped_despite_open_connection(pg_server: PgServer) -> None:
    with pg_server.temp_database() as url_a, pg_server.temp_database() as url_b:
        a, b = _dbname(url_a), _dbname(url_b)
        assert a != b
        assert _database_exists(pg_server, a) and _database_exists(pg_server, b)
        # A leaked connection must not block the DROP (WITH (FORCE)).
        leaked = psycopg.connect(pg_server.admin_dsn(a))
    try:
        assert not _database_exists(pg_server, a)
        assert not _database_exists(pg_server, b)
    finally:
        leaked.close()


def test_restart_keeps_port_and_accepts_new_connections(pg_server: PgServer, pg_url: str) -> None:
    port = pg_server.port
    name = _dbname(pg_url)
    with psycopg.connect(pg_server.admin_dsn(name), autocommit=True) as conn:
        conn.execute("CREATE TABLE survives (x int)")
        conn.execute("INSERT INTO survives VALUES (42)")
        pid_before = conn.info.backend_pid
        pg_server.restart()
        # The old session was terminated by the fast shutdown.
        with pytest.raises(psycopg.OperationalError):
            conn.execute("SELECT 1")
    assert pg_server.port == port
    assert pg_server.is_running()
    with psycopg.connect(pg_server.admin_dsn(name)) as conn:
        assert conn.execute("SELECT x FROM survives").fetchone() == (42,)
        assert conn.info.backend_pid != pid_before


def test_stopped_server_is_restarted_for_the_next_database(pg_server: PgServer) -> None:
    pg_server.stop()
    assert not pg_server.is_running()
    with pg_server.temp_database() as url:  # ensure_running() brings it back
        assert _database_exists(pg_server, _dbname(url))
    assert pg_server.is_running()


def test_bindir_override(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SIGNOFF_PG_BINDIR", str(tmp_path))
    bindir, why = find_pg_bindir()
    assert bindir is None
    assert "SIGNOFF_PG_BINDIR" in why


def test_unavailable_skips_or_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SIGNOFF_REQUIRE_POSTGRES", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no server"):
        postgres_unavailable("no server")
    monkeypatch.setenv("SIGNOFF_REQUIRE_POSTGRES", "1")
    with pytest.raises(pytest.fail.Exception, match="SIGNOFF_REQUIRE_POSTGRES=1"):
        postgres_unavailable("no server")


def test_server_runs_unprivileged(pg_server: PgServer) -> None:
    pid = int((pg_server.datadir / "postmaster.pid").read_text().splitlines()[0])
    if not Path(f"/proc/{pid}").is_dir():
        pytest.skip("no /proc to inspect the postmaster")
    assert os.stat(f"/proc/{pid}").st_uid != 0  # postgres refuses root; so must we
