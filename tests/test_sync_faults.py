"""Faults between a replica and its store (issue 3, tests 2, 7 and 8), on SQLite and Postgres.

Connections dropped at every statement of a push and of a pull, answers lost after the store
committed, a real Postgres restart in the middle of a push loop, a read-only server; decisions
the store refuses for good; corrections and the undo guard. After each: nothing lost, nothing
twice, and each installation's decisions reach the store in the order they were decided.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from helpers import BACKENDS, backend_url, empty_pg_database, make_ticket, numbered, pg_database
from psycopg import sql
from sqlalchemy import select, update
from sqlalchemy.engine import make_url
from sync_support import (
    TORTURE,
    Crash,
    Installation,
    StatementFault,
    audit_events,
    decided_order,
    delete_ticket,
    drain,
    order_violations,
    outbox_size,
    pg_admin_dsn,
    replica_push_states,
    replica_ticket_statuses,
    store_counter,
    store_decision_rows,
    store_decision_states,
    store_ticket_states,
)

from app.core.domain import Action, DecisionStatus, PushState, Role, TicketStatus
from app.core.replica import TICKETS, DecisionError
from app.core.store import Store, StoreUnavailable
from app.core.store_models import StoreReasonCode

REASONS = StoreReasonCode.__table__

pg_database = pytest.fixture(scope="module")(pg_database)


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return backend_url(request, tmp_path)


def ticket_ids(count: int, prefix: str = "t") -> list[str]:
    return [f"{prefix}-{n:04d}" for n in range(count)]


def new_store(url: str, external_ids: list[str]) -> Store:
    store = Store.initialize(url)
    store.ingest(numbered(make_ticket(external_id=e) for e in external_ids))
    return store


@pytest.fixture
def installations() -> Iterator[list[Installation]]:
    opened: list[Installation] = []
    yield opened
    for inst in opened:
        inst.close()


def open_installation(
    opened: list[Installation], url: str, tmp_path: Path, reviewer: str, **kw: Any
) -> Installation:
    inst = Installation.open(url, tmp_path / f"{reviewer}.sqlite3", reviewer, **kw)
    opened.append(inst)
    report = inst.sync()
    assert report.ok, report.error
    return inst


def admin_dsn_for(url: str) -> str | None:
    return pg_admin_dsn(url) if url.startswith("postgresql") else None


def assert_exactly_once_in_order(store: Store, insts: list[Installation], tickets: int) -> None:
    """Every decision made (and not withdrawn) is in the store once, in each client's order."""
    expected = {d for inst in insts for d, s in replica_push_states(inst.replica).items() if s != "withdrawn"}
    rows = store_decision_rows(store)
    stored = [r.decision_id for r in rows]
    assert len(stored) == len(set(stored))
    assert set(stored) == expected, (
        f"lost {len(expected - set(stored))}, unexpected {len(set(stored) - expected)}"
    )
    # One decision per ticket here: each takes two change numbers (itself, its ticket) if
    # applied exactly once; a second application under any id would take more.
    assert store_counter(store) == tickets + 2 * len(stored)
    orders = {inst.replica.client_id: decided_order(inst.replica) for inst in insts}
    assert order_violations(store, orders) == []
    for inst in insts:
        assert outbox_size(inst.replica) == 0
        pushed = collections.Counter(audit_events(inst.replica, "decision_pushed"))
        assert all(n == 1 for n in pushed.values()), "a decision was recorded as pushed twice"
        mine = {d for d, s in replica_push_states(inst.replica).items() if s == PushState.PUSHED}
        assert set(pushed) == mine
        assert inst.replica.verify_audit().ok


# --- connections dropped ------------------------------------------------------------------------


