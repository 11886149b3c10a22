"""The local replica: deciding (atomically with outbox and audit), the queue, undo and pulls."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from helpers import (
    example_tickets,
    make_ticket,
    numbered,
    open_replica,
    raw_sqlite,
    replica_ticket_id,
    sqlite_store,
    sync,
)
from sqlalchemy import exc, func, select, text

from app.core import audit
from app.core.domain import SORTS, Action, PushState, Queue, QueueQuery, QueueRow, Role, TicketStatus
from app.core.replica import DECISIONS, OUTBOX, TICKETS, DecisionError, Replica
from app.core.replica_models import AuditEntry
from app.core.store import Store

AUDIT = AuditEntry.__table__
APPROVE_CODES = ["ai_correct", "verified_manually", "context_supports", "acceptable_risk"]


@dataclass
class World:
    store: Store
    replica: Replica

    def tid(self, external_id: str) -> int:
        return replica_ticket_id(self.replica, external_id)

    def decide(
        self, external_id: str, action: Action = Action.APPROVE, reason: str = "ai_correct", **kw: Any
    ) -> Any:
        kw.setdefault("reviewer", "alice")
        kw.setdefault("role", Role.REVIEWER)
        return self.replica.record_decision(self.tid(external_id), action, reason, **kw)

    def status(self, external_id: str) -> str:
        view = self.replica.ticket(self.tid(external_id))
        assert view is not None
        return view.status

    def counts(self) -> tuple[int, int, int]:
        """(decisions, outbox rows, audit entries) in the replica."""
        with self.replica.engine.connect() as conn:
            return tuple(  # type: ignore[return-value]
                conn.execute(select(func.count()).select_from(t)).scalar_one()
                for t in (DECISIONS, OUTBOX, AUDIT)
            )


def build_world(tmp_path: Path, tickets: list[dict[str, Any]]) -> Iterator[World]:
    store = sqlite_store(tmp_path)
    store.ingest(numbered(tickets))
    replica = open_replica(tmp_path, store)
    sync(replica, store)
    try:
        yield World(store, replica)
    finally:
        replica.close()
        store.close()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    yield from build_world(tmp_path, example_tickets())


LEAD = "lead-2026-004211"


# --- deciding -------------------------------------------------------------------------------------


def test_record_decision_writes_decision_outbox_and_audit(world: World) -> None:
    at = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)
    decision = world.decide(LEAD, Action.REJECT, "stale_data", note="  data from 2024  ", decided_at=at)
    assert decision.note == "data from 2024"
    assert (decision.client_id, decision.ticket_revision, decision.decided_at) == (
        world.replica.client_id,
        1,
        at,
    )
    assert decision.ai == {
        "model": "lead-qualifier",
        "model_version": "2026.11.2",
        "confidence": 0.71,
        "recommended_action": "approve_as_mql",
    }
    assert world.status(LEAD) == TicketStatus.DECIDED
    assert world.counts() == (1, 1, 1)
    ticket_id = world.tid(LEAD)
    with world.replica.engine.connect() as conn:
        row = conn.execute(select(DECISIONS)).one()
        outbox = conn.execute(select(OUTBOX)).one()
        entry = conn.execute(select(AUDIT)).one()
        store_status = conn.execute(select(TICKETS.c.store_status).where(TICKETS.c.id == ticket_id)).scalar()
    assert (row.decision_id, row.push_state) == (decision.decision_id, PushState.PENDING)
    assert (outbox.decision_id, outbox.attempts, outbox.next_attempt_at) == (decision.decision_id, 0, None)
    assert store_status == TicketStatus.OPEN  # what the store said stays apart from the local view
    payload = json.loads(entry.payload)
    assert (entry.event, entry.actor, entry.ticket_id, entry.at) == (
        audit.AuditEvent.DECISION_RECORDED,
        "alice",
        ticket_id,
        "2026-11-21T08:00:00.000Z",
    )
    assert payload["data"]["decision"] == decision.to_record()
    assert payload["data"]["ticket_revision"] == 1
    assert world.replica.outbox.pending() == [decision]
    assert world.replica.verify_audit().ok


def _audit_insert_fails_in_the_database(world: World, monkeypatch: pytest.MonkeyPatch) -> type[Exception]:
    raw_sqlite(
        world.replica.path,
        "CREATE TRIGGER audit_full BEFORE INSERT ON audit_log BEGIN SELECT RAISE(ABORT, 'disk full'); END",
    )
    return exc.IntegrityError


def _audit_append_raises(world: World, monkeypatch: pytest.MonkeyPatch) -> type[Exception]:
    class Boom(Exception):
        pass

    def explode(*_args: Any, **_kwargs: Any) -> int:
        raise Boom("power cut")

    monkeypatch.setattr(audit, "append", explode)
    return Boom


@pytest.mark.parametrize("failure", [_audit_insert_fails_in_the_database, _audit_append_raises])
def test_record_decision_is_all_or_nothing(
    world: World, monkeypatch: pytest.MonkeyPatch, failure: Any
) -> None:
    error = failure(world, monkeypatch)
    with pytest.raises(error):
        world.decide(LEAD, decision_id="11111111-1111-4111-8111-111111111111")
    assert world.counts() == (0, 0, 0)
    assert world.status(LEAD) == TicketStatus.OPEN
    assert world.replica.outbox.waiting_count() == 0


@pytest.mark.parametrize("note", [None, "", "   \n"])
def test_clarify_needs_a_note(world: World, note: str | None) -> None:
    with pytest.raises(DecisionError, match="needs the question"):
        world.decide(LEAD, Action.CLARIFY, "needs_more_info", note=note)
    assert world.counts() == (0, 0, 0)
    world.decide(LEAD, Action.CLARIFY, "needs_more_info", note="How many employees?")
    assert world.status(LEAD) == TicketStatus.AWAITING_CLARIFICATION


@pytest.mark.parametrize("code", ["made_up", "needs_more_info", "", "AI_CORRECT"])
def test_unknown_reason_code_is_refused_naming_the_valid_ones(world: World, code: str) -> None:
    with pytest.raises(DecisionError) as raised:
        world.decide(LEAD, Action.APPROVE, code)
    message = str(raised.value)
    assert f"{code!r} is not a reason code for approve in lead_qualification" in message
    assert message.endswith("choose one of: " + ", ".join(APPROVE_CODES))
    assert world.counts() == (0, 0, 0)


def test_a_decided_ticket_cannot_be_decided_twice(world: World) -> None:
    world.decide(LEAD)
    with pytest.raises(DecisionError, match=f"crm-lead-agent/{LEAD} is decided, not open"):
        world.decide(LEAD, Action.REJECT, "stale_data")
    world.decide("reply-88121", Action.CLARIFY, "ambiguous_intent", note="Demo or meeting?")
    with pytest.raises(DecisionError, match="is awaiting_clarification, not open"):
        world.decide("reply-88121")
    assert world.counts() == (2, 2, 2)


def test_deciding_a_ticket_missing_from_the_replica(world: World) -> None:
    with pytest.raises(DecisionError, match="ticket 999 is not in the local replica"):
        world.replica.record_decision(999, Action.APPROVE, "ai_correct", reviewer="a", role=Role.REVIEWER)


def test_an_escalating_reason_escalates_locally(world: World) -> None:
    world.decide(LEAD, Action.REJECT, "policy_legal")
    assert world.status(LEAD) == TicketStatus.ESCALATED


def test_reason_codes_come_from_the_store(world: World) -> None:
    assert [r.code for r in world.replica.reason_codes(Action.APPROVE, "lead_qualification")] == APPROVE_CODES
    with world.store.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO reason_codes (workflow, action, code, label, escalates, active, position) "
                "VALUES ('ask_amount', 'approve', 'donor_consented', 'Donor consented', 0, 1, 0)"
            )
        )
    sync(world.replica, world.store)
    assert [r.code for r in world.replica.reason_codes(Action.APPROVE, "ask_amount")] == ["donor_consented"]
    assert [r.code for r in world.replica.reason_codes(Action.APPROVE, "lead_qualification")] == APPROVE_CODES
    with pytest.raises(DecisionError, match="choose one of: donor_consented"):
        world.decide("don-77812-ask", Action.APPROVE, "ai_correct")


# --- the queue ------------------------------------------------------------------------------------

CREATED = ["2026-11-20T08:00:00Z", "2026-11-20T09:00:00Z", "2026-11-19T23:30:00Z"]
CONFIDENCES = [0.55, 0.7, 0.7, 0.93, 0.7]


def paging_tickets(count: int = 47) -> list[dict[str, Any]]:
    """Many ties on every sort key: 3 creation times, 4 confidences, so few distinct due times."""
    return [
        make_ticket(
            external_id=f"page-{n:03}",
            created_at=CREATED[n % 3],
            ai__confidence=CONFIDENCES[n % 5],
            workflow="lead_qualification" if n % 4 else "other_flow",
        )
        for n in range(count)
    ]


@pytest.fixture
def crowded(tmp_path: Path) -> Iterator[World]:
    yield from build_world(tmp_path, paging_tickets())


def all_pages(replica: Replica, query: QueueQuery, size: int) -> list[QueueRow]:
    pages, after = [], None
    while page := replica.queue_page(query, after=after, limit=size):
        assert len(page) <= size
        pages.append(page)
        after = page[-1]
    return [row for page in pages for row in page]


def sort_key(row: QueueRow, sort: str) -> tuple[Any, int]:
    return ({"due": row.due_at, "confidence": row.confidence, "age": row.created_at}[sort], row.id)


@pytest.mark.parametrize("sort", SORTS)
@pytest.mark.parametrize("workflow", [None, "lead_qualification"])
@pytest.mark.parametrize("size", [1, 7, 15])
def test_keyset_paging_matches_one_sorted_query(
    crowded: World, sort: str, workflow: str | None, size: int
) -> None:
    query = QueueQuery(sort=sort, workflow=workflow)
    paged = all_pages(crowded.replica, query, size)
    whole = crowded.replica.queue_page(query, limit=10_000)
    assert [r.id for r in paged] == [r.id for r in whole]
    assert len({r.id for r in paged}) == len(paged) == crowded.replica.queue_count(query)
    # Independently of the replica's SQL: every open ticket of the filter, in (key, id) order.
    with crowded.replica.engine.connect() as conn:
        stmt = select(TICKETS.c.id).where(TICKETS.c.status == TicketStatus.OPEN)
        if workflow:
            stmt = stmt.where(TICKETS.c.workflow == workflow)
        expected_ids = set(conn.execute(stmt).scalars())
    assert {r.id for r in paged} == expected_ids
    assert paged == sorted(paged, key=lambda r: sort_key(r, sort))
    keys = [sort_key(r, sort)[0] for r in paged]
    assert len(set(keys)) < len(keys) / 3  # the data really has ties to page through


def test_paging_survives_decisions_between_pages(crowded: World) -> None:
    query = QueueQuery(sort="confidence")
    before = crowded.replica.queue_page(query, limit=10_000)
    first = crowded.replica.queue_page(query, limit=10)
    for row in (first[3], before[20]):  # one already shown, one still to come
        crowded.replica.record_decision(
            row.id, Action.APPROVE, "ai_correct", reviewer="a", role=Role.REVIEWER
        )
    rest, after = [], first[-1]
    while page := crowded.replica.queue_page(query, after=after, limit=10):
        rest.extend(page)
        after = page[-1]
    assert [r.id for r in first + rest] == [r.id for r in before if r.id != before[20].id]


@pytest.fixture
def searchable(tmp_path: Path) -> Iterator[World]:
    summaries = {
        "pct": "Discount of 50% requested",
        "five-hundred": "Discount of 500 requested",
        "underscore": "Field a_b is empty",
        "no-underscore": "Field axb is empty",
        "backslash": r"Path C:\temp is odd",
    }
    tickets = [make_ticket(external_id=k, exception__summary=v) for k, v in summaries.items()]
    tickets.append(
        make_ticket(
            external_id="pii",
            interaction__messages=[{"at": "2026-11-20T10:00:00Z", "text": "my password is hunter2"}],
        )
    )
    yield from build_world(tmp_path, tickets)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("50%", {"pct"}),
        ("%", {"pct"}),
        ("a_b", {"underscore"}),
        ("A_B", {"underscore"}),
        ("discount requested", {"pct", "five-hundred"}),
        ("discount empty", set()),
        ("DISCOUNT", {"pct", "five-hundred"}),
        ("c:\\temp", {"backslash"}),
        ("\\", {"backslash"}),
        ("hunter2", set()),  # message bodies are not searchable
        ("northwind", {"pct", "five-hundred", "underscore", "no-underscore", "backslash", "pii"}),
        ("five-hundred", {"five-hundred"}),
        ("   ", {"pct", "five-hundred", "underscore", "no-underscore", "backslash", "pii"}),
    ],
)
def test_text_search_matches_characters_not_patterns(
    searchable: World, text: str, expected: set[str]
) -> None:
    query = QueueQuery(text=text)
    rows = searchable.replica.queue_page(query)
    assert {searchable.replica.ticket(r.id).external_id for r in rows} == expected  # type: ignore[union-attr]
    assert searchable.replica.queue_count(query) == len(expected)


def test_workflow_queue_and_status_filters(world: World) -> None:
    def ids(**kw: Any) -> set[str]:
        rows = world.replica.queue_page(QueueQuery(**kw))
        assert world.replica.queue_count(QueueQuery(**kw)) == len(rows)
        return {world.replica.ticket(r.id).external_id for r in rows}  # type: ignore[union-attr]

    assert ids() == {"lead-2026-004211", "don-77812-ask", "seg-2026-11-0042", "reply-88121", "auto-5521"}
    assert ids(workflow="lead_qualification") == {"lead-2026-004211", "reply-88121"}
    assert ids(queue=Queue.HUMAN_ONLY) == {"don-77812-ask", "reply-88121"}
    assert ids(queue=Queue.SAMPLE_AUDIT) == {"auto-5521"}
    assert ids(workflow="lead_qualification", queue=Queue.HUMAN_ONLY) == {"reply-88121"}
    assert ids(workflow="no_such_flow") == set()
    world.decide(LEAD)
    assert ids(workflow="lead_qualification") == {"reply-88121"}
    assert ids(status=TicketStatus.DECIDED) == {LEAD}
    assert world.replica.workflows() == ["ask_amount", "donor_segmentation", "lead_qualification"]


def test_queue_reads_do_not_wait_for_a_writer(world: World) -> None:
    """The UI reads while sync writes: WAL gives readers the last committed snapshot."""
    ticket_id = world.tid(LEAD)
    with world.replica.engine.begin() as writer:  # a sync transaction in progress
        writer.execute(TICKETS.update().values(status=TicketStatus.DECIDED))
        assert world.replica.queue_count(QueueQuery()) == 5
        assert len(world.replica.queue_page(QueueQuery())) == 5
        assert world.replica.ticket(ticket_id).status == TicketStatus.OPEN  # type: ignore[union-attr]
        assert world.replica.pull_cursor == 5
    assert world.replica.queue_count(QueueQuery()) == 0


# --- undo -----------------------------------------------------------------------------------------


def test_undo_of_a_pending_decision_restores_the_ticket(world: World) -> None:
    decision = world.decide(LEAD, Action.REJECT, "policy_legal")
    assert world.replica.undo(decision.decision_id, actor="alice", role=Role.REVIEWER) is True
    assert world.status(LEAD) == TicketStatus.OPEN
    assert world.replica.outbox.waiting_count() == 0
    assert world.replica.outbox.pending() == []
    assert world.replica.ticket(world.tid(LEAD)).decisions == []  # type: ignore[union-attr]
    with world.replica.engine.connect() as conn:
        events = conn.execute(select(AUDIT.c.event).order_by(AUDIT.c.seq)).scalars().all()
    assert events == [audit.AuditEvent.DECISION_RECORDED, audit.AuditEvent.DECISION_UNDONE]
    # Undone twice: nothing left to undo.
    assert world.replica.undo(decision.decision_id, actor="alice", role=Role.REVIEWER) is False
    # The ticket can be decided again, and only the new decision reaches the store.
    again = world.decide(LEAD)
    report = sync(world.replica, world.store)
    assert report.pushed == 1
    with world.store.engine.connect() as conn:
        assert conn.execute(text("SELECT decision_id FROM decisions")).scalars().all() == [again.decision_id]


def test_undo_returns_false_once_pushed(world: World) -> None:
    decision = world.decide(LEAD)
    sync(world.replica, world.store)
    before = world.counts()
    assert world.replica.undo(decision.decision_id, actor="alice", role=Role.REVIEWER) is False
    assert world.counts() == before
    assert world.status(LEAD) == TicketStatus.DECIDED
    assert world.replica.ticket(world.tid(LEAD)).decisions[0].decision_id == decision.decision_id  # type: ignore[union-attr]


# --- pulling --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "reason", "local"),
    [
        (Action.APPROVE, "ai_correct", TicketStatus.DECIDED),
        (Action.CLARIFY, "needs_more_info", TicketStatus.AWAITING_CLARIFICATION),
        (Action.REJECT, "policy_legal", TicketStatus.ESCALATED),
    ],
)
def test_pull_keeps_a_decided_but_unpushed_ticket_decided(
    world: World, action: Action, reason: str, local: TicketStatus
) -> None:
    world.decide(LEAD, action, reason, note="why?")
    rows = world.store.pull_tickets(0)
    assert world.replica.apply_pull(rows, rows[-1]["change_seq"]) == 5
    assert world.status(LEAD) == local
    ticket_id = world.tid(LEAD)
    with world.replica.engine.connect() as conn:
        store_status = conn.execute(select(TICKETS.c.store_status).where(TICKETS.c.id == ticket_id)).scalar()
    assert store_status == TicketStatus.OPEN
    assert world.replica.queue_count(QueueQuery()) == 4
    # Once the store has it, the store's status and the local one agree.
    sync(world.replica, world.store)
    assert world.status(LEAD) == local


def test_pull_cursor_advances_with_the_page_or_not_at_all(tmp_path: Path) -> None:
    store = sqlite_store(tmp_path)
    store.ingest(numbered(example_tickets()))
    replica = open_replica(tmp_path, store)
    try:
        rows = store.pull_tickets(0)
        broken = [*rows[:2], {**rows[2], "payload": "{not json"}]
        with pytest.raises(json.JSONDecodeError):
            replica.apply_pull(broken, broken[-1]["change_seq"])
        assert replica.pull_cursor == 0
        assert replica.queue_count(QueueQuery()) == 0  # the good rows of the page are not half-applied
        assert replica.apply_pull(rows[:3], rows[2]["change_seq"]) == 3
        assert replica.pull_cursor == rows[2]["change_seq"]
        # Replaying an older page (a retried cycle) never moves the cursor back.
        assert replica.apply_pull(rows[:1], rows[0]["change_seq"]) == 1
        assert replica.pull_cursor == rows[2]["change_seq"]
        assert replica.apply_pull([], 99) == 0
        assert replica.pull_cursor == rows[2]["change_seq"]
        assert replica.apply_pull(rows[3:], rows[-1]["change_seq"]) == 2
        assert replica.queue_count(QueueQuery()) == 5
    finally:
        replica.close()
        store.close()


def test_pull_brings_new_store_content_and_due_times(world: World) -> None:
    changed = example_tickets()[0]
    changed["ai"]["confidence"] = 0.3
    world.store.ingest(numbered([changed]))
    report = sync(world.replica, world.store)
    assert report.pulled == 1
    view = world.replica.ticket(world.tid(LEAD))
    assert view is not None
    assert (view.revision, view.queue, view.payload["ai"]["confidence"]) == (2, Queue.HUMAN_ONLY, 0.3)
    assert view.due_at == datetime(2026, 11, 20, 18, 3, 11, tzinfo=UTC)
