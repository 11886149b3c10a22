"""Where the policy's routing shows in a replica's views: automated ("auto") tickets in none of
them, and tickets routed to the escalation queue (upstream's hint, or a policy rule) in the
escalation managers' Escalated view, not in the reviewers' To review."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import BACKENDS, backend_url, make_ticket, numbered, open_replica, pg_database, sync

from app.core.domain import Queue, QueueQuery, TicketStatus
from app.core.policy import AUTO
from app.core.replica import SENT_FOR_SECOND_REVIEW, TICKETS, Replica
from app.core.store import Store

pg_database = pytest.fixture(scope="module")(pg_database)

VIEWS = (*TicketStatus, SENT_FOR_SECOND_REVIEW)
CONFIDENT = {"ai__confidence": 0.97, "risk__tier": "low"}


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    store = Store.initialize(backend_url(request, tmp_path))
    store.ingest(
        numbered(
            [
                make_ticket(external_id="auto-1", **CONFIDENT),
                make_ticket(external_id="hinted", routing={"queue": "escalation"}),
                make_ticket(external_id="plain"),
            ]
        )
    )
    yield store
    store.close()


@pytest.fixture
def replica(tmp_path: Path, store: Store) -> Iterator[Replica]:
    replica = open_replica(tmp_path, store)
    sync(replica, store)
    yield replica
    replica.close()


def shown(replica: Replica, view: str, queue: str | None = None) -> set[str]:
    query = QueueQuery(status=view, queue=queue)
    rows = replica.queue_page(query)
    assert replica.queue_count(query) == len(rows)
    return {replica.ticket(r.id).external_id for r in rows}  # type: ignore[union-attr]


def test_an_automated_ticket_reaches_the_replica_but_no_view(store: Store, replica: Replica) -> None:
    with replica.engine.connect() as conn:
        kept = conn.execute(TICKETS.select().where(TICKETS.c.external_id == "auto-1")).one()
    assert (kept.status, kept.queue, kept.due_at) == (AUTO, AUTO, None)
    for view in VIEWS:
        for queue in (None, AUTO, *Queue):
            assert "auto-1" not in shown(replica, view, queue), (view, queue)


def test_a_ticket_routed_to_escalation_waits_in_the_escalated_view(store: Store, replica: Replica) -> None:
    assert shown(replica, TicketStatus.OPEN) == {"plain"}
    assert shown(replica, TicketStatus.ESCALATED) == {"hinted"}
    assert shown(replica, TicketStatus.ESCALATED, Queue.ESCALATION) == {"hinted"}
