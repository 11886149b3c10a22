"""Store URLs built from a connection form, their TLS defaults, and the test connection itself
(against real SQLite files and the throwaway Postgres server)."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url
from test_roles_postgres import Secured, secured  # noqa: F401  (the fixture, shared)

from app.core.connection import (
    SSL_MODES,
    PostgresTarget,
    can_create_sqlite_store,
    create_sqlite_store,
    default_sslmode,
    is_local_host,
    sqlite_url,
    test_connection,
    weak_tls_risk,
)
from app.core.credentials import service_name
from app.core.store import Store, StoreError, StoreNotInitialized, StoreUnavailable

# --- which hosts are this computer -----------------------------------------------------------------


@pytest.mark.parametrize(
    "host", ["", "localhost", "LOCALHOST", "127.0.0.1", "127.0.0.2", "::1", "[::1]", "/run/postgresql"]
)
def test_this_computer_keeps_libpqs_default(host: str) -> None:
    assert is_local_host(host)
    assert default_sslmode(host) == "prefer"
    for mode in SSL_MODES:
        assert weak_tls_risk(host, mode) is None  # no network in between to worry about


@pytest.mark.parametrize(
    "host", ["db.example.org", "10.0.0.5", "192.168.1.20", "2001:db8::1", "localhost.evil.org"]
)
def test_a_remote_host_defaults_to_verify_full_and_anything_weaker_is_a_risk(host: str) -> None:
    assert not is_local_host(host)
    assert default_sslmode(host) == "verify-full"
    assert weak_tls_risk(host, "verify-full") is None
    risks = {mode: weak_tls_risk(host, mode) for mode in SSL_MODES if mode != "verify-full"}
    assert all(risks.values()), risks
    assert "nothing is encrypted" in (risks["disable"] or "")
    assert "certificate is not checked" in (risks["require"] or "")
    assert "host name" in (risks["verify-ca"] or "")


# --- building URLs ---------------------------------------------------------------------------------


def test_a_remote_target_builds_a_verify_full_url_without_a_password() -> None:
    url = PostgresTarget("db.example.org", login="maria.lopez").url()
    assert url == "postgresql+psycopg://maria.lopez@db.example.org:5432/signoff?sslmode=verify-full"
    parsed = make_url(url)
    assert parsed.password is None and "password" not in parsed.query
    # the same keyring entry the Launcher's resolve_store_url reads
    assert service_name(url) == "signoff:db.example.org:5432/signoff"


def test_odd_characters_round_trip_through_the_url() -> None:
    target = PostgresTarget(
        "[2001:db8::1]", 6543, "team store", "o'brien@corp", sslmode="require", sslrootcert="/etc/ca b.pem"
    )
    back = PostgresTarget.from_url(target.url())
    assert back == PostgresTarget(
        "2001:db8::1", 6543, "team store", "o'brien@corp", "require", "/etc/ca b.pem"
    )


def test_a_socket_folder_goes_into_the_query() -> None:
    url = PostgresTarget("/run/postgresql", login="alice").url()
    parsed = make_url(url)
    assert parsed.host is None and parsed.query["host"] == "/run/postgresql"
    assert parsed.query["sslmode"] == "prefer"
    assert PostgresTarget.from_url(url) == PostgresTarget("/run/postgresql", login="alice", sslmode="prefer")


def test_an_explicit_mode_wins_over_the_default() -> None:
    assert make_url(PostgresTarget("db.example.org", login="a", sslmode="require").url()).query == {
        "sslmode": "require"
    }
    assert make_url(PostgresTarget("localhost", login="a", sslmode="verify-full").url()).query == {
        "sslmode": "verify-full"
    }


@pytest.mark.parametrize(
    ("target", "problem"),
    [
        (PostgresTarget("db", login=""), "login"),
        (PostgresTarget("db", login="a", database=" "), "database name"),
        (PostgresTarget("db", 0, login="a"), "port 0"),
        (PostgresTarget("db", login="a", sslmode="paranoid"), "unknown TLS mode"),
    ],
)
def test_incomplete_targets_say_what_is_missing(target: PostgresTarget, problem: str) -> None:
    assert any(problem in p for p in target.problems())
    with pytest.raises(ValueError, match=problem):
        target.url()


def test_only_postgres_urls_fill_the_form() -> None:
    assert PostgresTarget.from_url("sqlite:////tmp/shared.db") is None


# --- SQLite ----------------------------------------------------------------------------------------


def test_a_new_sqlite_file_becomes_a_store_like_init_store(tmp_path: Path) -> None:
    path = tmp_path / "team.db"
    assert can_create_sqlite_store(path)
    report = create_sqlite_store(path)
    assert report.created and report.server.startswith("SQLite 3.")
    assert report.login is None and report.login_problem is None
    assert report.note and "advisory" in report.note
    store = Store.open(sqlite_url(path))  # a real store now, at this version's schema
    try:
        assert store.store_id == report.store_id
        assert store.reason_codes()
    finally:
        store.close()
    assert not can_create_sqlite_store(path)
    again = test_connection(sqlite_url(path))
    assert again.store_id == report.store_id and not again.created


def test_an_empty_file_may_become_a_store_but_one_with_data_may_not(tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    empty.touch()  # what a "new file" dialog may leave behind
    assert can_create_sqlite_store(empty)
    assert create_sqlite_store(empty).created

    notes = tmp_path / "notes.txt"
    notes.write_text("someone's data")
    assert not can_create_sqlite_store(notes)
    with pytest.raises(StoreNotInitialized, match="already holds data"):
        create_sqlite_store(notes)
    assert notes.read_text() == "someone's data"
    with pytest.raises(StoreError):
        test_connection(sqlite_url(notes))


def test_a_file_in_a_missing_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StoreNotInitialized, match="does not exist"):
        create_sqlite_store(tmp_path / "nowhere" / "team.db")
    with pytest.raises(StoreUnavailable, match="no such file"):
        test_connection(sqlite_url(tmp_path / "nowhere" / "team.db"))


# --- Postgres --------------------------------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_reviewer_login_reports_store_server_login_and_role(secured: Secured) -> None:  # noqa: F811
    server: Any = secured.server
    url = PostgresTarget(server.host, server.port, secured.dbname, "alice").url()
    report = test_connection(url)
    store = Store.open(secured.admin_url)
    try:
        assert report.store_id == store.store_id
    finally:
        store.close()
    assert report.server.startswith("PostgreSQL ") and report.server.split()[1][0].isdigit()
    assert (report.login, report.role, report.login_problem) == ("alice", "reviewer", None)
    assert report.window_allowed()


def test_a_superuser_connects_but_the_window_would_refuse_it(pg_url: str) -> None:
    Store.initialize(pg_url).close()
    report = test_connection(pg_url)
    assert report.login == "postgres" and report.role is None
    assert report.login_problem and "superuser" in report.login_problem
    assert not report.window_allowed()
    assert report.window_allowed(allow_superuser=True)


def test_a_wrong_port_is_an_unreachable_store(pg_server: Any) -> None:
    url = PostgresTarget(pg_server.host, _closed_port(), "signoff", "alice").url()
    with pytest.raises(StoreUnavailable, match="cannot reach the store") as caught:
        test_connection(url)
    assert "refused" in str(caught.value).lower()


def test_a_database_without_a_store_says_how_to_make_one(pg_url: str) -> None:
    with pytest.raises(StoreNotInitialized, match="init-store"):
        test_connection(pg_url)