def test_a_connection_dropped_at_any_statement_of_a_cycle_loses_and_duplicates_nothing(
    store_url: str, tmp_path: Path, installations: list[Installation]
) -> None:
    positions = range(1, 61 if TORTURE else 31)
    pool = iter(ticket_ids(3 * len(positions)))
    store = new_store(store_url, ticket_ids(3 * len(positions)))
    try:
        me = open_installation(installations, store_url, tmp_path, "ann")
        fault = StatementFault(me.store.engine, admin_dsn_for(store_url))
        errors = 0
        for k in positions:
            me.decide(next(pool))
            me.decide(next(pool))
            me.replica.outbox.retry_now()  # F5: everything waiting goes, one decision a batch
            fault.arm(k)  # the k-th statement of this cycle finds the connection gone
            report = me.sync(push_batch=1)
            fault.disarm()
            if report.error:
                errors += 1
                assert "cannot reach the store" in report.error
            # A decision made meanwhile, and a cycle straight away (as the timer does): the
            # batch that failed is backing off, and must not be overtaken.
            me.decide(next(pool))
            me.sync()
        assert fault.fired == errors >= 20
        drain(me.syncer())
        assert_exactly_once_in_order(store, [me], 3 * len(positions))
        assert set(replica_ticket_statuses(me.replica).values()) == {
            (TicketStatus.DECIDED, TicketStatus.DECIDED, 1)
        }
    finally:
        store.close()


def test_an_answer_lost_after_the_store_committed_is_retried_without_duplicates(
    store_url: str, tmp_path: Path, installations: list[Installation]
) -> None:
    store = new_store(store_url, ticket_ids(8))
    try:
        me = open_installation(installations, store_url, tmp_path, "ann")
        decided = [me.decide(e) for e in ticket_ids(5)]
        me.store.lose_answer_after_commits = 1
        report = me.sync(push_batch=2)
        assert report.error and "answer was lost" in report.error
        assert len(store_decision_rows(store)) == 2  # committed, though the client never heard
        assert outbox_size(me.replica) == 5
        # The store may have it: undo is no longer possible, only a correction.
        assert me.replica.undo(decided[0].decision_id, actor="ann", role=me.role) is False
        me.decide("t-0005")
        me.sync()  # inside the back-off: nothing may overtake the batch that failed
        drain(me.syncer())
        assert_exactly_once_in_order(store, [me], 8)
    finally:
        store.close()


def test_a_ticket_pulled_while_its_decision_was_in_limbo_ends_with_the_stores_status(
    store_url: str, tmp_path: Path, installations: list[Installation]
) -> None:
    """Ann's decision is committed but her outbox never heard (crash); she pulls before pushing
    again, Ben decides the same ticket (a conflict), she pulls again; then her push is answered
    "already there". No newer version of the ticket comes after that: it must not stay showing
    her own "decided" instead of the store's conflict."""
    store = new_store(store_url, ticket_ids(2))
    try:
        ann = open_installation(installations, store_url, tmp_path, "ann")
        ben = open_installation(installations, store_url, tmp_path, "ben")
        mine = ann.decide("t-0000")
        ann.store.crash_after_commits = 1
        with pytest.raises(Crash):
            ann.sync()
        ann.crash()
        ann.syncer().pull()  # a pull-only pass: her decision is still waiting here
        ben.decide("t-0000", Action.REJECT, "wrong_segment")
        assert ben.sync().ok
        ann.syncer().pull()
        assert ann.replica.ticket(ann.tid("t-0000")).status == TicketStatus.DECIDED  # type: ignore[union-attr]
        report = ann.sync()
        assert report.ok and report.pushed == 1 and report.pulled == 0
        assert replica_push_states(ann.replica)[mine.decision_id] == PushState.PUSHED
        assert replica_ticket_statuses(ann.replica)["t-0000"] == (
            TicketStatus.CONFLICT,
            TicketStatus.CONFLICT,
            1,
        )
    finally:
        store.close()


def snapshot_tickets(inst: Installation) -> tuple[list[Any], int]:
    with inst.replica.engine.connect() as conn:
        rows = conn.execute(select(TICKETS).order_by(TICKETS.c.id)).all()
    return rows, inst.replica.pull_cursor


