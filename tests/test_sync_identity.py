"""Store identity (issue 3, test 6): a replica pointed at another store, and a store put back
from an older backup.

The backup is taken and put back the way an administrator should, through SQLite itself
(VACUUM INTO for the copy, the backup API to put it back), never as a raw copy of a live file.
"""

from __future__ import annotations

import collections
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from helpers import make_ticket, numbered
from sync_support import (
    Installation,
    audit_events,
    outbox_size,
    replica_push_states,
    replica_remote_decisions,
    replica_ticket_statuses,
    sqlite_restore,
    store_counter,
    store_decision_states,
    store_ticket_states,
)

from app.core.domain import Action, DecisionStatus, PushState, Role, TicketStatus
from app.core.replica import Replica
from app.core.store import Store, StoreError
from app.core.sync import StoreMismatch, StoreRestored, Syncer

TICKETS = [f"t-{n:02d}" for n in range(12)]


def vacuum_into(live: Path, copy: Path) -> None:
    with closing(sqlite3.connect(live)) as conn:
        conn.execute("VACUUM INTO ?", (str(copy),))


@pytest.fixture
def store_path(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "share" / "store.sqlite3"
    path.parent.mkdir()
    store = Store.initialize(f"sqlite:///{path}")
    store.ingest(numbered(make_ticket(external_id=e) for e in TICKETS))
    store.close()
    yield path


@pytest.fixture
def opened() -> Iterator[list[Installation]]:
    installations: list[Installation] = []
    yield installations
    for inst in installations:
        inst.close()


def install(opened: list[Installation], path: Path, folder: Path, reviewer: str) -> Installation:
    inst = Installation.open(f"sqlite:///{path}", folder / f"{reviewer}.sqlite3", reviewer)
    opened.append(inst)
    assert inst.sync().ok
    return inst


def assert_agrees_with_store(inst: Installation, store: Store) -> None:
    assert replica_ticket_statuses(inst.replica) == {
        e: (s[0], s[0], s[3]) for e, s in store_ticket_states(store).items()
    }
    assert replica_remote_decisions(inst.replica) == {
        d: s[1] for d, s in store_decision_states(store).items()
    }
    assert inst.replica.pull_cursor <= store_counter(store)


# --- another store ------------------------------------------------------------------------------


def test_a_replica_pointed_at_another_store_refuses_it_and_keeps_everything(
    store_path: Path, tmp_path: Path, opened: list[Installation]
) -> None:
    me = install(opened, store_path, tmp_path, "ann")
    waiting = me.decide("t-00")
    # Another store whose change counter is behind this replica's cursor: it must be reported
    # as another store, not mistaken for this one restored from a backup.
    other = Store.initialize(f"sqlite:///{tmp_path / 'other.sqlite3'}")
    other.ingest(numbered([make_ticket(external_id="t-00")]))
    try:
        assert store_counter(other) < me.replica.pull_cursor
        wrong = Syncer(me.replica, other, actor="ann", role=Role.REVIEWER)
        with pytest.raises(StoreMismatch, match="not the store this replica was made from"):
            wrong.check_identity()
        report = wrong.run_once()
        assert report.error and "not the store this replica was made from" in report.error
        assert (report.pushed, report.pulled, report.rebuilt) == (0, 0, False)
        assert store_decision_states(other) == {}
        assert audit_events(me.replica, "store_restore_detected") == []
        assert replica_push_states(me.replica) == {waiting.decision_id: PushState.PENDING}
        assert me.replica.pull_cursor == len(TICKETS)
        with pytest.raises(ValueError, match="belongs to store"):
            Replica.open(me.path, store_id=other.store_id)
        assert me.sync().pushed == 1  # its own store still takes it
    finally:
        other.close()


# --- a store restored from an older backup --------------------------------------------------------


def test_a_store_restored_from_an_older_backup_is_detected_and_nothing_is_lost(
    store_path: Path, tmp_path: Path, opened: list[Installation]
) -> None:
    url = f"sqlite:///{store_path}"
    ann = install(opened, store_path, tmp_path, "ann")
    ben = install(opened, store_path, tmp_path, "ben")
    before_backup = [ann.decide("t-00"), ann.decide("t-01", Action.REJECT, "wrong_segment")]
    assert ann.sync().pushed == 2

    backup = tmp_path / "backup.sqlite3"
    vacuum_into(store_path, backup)

    # After the backup: upstream sends new tickets and new content, reviewers keep deciding.
    upstream = Store.open(url)
    later_tickets = [
        make_ticket(external_id="t-new"),
        make_ticket(external_id="t-11", exception__summary="Now with a phone number"),
    ]
    upstream.ingest(numbered(later_tickets))
    assert ann.sync().ok and ben.sync().ok
    correction = ann.decide(
        "t-00",
        Action.CLARIFY,
        "needs_more_info",
        note="Which office?",
        supersedes=before_backup[0].decision_id,
    )
    after_backup = [ann.decide("t-02"), ann.decide("t-new"), ann.decide("t-11")]
    bens = [ben.decide("t-03"), ben.decide("t-04", Action.REJECT, "poor_timing")]
    assert ann.sync().pushed == 4 and ben.sync().pushed == 2
    to_be_corrected = ann.decide("t-05")
    assert ann.sync().pushed == 1
    # Decided and not yet sent when the store goes back in time, one of them a correction of a
    # decision the restored store will not have.
    unsent = [
        ann.decide("t-06"),
        ann.decide("t-05", Action.REJECT, "poor_timing", supersedes=to_be_corrected.decision_id),
    ]
    seen_before_restore = ann.replica.pull_cursor
    assert ann.replica.undo(unsent[0].decision_id, actor="ann", role=Role.REVIEWER) is True
    unsent[0] = ann.decide("t-06", Action.REJECT, "stale_data")

    # The store is put back from the backup; the pipeline replays what it sent since.
    upstream.close()
    sqlite_restore(backup, store_path)
    upstream = Store.open(url)
    try:
        assert store_counter(upstream) < seen_before_restore
        upstream.ingest(numbered(later_tickets))
        with pytest.raises(StoreRestored, match="restored from an older backup"):
            ann.syncer().check_identity()

        report = ann.sync()
        assert report.ok, report.error
        assert report.rebuilt
        assert report.refused == {}
        resent = [correction, *after_backup, to_be_corrected]
        # Sent again: everything pushed before (the restored store still has two of them, and
        # says so without duplicating them), and the two decisions that had never been sent.
        assert report.pushed == len(before_backup) + len(resent) + len(unsent)
        restores = audit_events(ann.replica, "store_restore_detected")
        assert len(restores) == 1

        report = ben.sync()
        assert report.ok and report.rebuilt and report.pushed == 2
        assert ann.sync().ok  # pulls what Ben re-sent

        decisions = store_decision_states(upstream)
        expected = [*before_backup, *resent, *unsent, *bens]
        assert sorted(decisions) == sorted(d.decision_id for d in expected), "lost or extra decisions"
        assert decisions[before_backup[0].decision_id][1] == DecisionStatus.SUPERSEDED
        assert decisions[correction.decision_id][1] == DecisionStatus.FINAL
        # The correction that was never sent, of a decision the restored store had lost: both
        # arrive (in whatever order), the corrected one superseded.
        assert decisions[to_be_corrected.decision_id][1] == DecisionStatus.SUPERSEDED
        assert decisions[unsent[1].decision_id][1] == DecisionStatus.FINAL
        assert {decisions[d.decision_id][1] for d in [*after_backup, *bens, unsent[0]]} == {
            DecisionStatus.FINAL
        }
        tickets = store_ticket_states(upstream)
        assert tickets["t-00"][0] == TicketStatus.AWAITING_CLARIFICATION
        assert tickets["t-05"][0] == TicketStatus.DECIDED
        assert tickets["t-11"][3] == 2  # the replayed new content

        for inst in (ann, ben):
            assert outbox_size(inst.replica) == 0
            assert set(replica_push_states(inst.replica).values()) <= {PushState.PUSHED, "withdrawn"}
            pushed = collections.Counter(audit_events(inst.replica, "decision_pushed"))
            assert max(pushed.values()) <= 2  # once before the restore, once after at most
            assert inst.replica.verify_audit().ok
            again = inst.sync()
            assert (again.ok, again.rebuilt, again.pushed) == (True, False, 0)
            assert_agrees_with_store(inst, upstream)
    finally:
        upstream.close()


def test_a_restore_is_detected_after_the_store_handed_out_more_numbers_than_the_replica_saw(
    store_path: Path, tmp_path: Path, opened: list[Installation]
) -> None:
    """Upstream ingests before anyone syncs, so the restored store's counter is past this
    replica's cursor: the decision the store accepted from us and lost still gives it away."""
    url = f"sqlite:///{store_path}"
    me = install(opened, store_path, tmp_path, "ann")
    backup = tmp_path / "backup.sqlite3"
    vacuum_into(store_path, backup)
    lost = me.decide("t-00")
    assert me.sync().pushed == 1
    sqlite_restore(backup, store_path)
    upstream = Store.open(url)
    try:
        upstream.ingest(numbered(make_ticket(external_id=f"busy-{n}") for n in range(10)))
        assert store_counter(upstream) > me.replica.pull_cursor
        report = me.sync()
        assert report.ok and report.rebuilt and report.pushed == 1
        assert lost.decision_id in store_decision_states(upstream)
        assert_agrees_with_store(me, upstream)
    finally:
        upstream.close()


def test_a_replica_that_only_reads_notices_a_restore_hidden_by_newer_changes(
    store_path: Path, tmp_path: Path, opened: list[Installation]
) -> None:
    url = f"sqlite:///{store_path}"
    backup = tmp_path / "backup.sqlite3"
    vacuum_into(store_path, backup)
    upstream = Store.open(url)
    upstream.ingest(numbered(make_ticket(external_id=f"gone-{n}") for n in range(4)))
    reader = install(opened, store_path, tmp_path, "rita")
    upstream.close()
    sqlite_restore(backup, store_path)
    upstream = Store.open(url)
    try:
        upstream.ingest(numbered(make_ticket(external_id=f"new-{n}") for n in range(8)))
        assert store_counter(upstream) > reader.replica.pull_cursor
        # The witness tickets give it away (app/core/store_witness.py): gone-0's id now holds
        # new-0, at a change number no higher than the one it was pulled at.
        report = reader.sync()
        assert report.ok and report.rebuilt, report.describe()
        assert len(audit_events(reader.replica, "store_restore_detected")) == 1
        assert_agrees_with_store(reader, upstream)
    finally:
        upstream.close()


def test_after_a_rebuild_a_decision_still_waiting_keeps_its_ticket_decided(
    store_path: Path, tmp_path: Path, opened: list[Installation]
) -> None:
    """The rebuild forgets every ticket copy. If the re-push cannot go out at once (the store
    drops the connection, then back-off), the fresh pull must not show the decided tickets as
    open again, or the reviewer decides them a second time."""
    me = install(opened, store_path, tmp_path, "ann")
    backup = tmp_path / "backup.sqlite3"
    vacuum_into(store_path, backup)
    lost = me.decide("t-00", Action.REJECT, "policy_legal")
    assert me.sync().pushed == 1
    waiting = me.decide("t-01", Action.CLARIFY, "needs_more_info", note="Which office?")
    sqlite_restore(backup, store_path)

    syncer = me.syncer()
    with pytest.raises(StoreRestored):
        syncer.check_identity()
    me.replica.rebuild_after_restore("restored (test)", actor="ann", role=Role.REVIEWER)
    me.store.offline = True
    with pytest.raises(StoreError):
        syncer.push()
    me.store.offline = False
    report = me.sync()  # the waiting decisions back off; the pull goes ahead
    assert report.ok and report.pushed == 0 and report.pulled == len(TICKETS)
    assert me.replica.ticket(me.tid("t-00")).status == TicketStatus.ESCALATED  # type: ignore[union-attr]
    assert me.replica.ticket(me.tid("t-01")).status == TicketStatus.AWAITING_CLARIFICATION  # type: ignore[union-attr]
    assert me.replica.ticket(me.tid("t-02")).status == TicketStatus.OPEN  # type: ignore[union-attr]
    me.replica.outbox.retry_now()
    assert me.sync().pushed == 2
    assert set(store_decision_states(me.store)) == {lost.decision_id, waiting.decision_id}
