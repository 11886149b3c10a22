"""Pytest plugin: a real, throwaway PostgreSQL cluster for the test session.

No mocks: ``pg_server`` runs ``initdb`` + ``pg_ctl`` on a private temp dir and a free
port on 127.0.0.1, ``pg_url`` hands each test its own freshly created database.

Environment:
  SIGNOFF_PG_BINDIR          directory holding initdb/pg_ctl/postgres (else auto-detected)
  SIGNOFF_REQUIRE_POSTGRES=1 missing server binaries fail the tests instead of skipping
                             them (CI sets it so Postgres coverage can never vanish silently)
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

SUPERUSER = "postgres"
_TMP_PREFIX = "signoff-pg-"
_START_TIMEOUT_S = 60
_CONNECT_TIMEOUT_S = 30
_FIXTURES = frozenset({"pg_server", "pg_url"})

# Throwaway-cluster settings. fsync/synchronous_commit/full_page_writes=off trade crash
# safety for speed: acceptable ONLY because this cluster is test-only and deleted at the end.
_CONF_TEMPLATE = """\
# Written by tests/postgres_fixtures.py — test-only cluster, never use these settings for real.
port = {port}
listen_addresses = '127.0.0.1'
unix_socket_directories = '{socket_dir}'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 100
log_min_messages = warning
"""


# --------------------------------------------------------------------------- discovery


def _has_server(bindir: Path) -> bool:
    return all((bindir / name).is_file() for name in ("initdb", "pg_ctl", "postgres"))


def _version_key(path: Path) -> tuple[int, ...]:
    # /usr/lib/postgresql/<ver>/bin: sort numerically so 15 beats 9.6.
    return tuple(int(p) for p in re.findall(r"\d+", path.parent.name)) or (0,)


def find_pg_bindir() -> tuple[Path | None, str]:
    """Locate the PostgreSQL server binaries; return (bindir or None, how/why)."""
    env = os.environ.get("SIGNOFF_PG_BINDIR")
    if env:
        bindir = Path(env)
        if _has_server(bindir):
            return bindir, f"SIGNOFF_PG_BINDIR={env}"
        return None, f"SIGNOFF_PG_BINDIR={env} has no initdb/pg_ctl/postgres"

    candidates = [p.parent for p in Path("/usr/lib/postgresql").glob("*/bin/initdb")]
    for bindir in sorted(candidates, key=_version_key, reverse=True):
        if _has_server(bindir):
            return bindir, f"newest of /usr/lib/postgresql/*/bin ({bindir})"

    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=True
            ).stdout.strip()
            if out and _has_server(Path(out)):
                return Path(out), f"pg_config --bindir ({out})"

    initdb = shutil.which("initdb")
    if initdb and _has_server(Path(initdb).parent):
        return Path(initdb).parent, f"PATH ({Path(initdb).parent})"

    return None, (
        "no PostgreSQL server binaries found (looked at $SIGNOFF_PG_BINDIR, "
        "/usr/lib/postgresql/*/bin, pg_config --bindir, PATH); install the Debian "
        "'postgresql' package or set SIGNOFF_PG_BINDIR"
    )


def postgres_unavailable(reason: str) -> None:
    """Skip — or, with SIGNOFF_REQUIRE_POSTGRES=1, fail — because Postgres can't be used."""
    if os.environ.get("SIGNOFF_REQUIRE_POSTGRES") == "1":
        pytest.fail(f"SIGNOFF_REQUIRE_POSTGRES=1 but PostgreSQL is unavailable: {reason}")
    pytest.skip(f"PostgreSQL unavailable: {reason}")


# --------------------------------------------------------------------------- helpers


def _free_port() -> int:
    # Racy by nature (the port is released before postgres binds it); start() retries.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _os_user_for_server() -> pwd.struct_passwd | None:
    """None: run as ourselves. As root: the unprivileged account to run postgres as.

    initdb/pg_ctl/postgres refuse to run as root, so we switch user in the child process.
    """
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise RuntimeError("running as root but there is no 'postgres' (or 'nobody') OS user")


def _traversable_by_others(path: Path) -> bool:
    # The postgres OS user must be able to reach our temp dir through every parent.
    path = path.resolve()
    return all(p.stat().st_mode & stat.S_IXOTH for p in (path, *path.parents))


# Runs in a separate session, blocked on a pipe whose only writer is the pytest process.
# EOF means pytest is gone *however* it died (SIGKILL/SIGTERM/OOM skip atexit), so the
# cluster is shut down (SIGQUIT = immediate shutdown) and its temp dir removed.
# Stdlib only, and no pg_ctl, so it also works where pytest's venv has been deleted.
_WATCHDOG = r"""
import os, shutil, signal, sys, time
base, pidfile = sys.argv[1], os.path.join(sys.argv[2], "postmaster.pid")
sys.stdin.buffer.read()
try:
    with open(pidfile) as f:
        pid = int(f.readline())
    os.kill(pid, signal.SIGQUIT)
    deadline = time.monotonic() + 10
    while os.path.exists(pidfile) and time.monotonic() < deadline:
        time.sleep(0.05)
    if os.path.exists(pidfile):
        os.kill(pid, signal.SIGKILL)
except (OSError, ValueError):
    pass
shutil.rmtree(base, ignore_errors=True)
"""


