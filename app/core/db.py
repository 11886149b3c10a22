"""Engines for the shared store and the local replica, with the locking each one needs."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 5000
# Execution option for connections that only read: they BEGIN DEFERRED, so in WAL mode they read
# a snapshot without waiting for (or blocking) a writer.
READ_ONLY = "signoff_read_only"
PG_CONNECT_TIMEOUT_S = 5


class StoreConfigError(Exception):
    """The store URL or the database behind it cannot be used as configured."""


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def sqlite_path(url: str) -> Path | None:
    """The file behind a sqlite URL; None for other databases and in-memory ones."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def _sqlite_engine(url: str, *, journal_mode: str) -> Engine:
    engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control away from pysqlite so BEGIN IMMEDIATE below is the only BEGIN:
        # a deferred BEGIN that later upgrades to a write lock is how SQLITE_BUSY deadlocks happen.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA foreign_keys = ON")
        # The pragma answers with the mode really in force instead of failing: check it.
        mode = cur.execute(f"PRAGMA journal_mode = {journal_mode}").fetchone()[0]
        if str(mode).lower() != journal_mode.lower():
            cur.close()
            raise StoreConfigError(f"SQLite refused journal_mode={journal_mode} (got {mode}) for {url}")
        cur.execute(
            "PRAGMA synchronous = FULL" if journal_mode == "delete" else "PRAGMA synchronous = NORMAL"
        )
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get(READ_ONLY) else "BEGIN IMMEDIATE")

    return engine


def store_engine(url: str) -> Engine:
    """The shared store. A shared SQLite file uses a rollback journal: WAL needs every process
    on one host, and a shared file is often on a network drive."""
    if is_sqlite(url):
        return _sqlite_engine(url, journal_mode="delete")
    if make_url(url).get_backend_name() == "postgresql":
        return create_engine(
            url,
            pool_pre_ping=True,
            connect_args={"connect_timeout": PG_CONNECT_TIMEOUT_S, "application_name": "signoff"},
        )
    raise StoreConfigError(f"unsupported store URL {url!r}: use sqlite:///… or postgresql+psycopg://…")


def replica_engine(path: str) -> Engine:
    """The local replica: one host, so WAL lets the UI read while sync writes."""
    return _sqlite_engine(f"sqlite:///{path}", journal_mode="wal")
