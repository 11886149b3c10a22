"""Shadow mode (issue 6, item 6): a workflow in shadow mode automates nothing, so a ticket its
policy would automate comes to review with the AI's proposal; other workflows are unchanged. The
pipeline reads the flag from `workflow_settings.shadow_mode`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import BACKENDS, backend_url, make_ticket, pg_database
from sqlalchemy import select, text

from app.core import policy, policy_store
from app.core.domain import Queue, TicketStatus, parse_rfc3339
from app.core.metrics import workflow_settings
from app.core.store import Store, translate_errors
from app.core.store_ingest import IngestOutcome, ingest_chunk
from app.core.store_models import StoreTicket

pg_database = pytest.fixture(scope="module")(pg_database)
TICKETS = StoreTicket.__table__
LEAD = "lead_qualification"


def sure(external_id: str, workflow: str = LEAD) -> dict[str, Any]:
    """A ticket the default policy automates: very confident, low risk, not sensitive."""
    return make_ticket(
        external_id=external_id,
        workflow=workflow,
        ai__confidence=0.97,
        risk__tier="low",
        risk__sensitive=False,
    )


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    store = Store.initialize(backend_url(request, tmp_path))
    yield store
    store.close()


def ingest_as_the_store_routes(store: Store, tickets: list[dict[str, Any]]) -> IngestOutcome:
    """Ingest with the router Store.ingest builds once wired (wip/metrics/store.py.diff)."""
    outcome = IngestOutcome()
    with translate_errors(store.url), store.engine.begin() as conn:
        router = workflow_settings.shadow_router(
            policy_store.router(policy_store.active_policies(conn)), workflow_settings.shadow_workflows(conn)
        )
        ingest_chunk(conn, list(enumerate(tickets, start=1)), outcome, router)
    return outcome


def routed(store: Store) -> dict[str, tuple[str, str]]:
    with store.engine.connect() as conn:
        rows = conn.execute(select(TICKETS.c.external_id, TICKETS.c.status, TICKETS.c.queue)).all()
    return {r.external_id: (r.status, r.queue) for r in rows}


def test_the_policy_automates_it_without_shadow_mode() -> None:
    assert policy.route(sure("a")).auto  # the premise of the tests below


def test_in_shadow_mode_what_the_policy_automates_comes_to_review(store: Store) -> None:
    workflow_settings.change(store, LEAD, actor="root", role="admin", shadow_mode=True)
    outcome = ingest_as_the_store_routes(store, [sure("lead-1"), sure("seg-1", "donor_segmentation")])
    assert not outcome.refused
    assert routed(store) == {
        "lead-1": (TicketStatus.OPEN, Queue.REVIEW),
        "seg-1": (policy.AUTO, policy.AUTO),  # not in shadow mode: automated as before
    }
    with store.engine.connect() as conn:
        due = conn.execute(select(TICKETS.c.due_at).where(TICKETS.c.external_id == "lead-1")).scalar_one()
    assert due == parse_rfc3339(sure("lead-1")["created_at"]) + policy.SLA[Queue.REVIEW]


def test_leaving_shadow_mode_automates_again(store: Store) -> None:
    workflow_settings.change(store, LEAD, actor="root", role="admin", shadow_mode=True)
    workflow_settings.change(store, LEAD, actor="root", role="admin", shadow_mode=False)
    ingest_as_the_store_routes(store, [sure("lead-2")])
    assert routed(store) == {"lead-2": (policy.AUTO, policy.AUTO)}


def test_the_pipeline_reads_the_flag_with_plain_sql(store: Store) -> None:
    workflow_settings.change(store, LEAD, actor="root", role="admin", shadow_mode=True)
    workflow_settings.change(store, "ask_amount", actor="root", role="admin", second_review_share=0.1)
    query = text("SELECT shadow_mode FROM workflow_settings WHERE workflow = :w")
    with store.engine.connect() as conn:
        # SQLite answers 1 / 0, Postgres true / false: both compare equal to 1 / 0.
        assert conn.execute(query, {"w": LEAD}).scalar_one() == 1
        assert conn.execute(query, {"w": "ask_amount"}).scalar_one() == 0
        assert conn.execute(query, {"w": "donor_segmentation"}).first() is None  # no row: not in shadow
        assert workflow_settings.shadow_workflows(conn) == {LEAD}
