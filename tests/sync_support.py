"""Shared tools of the sync acceptance tests (issue 3): stores that go offline, crash or drop their
connection on cue, snapshots of SQLite files, and the facts the tests compare.

Real databases only. A fault is injected at the store adapter (a Store subclass) or at the
driver boundary (a SQLAlchemy event that fails a chosen statement, or on Postgres really
terminates the server process serving it); nothing here replaces a database.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from helpers import STORE_DECISIONS, STORE_TICKETS
from sqlalchemy import Connection, Engine, event, func, select
from sqlalchemy.engine import make_url

from app.core.domain import Action, Decision, Role
from app.core.outbox import OUTBOX
from app.core.replica import DECISIONS, REMOTE, TICKETS, Replica
from app.core.replica_models import AuditEntry
from app.core.store import PushOutcome, Store, StoreUnavailable
from app.core.store_changes import COUNTERS
from app.core.sync import Syncer, SyncReport

AUDIT = AuditEntry.__table__
TORTURE = os.environ.get("SIGNOFF_TORTURE", "") not in ("", "0")


class Crash(Exception):
    """The process dies here: the test drops every in-memory object and reopens from disk."""


class FlakyStore(Store):
    """A store this test can take offline, or make crash / lose the answer right after a commit.

    Every Store call goes through `_connect` or `_transaction`, so "offline" covers them all.
    """

    def __init__(self, url: str, engine: Engine) -> None:
        super().__init__(url, engine)
        self.offline = False
        self.crash_after_commits: int | None = None  # Crash after this many more push commits
        self.lose_answer_after_commits: int | None = None  # ... or StoreUnavailable instead
        self.crash_in_pull: int | None = None  # Crash after this many more pages pulled
        self.push_commits = 0

    @contextmanager
    def _connect(self) -> Iterator[Connection]:
        self._check_reachable()
        with super()._connect() as conn:
            yield conn

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        self._check_reachable()
        with super()._transaction() as conn:
            yield conn

    def _check_reachable(self) -> None:
        if self.offline:
            raise StoreUnavailable(f"cannot reach the store {self.url}: offline (test)")

    def pull_tickets(self, after_seq: int, limit: int = 5000) -> list[dict[str, Any]]:
        rows = super().pull_tickets(after_seq, limit)
        self._page_pulled()
        return rows

    def pull_decisions(self, after_seq: int, limit: int = 5000) -> list[dict[str, Any]]:
        rows = super().pull_decisions(after_seq, limit)
        self._page_pulled()
        return rows

    def _page_pulled(self) -> None:
        if self.crash_in_pull is not None:
            self.crash_in_pull -= 1
            if self.crash_in_pull <= 0:
                self.crash_in_pull = None
                raise Crash("killed in the middle of a pull")

    def push_decisions(self, decisions: Sequence[Decision]) -> PushOutcome:
        outcome = super().push_decisions(decisions)
        self.push_commits += 1
        if self.crash_after_commits is not None:
            self.crash_after_commits -= 1
            if self.crash_after_commits <= 0:
                self.crash_after_commits = None
                raise Crash("killed right after the store committed a push")
        if self.lose_answer_after_commits is not None:
            self.lose_answer_after_commits -= 1
            if self.lose_answer_after_commits <= 0:
                self.lose_answer_after_commits = None
                raise StoreUnavailable("the store committed, but its answer was lost (test)")
        return outcome


class StatementFault:
    """Fails the Nth statement sent on an engine after `arm`, the way a dropped connection does.

    SQLite: the statement raises sqlite3's own "disk I/O error". Postgres: the server process
    serving the connection is really terminated (pg_terminate_backend) just before the
    statement goes out, so the driver sees the server go away mid-transaction.
    """

    def __init__(self, engine: Engine, admin_dsn: str | None = None) -> None:
        self.engine = engine
        self.admin_dsn = admin_dsn
        self.remaining: int | None = None
        self.fired = 0
        self.statements = 0
        event.listen(engine, "before_cursor_execute", self._before)

    def arm(self, after: int) -> None:
        """Fail the `after`-th statement from now (1 = the very next one)."""
        self.remaining = after

    def disarm(self) -> None:
        self.remaining = None

    def close(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._before)

    def _before(self, conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        self.statements += 1
        if self.remaining is None:
            return
        self.remaining -= 1
        if self.remaining > 0:
            return
        self.remaining = None
        self.fired += 1
        if conn.dialect.name == "postgresql":
            pid = conn.connection.dbapi_connection.info.backend_pid
            with psycopg.connect(self.admin_dsn, autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s, 5000)", (pid,))
            return  # the statement now meets a dead server
        raise sqlite3.OperationalError("disk I/O error (injected before: " + statement[:40] + ")")


# --- SQLite files -------------------------------------------------------------------------------


def sqlite_copy(source: Path, target: Path) -> None:
    """A consistent copy of a live SQLite database through the backup API (never a raw file
    copy: that could catch a half-written page or miss the WAL)."""
    target.unlink(missing_ok=True)
    with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(target)) as dst:
        src.backup(dst)


def sqlite_restore(backup: Path, live: Path) -> None:
    """Put a backup back over a live database, through the backup API (takes the file's locks)."""
    with closing(sqlite3.connect(backup)) as src, closing(sqlite3.connect(live)) as dst:
        src.backup(dst)


# --- what the tests compare ---------------------------------------------------------------------


def delete_ticket(store: Store, external_id: str) -> None:
    """What an administrator deleting a ticket behind everyone's back does: the ticket and the
    rows hanging off it (whatever tables reference it), in one transaction."""
    with store.engine.begin() as conn:
        ticket_id = conn.execute(
            select(STORE_TICKETS.c.id).where(STORE_TICKETS.c.external_id == external_id)
        ).scalar_one()
        for table in reversed(STORE_TICKETS.metadata.sorted_tables):
            for fk in table.foreign_keys:
                if fk.column.table is STORE_TICKETS:
                    conn.execute(table.delete().where(fk.parent == ticket_id))
        conn.execute(STORE_TICKETS.delete().where(STORE_TICKETS.c.id == ticket_id))


def store_counter(store: Store) -> int:
    with store.engine.connect() as conn:
        return conn.execute(select(COUNTERS.c.value).where(COUNTERS.c.name == "change")).scalar_one()


def store_decision_rows(store: Store) -> list[Any]:
    """Every decision row, in change order."""
    with store.engine.connect() as conn:
        return conn.execute(select(STORE_DECISIONS).order_by(STORE_DECISIONS.c.change_seq)).all()


def store_snapshot(store: Store) -> dict[str, Any]:
    """Everything a push can change, to prove a replay changed nothing."""
    with store.engine.connect() as conn:
        return {
            "counter": conn.execute(select(COUNTERS.c.value)).scalar_one(),
            "decisions": conn.execute(select(STORE_DECISIONS).order_by(STORE_DECISIONS.c.decision_id)).all(),
            "tickets": conn.execute(select(STORE_TICKETS).order_by(STORE_TICKETS.c.id)).all(),
        }


def store_ticket_states(store: Store) -> dict[str, tuple[str, str, int, int]]:
    """external_id -> (status, queue, priority, revision): the order-independent part of a ticket
    (due_at and updated_at carry the time the store handled it)."""
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(
                STORE_TICKETS.c.external_id,
                STORE_TICKETS.c.status,
                STORE_TICKETS.c.queue,
                STORE_TICKETS.c.priority,
                STORE_TICKETS.c.revision,
            )
        ).all()
    return {r.external_id: (r.status, r.queue, r.priority, r.revision) for r in rows}