def test_a_connection_dropped_mid_pull_leaves_the_replica_at_the_old_state_or_the_new(
    store_url: str, tmp_path: Path, installations: list[Installation]
) -> None:
    store = new_store(store_url, ticket_ids(10))
    try:
        me = open_installation(installations, store_url, tmp_path, "ann")
        ben = open_installation(installations, store_url, tmp_path, "ben")
        fault = StatementFault(me.store.engine, admin_dsn_for(store_url))
        halfway = 0
        for k in range(1, 25):  # every statement of a cycle, with room for a few more
            # Upstream: new tickets and new content for an open one; another reviewer decides.
            fresh = [make_ticket(external_id=f"new-{k}-{n}") for n in range(6)]
            changed = make_ticket(external_id="t-0009", exception__summary=f"Still unclear, take {k}")
            store.ingest(numbered([*fresh, changed]))
            ben.sync()
            ben.decide(f"new-{k}-0")
            assert ben.sync().ok
            before = snapshot_tickets(me)
            fault.arm(k)
            report = me.sync(pull_page=2)  # four pages of tickets, applied all at once
            fault.disarm()
            during = snapshot_tickets(me)
            assert me.sync(pull_page=2).ok
            after = snapshot_tickets(me)
            assert after != before
            assert during in (before, after), f"a pull cut at statement {k} left the replica half-updated"
            halfway += report.error is not None and during == after
            assert replica_ticket_statuses(me.replica) == {
                e: (s[0], s[0], s[3]) for e, s in store_ticket_states(store).items()
            }
        assert fault.fired >= 8
        assert halfway >= 1  # some cuts landed after the tickets, in the decisions' pull
    finally:
        store.close()


@pytest.mark.postgres
def test_a_postgres_restart_during_a_push_loop_loses_nothing_and_keeps_each_clients_order(
    pg_server: Any, pg_database: str, tmp_path: Path, installations: list[Installation]
) -> None:
    empty_pg_database(pg_database)
    per_client = 200 if TORTURE else 80
    names = ["ann", "ben", "cat"]
    store = new_store(pg_database, [f"{n}-{i:03d}" for n in names for i in range(per_client)])
    clients = [open_installation(installations, pg_database, tmp_path, n) for n in names]
    pushing = [threading.Event() for _ in clients]
    restarted = threading.Event()
    errors = [0 for _ in clients]
    failures: list[BaseException] = []

    def work(i: int, inst: Installation) -> None:
        try:
            pushed = 0
            deadline = time.monotonic() + 120
            for n in range(per_client):
                inst.decide(f"{inst.reviewer}-{n:03d}")
                report = inst.sync(push_batch=3)  # no retry_now: back-off applies, as on a timer
                pushed += report.pushed
                errors[i] += report.error is not None
                if pushed >= 10:
                    pushing[i].set()
                # Halfway, keep cycling until the server is back, then decide the rest.
                while n == per_client // 2 and not restarted.wait(0.01) and time.monotonic() < deadline:
                    errors[i] += inst.sync(push_batch=3).error is not None
            drain(inst.syncer(push_batch=3), rounds=200)
        except BaseException as error:  # re-raised by the main thread
            failures.append(error)
            pushing[i].set()

    threads = [threading.Thread(target=work, args=(i, c)) for i, c in enumerate(clients)]
    for thread in threads:
        thread.start()
    try:
        for event in pushing:
            assert event.wait(timeout=120), "the clients never got going"
        assert not failures, failures
        pg_server.restart()  # pushes are in flight from three clients while it goes down
    finally:
        restarted.set()
        for thread in threads:
            thread.join(timeout=300)
    assert not failures, failures
    assert sum(errors) >= 1, "the restart went unnoticed: no push was in flight"
    try:
        assert_exactly_once_in_order(store, clients, len(names) * per_client)
        assert {s for _, s, _, _ in store_decision_states(store).values()} == {DecisionStatus.FINAL}
    finally:
        store.close()


def _alter_database(url: str, read_only: bool) -> None:
    name = make_url(url).database
    # From the maintenance database: a read-only database cannot take ALTER DATABASE itself.
    with psycopg.connect(pg_admin_dsn(url), dbname="postgres", autocommit=True) as admin:
        setting = "SET default_transaction_read_only = on" if read_only else "RESET ALL"
        admin.execute(sql.SQL("ALTER DATABASE {} ").format(sql.Identifier(name)) + sql.SQL(setting))
        # Sessions pick the setting up when they connect: end the ones open now.
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))


