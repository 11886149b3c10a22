"""Store passwords: kept in the OS keyring (or, when there is none, in memory for this session),
never in settings, logs or messages.

Every keyring call runs on a daemon thread and is abandoned after a timeout: Secret Service and
KWallet can block for minutes while an unlock prompt waits, and a reviewer must hear "no keyring"
within seconds rather than watch a frozen window. Nothing here ever picks a plaintext or file
backend on its own (keyrings.alt): without a real keyring the password lives for this session only.
"""

from __future__ import annotations

import getpass
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy.engine import URL, make_url

from app.core.urls import (  # noqa: F401 - re-exported for callers of this module
    display_url,
    has_password,
    password_of,
    url_with_password,
    url_without_password,
)

if TYPE_CHECKING:  # keyring loads its backends when first asked (not at start: SQLite needs none)
    from keyring.backend import KeyringBackend

log = logging.getLogger(__name__)

T = TypeVar("T")

SERVICE_PREFIX = "signoff"
DEFAULT_TIMEOUT_S = 4.0  # under the 5 s in which the UI must have an answer
PG_DEFAULT_PORT = 5432
# Windows Credential Manager refuses blobs over CRED_MAX_CREDENTIAL_BLOB_SIZE (5 * 512 bytes), and
# keyring writes them as UTF-16, so that is the measure; applied everywhere so a password that
# works on one reviewer's machine works on all of them.
MAX_SECRET_BYTES = 2560
PROBE_SERVICE = f"{SERVICE_PREFIX}:keyring-probe"
PROBE_USER = "signoff"

_UNLOCK_HINT = "unlock it (or answer its prompt) and try again"


class CredentialError(Exception):
    """A password could not be read, saved or forgotten; the message says why and what to do."""


class KeyringUnavailable(CredentialError):
    """There is no usable system keyring (none installed, locked, disabled, or not answering)."""


class KeyringTimeout(KeyringUnavailable):
    """The keyring did not answer in time (typically waiting for an unlock prompt)."""


class PasswordTooLong(CredentialError):
    pass


@dataclass(frozen=True)
class KeyringStatus:
    available: bool
    backend: str  # display name of the keyring backend, "" when it could not even be loaded
    reason: str = ""  # why it is unavailable; "" when available


class PasswordSource(StrEnum):
    NOT_NEEDED = "not-needed"  # not a server store (SQLite)
    GIVEN = "given"  # the URL itself carried the password (command line, environment)
    SESSION = "session"
    KEYRING = "keyring"
    MISSING = "missing"


@dataclass(frozen=True)
class ResolvedUrl:
    """What to connect with. `url` may hold a password: keep it in memory, never show or store it;
    show `display_url`."""

    url: str = field(repr=False)
    display_url: str
    source: PasswordSource
    # a password came with the URL and the keyring could hold it: ask whether to remember it
    offer_to_save: bool = False
    keyring_problem: str | None = None  # why the keyring could not be asked, for the UI

    @property
    def needs_password(self) -> bool:
        """No password is known. The server may still not want one (trust, peer, ~/.pgpass,
        PGPASSWORD): try to connect, and ask when it refuses (see `password_refused`)."""
        return self.source is PasswordSource.MISSING


# --- URLs --------------------------------------------------------------------------------------


def is_server_url(url: str) -> bool:
    """Only PostgreSQL stores take a password; SQLite files do not."""
    return make_url(url).get_backend_name() == "postgresql"


def _require_server(url: str) -> URL:
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        raise ValueError(f"{display_url(url)} is not a PostgreSQL store and takes no password")
    return parsed


def _host(parsed: URL) -> str:
    query_host = parsed.query.get("host") or ""
    if isinstance(query_host, tuple):  # ?host=a&host=b: libpq tries them in turn
        query_host = ",".join(query_host)
    host = parsed.host or query_host or "localhost"
    host = host.lower()  # host names are case-insensitive; one server, one keyring entry
    return f"[{host}]" if ":" in host else host  # IPv6 literal: keep the port separator readable


def role(url: str) -> str:
    """The database role the password belongs to (libpq's default: the OS user)."""
    parsed = _require_server(url)
    if parsed.username:
        return parsed.username
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        return os.environ.get("USER") or "postgres"


def service_name(url: str) -> str:
    """The keyring service for a store, e.g. ``signoff:db.example.org:5432/signoff``.

    Independent of the driver (``postgresql+psycopg`` and ``postgresql`` are the same server) and
    of the password; the role is the keyring's user name."""
    parsed = _require_server(url)
    port = parsed.port or PG_DEFAULT_PORT
    database = parsed.database or role(url)  # libpq's default database is the role's name
    return f"{SERVICE_PREFIX}:{_host(parsed)}:{port}/{database}"


def server_label(url: str) -> str:
    """``host:port/database``: which store is meant, for the reviewer to read."""
    return service_name(url).removeprefix(SERVICE_PREFIX + ":")


def account_label(url: str) -> str:
    """``role@host:port/database``: which password is meant, for the reviewer to read."""
    return f"{role(url)}@{server_label(url)}"