def _child_env() -> dict[str, str]:
    # Drop PG* variables (PGDATA, PGPORT, PGHOST...) so a developer's shell can't redirect
    # initdb/pg_ctl; a C locale keeps initdb from tripping over unset/missing locales.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update(LC_ALL="C", LANG="C")
    return env


def _run(
    cmd: list[str],
    user: pwd.struct_passwd | None,
    *,
    cwd: Path,
    timeout: float,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    kwargs: dict[str, Any] = {}
    if user is not None:
        # Equivalent to `runuser -u postgres --` but without needing util-linux: the child
        # drops root (supplementary groups first) before exec'ing initdb/pg_ctl.
        kwargs.update(user=user.pw_uid, group=user.pw_gid, extra_groups=[])
    result = subprocess.run(
        cmd,
        cwd=cwd,
        env=_child_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        **kwargs,
    )
    if check and result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(cmd)} exited {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        )
    return result


# --------------------------------------------------------------------------- server


class PgServer:
    """A throwaway cluster: ``initdb`` into a temp dir, ``pg_ctl`` start/stop/restart."""

    superuser: str = SUPERUSER
    host: str = "127.0.0.1"

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.os_user = _os_user_for_server()
        parent = Path(tempfile.gettempdir())
        if self.os_user is not None and not _traversable_by_others(parent):
            parent = Path("/tmp")  # e.g. TMPDIR=/root/tmp is unreachable for 'postgres'
        self.base = Path(tempfile.mkdtemp(prefix=_TMP_PREFIX, dir=parent))
        if self.os_user is not None:
            os.chown(self.base, self.os_user.pw_uid, self.os_user.pw_gid)
        self.datadir = self.base / "data"
        self.logfile = self.base / "postgres.log"
        self.port = 0
        self.major_version = 0
        self._db_counter = 0
        self._watchdog = subprocess.Popen(
            [sys.executable, "-c", _WATCHDOG, str(self.base), str(self.datadir)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # survive the Ctrl-C / kill aimed at pytest's group
        )

    # -- lifecycle ----------------------------------------------------------------------

    def _pg(
        self, *args: str, timeout: float = _START_TIMEOUT_S + 10, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        # Every server binary goes through here so it runs as the right OS user.
        return _run(
            [str(self.bindir / args[0]), *args[1:]],
            self.os_user,
            cwd=self.base,
            timeout=timeout,
            check=check,
        )

    def init(self) -> None:
        out = self._pg("initdb", "--version").stdout  # "initdb (PostgreSQL) 15.18 (...)"
        m = re.search(r"(\d+)", out)
        self.major_version = int(m.group(1)) if m else 0
        self._pg(
            "initdb",
            "-D",
            str(self.datadir),
            "--auth=trust",
            "-U",
            SUPERUSER,
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",  # test-only cluster: skip fsync of the fresh data dir
        )
        with (self.datadir / "postgresql.conf").open("a") as f:
            f.write("\ninclude 'signoff_test.conf'\n")

    def _write_conf(self) -> None:
        conf = self.datadir / "signoff_test.conf"
        conf.write_text(_CONF_TEMPLATE.format(port=self.port, socket_dir=self.base))
        if self.os_user is not None:
            os.chown(conf, self.os_user.pw_uid, self.os_user.pw_gid)

    def start(self) -> None:
        """Start the server (on a fresh free port the first time, the same port afterwards)."""
        first_start = self.port == 0
        attempts = 3 if first_start else 1  # only retry port races when we chose the port
        for attempt in range(attempts):
            if first_start:
                self.port = _free_port()
            self._write_conf()
            result = self._pg(
                "pg_ctl",
                "-D",
                str(self.datadir),
                "-l",
                str(self.logfile),
                "-w",
                "-t",
                str(_START_TIMEOUT_S),
                "start",
                check=False,
            )
            if result.returncode == 0:
                break
            if attempt == attempts - 1:
                raise RuntimeError(
                    f"pg_ctl start failed (exit {result.returncode}) on port {self.port}\n"
                    f"{result.stdout}{result.stderr}\n--- server log ---\n{self._log_tail()}"
                )
        self.wait_until_ready()

    def wait_until_ready(self, timeout: float = _CONNECT_TIMEOUT_S) -> None:
        """Poll with a real TCP connection until the server answers (bounded, not a sleep)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(self.admin_dsn(), connect_timeout=5) as conn:
                    conn.execute("select 1")
                return
            except psycopg.OperationalError as exc:
                if time.monotonic() >= deadline:
                    raise RuntimeError(
                        f"postgres on port {self.port} not accepting connections after "
                        f"{timeout}s: {exc}\n--- server log ---\n{self._log_tail()}"
                    ) from exc
                time.sleep(0.05)

    def is_running(self) -> bool:
        """True if the postmaster is up (per ``pg_ctl status``)."""
        if not self.datadir.exists():
            return False
        return self._pg("pg_ctl", "-D", str(self.datadir), "status", check=False).returncode == 0

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``mode``: smart/fast/immediate); no-op if it isn't running."""
        if not self.is_running():
            return
        result = self._pg(
            "pg_ctl", "-D", str(self.datadir), "-m", mode, "-w", "-t", "30", "stop", check=False
        )
        if result.returncode != 0 and self.is_running():
            self._pg("pg_ctl", "-D", str(self.datadir), "-m", "immediate", "-w", "stop", check=False)
        if self.is_running():  # last resort: pg_ctl itself is wedged
            self._kill_postmaster()

    def restart(self, mode: str = "fast") -> None:
        """Stop and start again on the same port and data dir (for fault-injection tests)."""
        self.stop(mode)
        self.start()

    def _kill_postmaster(self) -> None:
        with contextlib.suppress(OSError, ValueError, IndexError):
            pid = int((self.datadir / "postmaster.pid").read_text().splitlines()[0])
            os.kill(pid, signal.SIGKILL)

    def destroy(self) -> None:
        """Stop the server and delete everything; safe to call repeatedly."""
        try:
            if self.datadir.exists():
                self.stop("immediate")
        finally:
            shutil.rmtree(self.base, ignore_errors=True)
            if self._watchdog.poll() is None:
                self._watchdog.stdin.close()  # nothing left to clean: let it exit
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self._watchdog.wait(timeout=10)

    def _log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.logfile.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"

    # -- addresses ----------------------------------------------------------------------

    def url(self, dbname: str, user: str | None = None) -> str:
        """SQLAlchemy URL (psycopg 3 driver) for ``dbname``."""
        who = quote(user or self.superuser, safe="")
        return f"postgresql+psycopg://{who}@{self.host}:{self.port}/{quote(dbname, safe='')}"

    def admin_dsn(self, dbname: str = "postgres") -> str:
        """Plain libpq DSN for ``psycopg.connect``, as the superuser."""
        return make_conninfo(
            host=self.host, port=self.port, user=self.superuser, dbname=dbname, connect_timeout=10
        )

    # -- databases ----------------------------------------------------------------------

    def create_database(self) -> str:
        """Create an empty uniquely named database and return its name."""
        self._db_counter += 1
        name = f"signoff_test_{os.getpid()}_{self._db_counter}_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(self.admin_dsn(), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return name

    def drop_database(self, name: str) -> None:
        """Drop ``name`` even if a test left connections open."""
        with psycopg.connect(self.admin_dsn(), autocommit=True) as conn:
            ident = sql.Identifier(name)
            if self.major_version >= 13:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))
            else:  # WITH (FORCE) is PG13+
                conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                    (name,),
                )
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(ident))

    @contextlib.contextmanager
    def temp_database(self) -> Iterator[str]:
        """A fresh database for the duration of the block; yields its SQLAlchemy URL."""
        self.ensure_running()
        name = self.create_database()
        try:
            yield self.url(name)
        finally:
            self.ensure_running()  # a fault-injection test may have left it stopped
            self.drop_database(name)

    def ensure_running(self) -> None:
        """Start the server if a test stopped it and didn't restart it."""
        if not self.is_running():
            self.start()


