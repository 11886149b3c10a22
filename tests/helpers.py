"""Shared builders for the core tests: tickets, stores, replicas and a sync cycle.

Real databases only: SQLite files under tmp_path and the throwaway Postgres of `pg_url`.
"""

from __future__ import annotations

import copy
import json
import sqlite3
import uuid
from collections.abc import Iterable, Iterator
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from app.core.domain import Action, Decision, Role
from app.core.replica import TICKETS as REPLICA_TICKETS
from app.core.replica import Replica
from app.core.store import Store
from app.core.store_models import StoreDecision, StoreReasonCode, StoreTicket
from app.core.sync import Syncer, SyncReport

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "app" / "core" / "spec" / "examples.jsonl"
SPEC_README = ROOT / "docs" / "spec" / "README.md"

STORE_TICKETS = StoreTicket.__table__
STORE_DECISIONS = StoreDecision.__table__
STORE_REASONS = StoreReasonCode.__table__

# Parametrize a `store_url` fixture with these: SQLite always, Postgres marked so -m filters work.
BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]


def example_tickets() -> list[dict[str, Any]]:
    """The five tickets of the interchange contract, freshly parsed (safe to mutate)."""
    return [json.loads(line) for line in EXAMPLES.read_text(encoding="utf-8").splitlines() if line.strip()]


def make_ticket(**overrides: Any) -> dict[str, Any]:
    """The first spec example with overrides; `a__b=1` sets ticket["a"]["b"], None deletes a key."""
    ticket = copy.deepcopy(example_tickets()[0])
    for name, value in overrides.items():
        *parents, leaf = name.split("__")
        node = ticket
        for part in parents:
            node = node.setdefault(part, {})
        if value is None:
            node.pop(leaf, None)
        else:
            node[leaf] = value
    return ticket


DECIDED_AT = datetime(2026, 11, 21, 9, 30, tzinfo=UTC)


def make_decision(
    ticket: dict[str, Any], action: Action = Action.APPROVE, reason_code: str = "ai_correct", **overrides: Any
) -> Decision:
    """A decision on a ticket as a replica would send it (fresh decision_id, revision 1)."""
    ai = ticket["ai"]
    values: dict[str, Any] = {
        "decision_id": str(uuid.uuid4()),
        "source": ticket.get("source", "unknown"),
        "external_id": ticket["external_id"],
        "workflow": ticket["workflow"],
        "action": action,
        "reason_code": reason_code,
        "note": "what is the company size?" if action == Action.CLARIFY else None,
        "reviewer": "alice",
        "role": Role.REVIEWER,
        "decided_at": DECIDED_AT,
        "client_id": str(uuid.uuid4()),
        "ai": {
            "model": ai["model"],
            "model_version": ai["model_version"],
            "confidence": ai["confidence"],
            "recommended_action": ai["recommendation"]["action"],
        },
    }
    values.update(overrides)
    return Decision(**values)


def numbered(tickets: Iterable[dict[str, Any]]) -> list[tuple[int, dict[str, Any]]]:
    """Tickets as `Store.ingest` takes them: with 1-based line numbers."""
    return list(enumerate(tickets, start=1))


def write_jsonl(path: Path, tickets: Iterable[dict[str, Any] | str]) -> Path:
    lines = [t if isinstance(t, str) else json.dumps(t) for t in tickets]
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return path


def sqlite_url(tmp_path: Path, name: str = "store.sqlite3") -> str:
    return f"sqlite:///{tmp_path / name}"


def sqlite_path_of(url: str) -> Path | None:
    """The file behind a SQLite URL, None for Postgres."""
    parsed = make_url(url)
    return Path(parsed.database) if parsed.get_backend_name() == "sqlite" and parsed.database else None


def sqlite_store(tmp_path: Path, name: str = "store.sqlite3") -> Store:
    return Store.initialize(sqlite_url(tmp_path, name))


def pg_database(pg_server: Any) -> Iterator[str]:
    """One Postgres database shared by a module's tests (CREATE DATABASE is the slow part);
    `backend_url` empties it before each test. Use as `pg_database = pytest.fixture(scope="module")(...)`."""
    with pg_server.temp_database() as url:
        yield url


def empty_pg_database(url: str) -> None:
    """Back to a brand-new database: no tables, no alembic_version, nobody connected."""
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    finally:
        engine.dispose()


def backend_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The store URL for a BACKENDS parameter: an empty database either way. The module must
    define the `pg_database` fixture."""
    if request.param == "postgres":
        url: str = request.getfixturevalue("pg_database")
        empty_pg_database(url)
        return url
    return sqlite_url(tmp_path)


def open_replica(tmp_path: Path, store: Store, name: str = "replica") -> Replica:
    return Replica.open(tmp_path / f"{name}.sqlite3", store_id=store.store_id, store_url=store.url)


def syncer(replica: Replica, store: Store, actor: str = "alice", role: Role = Role.REVIEWER) -> Syncer:
    return Syncer(replica, store, actor=actor, role=role)


def sync(replica: Replica, store: Store, actor: str = "alice") -> SyncReport:
    report = syncer(replica, store, actor).run_once()
    assert report.ok, report.error
    return report


def store_ticket(store: Store, external_id: str) -> Any:
    with store.engine.connect() as conn:
        return conn.execute(select(STORE_TICKETS).where(STORE_TICKETS.c.external_id == external_id)).one()


def store_decisions(store: Store) -> list[Any]:
    with store.engine.connect() as conn:
        return conn.execute(select(STORE_DECISIONS).order_by(STORE_DECISIONS.c.change_seq)).all()


def replica_ticket_id(replica: Replica, external_id: str) -> int:
    with replica.engine.connect() as conn:
        return conn.execute(
            select(REPLICA_TICKETS.c.id).where(REPLICA_TICKETS.c.external_id == external_id)
        ).scalar_one()


def raw_sqlite(path: Path, *statements: str) -> None:
    """Run statements with the plain sqlite3 module, as someone bypassing the app would."""
    with closing(sqlite3.connect(path)) as conn:
        for statement in statements:
            conn.execute(statement)
        conn.commit()