def store_decision_states(store: Store) -> dict[str, tuple[str, str, int, str | None]]:
    """decision_id -> (external_id, status, ticket_revision, supersedes)."""
    return {
        r.decision_id: (r.external_id, r.status, r.ticket_revision, r.supersedes)
        for r in store_decision_rows(store)
    }


def replica_ticket_statuses(replica: Replica) -> dict[str, tuple[str, str, int]]:
    """external_id -> (status, store_status, revision) as this replica shows them."""
    with replica.engine.connect() as conn:
        rows = conn.execute(
            select(TICKETS.c.external_id, TICKETS.c.status, TICKETS.c.store_status, TICKETS.c.revision)
        ).all()
    return {r.external_id: (r.status, r.store_status, r.revision) for r in rows}


def replica_remote_decisions(replica: Replica) -> dict[str, str]:
    """decision_id -> status, as this replica last pulled them from the store."""
    with replica.engine.connect() as conn:
        return {r.decision_id: r.status for r in conn.execute(select(REMOTE.c.decision_id, REMOTE.c.status))}


def replica_push_states(replica: Replica) -> dict[str, str]:
    with replica.engine.connect() as conn:
        return {
            r.decision_id: r.push_state
            for r in conn.execute(select(DECISIONS.c.decision_id, DECISIONS.c.push_state))
        }