def password_refused(error: BaseException | str) -> bool:
    """True when a connection failed because the server wants a (different) password.

    psycopg gives connection failures no SQLSTATE, so this reads libpq's messages:
    "fe_sendauth: no password supplied" and "password authentication failed for user ...".
    Works on an exception (following its causes) or on a message such as Workspace.store_error."""
    markers = ("no password supplied", "password authentication failed")
    seen: set[int] = set()
    current: BaseException | str | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        text = str(current).lower()
        if any(marker in text for marker in markers):
            return True
        if isinstance(current, str):
            return False
        current = current.__cause__ or current.__context__
    return False


# --- running keyring calls with a timeout ------------------------------------------------------

_stuck_lock = threading.Lock()
_stuck: list[threading.Thread] = []  # calls that outlived their timeout and still wait


def keyring_busy() -> bool:
    """True while a keyring call that timed out is still waiting (e.g. on an unlock prompt)."""
    with _stuck_lock:
        _stuck[:] = [t for t in _stuck if t.is_alive()]
        return bool(_stuck)


def settle(timeout_s: float) -> bool:
    """Wait up to timeout_s for abandoned keyring calls to end; True when none is left."""
    deadline = time.monotonic() + timeout_s
    while keyring_busy():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.01)
    return True


def _with_timeout(fn: Callable[[], T], timeout_s: float, what: str) -> T:
    # A second call would only queue behind the first (and may stack unlock prompts): say so now.
    if keyring_busy():
        raise KeyringTimeout(
            f"the system keyring is still busy with an earlier request while {what}; {_UNLOCK_HINT}"
        )
    outcome: dict[str, object] = {}
    done = threading.Event()

    def run() -> None:
        try:
            outcome["value"] = fn()
        except BaseException as error:  # handed to the caller, never lost on this thread
            outcome["error"] = error
        finally:
            done.set()

    thread = threading.Thread(target=run, name="signoff-keyring", daemon=True)
    thread.start()
    if not done.wait(timeout_s):
        with _stuck_lock:
            _stuck.append(thread)
        log.warning("system keyring did not answer within %.1f s while %s", timeout_s, what)
        raise KeyringTimeout(
            f"the system keyring did not answer within {timeout_s:g} s while {what} "
            f"(it may be locked and waiting to be unlocked); {_UNLOCK_HINT}"
        )
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["value"]  # type: ignore[return-value]


def _backend_name(backend: KeyringBackend) -> str:
    from keyring.backends import chainer

    if isinstance(backend, chainer.ChainerBackend):
        return " + ".join(b.name for b in backend.backends) or "none"
    return str(type(backend).name)


def _unusable(backend: KeyringBackend) -> str | None:
    """Why this backend must not hold store passwords, or None when it may."""
    from keyring.backends import chainer, fail, null

    if isinstance(backend, fail.Keyring):
        return (
            "no system keyring was found (on Linux, install and unlock GNOME Keyring, KWallet "
            "or another Secret Service provider)"
        )
    if isinstance(backend, null.Keyring):
        return "the system keyring is switched off for Signoff (keyring's null backend is in use)"
    if isinstance(backend, chainer.ChainerBackend):
        reasons = [_unusable(b) for b in backend.backends]
        if not backend.backends:
            return "no system keyring was found"
        if all(reasons):
            return reasons[0]
        return None
    if type(backend).__module__.startswith("keyrings.alt"):
        # These keep passwords in files, some in plain text: not a place Signoff chooses.
        return f"{type(backend).name} is a file-based keyring; Signoff only uses the system keyring"
    return None


def _usable_keyring() -> KeyringBackend:
    """The configured keyring, or KeyringUnavailable. Runs on the keyring thread: loading a backend
    can itself block (D-Bus activation)."""
    import keyring

    backend = keyring.get_keyring()
    reason = _unusable(backend)
    if reason is not None:
        raise KeyringUnavailable(reason)
    return backend


def _readable(error: BaseException, what: str, secret: str | None = None) -> CredentialError:
    from keyring.errors import KeyringError, KeyringLocked, NoKeyringError

    if isinstance(error, CredentialError):
        return error
    if isinstance(error, KeyringLocked):
        return KeyringUnavailable(f"the system keyring is locked while {what}; {_UNLOCK_HINT}")
    if isinstance(error, NoKeyringError):
        return KeyringUnavailable(f"no system keyring is available while {what}: {error}")
    detail = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    if secret:
        detail = detail.replace(secret, "***")  # a backend's message must not carry the secret out
    kind = KeyringUnavailable if isinstance(error, KeyringError) else CredentialError
    return kind(f"the system keyring failed while {what}: {detail}")


# --- the API -----------------------------------------------------------------------------------


