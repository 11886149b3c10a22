"""Service levels: time left and its state, and waiting / breached counts per workflow from the
store (the dashboard's function) and from a replica (the tray's)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from helpers import (
    BACKENDS,
    backend_url,
    make_decision,
    make_ticket,
    numbered,
    open_replica,
    pg_database,
    replica_ticket_id,
    sync,
)

from app.core import sla
from app.core.domain import Action, Role
from app.core.sla import SlaCounts, State
from app.core.store import Store

pg_database = pytest.fixture(scope="module")(pg_database)

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    store = Store.initialize(backend_url(request, tmp_path))
    yield store
    store.close()


@pytest.mark.parametrize(
    ("left", "state"),
    [
        (None, State.NONE),
        (timedelta(hours=5), State.OK),
        (timedelta(hours=1, seconds=1), State.OK),
        (timedelta(hours=1), State.SOON),
        (timedelta(seconds=1), State.SOON),
        (timedelta(0), State.BREACHED),
        (-timedelta(days=3), State.BREACHED),
    ],
)
def test_state_by_time_left(left: timedelta | None, state: str) -> None:
    due = None if left is None else NOW + left
    assert sla.sla_state(due, NOW) == state
    assert sla.time_left(due, NOW) == left


def due_in(external_id: str, delta: timedelta, workflow: str = "lead_qualification", **more: object) -> dict:
    """A ticket whose due time (via the upstream hint) is NOW + delta."""
    due = (NOW + delta).isoformat().replace("+00:00", "Z")
    return make_ticket(external_id=external_id, workflow=workflow, routing={"due_at": due}, **more)


def fill(store: Store) -> None:
    store.ingest(
        numbered(
            [
                due_in("late-1", -timedelta(hours=2)),
                due_in("late-2", -timedelta(minutes=1)),
                due_in("soon", timedelta(minutes=30)),
                due_in("fine", timedelta(hours=20)),
                due_in("late-decided", -timedelta(hours=5)),
                due_in("late-waiting-outside", -timedelta(hours=5)),
                due_in("other-late", -timedelta(hours=1), workflow="ask_amount"),
            ]
        )
    )
    # Decided, and waiting on someone outside: neither waits on a reviewer.
    outcome = store.push_decisions(
        [
            make_decision(due_in("late-decided", -timedelta(hours=5)), Action.APPROVE),
            make_decision(
                due_in("late-waiting-outside", -timedelta(hours=5)), Action.CLARIFY, "needs_more_info"
            ),
        ]
    )
    assert not outcome.refused


def test_breach_counts_per_workflow_from_the_store(store: Store) -> None:
    fill(store)
    assert sla.breach_counts(store, NOW) == {
        # decided and awaiting-clarification tickets wait on nobody here
        "lead_qualification": SlaCounts("lead_qualification", waiting=4, breached=2, due_soon=1),
        "ask_amount": SlaCounts("ask_amount", waiting=1, breached=1, due_soon=0),
    }
    # Time passes: the "soon" one breaches too.
    later = sla.breach_counts(store, NOW + timedelta(hours=1))
    assert (later["lead_qualification"].breached, later["lead_qualification"].due_soon) == (3, 0)


def test_escalations_count_as_waiting(store: Store) -> None:
    ticket = due_in("legal", timedelta(hours=10))
    store.ingest(numbered([ticket]))
    decided_at = NOW - timedelta(hours=2)
    store.push_decisions([make_decision(ticket, Action.REJECT, "policy_legal", decided_at=decided_at)])
    # Escalated with a 1-hour SLA from the decision: already an hour late.
    assert sla.breach_counts(store, NOW)["lead_qualification"] == SlaCounts("lead_qualification", 1, 1, 0)


def test_local_counts_newly_breached_and_escalations_from_a_replica(store: Store, tmp_path: Path) -> None:
    fill(store)
    replica = open_replica(tmp_path, store)
    try:
        sync(replica, store)
        counts = sla.local_counts(replica, NOW)
        assert counts["lead_qualification"] == SlaCounts("lead_qualification", 4, 2, 1)
        assert sla.newly_breached(replica, None, NOW) == 3  # every breach so far
        assert sla.newly_breached(replica, NOW - timedelta(minutes=5), NOW) == 1  # late-2 only
        assert sla.newly_breached(replica, NOW, NOW + timedelta(minutes=30)) == 1  # "soon"
        assert sla.escalated_ids(replica) == set()
        # A local decision takes a ticket out of the waiting count at once, before any sync.
        ticket_id = replica_ticket_id(replica, "late-1")
        replica.record_decision(
            ticket_id, Action.REJECT, "policy_legal", reviewer="alice", role=Role.REVIEWER
        )
        assert sla.escalated_ids(replica) == {ticket_id}
        assert sla.local_counts(replica, NOW)["lead_qualification"].waiting == 4  # escalated still waits
        replica.record_decision(
            replica_ticket_id(replica, "late-2"),
            Action.APPROVE,
            "ai_correct",
            reviewer="alice",
            role=Role.REVIEWER,
        )
        assert sla.local_counts(replica, NOW)["lead_qualification"].waiting == 3
    finally:
        replica.close()