@pytest.mark.postgres
def test_a_read_only_server_keeps_decisions_waiting_instead_of_refusing_them(
    pg_database: str, tmp_path: Path, installations: list[Installation]
) -> None:
    """After a failover to a standby the store takes no writes for a while: that is an outage
    (try again), not the store refusing these decisions for good."""
    empty_pg_database(pg_database)
    store = new_store(pg_database, ticket_ids(4))
    try:
        me = open_installation(installations, pg_database, tmp_path, "ann")
        decided = [me.decide(e) for e in ticket_ids(3)]
        _alter_database(pg_database, read_only=True)
        try:
            report = me.sync()
            assert report.error and "cannot reach the store" in report.error, report.describe()
            assert report.refused == {}
            assert set(replica_push_states(me.replica).values()) == {PushState.PENDING}
            assert me.replica.outbox.status().rejected == 0
        finally:
            _alter_database(pg_database, read_only=False)
        drain(me.syncer())
        assert [r.decision_id for r in store_decision_rows(store)] == [d.decision_id for d in decided]
    finally:
        store.close()


# --- refused for good ---------------------------------------------------------------------------


def test_decisions_refused_for_good_are_set_aside_and_do_not_block_the_queue(
    store_url: str, tmp_path: Path, installations: list[Installation]
) -> None:
    on_postgres = store_url.startswith("postgresql")
    store = new_store(store_url, ticket_ids(8))
    try:
        me = open_installation(installations, store_url, tmp_path, "ann")
        first = me.decide("t-0000")
        too_long = None
        if on_postgres:  # SQLite does not enforce column widths; Postgres does
            too_long = me.replica.record_decision(
                me.tid("t-0001"), Action.APPROVE, "ai_correct", reviewer="r" * 250, role=me.role
            )
        retired = me.decide("t-0002", Action.REJECT, "stale_data")
        gone = me.decide("t-0003")
        last = me.decide("t-0004", Action.CLARIFY, "needs_more_info", note="Which office?")
        with store.engine.begin() as conn:
            conn.execute(update(REASONS).where(REASONS.c.code == "stale_data").values(active=False))
        delete_ticket(store, "t-0003")

        report = me.sync(push_batch=10)  # all in one batch: the bad ones must be found in it
        assert report.ok, report.error
        refused = {retired.decision_id, gone.decision_id} | ({too_long.decision_id} if too_long else set())
        assert set(report.refused) == refused
        assert "'stale_data' is retired or unknown" in report.refused[retired.decision_id]
        assert "t-0003 is not in the store" in report.refused[gone.decision_id]
        if too_long is not None:
            assert "value too long" in report.refused[too_long.decision_id]
        assert [r.decision_id for r in store_decision_rows(store)] == [first.decision_id, last.decision_id]
        states = replica_push_states(me.replica)
        assert {d for d, s in states.items() if s == PushState.REJECTED} == refused
        assert dict((d.decision_id, why) for d, why in me.replica.outbox.refused()) == report.refused
        assert set(audit_events(me.replica, "decision_rejected_by_store")) == refused
        assert outbox_size(me.replica) == 0
        # Their tickets are back in the queue, to be decided again.
        assert me.replica.ticket(me.tid("t-0002")).status == TicketStatus.OPEN  # type: ignore[union-attr]
        again = me.decide("t-0002", Action.REJECT, "wrong_segment")
        following = me.decide("t-0005")
        assert me.sync().pushed == 2
        assert [r.decision_id for r in store_decision_rows(store)][-2:] == [
            again.decision_id,
            following.decision_id,
        ]
    finally:
        store.close()


# --- corrections and undo -----------------------------------------------------------------------


