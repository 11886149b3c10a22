"""Blind second review end to end (issue 6, item 4): one store, two reviewers' replicas and an
escalation manager's, on SQLite and Postgres. The first decision on a chosen ticket makes it wait
for a second reviewer; the second reviewer sees no trace of the first decision; agreement decides
the ticket, disagreement sends it to the escalation queue."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
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
    store_decisions,
    store_ticket,
    syncer,
)
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sync_support import replica_remote_decisions

from app.core.domain import Action, Decision, QueueQuery, Role, TicketStatus
from app.core.metrics import workflow_settings
from app.core.metrics.report import build_report
from app.core.replica import SENT_FOR_SECOND_REVIEW, DecisionError, Replica
from app.core.store import Store
from app.core.store_models import SecondReview

pg_database = pytest.fixture(scope="module")(pg_database)
REVIEWS = SecondReview.__table__
LEAD = "lead-2026-004211"  # workflow lead_qualification, chosen for every ticket below
SEG = "seg-2026-11-0042"  # donor_segmentation: no second review asked
SECOND = QueueQuery(status=TicketStatus.AWAITING_SECOND_REVIEW)
SENT = QueueQuery(status=SENT_FOR_SECOND_REVIEW)


@dataclass
class Reviewer:
    replica: Replica
    name: str
    store: Store
    role: Role = Role.REVIEWER

    def sync(self) -> None:
        report = syncer(self.replica, self.store, self.name, self.role).run_once()
        assert report.ok, report.error

    def tid(self, external_id: str) -> int:
        return replica_ticket_id(self.replica, external_id)

    def decide(self, external_id: str, action: Action, reason: str, **kw: Any) -> Decision:
        return self.replica.record_decision(
            self.tid(external_id), action, reason, reviewer=self.name, role=self.role, **kw
        )

    def view(self, external_id: str) -> Any:
        ticket = self.replica.ticket(self.tid(external_id))
        assert ticket is not None
        return ticket

    def may_decide(self, external_id: str) -> bool:
        return self.replica.decidable(self.view(external_id), self.name)

    def listed(self, query: QueueQuery) -> list[str]:
        ids = {row.id for row in self.replica.queue_page(query, limit=100)}
        assert self.replica.queue_count(query) == len(ids)
        return sorted(t["external_id"] for t in example_tickets() if self.tid(t["external_id"]) in ids)


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    store = Store.initialize(backend_url(request, tmp_path))
    store.ingest(numbered(example_tickets()))
    workflow_settings.change(store, "lead_qualification", actor="root", role="admin", second_review_share=1.0)
    yield store
    store.close()


@pytest.fixture
def people(store: Store, tmp_path: Path) -> Iterator[dict[str, Reviewer]]:
    found = {
        "alice": Reviewer(open_replica(tmp_path, store, "alice"), "alice", store),
        "bob": Reviewer(open_replica(tmp_path, store, "bob"), "bob", store),
        "erin": Reviewer(open_replica(tmp_path, store, "erin"), "erin", store, Role.ESCALATION_MANAGER),
    }
    for person in found.values():
        person.sync()
    yield found
    for person in found.values():
        person.replica.close()


def store_statuses(store: Store, *decisions: Decision) -> list[str]:
    found = {d.decision_id: d.status for d in store_decisions(store)}
    return [found[d.decision_id] for d in decisions]


def test_an_agreeing_second_review_is_blind_and_decides_the_ticket(
    store: Store, people: dict[str, Reviewer]
) -> None:
    alice, bob = people["alice"], people["bob"]
    first = alice.decide(LEAD, Action.APPROVE, "ai_correct", note="fits the profile")
    alice.sync()
    assert store_ticket(store, LEAD).status == TicketStatus.AWAITING_SECOND_REVIEW
    # Alice decided it: not hers to review again, and she finds it among the ones she sent.
    assert alice.view(LEAD).status == TicketStatus.AWAITING_SECOND_REVIEW
    assert alice.listed(SECOND) == [] and alice.listed(SENT) == [LEAD]
    assert not alice.may_decide(LEAD)
    with pytest.raises(DecisionError, match="second review by someone else"):
        alice.decide(LEAD, Action.REJECT, "wrong_segment")

    bob.sync()
    # Bob's replica holds the store's copy of alice's decision, yet shows him nothing of it.
    assert first.decision_id in replica_remote_decisions(bob.replica)
    assert bob.listed(SECOND) == [LEAD] and bob.listed(SENT) == []
    assert bob.view(LEAD).decisions == []
    assert bob.may_decide(LEAD)
    second = bob.decide(LEAD, Action.APPROVE, "verified_manually")
    bob.sync()
    assert store_ticket(store, LEAD).status == TicketStatus.DECIDED
    assert store_statuses(store, first, second) == ["final", "final"]  # a pair, not a conflict

    alice.sync()
    assert alice.view(LEAD).status == TicketStatus.DECIDED
    # Once decided, nothing is blind any more: both decisions are on the record for both.
    assert {d.reviewer for d in alice.view(LEAD).decisions} == {"alice", "bob"}
    assert {d.reviewer for d in bob.view(LEAD).decisions} == {"alice", "bob"}
    agreement = build_report(store, role="admin")["agreement"]
    assert (agreement["n"], agreement["agreed"], agreement["pending"]) == (1, 1, 0)


def test_a_disagreement_goes_to_the_escalation_queue(store: Store, people: dict[str, Reviewer]) -> None:
    alice, bob, erin = people["alice"], people["bob"], people["erin"]
    first = alice.decide(LEAD, Action.APPROVE, "ai_correct")
    alice.sync()
    bob.sync()
    second = bob.decide(LEAD, Action.REJECT, "wrong_segment")
    bob.sync()
    ticket = store_ticket(store, LEAD)
    assert (ticket.status, ticket.queue) == (TicketStatus.ESCALATED, "escalation")
    assert store_statuses(store, first, second) == ["final", "final"]
    with store.engine.connect() as conn:
        assert conn.execute(select(REVIEWS.c.agreed)).scalar_one() is False

    erin.sync()
    assert erin.listed(QueueQuery(status=TicketStatus.ESCALATED)) == [LEAD]
    # The escalation manager settles it seeing both sides.
    assert {d.reviewer for d in erin.view(LEAD).decisions} == {"alice", "bob"}
    settled = erin.decide(LEAD, Action.REJECT, "wrong_segment")
    erin.sync()
    assert store_ticket(store, LEAD).status == TicketStatus.DECIDED
    assert store_statuses(store, first, second, settled) == ["superseded", "superseded", "final"]


def test_the_first_reviewer_corrects_until_the_second_decides(
    store: Store, people: dict[str, Reviewer]
) -> None:
    alice, bob = people["alice"], people["bob"]
    first = alice.decide(LEAD, Action.APPROVE, "ai_correct")
    alice.sync()
    last = alice.replica.last_decision(alice.tid(LEAD))
    assert last is not None and last.decision_id == first.decision_id
    corrected = alice.decide(LEAD, Action.REJECT, "stale_data", supersedes=first.decision_id)
    alice.sync()
    assert store_ticket(store, LEAD).status == TicketStatus.AWAITING_SECOND_REVIEW
    assert alice.listed(SENT) == [LEAD]
    bob.sync()
    assert bob.view(LEAD).decisions == []
    second = bob.decide(LEAD, Action.REJECT, "stale_data")
    bob.sync()
    assert store_ticket(store, LEAD).status == TicketStatus.DECIDED
    assert store_statuses(store, first, corrected, second) == ["superseded", "final", "final"]


def test_the_same_reviewer_on_another_machine_is_not_a_second_reviewer(
    store: Store, people: dict[str, Reviewer], tmp_path: Path
) -> None:
    alice = people["alice"]
    alice.decide(LEAD, Action.APPROVE, "ai_correct")
    alice.sync()
    laptop = Reviewer(open_replica(tmp_path, store, "alice-laptop"), "alice", store)
    try:
        laptop.sync()
        # Another installation lists it (it cannot know who decided without reading the
        # decision), but the store's copy names alice: she may not review it blind.
        assert not laptop.may_decide(LEAD)
        with pytest.raises(DecisionError, match="you decided it first"):
            laptop.decide(LEAD, Action.APPROVE, "ai_correct")
    finally:
        laptop.replica.close()


def test_workflows_without_second_review_are_unchanged(store: Store, people: dict[str, Reviewer]) -> None:
    alice, bob = people["alice"], people["bob"]
    mine = alice.decide(SEG, Action.APPROVE, "ai_correct")
    alice.sync()
    assert store_ticket(store, SEG).status == TicketStatus.DECIDED
    bob.sync()
    assert bob.listed(SECOND) == [] and not bob.may_decide(SEG)
    assert [d.decision_id for d in bob.view(SEG).decisions] == [mine.decision_id]


# --- Postgres with row-level security: each person pushes under their own login ---------------


LOGINS = {"alice": Role.REVIEWER, "bob": Role.REVIEWER, "erin": Role.ESCALATION_MANAGER}


@pytest.mark.postgres
def test_second_review_under_row_security(pg_server: Any, pg_url: str, tmp_path: Path) -> None:
    from app.core import roles

    owner = Store.initialize(pg_url)
    try:
        owner.ingest(numbered(example_tickets()))
        workflow_settings.change(
            owner, "lead_qualification", actor="root", role="admin", second_review_share=1.0
        )
        roles.setup_postgres(owner)
        for login, role in LOGINS.items():
            roles.add_user(owner, login, role, password=None)  # trust auth in the test cluster
    finally:
        owner.close()
    dbname = make_url(pg_url).database or ""
    people = {}
    try:
        for login, role in LOGINS.items():
            store = Store.open(pg_server.url(dbname, user=login))
            people[login] = Reviewer(open_replica(tmp_path, store, login), login, store, role)
            people[login].sync()
        alice, bob, erin = people["alice"], people["bob"], people["erin"]
        first = alice.decide(LEAD, Action.APPROVE, "ai_correct")
        alice.sync()
        bob.sync()
        assert bob.listed(SECOND) == [LEAD] and bob.view(LEAD).decisions == []
        second = bob.decide(LEAD, Action.REJECT, "wrong_segment")
        bob.sync()
        erin.sync()
        assert erin.view(LEAD).status == TicketStatus.ESCALATED
        settled = erin.decide(LEAD, Action.APPROVE, "ai_correct")
        erin.sync()
        alice.sync()
        # Alice still sees the ticket she decided, settled over both reviewers' decisions.
        assert alice.view(LEAD).status == TicketStatus.DECIDED
        assert {d.decision_id: d.status for d in alice.view(LEAD).decisions} == {
            first.decision_id: "superseded",
            second.decision_id: "superseded",
            settled.decision_id: "final",
        }
    finally:
        for person in people.values():
            person.replica.close()
            person.store.close()


# --- the views in the window's filter bar -----------------------------------------------------


@pytest.mark.gui
def test_the_filter_bar_offers_both_second_review_views(qtbot: Any) -> None:
    from app.ui.filter_bar import FilterBar

    bar = FilterBar()
    qtbot.addWidget(bar)
    views = {bar.view.itemText(i): bar.view.itemData(i) for i in range(bar.view.count())}
    assert views["Second review"] == TicketStatus.AWAITING_SECOND_REVIEW
    assert views["Sent for second review"] == SENT_FOR_SECOND_REVIEW
    with qtbot.waitSignal(bar.query_changed) as emitted:
        bar.view.setCurrentIndex(bar.view.findText("Sent for second review"))
    assert emitted.args[0] == SENT
    bar.restore(SECOND)
    assert bar.query() == SECOND
