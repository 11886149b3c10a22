"""Retention: the policy, and a purge that removes text from every table while every audit
chain still verifies and the purge itself is on record."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from helpers import (
    BACKENDS,
    backend_url,
    example_tickets,
    numbered,
    open_replica,
    pg_database,
    replica_ticket_id,
    sync,
)
from sqlalchemy import Engine, MetaData, select, update
from sqlalchemy.exc import IntegrityError

from app.core import audit, audit_store, governance, retention
from app.core.domain import Action, Role, utcnow
from app.core.replica import Replica
from app.core.retention import RetentionError, RetentionPolicy
from app.core.store import Store
from app.core.store_models import RetentionPurge, StoreAuditEntry

pg_database = pytest.fixture(scope="module")(pg_database)
PURGES = RetentionPurge.__table__
ENTRIES = StoreAuditEntry.__table__
NOTE = "called Priya back, secret-note-5521"
LATER = timedelta(days=60)
POLICY = RetentionPolicy(
    interaction_days=30, decision_log_days=30, purge_roles=("admin", "escalation_manager")
)


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return backend_url(request, tmp_path)


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    store = Store.initialize(store_url)
    store.ingest(numbered(example_tickets()))
    yield store
    store.close()


@dataclass
class World:
    store: Store
    replica: Replica
    secrets: list[str]  # text that must be gone after the purge
    kept: list[str]  # text of a ticket still waiting for a human, which must stay


@pytest.fixture
def world(store: Store, tmp_path: Path) -> Iterator[World]:
    """Two tickets decided (with notes) and one awaiting clarification, all synced and pushed."""
    replica = open_replica(tmp_path, store)
    sync(replica, store)
    tickets = example_tickets()
    ids = [replica_ticket_id(replica, t["external_id"]) for t in tickets]
    replica.record_decision(
        ids[0], Action.APPROVE, "ai_correct", reviewer="alice", role=Role.REVIEWER, note=NOTE
    )
    replica.record_decision(
        ids[1], Action.REJECT, "wrong_segment", reviewer="alice", role=Role.REVIEWER, note="n2"
    )
    replica.record_decision(
        ids[2], Action.CLARIFY, "needs_more_info", reviewer="alice", role=Role.REVIEWER, note="Q?"
    )
    sync(replica, store)
    assert audit_store.push_entries(replica, store, label="alice").ok
    secrets = [NOTE]
    for ticket in tickets[:2]:
        secrets += [m["text"] for m in ticket["interaction"]["messages"]]
        secrets.append(ticket["subject"]["email"])
    kept = [m["text"] for m in tickets[2]["interaction"]["messages"]]
    yield World(store, replica, secrets, kept)
    replica.close()


def all_text(engine: Engine) -> str:
    """Every value of every row of every table, as one string (to search for leftovers)."""
    metadata = MetaData()
    metadata.reflect(engine)
    parts = []
    with engine.connect() as conn:
        for table in metadata.sorted_tables:
            for row in conn.execute(select(table)):
                parts.extend(str(value) for value in row)
    return "\n".join(parts)


# --- the policy --------------------------------------------------------------------------------------


def test_a_new_store_keeps_everything_and_only_admins_may_purge(store: Store) -> None:
    policy = retention.load_policy(store)
    assert (policy.interaction_days, policy.decision_log_days, policy.purge_roles) == (None, None, ("admin",))
    report = retention.purge_store(store, actor="root", role="admin", now=utcnow() + LATER)
    assert not report.anything  # nothing has a limit: nothing goes


def test_saving_the_policy(store: Store) -> None:
    with pytest.raises(RetentionError, match="only an administrator"):
        retention.save_policy(store, POLICY, actor="alice", role="reviewer")
    saved = retention.save_policy(store, POLICY, actor="root", role="admin")
    loaded = retention.load_policy(store)
    assert loaded == saved and loaded.updated_by == "root"
    assert retention.policy_changes(RetentionPolicy(), loaded) == {
        "interaction_days": (None, 30),
        "decision_log_days": (None, 30),
        "purge_roles": (("admin",), ("admin", "escalation_manager")),
    }
    again = retention.save_policy(store, RetentionPolicy(decision_log_days=7), actor="root", role="admin")
    assert retention.load_policy(store) == again  # one policy per store, replaced


@pytest.mark.parametrize(
    "values",
    [{"interaction_days": 0}, {"decision_log_days": -3}, {"purge_roles": ("root",)}, {"purge_roles": ()}],
)
def test_a_policy_refuses_nonsense(values: dict[str, Any]) -> None:
    with pytest.raises(RetentionError):
        RetentionPolicy(**values)


def test_a_role_the_policy_does_not_name_may_not_purge(world: World) -> None:
    retention.save_policy(world.store, POLICY, actor="root", role="admin")
    with pytest.raises(RetentionError, match="not reviewer"):
        retention.purge_store(world.store, actor="alice", role="reviewer", now=utcnow() + LATER)


# --- purging -----------------------------------------------------------------------------------------


def test_a_dry_run_counts_and_changes_nothing(world: World) -> None:
    retention.save_policy(world.store, POLICY, actor="root", role="admin")
    before = all_text(world.store.engine)
    report = retention.purge_store(
        world.store, actor="eve", role="escalation_manager", now=utcnow() + LATER, dry_run=True
    )
    assert report.dry_run and (report.tickets, report.revisions, report.notes) == (2, 0, 3)
    with world.replica.engine.connect() as conn:
        assert report.entries == audit.size(conn)
    assert "would remove" in report.describe()
    assert all_text(world.store.engine) == before


def test_nothing_goes_before_its_time(world: World) -> None:
    retention.save_policy(world.store, POLICY, actor="root", role="admin")
    report = retention.purge_store(world.store, actor="root", role="admin", now=utcnow() + timedelta(days=29))
    assert not report.anything
    with world.store.engine.connect() as conn:
        assert conn.execute(select(PURGES)).all() == []  # an empty purge leaves no record


def test_a_purge_removes_the_text_everywhere_and_every_chain_still_verifies(world: World) -> None:
    store, replica = world.store, world.replica
    retention.save_policy(store, POLICY, actor="root", role="admin")
    assert all(secret in all_text(store.engine) for secret in world.secrets)
    now = utcnow() + LATER
    report = retention.purge_store(store, actor="root", role="admin", now=now)
    assert (report.tickets, report.notes) == (2, 3) and report.entries > 0

    # The store: the text is gone from every table; what waits for a human is untouched.
    text = all_text(store.engine)
    assert [s for s in world.secrets if s in text] == []
    assert all(k in text for k in world.kept)
    assert retention.REMOVED in text
    verified = audit_store.verify_store(store)
    assert verified.ok, verified.describe()
    # The purge is on record, and the database lets nothing newer go.
    with store.engine.connect() as conn:
        record = conn.execute(select(PURGES)).one()
    assert (record.actor, record.role, record.tickets, record.notes) == ("root", "admin", 2, 3)
    with pytest.raises(IntegrityError, match="append-only"), store.engine.begin() as conn:
        conn.execute(update(PURGES).values(actor="mallory"))
    # The decision still opens, and says what was removed.
    trail = governance.store_trail(store)
    row = trail.page(governance.AuditQuery(event=audit.AuditEvent.DECISION_RECORDED, action="approve"))[0]
    seen = trail.ticket_as_seen(row)
    assert seen.purged and seen.ticket is not None and "removed under the retention policy" in seen.note
    assert seen.ticket.payload["interaction"]["messages"][0]["text"] == retention.REMOVED
    assert row.details == "(payload removed under the retention policy)" and row.purged

    # The replica: the next sync brings the purged tickets and notes; its own purge does the rest.
    sync(replica, store)
    local = retention.purge_replica(
        replica, retention.load_policy(store), actor="alice", role="reviewer", now=now
    )
    assert local.entries > 0 and local.notes == 3
    assert [s for s in world.secrets if s in all_text(replica.engine)] == []
    assert replica.verify_audit().ok, replica.verify_audit().describe()
    with replica.engine.connect() as conn:
        last = conn.execute(select(audit.AUDIT).order_by(audit.AUDIT.c.seq.desc()).limit(1)).one()
    assert (last.event, last.actor) == (audit.AuditEvent.RETENTION_PURGE, "alice")
    # Pushing the purged log works, and the store's copy of the chain still verifies.
    assert audit_store.push_entries(replica, store, label="alice").ok
    assert audit_store.verify_store(store).ok
    assert audit_store.verify_local_against_store(replica, store).ok
    # Once done, done: the same purge again removes and records nothing.
    assert not retention.purge_store(store, actor="root", role="admin", now=now).anything
    assert not retention.purge_replica(
        replica, retention.load_policy(store), actor="a", role="reviewer", now=now
    ).anything
    with store.engine.connect() as conn:
        assert len(conn.execute(select(PURGES)).all()) == 1


def test_after_a_purge_only_older_payloads_may_go(world: World) -> None:
    retention.save_policy(world.store, POLICY, actor="root", role="admin")
    retention.purge_store(world.store, actor="root", role="admin", now=utcnow() + LATER)
    with world.replica.engine.begin() as conn:  # an entry written after the purge's cut-off
        audit.append(
            conn,
            client_id=world.replica.client_id or "",
            actor="alice",
            role="reviewer",
            event="note",
            data={},
            at=utcnow() + LATER,
        )
    assert audit_store.push_entries(world.replica, world.store, label="alice").ok
    newest = ENTRIES.c.payload.is_not(None)
    with pytest.raises(IntegrityError, match="append-only"), world.store.engine.begin() as conn:
        conn.execute(update(ENTRIES).where(newest).values(payload=None))
    assert audit_store.verify_store(world.store).ok


def test_the_store_purge_is_recorded_in_the_purgers_local_chain_too(world: World) -> None:
    retention.save_policy(world.store, POLICY, actor="root", role="admin")
    report = retention.purge_store(world.store, actor="root", role="admin", now=utcnow() + LATER)
    data = retention.store_purge_data(report, "sqlite:///x")
    world.replica.record_event(audit.AuditEvent.RETENTION_PURGE, actor="root", role=Role.ADMIN, data=data)
    # Its cut-off is the store's: it does not license dropping this installation's own payloads.
    with world.replica.engine.connect() as conn:
        assert audit.local_purge_cutoff(conn) is None
    assert world.replica.verify_audit().ok