def test_a_correction_supersedes_a_pushed_decision_and_the_ticket_follows_it(
    store_url: str, tmp_path: Path, installations: list[Installation]
) -> None:
    store = new_store(store_url, ticket_ids(3))
    try:
        me = open_installation(installations, store_url, tmp_path, "ann")
        first = me.decide("t-0000")
        with pytest.raises(DecisionError, match="undo it instead"):
            me.decide("t-0000", Action.REJECT, "wrong_segment", supersedes=first.decision_id)
        assert me.sync().pushed == 1
        assert me.replica.undo(first.decision_id, actor="ann", role=me.role) is False
        correction = me.decide(
            "t-0000", Action.CLARIFY, "needs_more_info", note="Which office?", supersedes=first.decision_id
        )
        assert me.replica.ticket(me.tid("t-0000")).status == TicketStatus.AWAITING_CLARIFICATION  # type: ignore[union-attr]
        assert me.sync().pushed == 1
        assert store_decision_states(store) == {
            first.decision_id: ("t-0000", DecisionStatus.SUPERSEDED, 1, None),
            correction.decision_id: ("t-0000", DecisionStatus.FINAL, 1, first.decision_id),
        }
        assert store_ticket_states(store)["t-0000"][0] == TicketStatus.AWAITING_CLARIFICATION
        view = me.replica.ticket(me.tid("t-0000"))
        assert view is not None and view.status == TicketStatus.AWAITING_CLARIFICATION
        assert [(d.decision_id, d.status) for d in view.decisions] == [
            (first.decision_id, DecisionStatus.SUPERSEDED),
            (correction.decision_id, DecisionStatus.FINAL),
        ]
        # Pushing the correction again (a retry) changes nothing.
        before = store_decision_rows(store)
        assert me.store.push_decisions([correction]).accepted == [correction.decision_id]
        assert store_decision_rows(store) == before
    finally:
        store.close()


def corrections_meet_a_rival(url: str, tmp_path: Path, rival_first: bool) -> dict[str, Any]:
    """Ann decides, pushes and corrects; Ben decided the same ticket on his own. Ben's push comes
    before Ann's correction or after it."""
    store = new_store(url, ticket_ids(2))
    opened: list[Installation] = []
    try:
        ann = open_installation(opened, url, tmp_path, f"ann-{rival_first}")
        ben = open_installation(opened, url, tmp_path, f"ben-{rival_first}")
        first = ann.decide("t-0000", decision_id="00000000-0000-4000-8000-00000000000a")
        rival = ben.decide(
            "t-0000", Action.REJECT, "wrong_segment", decision_id="00000000-0000-4000-8000-00000000000b"
        )
        assert ann.sync().ok
        if rival_first:
            assert ben.sync().ok
        correction = ann.decide(
            "t-0000",
            Action.APPROVE,
            "verified_manually",
            supersedes=first.decision_id,
            decision_id="00000000-0000-4000-8000-00000000000c",
        )
        assert ann.sync().ok
        assert ben.sync().ok
        assert ann.sync().ok
        del rival, correction
        return {
            "ticket": store_ticket_states(store)["t-0000"],
            "decisions": store_decision_states(store),
            "ann": replica_ticket_statuses(ann.replica)["t-0000"],
            "ben": replica_ticket_statuses(ben.replica)["t-0000"],
        }
    finally:
        for inst in opened:
            inst.close()
        store.close()


def test_a_correction_does_not_settle_a_conflict_with_another_reviewer(
    store_url: str, tmp_path: Path
) -> None:
    """Two reviewers decided one revision: that is a conflict for an escalation manager, whether
    one of them corrected their decision before or after the other's arrived."""
    after = corrections_meet_a_rival(store_url, tmp_path / "a", rival_first=False)
    if store_url.startswith("postgresql"):
        empty_pg_database(store_url)
    else:
        Path(store_url.removeprefix("sqlite:///")).unlink()
    before = corrections_meet_a_rival(store_url, tmp_path / "b", rival_first=True)
    assert before == after
    assert after["decisions"] == {
        "00000000-0000-4000-8000-00000000000a": ("t-0000", DecisionStatus.SUPERSEDED, 1, None),
        "00000000-0000-4000-8000-00000000000b": ("t-0000", DecisionStatus.CONFLICT, 1, None),
        "00000000-0000-4000-8000-00000000000c": (
            "t-0000",
            DecisionStatus.CONFLICT,
            1,
            "00000000-0000-4000-8000-00000000000a",
        ),
    }
    assert after["ticket"][0] == TicketStatus.CONFLICT
    assert after["ann"] == after["ben"] == (TicketStatus.CONFLICT, TicketStatus.CONFLICT, 1)