def probe_keyring(timeout_s: float = DEFAULT_TIMEOUT_S) -> KeyringStatus:
    """Whether the system keyring can hold store passwords. Never blocks longer than timeout_s
    (plus thread start-up), whatever the keyring does."""
    name: dict[str, str] = {"backend": ""}

    def probe() -> None:
        import keyring

        backend = keyring.get_keyring()
        name["backend"] = _backend_name(backend)
        reason = _unusable(backend)
        if reason is not None:
            raise KeyringUnavailable(reason)
        backend.get_password(PROBE_SERVICE, PROBE_USER)  # harmless read: is it unlocked, does it answer

    try:
        _with_timeout(probe, timeout_s, "checking it")
    except Exception as error:
        status = KeyringStatus(False, name["backend"], str(_readable(error, "checking it")))
    else:
        status = KeyringStatus(True, name["backend"])
    log.info("system keyring: %s", "available" if status.available else f"unavailable ({status.reason})")
    return status


def check_password_fits(password: str) -> None:
    """Raise PasswordTooLong when the keyring cannot hold this password (Windows' limit)."""
    size = len(password.encode("utf-16-le"))
    if size > MAX_SECRET_BYTES:
        raise PasswordTooLong(
            f"this password is too long for the system keyring ({size:,} bytes; Windows Credential "
            f"Manager holds at most {MAX_SECRET_BYTES:,} bytes, about {MAX_SECRET_BYTES // 2:,} "
            "characters); it can still be used for this session only"
        )


def get_password(url: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> str | None:
    """The saved password for this store's role, or None when none is saved."""
    service, user = service_name(url), role(url)
    what = f"reading the password for {user} at {display_url(url)}"
    try:
        return _with_timeout(lambda: _usable_keyring().get_password(service, user), timeout_s, what)
    except Exception as error:
        raise _readable(error, what) from None


def save_password(url: str, password: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
    """Remember the password in the system keyring (replacing any saved one)."""
    if not password:
        raise CredentialError("an empty password cannot be saved")
    check_password_fits(password)
    service, user = service_name(url), role(url)
    what = f"saving the password for {user} at {display_url(url)}"
    try:
        _with_timeout(lambda: _usable_keyring().set_password(service, user, password), timeout_s, what)
    except Exception as error:
        # `from None`: the original exception (and its traceback's locals) stays out of logs
        raise _readable(error, what, secret=password) from None
    log.info("saved the password for %s at %s in the system keyring", user, display_url(url))


def forget_password(url: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> bool:
    """Delete the saved password; True when one was there."""
    service, user = service_name(url), role(url)
    what = f"forgetting the password for {user} at {display_url(url)}"

    def delete() -> bool:
        from keyring.errors import PasswordDeleteError

        try:
            _usable_keyring().delete_password(service, user)
        except PasswordDeleteError:  # nothing saved: forgetting it is already done
            return False
        return True

    try:
        return _with_timeout(delete, timeout_s, what)
    except Exception as error:
        raise _readable(error, what) from None


class SessionPasswords:
    """Passwords typed in this process, kept in memory only: the fallback when there is no keyring,
    and a cache so one session asks the keyring (or the reviewer) once. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._passwords: dict[tuple[str, str], str] = {}

    @staticmethod
    def _key(url: str) -> tuple[str, str]:
        return service_name(url), role(url)

    def get(self, url: str) -> str | None:
        with self._lock:
            return self._passwords.get(self._key(url))

    def put(self, url: str, password: str) -> None:
        if not password:
            raise ValueError("an empty password is not a password")
        with self._lock:
            self._passwords[self._key(url)] = password

    def forget(self, url: str) -> None:
        with self._lock:
            self._passwords.pop(self._key(url), None)

    def clear(self) -> None:
        with self._lock:
            self._passwords.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._passwords)

    def __repr__(self) -> str:  # never the passwords themselves
        return f"<SessionPasswords: {len(self)} kept>"


def resolve_store_url(
    url: str, *, keyring_timeout_s: float = DEFAULT_TIMEOUT_S, session: SessionPasswords
) -> ResolvedUrl:
    """The URL to connect with. Blocks up to keyring_timeout_s: call it off the GUI thread.

    Order: a password in the URL; one typed this session; the keyring. Keyring trouble is not an
    error here, only `keyring_problem`: the reviewer can still type the password."""
    shown = display_url(url)
    if not is_server_url(url):
        return ResolvedUrl(url, shown, PasswordSource.NOT_NEEDED)
    given = password_of(url)
    if given is not None:
        engine_url = url_with_password(url, given)
        try:
            check_password_fits(given)
            saved = get_password(url, keyring_timeout_s)
        except CredentialError as problem:
            return ResolvedUrl(engine_url, shown, PasswordSource.GIVEN, keyring_problem=str(problem))
        return ResolvedUrl(engine_url, shown, PasswordSource.GIVEN, offer_to_save=saved != given)
    typed = session.get(url)
    if typed is not None:
        return ResolvedUrl(url_with_password(url, typed), shown, PasswordSource.SESSION)
    try:
        saved = get_password(url, keyring_timeout_s)
    except CredentialError as problem:
        return ResolvedUrl(url, shown, PasswordSource.MISSING, keyring_problem=str(problem))
    if saved:
        return ResolvedUrl(url_with_password(url, saved), shown, PasswordSource.KEYRING)
    return ResolvedUrl(url, shown, PasswordSource.MISSING)