def decided_order(replica: Replica) -> list[str]:
    """This installation's decisions in the order they were recorded (its audit chain's order)."""
    with replica.engine.connect() as conn:
        return list(
            conn.execute(
                select(AUDIT.c.decision_id).where(AUDIT.c.event == "decision_recorded").order_by(AUDIT.c.seq)
            ).scalars()
        )


def audit_events(replica: Replica, event_name: str) -> list[str]:
    """decision_id of every audit entry of one kind, in chain order."""
    with replica.engine.connect() as conn:
        return list(
            conn.execute(
                select(AUDIT.c.decision_id).where(AUDIT.c.event == event_name).order_by(AUDIT.c.seq)
            ).scalars()
        )


@dataclass
class Installation:
    """One reviewer's installation: a replica file and its own connection to the store."""

    path: Path
    store: FlakyStore
    replica: Replica
    reviewer: str
    role: Role = Role.REVIEWER

    @classmethod
    def open(cls, url: str, path: Path, reviewer: str, role: Role = Role.REVIEWER) -> Installation:
        store = FlakyStore.open(url)
        replica = Replica.open(path, store_id=store.store_id, store_url=url)
        return cls(path, store, replica, reviewer, role)

    def syncer(self, **options: Any) -> Syncer:
        return Syncer(self.replica, self.store, actor=self.reviewer, role=self.role, **options)

    def sync(self, **options: Any) -> SyncReport:
        return self.syncer(**options).run_once()

    def tid(self, external_id: str) -> int:
        with self.replica.engine.connect() as conn:
            return conn.execute(select(TICKETS.c.id).where(TICKETS.c.external_id == external_id)).scalar_one()

    def decide(
        self, external_id: str, action: Action = Action.APPROVE, reason: str = "ai_correct", **kw: Any
    ) -> Decision:
        return self.replica.record_decision(
            self.tid(external_id), action, reason, reviewer=self.reviewer, role=self.role, **kw
        )

    def crash(self) -> None:
        """Drop every in-memory object and open the replica again from disk, as after a crash."""
        self.replica.close()
        self.store.close()
        self.store = FlakyStore.open(self.store.url)
        self.replica = Replica.open(self.path, store_id=self.store.store_id)

    def close(self) -> None:
        self.replica.close()
        self.store.close()


def outbox_size(replica: Replica) -> int:
    with replica.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(OUTBOX)).scalar_one()


def order_violations(store: Store, clients: dict[str, list[str]]) -> list[str]:
    """For each client (client_id -> decided order), where the store's change order differs.
    Only meaningful while no later decision re-numbered an earlier one (conflict, supersede)."""
    by_client: dict[str, list[str]] = {}
    for row in store_decision_rows(store):
        by_client.setdefault(row.client_id, []).append(row.decision_id)
    problems = []
    for client_id, expected in clients.items():
        stored = by_client.get(client_id, [])
        wanted = [d for d in expected if d in set(stored)]
        if stored != wanted:
            first = next(i for i, (a, b) in enumerate(zip(stored, wanted, strict=False)) if a != b)
            problems.append(f"client {client_id[:8]}: store order departs at #{first}: {stored[first]}")
    return problems


def drain(syncer: Syncer, *, rounds: int = 50) -> None:
    """Sync until the outbox is empty and a cycle succeeds, cancelling back-off like F5 does."""
    for _ in range(rounds):
        syncer.replica.outbox.retry_now()
        report = syncer.run_once()
        if report.ok and outbox_size(syncer.replica) == 0:
            return
    raise AssertionError(f"still not synced after {rounds} cycles: {report.describe()}")


def pg_admin_dsn(url: str) -> str:
    """A libpq DSN for the database behind a SQLAlchemy Postgres URL."""
    parsed = make_url(url)
    return psycopg.conninfo.make_conninfo(
        host=parsed.host, port=parsed.port, user=parsed.username, dbname=parsed.database, connect_timeout=10
    )


def pg_waiting_on_lock(url: str) -> int:
    """How many sessions of this database wait on a lock right now (a row count to wait on)."""
    with psycopg.connect(pg_admin_dsn(url), autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        ).fetchone()
    return int(row[0]) if row else 0


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    """Poll a condition on real state (row counts, server views) until true, bounded."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.01)