def escalate_then_settle(url: str, folder: Path, push_batch: int) -> dict[str, Any]:
    """An escalation manager, offline, escalates a ticket and then makes the final call on it."""
    store = new_store(url, ticket_ids(2))
    opened: list[Installation] = []
    try:
        boss = open_installation(opened, url, folder, f"boss-{push_batch}", role=Role.ESCALATION_MANAGER)
        boss.decide(
            "t-0000", Action.REJECT, "policy_legal", decision_id="00000000-0000-4000-8000-0000000000e1"
        )
        boss.decide(
            "t-0000", Action.APPROVE, "verified_manually", decision_id="00000000-0000-4000-8000-0000000000e2"
        )
        assert boss.sync(push_batch=push_batch).pushed == 2
        return {"ticket": store_ticket_states(store)["t-0000"], "decisions": store_decision_states(store)}
    finally:
        for inst in opened:
            inst.close()
        store.close()


def test_how_decisions_are_batched_does_not_change_what_the_store_makes_of_them(
    store_url: str, tmp_path: Path
) -> None:
    one_by_one = escalate_then_settle(store_url, tmp_path / "a", push_batch=1)
    if store_url.startswith("postgresql"):
        empty_pg_database(store_url)
    else:
        Path(store_url.removeprefix("sqlite:///")).unlink()
    together = escalate_then_settle(store_url, tmp_path / "b", push_batch=500)
    assert together == one_by_one
    assert one_by_one["decisions"] == {
        "00000000-0000-4000-8000-0000000000e1": ("t-0000", DecisionStatus.SUPERSEDED, 1, None),
        "00000000-0000-4000-8000-0000000000e2": ("t-0000", DecisionStatus.FINAL, 1, None),
    }
    assert one_by_one["ticket"][0] == TicketStatus.DECIDED


def test_undo_is_refused_once_a_push_was_attempted(
    store_url: str, tmp_path: Path, installations: list[Installation]
) -> None:
    store = new_store(store_url, ticket_ids(6))
    try:
        me = open_installation(installations, store_url, tmp_path, "ann")
        role = me.role
        # Never offered to the store: undo withdraws it, and it never arrives.
        untouched = me.decide("t-0000")
        assert me.replica.undo(untouched.decision_id, actor="ann", role=role) is True
        assert me.replica.ticket(me.tid("t-0000")).status == TicketStatus.OPEN  # type: ignore[union-attr]

        # Offered while the store was unreachable: it might have arrived, so no undo.
        offline = me.decide("t-0001")
        me.store.offline = True
        with pytest.raises(StoreUnavailable):
            me.syncer().push()
        me.store.offline = False
        assert me.replica.undo(offline.decision_id, actor="ann", role=role) is False

        # Taken for a push, then the process died before hearing back.
        in_flight = me.decide("t-0002")
        me.replica.outbox.retry_now()
        assert [d.decision_id for d in me.replica.outbox.take_for_push(10)] == [
            offline.decision_id,
            in_flight.decision_id,
        ]
        me.crash()
        assert me.replica.undo(in_flight.decision_id, actor="ann", role=role) is False

        # The store committed, the process died before the outbox heard of it.
        committed = me.decide("t-0003")
        me.replica.outbox.retry_now()
        me.store.crash_after_commits = 1
        with pytest.raises(Crash):
            me.sync()
        me.crash()
        assert me.replica.undo(committed.decision_id, actor="ann", role=role) is False

        drain(me.syncer())
        assert me.replica.undo(committed.decision_id, actor="ann", role=role) is False
        assert_exactly_once_in_order(store, [me], 6)
        assert untouched.decision_id not in store_decision_states(store)
        assert replica_push_states(me.replica)[untouched.decision_id] == "withdrawn"
    finally:
        store.close()
