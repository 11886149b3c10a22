"""Escalation end to end, across two installations and a real store: a reviewer rejects with
an escalating reason, the ticket reaches the escalation queue with a 1-hour SLA and the
reviewer's decision and note; an escalation manager sees it in the Escalated view and makes the
final call; both decisions stay on record. An admin can make any reason code escalate."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from helpers import (
    BACKENDS,
    backend_url,
    make_ticket,
    numbered,
    open_replica,
    pg_database,
    replica_ticket_id,
    store_decisions,
    store_ticket,
    sync,
)

from app.core import policy_store
from app.core.domain import Action, DecisionStatus, Queue, QueueQuery, Role, TicketStatus
from app.core.replica import Replica
from app.core.store import Store

pg_database = pytest.fixture(scope="module")(pg_database)

LEGAL = "legal-1"
NOTE = "Mentions a pending lawsuit; legal must see this before any outreach."


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    store = Store.initialize(backend_url(request, tmp_path))
    store.ingest(numbered([make_ticket(external_id=LEGAL), make_ticket(external_id="compliance-1")]))
    yield store
    store.close()


@pytest.fixture
def reviewer(store: Store, tmp_path: Path) -> Iterator[Replica]:
    replica = open_replica(tmp_path, store, "reviewer")
    sync(replica, store, "alice")
    yield replica
    replica.close()


@pytest.fixture
def manager(store: Store, tmp_path: Path) -> Iterator[Replica]:
    replica = open_replica(tmp_path, store, "manager")
    sync(replica, store, "maria")
    yield replica
    replica.close()


def escalated_view(replica: Replica) -> list[str]:
    rows = replica.queue_page(QueueQuery(status=TicketStatus.ESCALATED))
    return [replica.ticket(r.id).external_id for r in rows]  # type: ignore[union-attr]


def test_policy_legal_goes_to_the_manager_who_makes_the_final_call(
    store: Store, reviewer: Replica, manager: Replica
) -> None:
    first = reviewer.record_decision(
        replica_ticket_id(reviewer, LEGAL),
        Action.REJECT,
        "policy_legal",
        reviewer="alice",
        role=Role.REVIEWER,
        note=NOTE,
    )
    # At once, locally: the reviewer's own Escalated view has it, the To review view no longer.
    assert escalated_view(reviewer) == [LEGAL]
    sync(reviewer, store, "alice")

    row = store_ticket(store, LEGAL)
    assert (row.status, row.queue, row.priority) == (TicketStatus.ESCALATED, Queue.ESCALATION, 90)
    assert row.due_at == first.decided_at + timedelta(hours=1)

    sync(manager, store, "maria")
    assert escalated_view(manager) == [LEGAL]
    seen = manager.ticket(replica_ticket_id(manager, LEGAL))
    assert seen is not None and seen.due_at == row.due_at and seen.queue == Queue.ESCALATION
    # The manager sees the reviewer's decision and note with the ticket.
    (carried,) = seen.decisions
    assert (carried.reviewer, carried.action, carried.reason_code, carried.note) == (
        "alice",
        Action.REJECT,
        "policy_legal",
        NOTE,
    )

    final = manager.record_decision(
        seen.id,
        Action.APPROVE,
        "verified_manually",
        reviewer="maria",
        role=Role.ESCALATION_MANAGER,
        note="Legal cleared it.",
    )
    sync(manager, store, "maria")
    assert store_ticket(store, LEGAL).status == TicketStatus.DECIDED
    kept = {d.decision_id: d for d in store_decisions(store)}
    assert (kept[first.decision_id].status, kept[first.decision_id].note) == (DecisionStatus.SUPERSEDED, NOTE)
    assert (kept[final.decision_id].status, kept[final.decision_id].role) == (
        DecisionStatus.FINAL,
        Role.ESCALATION_MANAGER,
    )
    # Both on record in the export, the first one marked as superseded.
    exported = {r["decision_id"]: r["status"] for r in store.iter_decisions()}
    assert exported == {first.decision_id: "superseded", final.decision_id: "final"}
    # Everyone's replica learns the outcome: the ticket leaves every Escalated view.
    sync(reviewer, store, "alice")
    assert escalated_view(reviewer) == escalated_view(manager) == []
    assert reviewer.ticket(replica_ticket_id(reviewer, LEGAL)).status == TicketStatus.DECIDED  # type: ignore[union-attr]


def test_a_reviewer_deciding_an_escalated_ticket_does_not_close_it(
    store: Store, reviewer: Replica, manager: Replica
) -> None:
    reviewer.record_decision(
        replica_ticket_id(reviewer, LEGAL),
        Action.REJECT,
        "policy_legal",
        reviewer="alice",
        role=Role.REVIEWER,
    )
    sync(reviewer, store, "alice")
    sync(manager, store, "bob")
    manager.record_decision(
        replica_ticket_id(manager, LEGAL), Action.APPROVE, "ai_correct", reviewer="bob", role=Role.REVIEWER
    )
    sync(manager, store, "bob")
    # Not an escalation manager: both decisions stand against each other, for a manager to settle.
    assert store_ticket(store, LEGAL).status == TicketStatus.CONFLICT
    assert {d.status for d in store_decisions(store)} == {DecisionStatus.CONFLICT}


def test_an_admin_makes_another_reason_code_escalate(store: Store, reviewer: Replica) -> None:
    key = ("*", "reject", "compliance_concern")
    policy_store.change_escalates(store, reviewer, {key: True}, actor="ada", role=Role.ADMIN)
    sync(reviewer, store, "alice")  # reason codes travel with every pull
    decision = reviewer.record_decision(
        replica_ticket_id(reviewer, "compliance-1"),
        Action.REJECT,
        "compliance_concern",
        reviewer="alice",
        role=Role.REVIEWER,
        note="GDPR consent missing",
    )
    assert escalated_view(reviewer) == ["compliance-1"]
    sync(reviewer, store, "alice")
    row = store_ticket(store, "compliance-1")
    assert (row.status, row.queue) == (TicketStatus.ESCALATED, Queue.ESCALATION)
    assert row.due_at == decision.decided_at + timedelta(hours=1)
    # And back: no longer escalating, a rejection simply decides.
    policy_store.change_escalates(store, reviewer, {key: False}, actor="ada", role=Role.ADMIN)
    sync(reviewer, store, "alice")
    reviewer.record_decision(
        replica_ticket_id(reviewer, LEGAL),
        Action.REJECT,
        "compliance_concern",
        reviewer="alice",
        role=Role.REVIEWER,
    )
    sync(reviewer, store, "alice")
    assert store_ticket(store, LEGAL).status == TicketStatus.DECIDED
