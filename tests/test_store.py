"""The shared store on SQLite and Postgres: ingest, pull cursor, decisions pushed in, export."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from helpers import (
    BACKENDS,
    STORE_DECISIONS,
    STORE_REASONS,
    STORE_TICKETS,
    backend_url,
    example_tickets,
    make_decision,
    make_ticket,
    numbered,
    pg_database,
    store_decisions,
    store_ticket,
)
from sqlalchemy import func, insert, select, update

from app.core import pii, policy
from app.core.domain import Action, DecisionStatus, Queue, ReasonCode, TicketStatus
from app.core.reasons import default_reason_codes
from app.core.rows import reason_values
from app.core.store import Store
from app.core.store_models import Counter
from app.core.validation import content_hash

WORKFLOWS = [
    ("ask_amount", "Ask amount"),
    ("donor_segmentation", "Donor segmentation"),
    ("lead_qualification", "Lead qualification"),
]


pg_database = pytest.fixture(scope="module")(pg_database)


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    store = Store.initialize(backend_url(request, tmp_path))
    yield store
    store.close()


def all_tickets(store: Store) -> list[dict[str, Any]]:
    with store.engine.connect() as conn:
        return [r._asdict() for r in conn.execute(select(STORE_TICKETS).order_by(STORE_TICKETS.c.id))]


def counter(store: Store) -> int:
    with store.engine.connect() as conn:
        return conn.execute(select(Counter.__table__.c.value)).scalar_one()


def with_new_message(ticket: dict[str, Any], text: str = "Company size: 450 people.") -> dict[str, Any]:
    ticket["interaction"]["messages"].append({"from": "lead", "at": "2026-11-21T10:00:00Z", "text": text})
    return ticket


# --- ingest ---------------------------------------------------------------------------------------


def test_ingest_stores_the_spec_examples(store: Store) -> None:
    tickets = example_tickets()
    outcome = store.ingest(numbered(tickets))
    assert (outcome.inserted, outcome.updated, outcome.unchanged, outcome.refused) == (5, 0, 0, [])
    assert store.ticket_count() == 5
    stored = {r["external_id"]: r for r in all_tickets(store)}
    assert set(stored) == {t["external_id"] for t in tickets}
    for ticket in tickets:
        row = stored[ticket["external_id"]]
        assert (row["source"], row["workflow"], row["status"], row["revision"]) == (
            ticket["source"],
            ticket["workflow"],
            TicketStatus.OPEN,
            1,
        )
        assert json.loads(row["payload"]) == pii.split(ticket)[0]  # personal values apart (test_pii)
        assert row["content_hash"] == content_hash(ticket)
    assert sorted(r["change_seq"] for r in stored.values()) == [1, 2, 3, 4, 5]
    assert counter(store) == 5


def test_reingesting_the_same_content_changes_nothing(store: Store) -> None:
    store.ingest(numbered(example_tickets()))
    before, seq_before = all_tickets(store), counter(store)
    outcome = store.ingest(numbered(example_tickets()))
    assert (outcome.inserted, outcome.updated, outcome.unchanged, outcome.refused) == (0, 0, 5, [])
    assert all_tickets(store) == before  # every column, updated_at and change_seq included
    assert counter(store) == seq_before
    assert store.pull_tickets(seq_before) == []


def test_key_order_and_defaults_do_not_count_as_new_content(store: Store) -> None:
    ticket = make_ticket()
    store.ingest(numbered([ticket]))
    reordered = json.loads(json.dumps(dict(reversed(list(ticket.items())))))
    assert store.ingest(numbered([reordered])).unchanged == 1


def test_new_content_updates_an_open_ticket(store: Store) -> None:
    store.ingest(numbered(example_tickets()))
    before = {r["external_id"]: r for r in all_tickets(store)}
    changed = example_tickets()[0]
    changed["ai"]["confidence"] = 0.42  # now below the human-only threshold
    outcome = store.ingest(numbered([changed]))
    assert (outcome.inserted, outcome.updated, outcome.unchanged) == (0, 1, 0)
    after = {r["external_id"]: r for r in all_tickets(store)}
    row = after[changed["external_id"]]
    assert row["id"] == before[changed["external_id"]]["id"]
    assert (row["revision"], row["status"]) == (2, TicketStatus.OPEN)
    assert (row["queue"], row["priority"], row["confidence"]) == (Queue.HUMAN_ONLY, 70, 0.42)
    assert json.loads(row["payload"]) == pii.split(changed)[0]
    assert row["change_seq"] == 6  # after the five inserts
    assert store.pull_tickets(5) == [row]
    for external_id, other in before.items():
        if external_id != changed["external_id"]:
            assert after[external_id] == other


@pytest.mark.parametrize(
    ("action", "reason", "status"),
    [
        (Action.APPROVE, "ai_correct", TicketStatus.DECIDED),
        (Action.REJECT, "stale_data", TicketStatus.DECIDED),
        (Action.REJECT, "policy_legal", TicketStatus.ESCALATED),
    ],
)
def test_new_content_for_a_decided_ticket_is_refused(
    store: Store, action: Action, reason: str, status: TicketStatus
) -> None:
    ticket = make_ticket()
    store.ingest(numbered([ticket]))
    assert store.push_decisions([make_decision(ticket, action, reason)]).refused == {}
    before = all_tickets(store)
    outcome = store.ingest([(7, with_new_message(make_ticket())), (8, make_ticket(external_id="fresh-1"))])
    assert (outcome.inserted, outcome.updated) == (1, 0)
    [(line, path, message)] = outcome.refused
    assert (line, path) == (7, "external_id")
    assert f"{ticket['source']}/{ticket['external_id']}" in message
    assert f"already {status}" in message
    assert "new external_id" in message
    assert [r for r in all_tickets(store) if r["external_id"] != "fresh-1"] == before
    # The same content again is a harmless no-op, not a refusal.
    assert store.ingest(numbered([make_ticket()])).refused == []


def test_new_content_reopens_a_ticket_awaiting_clarification(store: Store) -> None:
    ticket = make_ticket()
    store.ingest(numbered([ticket]))
    clarify = make_decision(ticket, Action.CLARIFY, "needs_more_info")
    store.push_decisions([clarify])
    assert store_ticket(store, ticket["external_id"]).status == TicketStatus.AWAITING_CLARIFICATION
    answered = with_new_message(make_ticket())
    outcome = store.ingest(numbered([answered]))
    assert outcome.updated == 1
    row = store_ticket(store, ticket["external_id"])
    assert (row.status, row.revision, row.content_hash) == (TicketStatus.OPEN, 2, content_hash(answered))
    # A decision on the new revision is not a rival of the clarification on the old one.
    approve = make_decision(answered, Action.APPROVE, "verified_manually", ticket_revision=2)
    assert store.push_decisions([approve]).accepted == [approve.decision_id]
    statuses = {d.decision_id: d.status for d in store_decisions(store)}
    assert statuses == {clarify.decision_id: DecisionStatus.FINAL, approve.decision_id: DecisionStatus.FINAL}
    assert store_ticket(store, ticket["external_id"]).status == TicketStatus.DECIDED


def test_same_ticket_twice_in_one_batch_keeps_the_later_line(store: Store) -> None:
    first, second = make_ticket(), with_new_message(make_ticket())
    outcome = store.ingest([(1, first), (2, second), (3, make_ticket(external_id="other"))])
    assert (outcome.inserted, outcome.updated, outcome.unchanged, outcome.refused) == (2, 1, 0, [])
    row = store_ticket(store, first["external_id"])
    assert (row.revision, row.content_hash) == (1, content_hash(second))
    assert store.ticket_count() == 2

    again = store.ingest([(1, make_ticket(external_id="x")), (2, make_ticket(external_id="x"))])
    assert (again.inserted, again.updated, again.unchanged) == (1, 0, 1)


def test_duplicates_across_batches_behave_like_separate_ingests(store: Store) -> None:
    first, second = make_ticket(), with_new_message(make_ticket())
    outcome = store.ingest([(1, first), (2, second)], batch_size=1)
    assert (outcome.inserted, outcome.updated) == (1, 1)
    row = store_ticket(store, first["external_id"])
    assert (row.revision, row.content_hash) == (2, content_hash(second))


def test_derived_columns_follow_the_policy(store: Store) -> None:
    tickets = example_tickets()
    store.ingest(numbered(tickets))
    stored = {r["external_id"]: r for r in all_tickets(store)}
    for ticket in tickets:
        row = stored[ticket["external_id"]]
        routing = policy.route(ticket)
        assert (row["queue"], row["priority"], row["due_at"]) == (
            routing.queue,
            routing.priority,
            routing.due_at,
        )
        assert row["due_at"].utcoffset() == timedelta(0)
        assert row["created_at"].isoformat().replace("+00:00", "Z") == ticket["created_at"]
        assert row["confidence"] == ticket["ai"]["confidence"]
        assert row["title"] == ticket["exception"]["summary"]
        assert row["exception_code"] == ticket["exception"]["code"]
        assert row["risk_tier"] == (ticket.get("risk") or {}).get("tier")
    # Spot checks against the contract's prose, independent of policy.route.
    assert stored["don-77812-ask"]["queue"] == Queue.HUMAN_ONLY
    assert stored["auto-5521"]["queue"] == Queue.SAMPLE_AUDIT
    assert stored["auto-5521"]["priority"] == 10
    assert stored["auto-5521"]["risk_tier"] is None


def test_ingest_fills_the_workflows_table(store: Store) -> None:
    assert store.workflows() == []
    store.ingest(numbered(example_tickets()))
    assert store.workflows() == WORKFLOWS
    store.ingest(
        numbered([make_ticket(external_id="n1"), make_ticket(external_id="n2", workflow="new_flow")])
    )
    assert store.workflows() == sorted([*WORKFLOWS, ("new_flow", "New flow")])


def test_pull_tickets_pages_in_change_order(store: Store) -> None:
    store.ingest(numbered(make_ticket(external_id=f"t-{n:02}") for n in range(12)))
    first = store.pull_tickets(0, limit=5)
    second = store.pull_tickets(first[-1]["change_seq"], limit=5)
    rest = store.pull_tickets(second[-1]["change_seq"], limit=5)
    seqs = [r["change_seq"] for r in first + second + rest]
    assert seqs == list(range(1, 13))
    assert store.pull_tickets(12) == []


# --- decisions pushed in ------------------------------------------------------------------------


def test_pushing_the_same_batch_twice_never_duplicates(store: Store) -> None:
    tickets = example_tickets()
    store.ingest(numbered(tickets))
    batch = [make_decision(t, Action.REJECT, "stale_data") for t in tickets[:3]]
    first = store.push_decisions(batch)
    assert sorted(first.accepted) == sorted(d.decision_id for d in batch)
    tickets_after_first, seq_after_first = all_tickets(store), counter(store)
    again = store.push_decisions([*batch, *batch[:1]])  # a retry after a lost answer
    assert sorted(set(again.accepted)) == sorted(d.decision_id for d in batch)
    assert again.refused == {}
    ids = [d.decision_id for d in store_decisions(store)]
    assert sorted(ids) == sorted(d.decision_id for d in batch)
    assert all_tickets(store) == tickets_after_first
    assert counter(store) == seq_after_first


def test_the_same_new_decision_twice_in_one_call_is_one_decision(store: Store) -> None:
    tickets = example_tickets()
    store.ingest(numbered(tickets))
    decision = make_decision(tickets[0], Action.APPROVE)
    outcome = store.push_decisions([decision, decision])
    assert outcome.accepted == [decision.decision_id] and outcome.refused == {}
    [stored] = store_decisions(store)
    assert (stored.decision_id, stored.status) == (decision.decision_id, "final")
    first = next(t for t in all_tickets(store) if t["external_id"] == tickets[0]["external_id"])
    assert (first["status"], first["queue"]) != ("conflict", "escalation")


def test_refused_decisions_do_not_block_the_rest_of_the_batch(store: Store) -> None:
    tickets = example_tickets()
    store.ingest(numbered(tickets))
    with store.engine.begin() as conn:
        conn.execute(update(STORE_REASONS).where(STORE_REASONS.c.code == "stale_data").values(active=False))
    good = make_decision(tickets[0])
    missing = make_decision(make_ticket(external_id="never-ingested"))
    retired = make_decision(tickets[1], Action.REJECT, "stale_data")
    unknown = make_decision(tickets[2], Action.APPROVE, "because_i_said_so")
    wrong_action = make_decision(tickets[3], Action.APPROVE, "needs_more_info")  # a clarify code
    also_good = make_decision(tickets[4], Action.CLARIFY, "missing_field")
    outcome = store.push_decisions([good, missing, retired, unknown, wrong_action, also_good])
    assert outcome.accepted == [good.decision_id, also_good.decision_id]
    assert set(outcome.refused) == {
        missing.decision_id,
        retired.decision_id,
        unknown.decision_id,
        wrong_action.decision_id,
    }
    assert "never-ingested is not in the store" in outcome.refused[missing.decision_id]
    assert "'stale_data' is retired or unknown" in outcome.refused[retired.decision_id]
    assert "'because_i_said_so'" in outcome.refused[unknown.decision_id]
    assert "'needs_more_info' is retired or unknown for approve" in outcome.refused[wrong_action.decision_id]
    assert sorted(d.decision_id for d in store_decisions(store)) == sorted(
        [good.decision_id, also_good.decision_id]
    )
    assert store_ticket(store, tickets[1]["external_id"]).status == TicketStatus.OPEN
    assert store_ticket(store, tickets[4]["external_id"]).status == TicketStatus.AWAITING_CLARIFICATION


def test_workflow_reason_codes_apply_to_their_workflow_only(store: Store) -> None:
    tickets = example_tickets()
    store.ingest(numbered(tickets))
    own = ReasonCode(
        code="donor_consented", action=Action.APPROVE, label="Donor consented", workflow="ask_amount"
    )
    with store.engine.begin() as conn:
        conn.execute(insert(STORE_REASONS).values(**reason_values(own)))
    donor = next(t for t in tickets if t["workflow"] == "ask_amount")
    lead = next(t for t in tickets if t["workflow"] == "lead_qualification")
    fits, misfits = (
        make_decision(donor, reason_code="donor_consented"),
        make_decision(lead, reason_code="donor_consented"),
    )
    outcome = store.push_decisions([fits, misfits])
    assert outcome.accepted == [fits.decision_id]
    assert "in workflow lead_qualification" in outcome.refused[misfits.decision_id]


def test_policy_legal_escalates_the_ticket(store: Store) -> None:
    ticket = make_ticket()
    store.ingest(numbered([ticket]))
    decision = make_decision(ticket, Action.REJECT, "policy_legal")
    store.push_decisions([decision])
    row = store_ticket(store, ticket["external_id"])
    assert (row.status, row.queue, row.priority) == (TicketStatus.ESCALATED, Queue.ESCALATION, 90)
    assert row.due_at == decision.decided_at + timedelta(hours=1)
    [stored] = store_decisions(store)
    assert stored.status == DecisionStatus.FINAL


def two_clients_decide(url: str, order: tuple[int, ...]) -> dict[str, Any]:
    """Two reviewers decide the same ticket without seeing each other; push in `order`."""
    store = Store.initialize(url)
    try:
        ticket = make_ticket()
        store.ingest(numbered([ticket]))
        decisions = [
            make_decision(
                ticket, Action.APPROVE, "ai_correct", decision_id="00000000-0000-4000-8000-00000000000a"
            ),
            make_decision(
                ticket, Action.REJECT, "stale_data", decision_id="00000000-0000-4000-8000-00000000000b"
            ),
        ]
        for index in order:
            assert store.push_decisions([decisions[index]]).refused == {}
        row = store_ticket(store, ticket["external_id"])
        return {
            "ticket": (row.status, row.queue, row.priority, row.revision),
            "decisions": {d.decision_id: (d.action, d.status) for d in store_decisions(store)},
        }
    finally:
        store.close()


def test_two_clients_deciding_one_ticket_conflict_whoever_pushes_first(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    a_first = two_clients_decide(f"sqlite:///{tmp_path / 'a.sqlite3'}", (0, 1))
    b_first = two_clients_decide(f"sqlite:///{tmp_path / 'b.sqlite3'}", (1, 0))
    assert a_first == b_first
    assert a_first["ticket"] == (TicketStatus.CONFLICT, Queue.ESCALATION, 90, 1)
    assert {status for _, status in a_first["decisions"].values()} == {DecisionStatus.CONFLICT}
    assert len(a_first["decisions"]) == 2
    both = two_clients_decide(f"sqlite:///{tmp_path / 'c.sqlite3'}", (0,))
    assert both["ticket"][0] == TicketStatus.DECIDED  # one decision alone is no conflict


def test_conflicts_on_postgres_too(pg_url: str, pg_server: Any) -> None:
    a_first = two_clients_decide(pg_url, (0, 1))
    with pg_server.temp_database() as other:
        b_first = two_clients_decide(other, (1, 0))
    assert a_first == b_first
    assert a_first["ticket"][0] == TicketStatus.CONFLICT


def test_a_superseding_decision_replaces_the_earlier_one(store: Store) -> None:
    tickets = example_tickets()[:2]
    store.ingest(numbered(tickets))
    earlier = [make_decision(t, Action.APPROVE, "ai_correct") for t in tickets]
    store.push_decisions(earlier)
    later = [
        make_decision(t, Action.REJECT, "stale_data", supersedes=d.decision_id)
        for t, d in zip(tickets, earlier, strict=True)
    ]
    outcome = store.push_decisions(later)  # two superseding decisions in one batch
    assert outcome.accepted == [d.decision_id for d in later]
    stored = store_decisions(store)
    statuses = {d.decision_id: d.status for d in stored}
    assert statuses == {
        **{d.decision_id: DecisionStatus.SUPERSEDED for d in earlier},
        **{d.decision_id: DecisionStatus.FINAL for d in later},
    }
    seqs = [d.change_seq for d in stored] + [r["change_seq"] for r in all_tickets(store)]
    assert len(seqs) == len(set(seqs))  # every change has its own change_seq
    assert max(seqs) <= counter(store)


def test_iter_decisions_exports_every_decision_once_in_change_order(store: Store) -> None:
    tickets = example_tickets()
    store.ingest(numbered(tickets))
    decisions = [make_decision(t, Action.REJECT, "wrong_segment") for t in tickets]
    for decision in decisions:
        store.push_decisions([decision])
    records = list(store.iter_decisions(batch_size=2))
    assert [r["decision_id"] for r in records] == [d.decision_id for d in decisions]
    assert records[0] == {**decisions[0].to_record(), "status": "final"}
    with store.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(STORE_DECISIONS)).scalar_one() == 5


def test_reason_codes_round_trip(store: Store) -> None:
    codes = store.reason_codes()
    assert sorted((r.action, r.code) for r in codes) == sorted(
        (r.action, r.code) for r in default_reason_codes()
    )
    legal = next(r for r in codes if r.code == "policy_legal")
    assert (legal.action, legal.escalates, legal.active, legal.workflow) == (Action.REJECT, True, True, "*")
    assert sum(r.escalates for r in codes) == 1


def test_decision_record_fields(store: Store) -> None:
    ticket = make_ticket()
    store.ingest(numbered([ticket]))
    decision = make_decision(ticket, Action.CLARIFY, "needs_more_info")
    store.push_decisions([decision])
    [record] = list(store.iter_decisions())
    assert record["schema"] == "signoff.decision/1"
    assert record["decided_at"] == "2026-11-21T09:30:00.000Z"
    assert record["note"] == decision.note
