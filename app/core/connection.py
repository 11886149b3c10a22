"""Building store URLs from what a person types, judging their TLS, and trying them out.

GUI-free: the welcome dialog (and anything else) calls these on a worker thread. The URLs built
here never hold a password: that goes to the keyring (`credentials`) and joins the URL only in
memory, just before connecting (`credentials.url_with_password`).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import URL, make_url

from app.core import roles
from app.core.store import Store, StoreNotInitialized
from app.core.store_errors import translate_errors

PG_DRIVER = "postgresql+psycopg"
PG_DEFAULT_PORT = 5432
DEFAULT_DATABASE = "signoff"

# libpq's modes, weakest first. Only verify-full checks both the certificate and that it names the
# host: anything less lets someone on the network path read the password and every ticket.
SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
STRICT_SSLMODE = "verify-full"
LOCAL_SSLMODE = "prefer"  # libpq's own default: on this machine there is no network to spy on

_WEAK_RISKS = {
    "disable": "nothing is encrypted, so the password and every ticket cross the network readable",
    "allow": "encryption is used only if the server insists, so the password may cross the network "
    "readable",
    "prefer": "encryption is used if the server offers it, but unchecked, so anyone in between can "
    "pose as the server",
    "require": "the connection is encrypted, but the server's certificate is not checked, so anyone "
    "in between can pose as the server",
    "verify-ca": "the certificate is checked, but not that it was issued for this host name, so "
    "another server with a certificate from the same authority can pose as this one",
}


def is_local_host(host: str) -> bool:
    """This machine: empty (libpq's default socket), a Unix socket folder, localhost or loopback."""
    host = host.strip().strip("[]").lower()
    if not host or host.startswith("/") or host.startswith("@") or host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def default_sslmode(host: str) -> str:
    return LOCAL_SSLMODE if is_local_host(host) else STRICT_SSLMODE


def weak_tls_risk(host: str, sslmode: str) -> str | None:
    """Why this TLS mode is unsafe for this host, or None when it is fine (verify-full, or local)."""
    if is_local_host(host) or sslmode == STRICT_SSLMODE:
        return None
    return _WEAK_RISKS.get(sslmode, f"sslmode={sslmode} does not verify the server")


@dataclass(frozen=True)
class PostgresTarget:
    """What the "Connect to Postgres" form holds, minus the password."""

    host: str
    port: int = PG_DEFAULT_PORT
    database: str = DEFAULT_DATABASE
    login: str = ""
    sslmode: str = ""  # "" = the default for this host (`default_sslmode`)
    sslrootcert: str = ""  # CA certificate file; "" = libpq's default (~/.postgresql/root.crt)

    @property
    def effective_sslmode(self) -> str:
        return self.sslmode or default_sslmode(self.host)

    def problems(self) -> list[str]:
        """What is missing or wrong, in words; empty when a URL can be built."""
        found = []
        if not self.database.strip():
            found.append("the database name is missing")
        if not self.login.strip():
            found.append("the login (database role) is missing")
        if not 0 < self.port < 65536:
            found.append(f"port {self.port} is not a TCP port (1–65535)")
        if self.effective_sslmode not in SSL_MODES:
            found.append(f"unknown TLS mode {self.effective_sslmode!r}")
        return found

    def url(self) -> str:
        """The store URL, without a password (safe for settings and messages)."""
        problems = self.problems()
        if problems:
            raise ValueError("; ".join(problems))
        host = self.host.strip()
        query: dict[str, str] = {"sslmode": self.effective_sslmode}
        if self.sslrootcert.strip():
            query["sslrootcert"] = self.sslrootcert.strip()
        if host.startswith("/"):
            # A socket folder is not a URL host: libpq takes it from ?host=.
            query = {"host": host, **query}
            host_part: str | None = None
        else:
            host_part = host.strip("[]") or "localhost"
        url = URL.create(
            PG_DRIVER,
            username=self.login.strip(),
            host=host_part,
            port=self.port,
            database=self.database.strip(),
            query=query,
        )
        return url.render_as_string(hide_password=False)

    @classmethod
    def from_url(cls, url: str) -> PostgresTarget | None:
        """The form's fields for a Postgres URL (to edit a saved store); None for anything else."""
        parsed = make_url(url)
        if parsed.get_backend_name() != "postgresql":
            return None
        query_host = parsed.query.get("host") or ""
        if isinstance(query_host, tuple):
            query_host = query_host[0] if query_host else ""
        sslmode = parsed.query.get("sslmode") or ""
        rootcert = parsed.query.get("sslrootcert") or ""
        return cls(
            host=parsed.host or query_host or "localhost",
            port=parsed.port or PG_DEFAULT_PORT,
            database=parsed.database or "",
            login=parsed.username or "",
            sslmode=sslmode if isinstance(sslmode, str) else sslmode[-1],
            sslrootcert=rootcert if isinstance(rootcert, str) else rootcert[-1],
        )


def sqlite_url(path: Path | str) -> str:
    return f"sqlite:///{Path(path).expanduser().resolve()}"


@dataclass(frozen=True)
class ConnectionReport:
    """What a successful test connection learnt about the store."""

    store_id: str
    server: str  # "PostgreSQL 16.4" or "SQLite 3.45.1"
    login: str | None = None  # Postgres: who the server says we are; None on SQLite
    role: str | None = None  # the login's Signoff role; None when in no Signoff group (or SQLite)
    # why the review window would refuse this login (superuser, no setup-postgres, no group)
    login_problem: str | None = None
    bypasses_rls: bool = False  # the problem is one `--allow-superuser` lets a developer past
    note: str | None = None  # e.g. SQLite: roles are advisory
    warnings: list[str] = field(default_factory=list)  # e.g. a shared file on a network drive
    created: bool = False  # this call made the store (a new SQLite file)

    def window_allowed(self, *, allow_superuser: bool = False) -> bool:
        """Whether the review window would open with this login (see roles.check_reviewer_login)."""
        return self.login_problem is None or (allow_superuser and self.bypasses_rls)


def _server_version(store: Store) -> str:
    with translate_errors(store.url), store.engine.connect() as conn:
        if store.is_sqlite:
            return "SQLite " + str(conn.execute(text("SELECT sqlite_version()")).scalar())
        version = str(conn.execute(text("SHOW server_version")).scalar())
    return "PostgreSQL " + version.split(" ")[0]  # "16.4 (Debian 16.4-1)" → "16.4"


def _report(store: Store, *, created: bool = False) -> ConnectionReport:
    check = roles.check_reviewer_login(store)
    return ConnectionReport(
        store_id=store.store_id,
        server=_server_version(store),
        login=check.login,
        role=str(check.role) if check.role is not None else None,
        login_problem=check.problem,
        bypasses_rls=check.bypasses_rls,
        note=check.note,
        warnings=store.warnings(),
        created=created,
    )


def test_connection(url: str) -> ConnectionReport:
    """Open the store as the window would and say what it found; StoreError (with the store's own
    words) when it cannot. `url` may hold the password. Blocks: call it off the GUI thread."""
    store = Store.open(url)
    try:
        return _report(store)
    finally:
        store.close()


test_connection.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


def can_create_sqlite_store(path: Path) -> bool:
    """A file that is not there yet, or empty (made by a file dialog): safe to turn into a store.
    Anything else might be someone's database."""
    return not path.exists() or (path.is_file() and path.stat().st_size == 0)


def create_sqlite_store(path: Path) -> ConnectionReport:
    """What `signoff init-store` does, for a new SQLite file; refuses to touch a file with data."""
    if not can_create_sqlite_store(path):
        raise StoreNotInitialized(f"{path} already holds data; Signoff only creates a store in a new file")
    if not path.parent.is_dir():
        raise StoreNotInitialized(f"cannot create {path}: the folder {path.parent} does not exist")
    store = Store.initialize(sqlite_url(path))
    try:
        return _report(store, created=True)
    finally:
        store.close()