def start_server(bindir: Path) -> PgServer:
    """initdb + start a cluster; on any failure nothing is left behind."""
    server = PgServer(bindir)
    # Registered before start so a crash between here and the fixture's teardown still
    # stops postgres (destroy() is idempotent, so the normal teardown running it too is fine).
    atexit.register(server.destroy)
    try:
        server.init()
        server.start()
    except BaseException:
        server.destroy()
        atexit.unregister(server.destroy)
        raise
    return server


# --------------------------------------------------------------------------- pytest hooks


def pytest_configure(config: pytest.Config) -> None:
    # pyproject declares it; declare it here too so the plugin works on its own.
    if not any(str(m).startswith("postgres:") for m in config.getini("markers")):
        config.addinivalue_line("markers", "postgres: needs the throwaway PostgreSQL cluster")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.postgres)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """The session's throwaway PostgreSQL cluster (see module docstring)."""
    bindir, how = find_pg_bindir()
    if bindir is None:
        postgres_unavailable(how)
    assert bindir is not None
    try:
        server = start_server(bindir)
    except Exception as exc:
        # Binaries exist but the cluster won't come up: that is a real failure, not a skip.
        pytest.fail(f"could not start throwaway PostgreSQL from {bindir}: {exc}", pytrace=False)
    try:
        yield server
    finally:
        server.destroy()
        atexit.unregister(server.destroy)


@pytest.fixture
def pg_url(pg_server: PgServer) -> Iterator[str]:
    """SQLAlchemy URL of a brand-new empty database, dropped after the test."""
    with pg_server.temp_database() as url:
        yield url
