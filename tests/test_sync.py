"""Sync cycles between replicas and a store (SQLite and Postgres): push, refusals, conflicts,
reopened tickets, an unreachable store and back-off."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from helpers import (
    BACKENDS,
    STORE_REASONS,
    backend_url,
    empty_pg_database,
    example_tickets,
    make_ticket,
    numbered,
    open_replica,
    pg_database,
    replica_ticket_id,
    sqlite_path_of,
    store_decisions,
    store_ticket,
    sync,
    syncer,
)
from sqlalchemy import select, update
from sync_support import delete_ticket

from app.core import audit
from app.core.domain import Action, DecisionStatus, PushState, Queue, QueueQuery, Role, TicketStatus
from app.core.outbox import OutboxStatus
from app.core.replica import DECISIONS, OUTBOX, DecisionError, Replica
from app.core.replica_models import AuditEntry
from app.core.settings import Settings
from app.core.store import Store, StoreUnavailable
from app.core.sync import StoreMismatch, Syncer
from app.core.workspace import open_workspace, reconnect

AUDIT = AuditEntry.__table__
LEAD = "lead-2026-004211"

pg_database = pytest.fixture(scope="module")(pg_database)


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return backend_url(request, tmp_path)


@dataclass
class Client:
    """One installation: its replica, deciding as one reviewer."""

    replica: Replica
    reviewer: str = "alice"

    def tid(self, external_id: str) -> int:
        return replica_ticket_id(self.replica, external_id)

    def decide(
        self, external_id: str, action: Action = Action.APPROVE, reason: str = "ai_correct", **kw: Any
    ) -> Any:
        return self.replica.record_decision(
            self.tid(external_id), action, reason, reviewer=self.reviewer, role=Role.REVIEWER, **kw
        )

    def status(self, external_id: str) -> str:
        return self.replica.ticket(self.tid(external_id)).status  # type: ignore[union-attr]

    def push_states(self) -> dict[str, tuple[str, str | None]]:
        with self.replica.engine.connect() as conn:
            rows = conn.execute(
                select(DECISIONS.c.decision_id, DECISIONS.c.push_state, DECISIONS.c.push_error)
            )
            return {r.decision_id: (r.push_state, r.push_error) for r in rows}

    def audit_events(self) -> list[tuple[str, dict[str, Any]]]:
        with self.replica.engine.connect() as conn:
            rows = conn.execute(select(AUDIT.c.event, AUDIT.c.payload).order_by(AUDIT.c.seq)).all()
        return [(r.event, json.loads(r.payload)["data"]) for r in rows]


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    store = Store.initialize(store_url)
    store.ingest(numbered(example_tickets()))
    yield store
    store.close()


@pytest.fixture
def client(store: Store, tmp_path: Path) -> Iterator[Client]:
    replica = open_replica(tmp_path, store)
    sync(replica, store)
    yield Client(replica)
    replica.close()


def test_decisions_go_up_and_come_back_decided(store: Store, client: Client) -> None:
    assert client.replica.queue_count(QueueQuery()) == 5
    approve = client.decide(LEAD)
    reject = client.decide("seg-2026-11-0042", Action.REJECT, "wrong_segment", note="still active at events")
    assert client.replica.outbox.waiting_count() == 2
    report = sync(client.replica, store)
    assert (report.pushed, report.refused, report.pulled) == (2, {}, 2)
    assert client.replica.outbox.waiting_count() == 0
    assert set(client.push_states().values()) == {(PushState.PUSHED, None)}
    stored = {d.decision_id: d for d in store_decisions(store)}
    assert set(stored) == {approve.decision_id, reject.decision_id}
    assert stored[reject.decision_id].note == "still active at events"
    assert store_ticket(store, LEAD).status == TicketStatus.DECIDED
    assert client.status(LEAD) == TicketStatus.DECIDED
    assert client.replica.queue_count(QueueQuery()) == 3
    assert sync(client.replica, store).pushed == 0


def test_a_lost_answer_is_retried_without_duplicates(store: Store, client: Client) -> None:
    decisions = [client.decide(t["external_id"]) for t in example_tickets()[:3]]
    # The store commits the batch but its answer never arrives (timeout, crash, cable).
    store.push_decisions(client.replica.outbox.pending())
    report = sync(client.replica, store)
    assert report.pushed == 3
    assert sorted(d.decision_id for d in store_decisions(store)) == sorted(d.decision_id for d in decisions)
    pushed = [
        data["decision_id"]
        for event, data in client.audit_events()
        if event == audit.AuditEvent.DECISION_PUSHED
    ]
    assert sorted(pushed) == sorted(d.decision_id for d in decisions)
    # The same answer applied twice changes nothing either.
    before = client.audit_events()
    client.replica.outbox.mark_pushed(
        [d.decision_id for d in decisions], {}, actor="alice", role=Role.REVIEWER
    )
    assert client.audit_events() == before


def test_refused_decisions_are_marked_audited_and_do_not_block_the_batch(
    store: Store, client: Client
) -> None:
    good = client.decide(LEAD)
    gone = client.decide("auto-5521")
    retired = client.decide("seg-2026-11-0042", Action.REJECT, "stale_data")
    also_good = client.decide("reply-88121", Action.CLARIFY, "ambiguous_intent", note="Demo or meeting?")
    with store.engine.begin() as conn:
        conn.execute(update(STORE_REASONS).where(STORE_REASONS.c.code == "stale_data").values(active=False))
    delete_ticket(store, "auto-5521")  # with the rows that hang off it (ticket_pii, …)
    report = syncer(client.replica, store).run_once()
    assert report.ok
    assert report.pushed == 2
    assert set(report.refused) == {gone.decision_id, retired.decision_id}
    assert "auto-5521 is not in the store" in report.refused[gone.decision_id]
    assert "'stale_data' is retired or unknown" in report.refused[retired.decision_id]
    states = client.push_states()
    assert states[good.decision_id] == states[also_good.decision_id] == (PushState.PUSHED, None)
    assert states[gone.decision_id] == (PushState.REJECTED, report.refused[gone.decision_id])
    assert states[retired.decision_id] == (PushState.REJECTED, report.refused[retired.decision_id])
    rejected = {
        data["decision_id"]: data["reason"]
        for event, data in client.audit_events()
        if event == "decision_rejected_by_store"
    }
    assert rejected == report.refused
    assert client.replica.outbox.status().rejected == 2
    assert client.replica.outbox.waiting_count() == 0
    # Their tickets are back in the queue, to be decided again with a valid reason.
    assert client.status("seg-2026-11-0042") == TicketStatus.OPEN
    with pytest.raises(DecisionError, match="'stale_data' is not a reason code"):
        client.decide("seg-2026-11-0042", Action.REJECT, "stale_data")
    again = client.decide("seg-2026-11-0042", Action.REJECT, "wrong_segment")
    assert sync(client.replica, store).pushed == 1
    assert {d.decision_id for d in store_decisions(store)} == {
        good.decision_id,
        also_good.decision_id,
        again.decision_id,
    }
    assert client.replica.verify_audit().ok


def test_policy_legal_escalates_the_ticket_in_the_store(store: Store, client: Client) -> None:
    decision = client.decide(LEAD, Action.REJECT, "policy_legal")
    sync(client.replica, store)
    row = store_ticket(store, LEAD)
    assert (row.status, row.queue, row.priority) == (TicketStatus.ESCALATED, Queue.ESCALATION, 90)
    assert row.due_at == decision.decided_at + timedelta(hours=1)
    view = client.replica.ticket(client.tid(LEAD))
    assert view is not None
    assert (view.status, view.queue, view.due_at) == (TicketStatus.ESCALATED, Queue.ESCALATION, row.due_at)
    assert client.replica.queue_count(QueueQuery(status=TicketStatus.ESCALATED, queue=Queue.ESCALATION)) == 1


def _reset(url: str) -> None:
    path = sqlite_path_of(url)
    if path is None:
        empty_pg_database(url)
    else:
        path.unlink()


def two_clients_decide(url: str, tmp_path: Path, order: tuple[str, str]) -> dict[str, Any]:
    """Ann approves and Ben rejects the same ticket, each offline; they push in `order`."""
    store = Store.initialize(url)
    store.ingest(numbered(example_tickets()))
    clients = {
        name: Client(open_replica(tmp_path, store, f"{name}-{'-'.join(order)}"), reviewer=name)
        for name in ("ann", "ben")
    }
    try:
        for c in clients.values():
            sync(c.replica, store, c.reviewer)
        clients["ann"].decide(LEAD, decision_id="00000000-0000-4000-8000-0000000000a1")
        clients["ben"].decide(
            LEAD, Action.REJECT, "stale_data", decision_id="00000000-0000-4000-8000-0000000000b1"
        )
        for name in order:
            sync(clients[name].replica, store, name)
        for c in clients.values():
            sync(c.replica, store, c.reviewer)
        row = store_ticket(store, LEAD)
        return {
            "ticket": (row.status, row.queue, row.priority, row.revision),
            "decisions": {d.decision_id: (d.reviewer, d.action, d.status) for d in store_decisions(store)},
            "local": {name: c.status(LEAD) for name, c in clients.items()},
        }
    finally:
        for c in clients.values():
            c.replica.close()
        store.close()


def test_two_clients_deciding_one_ticket_end_in_the_same_conflict_either_way(
    store_url: str, tmp_path: Path
) -> None:
    ann_first = two_clients_decide(store_url, tmp_path, ("ann", "ben"))
    _reset(store_url)
    ben_first = two_clients_decide(store_url, tmp_path, ("ben", "ann"))
    assert ann_first == ben_first
    assert ann_first["ticket"] == (TicketStatus.CONFLICT, Queue.ESCALATION, 90, 1)
    assert ann_first["decisions"] == {
        "00000000-0000-4000-8000-0000000000a1": ("ann", Action.APPROVE, DecisionStatus.CONFLICT),
        "00000000-0000-4000-8000-0000000000b1": ("ben", Action.REJECT, DecisionStatus.CONFLICT),
    }
    assert ann_first["local"] == {"ann": TicketStatus.CONFLICT, "ben": TicketStatus.CONFLICT}


def test_a_clarified_ticket_comes_back_when_upstream_answers(store: Store, client: Client) -> None:
    clarify = client.decide(LEAD, Action.CLARIFY, "needs_more_info", note="How many employees?")
    sync(client.replica, store)
    assert store_ticket(store, LEAD).status == TicketStatus.AWAITING_CLARIFICATION
    assert client.tid(LEAD) not in {r.id for r in client.replica.queue_page(QueueQuery())}
    answered = example_tickets()[0]
    answered["interaction"]["messages"].append(
        {
            "from": "priya.raman@northwind-logistics.example",
            "at": "2026-11-21T09:00:00Z",
            "text": "About 450 staff.",
        }
    )
    assert store.ingest(numbered([answered])).updated == 1
    report = sync(client.replica, store)
    assert report.pulled == 1
    view = client.replica.ticket(client.tid(LEAD))
    assert view is not None
    assert (view.status, view.revision) == (TicketStatus.OPEN, 2)
    assert view.payload["interaction"]["messages"][-1]["text"] == "About 450 staff."
    assert client.tid(LEAD) in {r.id for r in client.replica.queue_page(QueueQuery())}
    assert [d.decision_id for d in view.decisions] == [clarify.decision_id]
    approve = client.decide(LEAD, Action.APPROVE, "verified_manually")
    assert approve.ticket_revision == 2
    sync(client.replica, store)
    assert {(d.decision_id, d.ticket_revision, d.status) for d in store_decisions(store)} == {
        (clarify.decision_id, 1, DecisionStatus.FINAL),
        (approve.decision_id, 2, DecisionStatus.FINAL),
    }
    assert store_ticket(store, LEAD).status == TicketStatus.DECIDED


# --- an unreachable store -----------------------------------------------------------------------


@contextmanager
def sqlite_outage(store: Store) -> Iterator[None]:
    """The shared folder disappears (unmounted drive, VPN down), then comes back."""
    path = sqlite_path_of(store.url)
    assert path is not None
    store.engine.dispose()  # a vanished share breaks open handles too
    away = path.parent.with_name(path.parent.name + "-away")
    path.parent.rename(away)
    try:
        yield
    finally:
        away.rename(path.parent)


@pytest.fixture
def outage(request: pytest.FixtureRequest, store: Store) -> Callable[[], AbstractContextManager[None]]:
    if request.node.callspec.params["store_url"] == "postgres":
        server = request.getfixturevalue("pg_server")

        @contextmanager
        def pg_outage() -> Iterator[None]:
            server.stop()
            try:
                yield
            finally:
                server.start()

        return pg_outage
    return lambda: sqlite_outage(store)


def test_an_unreachable_store_keeps_the_outbox_and_backs_off(
    store: Store, client: Client, outage: Callable[[], AbstractContextManager[None]]
) -> None:
    decisions = [client.decide(t["external_id"]) for t in example_tickets()[:3]]
    with outage():
        report = syncer(client.replica, store).run_once()
        assert not report.ok
        assert "cannot reach the store" in (report.error or "")
        assert report.pushed == 0
        assert client.replica.outbox.waiting_count() == 3
        # The push itself failing (the store gone between cycles' steps) backs off.
        before = datetime.now(UTC)
        with pytest.raises(StoreUnavailable):
            syncer(client.replica, store).push()
        with client.replica.engine.connect() as conn:
            outbox = conn.execute(select(OUTBOX).order_by(OUTBOX.c.seq)).all()
        assert [r.decision_id for r in outbox] == [d.decision_id for d in decisions]
        for row in outbox:
            assert row.attempts == 1
            assert row.next_attempt_at is not None and row.next_attempt_at > before
            assert "cannot reach the store" in (row.last_error or "")
        assert client.replica.outbox.status().last_error == outbox[0].last_error
        assert client.status(LEAD) == TicketStatus.DECIDED  # review goes on offline
    # Back, but still backing off: this cycle pulls and leaves the outbox alone.
    report = sync(client.replica, store)
    assert report.pushed == 0
    assert client.replica.outbox.waiting_count() == 3
    assert store_decisions(store) == []
    client.replica.outbox.retry_now()  # what a manual "Sync now" does
    report = sync(client.replica, store)
    assert report.pushed == 3
    assert sync(client.replica, store).pushed == 0
    assert sorted(d.decision_id for d in store_decisions(store)) == sorted(d.decision_id for d in decisions)
    assert client.replica.outbox.status() == OutboxStatus(waiting=0, rejected=0, last_error=None)


def test_back_off_doubles_and_is_capped(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    store = Store.initialize(url)
    store.ingest(numbered(example_tickets()))
    replica = open_replica(tmp_path, store)
    try:
        sync(replica, store)
        decision = Client(replica).decide(LEAD)
        now = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
        delays = []
        for _ in range(10):
            replica.outbox.note_push_failure([decision.decision_id], "down", now=now)
            with replica.engine.connect() as conn:
                delays.append(
                    (conn.execute(select(OUTBOX.c.next_attempt_at)).scalar_one() - now).total_seconds()
                )
        assert delays == [2, 4, 8, 16, 32, 64, 128, 256, 300, 300]
        assert replica.outbox.pending(now=now + timedelta(seconds=299)) == []
        assert replica.outbox.pending(now=now + timedelta(seconds=300)) == [decision]
    finally:
        replica.close()
        store.close()


def test_a_replica_refuses_another_store(tmp_path: Path) -> None:
    home_store = Store.initialize(f"sqlite:///{tmp_path / 'home.sqlite3'}")
    other = Store.initialize(f"sqlite:///{tmp_path / 'other.sqlite3'}")
    home_store.ingest(numbered(example_tickets()))
    other.ingest(numbered(example_tickets()))
    replica = open_replica(tmp_path, home_store)
    try:
        sync(replica, home_store)
        Client(replica).decide(LEAD)
        wrong = syncer(replica, other)
        with pytest.raises(StoreMismatch, match="not the store this replica was made from"):
            wrong.check_identity()
        report = wrong.run_once()
        assert "not the store this replica was made from" in (report.error or "")
        assert (report.pushed, report.pulled) == (0, 0)
        assert store_decisions(other) == []
        assert replica.outbox.waiting_count() == 1
        assert replica.pull_cursor == 5
        assert sync(replica, home_store).pushed == 1
    finally:
        replica.close()
        home_store.close()
        other.close()


def test_pull_pages_through_the_store_and_reports_progress(tmp_path: Path) -> None:
    store = Store.initialize(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    store.ingest(numbered(make_ticket(external_id=f"p-{n}") for n in range(7)))
    replica = open_replica(tmp_path, store)
    try:
        seen: list[tuple[str, int]] = []
        paged = Syncer(replica, store, actor="alice", role=Role.REVIEWER, pull_page=3)
        report = paged.run_once(lambda phase, done: seen.append((phase, done)))
        assert report.pulled == 7
        assert seen == [("pull", 3), ("pull", 6), ("pull", 7)]
        assert replica.pull_cursor == 7
        assert replica.queue_count(QueueQuery()) == 7
    finally:
        replica.close()
        store.close()


# --- the workspace: store and replica together ------------------------------------------------


def test_workspace_opens_offline_from_a_known_store(tmp_path: Path, home: Path) -> None:
    url = f"sqlite:///{tmp_path / 'share' / 'store.sqlite3'}"
    (tmp_path / "share").mkdir()
    store = Store.initialize(url)
    store.ingest(numbered(example_tickets()))
    store.close()
    online = open_workspace(home, url)
    store_id = online.store.store_id  # type: ignore[union-attr]
    assert Settings.load(home).known_stores == {url: store_id}
    sync_report = online.syncer().run_once()  # type: ignore[union-attr]
    assert sync_report.pulled == 5
    online.close()

    (tmp_path / "share").rename(tmp_path / "share-away")
    offline = open_workspace(home, url)
    try:
        assert offline.store is None
        assert "cannot reach the store" in (offline.store_error or "")
        assert offline.syncer() is None
        assert offline.replica.store_id == store_id
        assert offline.replica.queue_count(QueueQuery()) == 5  # review goes on from the replica
        assert reconnect(offline) is False
        (tmp_path / "share-away").rename(tmp_path / "share")
        assert reconnect(offline) is True
        assert offline.syncer() is not None
    finally:
        offline.close()
    with pytest.raises(StoreUnavailable):
        open_workspace(home, f"sqlite:///{tmp_path / 'never' / 'store.sqlite3'}")
