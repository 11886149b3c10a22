"""Store passwords in the keyring: service names, timeouts, failures, and that no password leaks.

No real keyring is touched: each test installs an in-memory, a hanging or a failing backend.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator

import keyring
import pytest
from keyring.backend import KeyringBackend
from keyring.backends import fail, null
from keyring.errors import KeyringError, KeyringLocked, PasswordDeleteError
from sqlalchemy.engine import make_url

from app.core import credentials
from app.core.credentials import (
    MAX_SECRET_BYTES,
    CredentialError,
    KeyringTimeout,
    KeyringUnavailable,
    PasswordSource,
    PasswordTooLong,
    SessionPasswords,
    display_url,
    forget_password,
    get_password,
    password_refused,
    probe_keyring,
    resolve_store_url,
    save_password,
    service_name,
    url_with_password,
    url_without_password,
)
from app.core.store import redact_url

PG = "postgresql+psycopg://reviewer@db.example.org:5432/signoff"
SECRET = "s3cret-p@ss:/w%rd"


class MemoryKeyring(KeyringBackend):
    """A keyring in a dict: what the real one would hold, without touching it."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.secrets: dict[tuple[str, str], str] = {}
        self.calls = 0

    def get_password(self, service: str, username: str) -> str | None:
        self.calls += 1
        return self.secrets.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.calls += 1
        self.secrets[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.calls += 1
        if self.secrets.pop((service, username), None) is None:
            raise PasswordDeleteError("no such password")


class HangingKeyring(KeyringBackend):
    """Like Secret Service waiting on an unlock prompt nobody answers: every call blocks."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self.entered = threading.Event()

    def _hang(self) -> None:
        self.entered.set()
        self.release.wait(60)  # bounded so a broken test cannot leave a thread forever

    def get_password(self, service: str, username: str) -> str | None:
        self._hang()
        return None

    def set_password(self, service: str, username: str, password: str) -> None:
        self._hang()

    def delete_password(self, service: str, username: str) -> None:
        self._hang()


class FailingKeyring(KeyringBackend):
    """Every call raises the given error (a locked wallet, a broken D-Bus, …)."""

    priority = 1  # type: ignore[assignment]

    def __init__(self, error: Exception) -> None:
        super().__init__()
        self.error = error

    def get_password(self, service: str, username: str) -> str | None:
        raise self.error

    def set_password(self, service: str, username: str, password: str) -> None:
        raise self.error

    def delete_password(self, service: str, username: str) -> None:
        raise self.error


def use_keyring(backend: KeyringBackend) -> Iterator[KeyringBackend]:
    previous = keyring.get_keyring()
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        if isinstance(backend, HangingKeyring):
            backend.release.set()
            assert credentials.settle(5), "a keyring call is still stuck after release"
        keyring.set_keyring(previous)


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    yield from use_keyring(MemoryKeyring())  # type: ignore[misc]


@pytest.fixture
def hanging_keyring() -> Iterator[HangingKeyring]:
    yield from use_keyring(HangingKeyring())  # type: ignore[misc]


# --- service names ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (PG, "signoff:db.example.org:5432/signoff"),
        ("postgresql+psycopg://reviewer@db.example.org/signoff", "signoff:db.example.org:5432/signoff"),
        ("postgresql://reviewer@DB.Example.ORG:6543/signoff", "signoff:db.example.org:6543/signoff"),
        ("postgresql+psycopg://reviewer:pw@db.example.org/signoff", "signoff:db.example.org:5432/signoff"),
        ("postgresql+psycopg://reviewer@[::1]:5433/signoff", "signoff:[::1]:5433/signoff"),
        (
            "postgresql+psycopg://reviewer@/signoff?host=/run/postgresql",
            "signoff:/run/postgresql:5432/signoff",
        ),
        ("postgresql+psycopg://reviewer@db.example.org", "signoff:db.example.org:5432/reviewer"),
    ],
)
def test_service_name_names_server_and_database_not_driver_or_password(url: str, expected: str) -> None:
    assert service_name(url) == expected


def test_sqlite_has_no_service_name() -> None:
    with pytest.raises(ValueError, match="not a PostgreSQL store"):
        service_name("sqlite:////tmp/shared.db")


# --- round trip ------------------------------------------------------------------------------------


def test_round_trip_through_the_keyring(memory_keyring: MemoryKeyring) -> None:
    assert get_password(PG) is None
    save_password(PG, SECRET)
    assert memory_keyring.secrets == {("signoff:db.example.org:5432/signoff", "reviewer"): SECRET}
    # another driver spelling of the same server finds the same entry
    assert get_password("postgresql://reviewer@db.example.org/signoff") == SECRET
    # another role on the same server does not
    assert get_password("postgresql+psycopg://admin@db.example.org/signoff") is None

    resolved = resolve_store_url(PG, keyring_timeout_s=2, session=SessionPasswords())
    assert resolved.source is PasswordSource.KEYRING
    assert not resolved.needs_password
    assert make_url(resolved.url).password == SECRET  # escaped, and decodes back exactly

    assert forget_password(PG) is True
    assert get_password(PG) is None
    assert forget_password(PG) is False  # forgetting twice is not an error


def test_saving_replaces_the_old_password(memory_keyring: MemoryKeyring) -> None:
    save_password(PG, "old")
    save_password(PG, "new")
    assert get_password(PG) == "new"
    assert len(memory_keyring.secrets) == 1


def test_empty_password_is_not_saved(memory_keyring: MemoryKeyring) -> None:
    with pytest.raises(CredentialError, match="empty"):
        save_password(PG, "")
    assert memory_keyring.secrets == {}


# --- a keyring that hangs --------------------------------------------------------------------------


def test_probe_gives_up_on_a_hanging_keyring(hanging_keyring: HangingKeyring) -> None:
    timeout_s = 0.5
    started = time.monotonic()
    status = probe_keyring(timeout_s)
    elapsed = time.monotonic() - started
    assert hanging_keyring.entered.is_set()  # it really was stuck inside the backend
    assert elapsed < timeout_s + 1
    assert not status.available
    assert "did not answer within 0.5 s" in status.reason
    assert "unlock" in status.reason


def test_default_probe_answers_within_five_seconds(hanging_keyring: HangingKeyring) -> None:
    started = time.monotonic()
    status = probe_keyring()
    assert time.monotonic() - started < 5
    assert not status.available


def test_calls_while_an_earlier_one_is_stuck_fail_fast_then_recover(hanging_keyring: HangingKeyring) -> None:
    with pytest.raises(KeyringTimeout, match="did not answer"):
        get_password(PG, timeout_s=0.3)
    assert credentials.keyring_busy()
    started = time.monotonic()
    with pytest.raises(KeyringTimeout, match="still busy with an earlier request"):
        save_password(PG, SECRET, timeout_s=3)
    assert time.monotonic() - started < 0.5  # no second thread stacked behind the first

    hanging_keyring.release.set()  # the reviewer unlocks the wallet
    assert credentials.settle(5)
    assert probe_keyring(2).available


def test_resolving_with_a_hanging_keyring_asks_instead_of_waiting(hanging_keyring: HangingKeyring) -> None:
    started = time.monotonic()
    resolved = resolve_store_url(PG, keyring_timeout_s=0.3, session=SessionPasswords())
    assert time.monotonic() - started < 1.3
    assert resolved.needs_password
    assert resolved.keyring_problem is not None and "did not answer" in resolved.keyring_problem


# --- keyrings that fail or are absent --------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "kind", "message"),
    [
        (KeyringLocked("Failed to unlock the collection!"), KeyringUnavailable, "is locked"),
        (KeyringError("org.freedesktop.DBus.Error.ServiceUnknown"), KeyringUnavailable, "ServiceUnknown"),
        (RuntimeError("backend exploded"), CredentialError, "backend exploded"),
    ],
)
def test_failing_keyring_gives_readable_errors(error: Exception, kind: type, message: str) -> None:
    for _ in use_keyring(FailingKeyring(error)):
        with pytest.raises(kind, match=message) as caught:
            get_password(PG, timeout_s=2)
        text = str(caught.value)
        assert text.startswith("the system keyring")
        assert "reviewer at postgresql+psycopg://reviewer@db.example.org:5432/signoff" in text
        assert "Traceback" not in text
        with pytest.raises(kind):
            save_password(PG, SECRET, timeout_s=2)
        status = probe_keyring(2)
        assert not status.available
        assert message in status.reason


def test_backend_error_never_echoes_the_password() -> None:
    for _ in use_keyring(FailingKeyring(KeyringError(f"cannot store {SECRET!s} here"))):
        with pytest.raises(KeyringUnavailable) as caught:
            save_password(PG, SECRET, timeout_s=2)
        assert SECRET not in str(caught.value)
        assert caught.value.__cause__ is None and caught.value.__suppress_context__


@pytest.mark.parametrize(
    ("backend", "reason"),
    [(fail.Keyring(), "no system keyring was found"), (null.Keyring(), "switched off")],
)
def test_no_keyring_backends_are_unavailable_not_silently_empty(backend: KeyringBackend, reason: str) -> None:
    for _ in use_keyring(backend):
        status = probe_keyring(2)
        assert not status.available
        assert reason in status.reason
        # null would swallow the password and say nothing: refuse instead of pretending
        with pytest.raises(KeyringUnavailable, match=reason):
            save_password(PG, SECRET, timeout_s=2)
        resolved = resolve_store_url(PG, keyring_timeout_s=2, session=SessionPasswords())
        assert resolved.needs_password and reason in (resolved.keyring_problem or "")


def test_working_keyring_probes_available(memory_keyring: MemoryKeyring) -> None:
    status = probe_keyring(2)
    assert status.available and status.reason == ""
    assert status.backend == MemoryKeyring.name
    assert memory_keyring.calls == 1  # one harmless read, nothing written
    assert memory_keyring.secrets == {}


# --- nothing shows the password --------------------------------------------------------------------


def test_displayed_urls_never_hold_the_password(memory_keyring: MemoryKeyring) -> None:
    with_pw = url_with_password(PG, SECRET)
    assert SECRET not in display_url(with_pw)
    assert SECRET not in redact_url(with_pw)
    # libpq also takes ?password=; the display drops it too
    query_pw = f"{PG}?password=hunter2&sslmode=require"
    assert "hunter2" not in display_url(query_pw)
    assert "sslmode=require" in display_url(query_pw)
    assert url_with_password(query_pw, SECRET).count("password") == 0
    assert url_without_password(query_pw) == f"{PG}?sslmode=require"
    assert url_without_password(with_pw) == PG

    save_password(PG, SECRET)
    resolved = resolve_store_url(PG, keyring_timeout_s=2, session=SessionPasswords())
    assert SECRET not in resolved.display_url
    assert SECRET not in repr(resolved) and SECRET not in str(resolved)


def test_no_log_record_carries_the_password(
    memory_keyring: MemoryKeyring, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    save_password(PG, SECRET)
    resolve_store_url(PG, keyring_timeout_s=2, session=SessionPasswords())
    resolve_store_url(url_with_password(PG, SECRET), keyring_timeout_s=2, session=SessionPasswords())
    probe_keyring(2)
    assert caplog.records  # the save is logged, just not its secret
    assert all(SECRET not in r.getMessage() for r in caplog.records)


# --- session passwords -----------------------------------------------------------------------------


def test_session_passwords_are_per_role_and_server_and_never_shown() -> None:
    session = SessionPasswords()
    session.put(PG, SECRET)
    assert session.get("postgresql://reviewer@db.example.org/signoff") == SECRET
    assert session.get("postgresql+psycopg://admin@db.example.org/signoff") is None
    assert session.get("postgresql+psycopg://reviewer@db.example.org/other") is None
    assert SECRET not in repr(session)
    session.forget(PG)
    assert session.get(PG) is None and len(session) == 0


def test_resolve_prefers_the_session_and_skips_the_keyring(memory_keyring: MemoryKeyring) -> None:
    save_password(PG, "in-keyring")
    session = SessionPasswords()
    session.put(PG, "typed")
    calls = memory_keyring.calls
    resolved = resolve_store_url(PG, keyring_timeout_s=2, session=session)
    assert resolved.source is PasswordSource.SESSION
    assert resolved.url == url_with_password(PG, "typed")
    assert memory_keyring.calls == calls


def test_session_only_when_there_is_no_keyring() -> None:
    for _ in use_keyring(fail.Keyring()):
        session = SessionPasswords()
        assert resolve_store_url(PG, keyring_timeout_s=2, session=session).needs_password
        session.put(PG, SECRET)
        resolved = resolve_store_url(PG, keyring_timeout_s=2, session=session)
        assert resolved.source is PasswordSource.SESSION and not resolved.needs_password


# --- what passes through ---------------------------------------------------------------------------


def test_sqlite_passes_through_without_asking_the_keyring(memory_keyring: MemoryKeyring) -> None:
    url = "sqlite:////tmp/shared.db"
    resolved = resolve_store_url(url, keyring_timeout_s=2, session=SessionPasswords())
    assert resolved.url == url and resolved.source is PasswordSource.NOT_NEEDED
    assert not resolved.needs_password
    assert memory_keyring.calls == 0


def test_a_given_password_is_used_and_offered_for_the_keyring(memory_keyring: MemoryKeyring) -> None:
    given = url_with_password(PG, SECRET)
    resolved = resolve_store_url(given, keyring_timeout_s=2, session=SessionPasswords())
    assert resolved.source is PasswordSource.GIVEN
    assert resolved.url == given
    assert resolved.offer_to_save
    assert memory_keyring.secrets == {}  # offered, never saved on its own

    save_password(PG, SECRET)
    again = resolve_store_url(given, keyring_timeout_s=2, session=SessionPasswords())
    assert not again.offer_to_save  # the keyring already holds exactly this one


def test_a_given_password_is_not_offered_without_a_keyring() -> None:
    for _ in use_keyring(null.Keyring()):
        resolved = resolve_store_url(
            url_with_password(PG, SECRET), keyring_timeout_s=2, session=SessionPasswords()
        )
        assert resolved.source is PasswordSource.GIVEN and not resolved.offer_to_save
        assert resolved.keyring_problem


# --- the Windows Credential Manager limit ----------------------------------------------------------


def test_passwords_over_2560_bytes_are_refused_before_the_keyring(memory_keyring: MemoryKeyring) -> None:
    fits = "x" * (MAX_SECRET_BYTES // 2)  # keyring stores UTF-16: 2 bytes a character
    save_password(PG, fits)
    assert get_password(PG) == fits

    calls = memory_keyring.calls
    for too_long in ("x" * (MAX_SECRET_BYTES // 2 + 1), "🔑" * (MAX_SECRET_BYTES // 4 + 1)):
        with pytest.raises(PasswordTooLong, match=r"at most 2,560 bytes.*this session only"):
            save_password(PG, too_long)
    assert memory_keyring.calls == calls  # refused without asking the keyring
    assert get_password(PG) == fits


def test_a_too_long_given_password_is_used_but_not_offered(memory_keyring: MemoryKeyring) -> None:
    long_pw = "y" * 2000
    resolved = resolve_store_url(
        url_with_password(PG, long_pw), keyring_timeout_s=2, session=SessionPasswords()
    )
    assert resolved.source is PasswordSource.GIVEN and not resolved.offer_to_save
    assert "too long" in (resolved.keyring_problem or "")


# --- telling "wrong password" from "server down" ---------------------------------------------------


def test_password_refused_reads_libpq_messages() -> None:
    # Verbatim psycopg 3 messages from a scram-sha-256 server.
    missing = (
        'connection failed: connection to server at "127.0.0.1", port 55433 failed: '
        "fe_sendauth: no password supplied"
    )
    wrong = (
        'connection failed: connection to server at "127.0.0.1", port 55433 failed: '
        'FATAL:  password authentication failed for user "admin"'
    )
    down = 'connection failed: connection to server at "127.0.0.1", port 55433 failed: Connection refused'
    assert password_refused(missing) and password_refused(wrong)
    assert not password_refused(down)
    try:
        try:
            raise OSError(wrong)
        except OSError as orig:
            raise RuntimeError("cannot reach the store") from orig
    except RuntimeError as wrapped:
        assert password_refused(wrapped)
