"""Agreement: Cohen's kappa against hand-computed examples, the blind second-review choice, and
the store's rule for second reviews (both decisions kept, no conflict; a disagreement goes to
the escalation queue) through store_push."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from helpers import BACKENDS, backend_url, pg_database
from metrics_history import LEAD, NOW, PUSH_WITH_SECOND_REVIEW, T0, Builder
from sqlalchemy import select

from app.core.domain import Action, Decision, DecisionStatus, Role
from app.core.metrics import workflow_settings
from app.core.metrics.agreement import cohen_kappa, summarize
from app.core.metrics.report import build_report
from app.core.metrics.rows import SecondReviewRow
from app.core.metrics.second_review import AWAITING_SECOND_REVIEW, selected
from app.core.store import Store, translate_errors
from app.core.store_models import SecondReview, StoreDecision, StoreTicket

pg_database = pytest.fixture(scope="module")(pg_database)
REVIEWS = SecondReview.__table__

PUSH = PUSH_WITH_SECOND_REVIEW


def push(store: Store, decisions: Sequence[Decision]) -> None:
    with translate_errors(store.url), store.engine.begin() as conn:
        outcome = PUSH(conn, decisions)
    assert not outcome.refused, outcome.refused


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    store = Store.initialize(backend_url(request, tmp_path))
    workflow_settings.change(store, LEAD, actor="root", role="admin", second_review_share=1.0)
    yield store
    store.close()


def tickets(store: Store, *names: str) -> Builder:
    b = Builder(store)
    for i, name in enumerate(names):
        b.ticket(name, created=T0 + i * (NOW - T0) / 100, confidence=0.8)
    b.ingest_all()
    return b


def ticket_row(store: Store, name: str) -> Any:
    t = StoreTicket.__table__
    with store.engine.connect() as conn:
        return conn.execute(select(t).where(t.c.external_id == name)).one()


def statuses(store: Store, *decisions: Decision) -> list[str]:
    d = StoreDecision.__table__
    with store.engine.connect() as conn:
        found = dict(conn.execute(select(d.c.decision_id, d.c.status)).all())
    return [found[x.decision_id] for x in decisions]


def review_row(store: Store, name: str) -> Any:
    with store.engine.connect() as conn:
        return conn.execute(select(REVIEWS).where(REVIEWS.c.ticket_id == ticket_row(store, name).id)).one()


# --- kappa ----------------------------------------------------------------------------------------


def test_kappa_two_categories_by_hand() -> None:
    # Yes/yes 20, yes/no 5, no/yes 10, no/no 15: p_o = 35/50 = 0.7; A says yes 25/50, B 30/50;
    # p_e = 0.5·0.6 + 0.5·0.4 = 0.5; kappa = (0.7 − 0.5) / (1 − 0.5) = 0.4.
    pairs = [("y", "y")] * 20 + [("y", "n")] * 5 + [("n", "y")] * 10 + [("n", "n")] * 15
    assert cohen_kappa(pairs) == pytest.approx(0.4)


def test_kappa_three_categories_by_hand() -> None:
    # approve/reject/clarify, rows first reviewer, columns second:
    #   A: 10 2 1 | R: 1 5 0 | C: 0 1 0      (n = 20)
    # p_o = 15/20 = 0.75; margins first 13, 6, 1, second 11, 8, 1;
    # p_e = (13·11 + 6·8 + 1·1) / 400 = 192/400 = 0.48; kappa = 0.27 / 0.52.
    a, r, c = "approve", "reject", "clarify"
    pairs = [(a, a)] * 10 + [(a, r)] * 2 + [(a, c)] + [(r, a)] + [(r, r)] * 5 + [(c, r)]
    assert cohen_kappa(pairs) == pytest.approx(0.27 / 0.52)


def test_kappa_edges() -> None:
    assert cohen_kappa([("a", "a"), ("b", "b"), ("a", "a")]) == pytest.approx(1.0)
    assert cohen_kappa([("a", "b")] * 5 + [("b", "a")] * 5) == pytest.approx(-1.0)
    assert cohen_kappa([("a", "a")] * 4) is None  # chance agreement certain: undefined
    assert cohen_kappa([]) is None


def test_summary_per_workflow_and_per_pair_whoever_decided_first() -> None:
    rows = [
        SecondReviewRow(1, LEAD, "bob", "approve", "alice", "approve"),
        SecondReviewRow(2, LEAD, "alice", "reject", "bob", "approve"),
        SecondReviewRow(3, LEAD, "alice", "reject", "bob", "reject"),
        SecondReviewRow(4, "ask_amount", "carol", "approve", "alice", "approve"),
    ]
    result = summarize(rows)
    assert (result["n"], result["agreed"]) == (4, 3)
    pair = {tuple(p["reviewers"]): p for p in result["by_pair"]}
    # alice vs bob, alice's label first: (a, a), (r, a), (r, r): p_o = 2/3; alice r 2/3 a 1/3,
    # bob a 2/3 r 1/3: p_e = 2/9 + 2/9 = 4/9; kappa = (2/3 − 4/9) / (5/9) = 0.4.
    assert pair[("alice", "bob")]["kappa"] == pytest.approx(0.4)
    assert pair[("alice", "carol")]["n"] == 1
    lead = {w["workflow"]: w for w in result["by_workflow"]}[LEAD]
    assert (lead["n"], lead["agreed"]) == (3, 2)


# --- choosing tickets -------------------------------------------------------------------------


def test_the_choice_is_deterministic_and_near_the_share() -> None:
    chosen = [i for i in range(20_000) if selected(i, "salt-a", 0.1)]
    assert abs(len(chosen) / 20_000 - 0.1) < 0.01
    assert chosen == [i for i in range(20_000) if selected(i, "salt-a", 0.1)]
    assert chosen != [i for i in range(20_000) if selected(i, "salt-b", 0.1)]
    assert not any(selected(i, "salt-a", 0.0) for i in range(1000))
    assert all(selected(i, "salt-a", 1.0) for i in range(1000))


def test_only_administrators_change_settings(tmp_path: Path) -> None:
    store = Store.initialize(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    try:
        with pytest.raises(workflow_settings.SettingsError, match="administrator"):
            workflow_settings.change(store, LEAD, actor="bob", role="reviewer", shadow_mode=True)
        with pytest.raises(workflow_settings.SettingsError, match="between 0 and 1"):
            workflow_settings.change(store, LEAD, actor="root", role="admin", second_review_share=1.5)
        before, after = workflow_settings.change(store, LEAD, actor="root", role="admin", shadow_mode=True)
        assert workflow_settings.differences(before, after) == {"shadow_mode": (False, True)}
        assert after.shadow_since is not None and after.salt
        _, again = workflow_settings.change(store, LEAD, actor="root", role="admin", second_review_share=0.2)
        assert (again.shadow_mode, again.shadow_since, again.salt) == (True, after.shadow_since, after.salt)
    finally:
        store.close()


# --- the store's rule -------------------------------------------------------------------------


def test_agreeing_second_review_keeps_both_and_decides(store: Store) -> None:
    b = tickets(store, "a1")
    first = b.decide("a1", 1, Action.APPROVE, "ai_correct", reviewer="alice")
    push(store, [first])
    assert ticket_row(store, "a1").status == AWAITING_SECOND_REVIEW
    second = b.decide("a1", 2, Action.APPROVE, "verified_manually", reviewer="bob")
    push(store, [second])
    assert ticket_row(store, "a1").status == "decided"
    assert statuses(store, first, second) == ["final", "final"]
    row = review_row(store, "a1")
    assert (row.first_reviewer, row.second_reviewer, row.agreed) == ("alice", "bob", True)


def test_disagreement_goes_to_escalation_and_a_manager_settles_it(store: Store) -> None:
    b = tickets(store, "d1")
    first = b.decide("d1", 1, Action.APPROVE, "ai_correct", reviewer="alice")
    second = b.decide("d1", 2, Action.REJECT, "wrong_segment", reviewer="bob")
    push(store, [first])
    push(store, [second])
    ticket = ticket_row(store, "d1")
    assert (ticket.status, ticket.queue) == ("escalated", "escalation")
    assert statuses(store, first, second) == ["final", "final"]  # both kept, neither a conflict
    assert review_row(store, "d1").agreed is False
    settled = b.decide("d1", 3, Action.REJECT, "wrong_segment", reviewer="erin", role=Role.ESCALATION_MANAGER)
    push(store, [settled])
    assert ticket_row(store, "d1").status == "decided"
    assert statuses(store, first, second, settled) == ["superseded", "superseded", "final"]


def test_second_reviews_in_one_batch_and_the_first_reviewers_correction(store: Store) -> None:
    b = tickets(store, "c1")
    first = b.decide("c1", 1, Action.APPROVE, "ai_correct", reviewer="alice")
    push(store, [first])
    corrected = b.decide("c1", 1.5, Action.REJECT, "stale_data", reviewer="alice")
    corrected = Decision(**{**vars(corrected), "supersedes": first.decision_id})
    second = b.decide("c1", 2, Action.REJECT, "stale_data", reviewer="bob")
    push(store, [corrected, second])
    row = review_row(store, "c1")
    assert (row.first_decision_id, row.first_action, row.agreed) == (corrected.decision_id, "reject", True)
    assert statuses(store, first, corrected, second) == ["superseded", "final", "final"]
    assert ticket_row(store, "c1").status == "decided"


def test_what_does_not_open_a_second_review(store: Store) -> None:
    b = tickets(store, "q1", "e1", "o1")
    workflow_settings.change(store, "ask_amount", actor="root", role="admin", second_review_share=0.0)
    push(store, [b.decide("q1", 1, Action.CLARIFY, "needs_more_info")])
    push(store, [b.decide("e1", 1, Action.REJECT, "policy_legal")])
    assert ticket_row(store, "q1").status == "awaiting_clarification"
    assert ticket_row(store, "e1").status == "escalated"
    workflow_settings.change(store, LEAD, actor="root", role="admin", second_review_share=0.0)
    one = b.decide("o1", 1, Action.APPROVE, "ai_correct", reviewer="alice")
    two = b.decide("o1", 2, Action.REJECT, "wrong_segment", reviewer="bob")
    push(store, [one])
    push(store, [two])
    assert ticket_row(store, "o1").status == "conflict"  # no second review asked: a plain conflict
    assert statuses(store, one, two) == [DecisionStatus.CONFLICT, DecisionStatus.CONFLICT]
    with store.engine.connect() as conn:
        assert conn.execute(select(REVIEWS)).all() == []


def test_the_report_counts_second_reviews_apart(store: Store) -> None:
    b = tickets(store, *(f"r{i}" for i in range(12)))
    rng = random.Random(2)
    firsts, seconds = [], []
    for i in range(12):
        firsts.append(b.decide(f"r{i}", 1, Action.APPROVE, "ai_correct", reviewer="alice"))
        action = Action.APPROVE if i < 9 else Action.REJECT
        reason = "ai_correct" if action == Action.APPROVE else rng.choice(("wrong_segment", "stale_data"))
        seconds.append(b.decide(f"r{i}", 2, action, reason, reviewer="bob"))
    push(store, firsts)
    push(store, seconds[:10])  # two still wait for their second reviewer
    report = build_report(store, now=NOW, role="admin")
    agreement = report["agreement"]
    assert (agreement["n"], agreement["agreed"], agreement["pending"]) == (10, 9, 2)
    # Alice always approved, bob 9 times in 10: p_o = 0.9 = p_e (1 · 0.9), no better than chance.
    assert agreement["kappa"] == 0.0
    assert report["reviewed"] == 12
    # Bob's blind decisions are not the tickets' own: first-pass and reasons count alice only.
    assert report["reason_codes"]["totals"] == {"ai_correct": 12}
    assert report["first_pass_accuracy"]["of"] == 9  # r9 escalated, r10-r11 still wait
    assert report["escalation_rate"]["count"] == 1
    people = {p["reviewer"]: p for p in report["reviewers"]}
    assert people["bob"]["agreed_with_peer"] == {"value": 0.9, "count": 9, "of": 10}
