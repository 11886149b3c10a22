"""Policy wiring on a Postgres store with roles (after setup-postgres): a reviewer's sync trips
the circuit breaker but can never clear a pause, and tickets escalated by someone else leave a
reviewer's replica (unless a decision of hers on them still waits to be sent)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from helpers import make_ticket, numbered, open_replica, replica_ticket_id, syncer
from sqlalchemy import select
from sqlalchemy.engine import make_url

from app.core import audit, circuit_breaker, policy, policy_store, roles
from app.core.circuit_breaker import ControlError
from app.core.domain import Action, PushState, Role, TicketStatus
from app.core.policy import BreakerSettings, Policy
from app.core.replica import DECISIONS, TICKETS, Replica
from app.core.store import Store, StoreRefused

WORKFLOW = make_ticket()["workflow"]
PEOPLE = {"alice": Role.REVIEWER, "bob": Role.REVIEWER, "erin": Role.ESCALATION_MANAGER, "ada": Role.ADMIN}
EXTERNAL_IDS = ("open-1", "open-2", "open-3")


@dataclass
class Secured:
    server: Any
    dbname: str

    def open(self, login: str) -> Store:
        return Store.open(self.server.url(self.dbname, user=login))

    def dsn(self, login: str) -> str:
        url = make_url(self.server.url(self.dbname, user=login))
        return f"host={url.host} port={url.port} dbname={url.database} user={login}"


@pytest.fixture
def secured(pg_server: Any, pg_url: str) -> Iterator[Secured]:
    store = Store.initialize(pg_url)
    store.ingest(numbered([make_ticket(external_id=e) for e in EXTERNAL_IDS]))
    roles.setup_postgres(store)
    for login, role in PEOPLE.items():
        roles.add_user(store, login, role, password=None)  # trust auth in the test cluster
    store.close()
    yield Secured(pg_server, make_url(pg_url).database or "")


@pytest.fixture
def opened() -> Iterator[list[Any]]:
    """Stores and replicas a test opened, closed whatever happens."""
    things: list[Any] = []
    yield things
    for thing in reversed(things):
        thing.close()


def login(secured: Secured, opened: list[Any], tmp_path: Path, name: str) -> tuple[Store, Replica]:
    store = secured.open(name)
    replica = open_replica(tmp_path, store, name)
    opened += [store, replica]
    return store, replica


def run(replica: Replica, store: Store, name: str) -> Any:
    report = syncer(replica, store, name, PEOPLE[name]).run_once()
    assert report.ok, report.error
    return report


def decide(replica: Replica, name: str, external_id: str, action: Action, reason: str) -> None:
    ticket_id = replica_ticket_id(replica, external_id)
    replica.record_decision(ticket_id, action, reason, reviewer=name, role=PEOPLE[name])


def automation_events(replica: Replica) -> list[tuple[str, str | None, str]]:
    events = (audit.AuditEvent.AUTOMATION_PAUSED, audit.AuditEvent.AUTOMATION_RESUMED)
    with replica.engine.connect() as conn:
        rows = conn.execute(
            select(audit.AUDIT).where(audit.AUDIT.c.event.in_(events)).order_by(audit.AUDIT.c.seq)
        ).all()
    return [(r.event, r.workflow, json.loads(r.payload)["data"]["source"]) for r in rows]


def control_row(secured: Secured) -> tuple[bool, str] | None:
    with psycopg.connect(secured.dsn("erin")) as conn:
        row = conn.execute(
            "SELECT paused, source FROM automation_controls WHERE workflow = %s", (WORKFLOW,)
        ).fetchone()
    return (row[0], row[1]) if row else None


# --- the circuit breaker -------------------------------------------------------------------------


def test_a_reviewers_sync_trips_the_breaker_and_audits_it_but_cannot_clear_it(
    secured: Secured, tmp_path: Path, opened: list[Any]
) -> None:
    admin = secured.open("ada")
    opened.append(admin)
    policy_store.save_policy(
        admin,
        WORKFLOW,
        Policy(policy.DEFAULT_RULES, breaker=BreakerSettings(threshold=0.5, window_hours=48, min_sample=2)),
        expected_version=0,
        actor="ada",
        role=Role.ADMIN,
    )
    store, replica = login(secured, opened, tmp_path, "alice")
    run(replica, store, "alice")
    decide(replica, "alice", "open-1", Action.APPROVE, "ai_correct")
    assert run(replica, store, "alice").trips == []  # 0 of 1: below the minimum sample
    decide(replica, "alice", "open-2", Action.REJECT, "stale_data")
    report = run(replica, store, "alice")  # 1 of 2 rejected: 50 %
    assert [t.workflow for t in report.trips] == [WORKFLOW]
    assert control_row(secured) == (True, circuit_breaker.BREAKER)
    assert automation_events(replica) == [(audit.AuditEvent.AUTOMATION_PAUSED, WORKFLOW, "breaker")]
    # Whatever she tries, the pause stays: no resume, no manual pause row, no delete.
    with pytest.raises((ControlError, StoreRefused)):
        circuit_breaker.resume(store, WORKFLOW, "looks fine to me", actor="alice", role=Role.ADMIN)
    with psycopg.connect(secured.dsn("alice"), autocommit=True) as conn:
        assert conn.execute("UPDATE automation_controls SET paused = false").rowcount == 0
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DELETE FROM automation_controls")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):  # a pause by hand is an admin's
            conn.execute(
                "INSERT INTO automation_controls (workflow, paused, reason, source, set_by, set_at) "
                "VALUES ('ask_amount', true, 'x', 'manual', 'alice', now())"
            )
    assert control_row(secured) == (True, circuit_breaker.BREAKER)
    # An admin resumes; newer evidence trips it again from another reviewer's sync (an UPDATE
    # of the resumed row this time).
    circuit_breaker.resume(admin, WORKFLOW, "model retrained", actor="ada", role=Role.ADMIN)
    assert control_row(secured) == (False, circuit_breaker.MANUAL)
    admin.ingest(numbered([make_ticket(external_id="open-4")]))
    bob_store, bob = login(secured, opened, tmp_path, "bob")
    run(bob, bob_store, "bob")
    run(replica, store, "alice")
    decide(bob, "bob", "open-3", Action.REJECT, "stale_data")
    decide(replica, "alice", "open-4", Action.REJECT, "stale_data")
    assert run(replica, store, "alice").trips == []  # 1 of 1 since the resume: not enough yet
    assert [t.workflow for t in run(bob, bob_store, "bob").trips] == [WORKFLOW]
    assert control_row(secured) == (True, circuit_breaker.BREAKER)
    assert automation_events(bob) == [(audit.AuditEvent.AUTOMATION_PAUSED, WORKFLOW, "breaker")]


# --- withdrawn tickets ---------------------------------------------------------------------------


def replica_tickets(replica: Replica) -> dict[str, str]:
    with replica.engine.connect() as conn:
        rows = conn.execute(select(TICKETS.c.external_id, TICKETS.c.status))
        return {r.external_id: r.status for r in rows}


def test_tickets_escalated_by_someone_else_leave_a_reviewers_replica(
    secured: Secured, tmp_path: Path, opened: list[Any]
) -> None:
    alice_store, alice = login(secured, opened, tmp_path, "alice")
    bob_store, bob = login(secured, opened, tmp_path, "bob")
    run(alice, alice_store, "alice")
    run(bob, bob_store, "bob")
    assert set(replica_tickets(bob)) == set(EXTERNAL_IDS)
    decide(alice, "alice", "open-1", Action.REJECT, "policy_legal")  # escalates
    decide(alice, "alice", "open-2", Action.REJECT, "policy_legal")
    run(alice, alice_store, "alice")
    # Bob decided open-2 offline meanwhile: a pull (no push yet) drops open-1, keeps open-2.
    decide(bob, "bob", "open-2", Action.APPROVE, "ai_correct")
    syncer(bob, bob_store, "bob").pull()
    assert set(replica_tickets(bob)) == {"open-2", "open-3"}
    # His push is refused (the ticket is no longer his to decide); the copy then goes too.
    report = run(bob, bob_store, "bob")
    assert len(report.refused) == 1
    assert replica_tickets(bob) == {"open-3": TicketStatus.OPEN}
    with bob.engine.connect() as conn:
        states = conn.execute(select(DECISIONS.c.push_state)).scalars().all()
    assert states == [PushState.REJECTED]  # his decision stays on record, with the store's reason
    assert run(bob, bob_store, "bob").ok and replica_tickets(bob) == {"open-3": TicketStatus.OPEN}
    # Alice keeps the tickets she escalated; the escalation manager sees everything.
    assert replica_tickets(alice) == {
        "open-1": TicketStatus.ESCALATED,
        "open-2": TicketStatus.ESCALATED,
        "open-3": TicketStatus.OPEN,
    }
    erin_store, erin = login(secured, opened, tmp_path, "erin")
    run(erin, erin_store, "erin")
    assert set(replica_tickets(erin)) == set(EXTERNAL_IDS)
