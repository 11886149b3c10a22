"""The circuit breaker on generated decision histories: it trips exactly when a workflow's
rejection rate reaches the threshold with enough decisions counted, writes the pause pipelines
read, stays idempotent, and re-arms after an admin resumes."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

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
from sqlalchemy import select, text

from app.core import audit, circuit_breaker, policy, policy_store
from app.core.circuit_breaker import ControlError, Trip
from app.core.domain import Action, DecisionStatus, Role
from app.core.policy import BreakerSettings, Policy
from app.core.policy_store import NotAllowed
from app.core.replica import Replica
from app.core.store import Store, StoreRefused

pg_database = pytest.fixture(scope="module")(pg_database)

WORKFLOW = "lead_qualification"
START = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
SMALL = BreakerSettings(threshold=0.05, window_hours=48, min_sample=20)


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    store = Store.initialize(backend_url(request, tmp_path))
    yield store
    store.close()


def use_settings(store: Store, settings: BreakerSettings, workflow: str = WORKFLOW) -> None:
    current = policy_store.load_policy(store, workflow)
    policy_store.save_policy(
        store,
        workflow,
        Policy(policy.DEFAULT_RULES, breaker=settings),
        expected_version=current.own_version,
        actor="ada",
        role=Role.ADMIN,
    )


class History:
    """Decisions pushed into a real store, one ticket each, at chosen times."""

    def __init__(self, store: Store, workflow: str = WORKFLOW) -> None:
        self.store = store
        self.workflow = workflow
        self.count = 0

    def prepare(self, count: int) -> None:
        """Ingest the next `count` tickets now, in one go (a long history's speed-up)."""
        self.ready = self._tickets(count)
        self.store.ingest(numbered(self.ready))

    def _tickets(self, count: int) -> list[dict[str, object]]:
        tickets = [
            make_ticket(external_id=f"{self.workflow}-{self.count + n}", workflow=self.workflow)
            for n in range(count)
        ]
        self.count += count
        return tickets

    def add(self, actions: Sequence[Action], at: datetime, **overrides: object) -> None:
        if len(getattr(self, "ready", [])) >= len(actions):
            tickets, self.ready = self.ready[: len(actions)], self.ready[len(actions) :]
        else:
            tickets = self._tickets(len(actions))
            self.store.ingest(numbered(tickets))
        reasons = {
            Action.APPROVE: "ai_correct",
            Action.REJECT: "stale_data",
            Action.CLARIFY: "needs_more_info",
        }
        outcome = self.store.push_decisions(
            [
                make_decision(t, action, reasons[action], decided_at=at, **overrides)  # type: ignore[arg-type]
                for t, action in zip(tickets, actions, strict=True)
            ]
        )
        assert not outcome.refused


def first_trip(actions: Sequence[Action], settings: BreakerSettings) -> int | None:
    """The oracle: after which decision (1-based) the rate first reaches the threshold with at
    least min_sample decisions counted (all inside one window here)."""
    rejected = 0
    for n, action in enumerate(actions, start=1):
        rejected += action == Action.REJECT
        if n >= settings.min_sample and rejected / n >= settings.threshold:
            return n
    return None


def pipeline_reads(store: Store, workflow: str = WORKFLOW) -> bool | None:
    """What an upstream pipeline sees, in plain SQL."""
    with store.engine.connect() as conn:
        value = conn.execute(
            text("SELECT paused FROM automation_controls WHERE workflow = :w"), {"w": workflow}
        ).scalar_one_or_none()
    return None if value is None else bool(value)


def test_it_trips_exactly_when_the_rate_reaches_the_threshold_with_enough_decisions(store: Store) -> None:
    settings = BreakerSettings(threshold=0.06, window_hours=48, min_sample=20)
    found: dict[int, int | None] = {}
    for seed in range(1, 7):
        workflow = f"generated_{seed}"
        use_settings(store, settings, workflow)
        rng = random.Random(seed)
        # One rejection among the first five (a rate far above the threshold, but before the
        # minimum sample), 1 in 20 at the minimum (below 6 %), then rejections at random: the
        # rate crosses the threshold at a different point in each history, or never.
        actions = [Action.APPROVE] * 20 + [
            Action.REJECT if rng.random() < 0.05 else Action.APPROVE for _ in range(50)
        ]
        actions[rng.randrange(0, 5)] = Action.REJECT
        history = History(store, workflow)
        history.prepare(len(actions))
        tripped_at = None
        for n, action in enumerate(actions, start=1):
            at = START + timedelta(minutes=n)
            history.add([action], at)
            trips = [t for t in circuit_breaker.evaluate(store, at) if t.workflow == workflow]
            if trips:
                assert tripped_at is None, "a second trip for a paused workflow"
                tripped_at = n
                (trip,) = trips
                rejected = actions[:n].count(Action.REJECT)
                assert (trip.rejected, trip.sample_size, trip.rate) == (rejected, n, rejected / n)
                assert (trip.threshold, trip.window_hours) == (0.06, 48)
            assert pipeline_reads(store, workflow) == (True if tripped_at else None)
        assert tripped_at == first_trip(actions, settings), f"seed {seed}"
        found[seed] = tripped_at
    assert None in found.values() and len(set(found.values())) >= 4, found  # they really differ


def test_boundaries_minimum_sample_and_threshold(store: Store) -> None:
    use_settings(store, SMALL)
    history = History(store)
    at = START
    history.add([Action.REJECT] * 3 + [Action.APPROVE] * 16, at)  # 19 decisions, 16 % rejected
    assert circuit_breaker.evaluate(store, at) == []  # one short of the minimum sample
    history.add([Action.APPROVE], at)
    (trip,) = circuit_breaker.evaluate(store, at)  # 20 decisions: 15 %
    assert (trip.rejected, trip.sample_size) == (3, 20)

    other = History(store, "ask_amount")
    use_settings(store, BreakerSettings(threshold=0.05, window_hours=48, min_sample=20), "ask_amount")
    other.add([Action.REJECT] + [Action.APPROVE] * 20, at)  # 1 in 21: 4.76 %
    assert circuit_breaker.evaluate(store, at) == []
    other.add([Action.APPROVE] * 19, at)  # 1 in 40: 2.5 %
    other.add([Action.REJECT], at)  # 2 in 41: 4.88 %
    assert circuit_breaker.evaluate(store, at) == []
    other.add([Action.APPROVE] * 18 + [Action.REJECT], at)  # 3 in 60: exactly 5 % — reached
    assert [t.workflow for t in circuit_breaker.evaluate(store, at)] == ["ask_amount"]


def test_only_the_window_and_standing_verdicts_count(store: Store) -> None:
    use_settings(store, SMALL)
    history = History(store)
    now = START + timedelta(days=10)
    history.add([Action.REJECT] * 10, now - timedelta(hours=49))  # outside the 48 h window
    history.add([Action.REJECT] * 5, now + timedelta(minutes=1))  # after `now`: not yet
    history.add([Action.CLARIFY] * 10, now - timedelta(hours=1))  # no verdict on the AI
    history.add([Action.REJECT] * 5, now - timedelta(hours=1), status=DecisionStatus.SUPERSEDED)  # gave way
    history.add([Action.APPROVE] * 20, now - timedelta(hours=47))
    assert circuit_breaker.evaluate(store, now) == []
    assert circuit_breaker.measure(store, WORKFLOW, now).sample_size == 20
    history.add([Action.REJECT] * 2, now - timedelta(hours=2))
    (trip,) = circuit_breaker.evaluate(store, now)
    assert (trip.rejected, trip.sample_size) == (2, 22)


def test_the_defaults_need_fifty_decisions_and_five_percent(store: Store) -> None:
    history = History(store)
    history.add([Action.REJECT] * 2 + [Action.APPROVE] * 47, START)  # 49: too few
    assert circuit_breaker.evaluate(store, START) == []
    history.add([Action.REJECT], START)  # 3 in 50 = 6 %
    (trip,) = circuit_breaker.evaluate(store, START)
    assert (trip.threshold, trip.window_hours, trip.sample_size) == (0.05, 48, 50)


def test_the_control_row_carries_the_evidence_and_evaluating_again_changes_nothing(store: Store) -> None:
    use_settings(store, SMALL)
    History(store).add([Action.REJECT] * 2 + [Action.APPROVE] * 18, START)
    (trip,) = circuit_breaker.evaluate(store, START)
    assert circuit_breaker.evaluate(store, START) == []
    assert circuit_breaker.evaluate(store, START + timedelta(hours=1)) == []
    (control,) = circuit_breaker.controls(store)
    assert control.paused and control.source == "breaker" and control.set_by == "circuit breaker"
    assert (control.rate, control.sample_size, control.window_hours) == (0.1, 20, 48)
    assert control.set_at == START
    assert control.reason == trip.describe()
    assert "2 of 20 AI recommendations rejected (10.0%)" in control.reason
    assert [c.workflow for c in circuit_breaker.paused(store)] == [WORKFLOW]


def test_resume_clears_the_pause_and_re_arms_on_new_decisions(store: Store) -> None:
    use_settings(store, SMALL)
    history = History(store)
    history.add([Action.REJECT] * 2 + [Action.APPROVE] * 18, START)
    assert circuit_breaker.evaluate(store, START)
    resumed_at = START + timedelta(hours=1)
    control = circuit_breaker.resume(
        store, WORKFLOW, "model 2026.11.3 rolled back", actor="ada", role=Role.ADMIN, now=resumed_at
    )
    assert not control.paused and control.source == "manual"
    assert pipeline_reads(store) is False
    # The old rejections are still inside 48 h, but they led to the pause already.
    assert circuit_breaker.evaluate(store, resumed_at + timedelta(minutes=5)) == []
    later = resumed_at + timedelta(minutes=10)
    history.add([Action.APPROVE] * 19, later)
    assert circuit_breaker.evaluate(store, later) == []
    history.add([Action.REJECT], later)
    (trip,) = circuit_breaker.evaluate(store, later)
    assert (trip.rejected, trip.sample_size) == (1, 20)
    assert pipeline_reads(store) is True


def automation_entries(replica: Replica) -> list[Any]:
    """The pause / resume entries of a replica's audit chain, in order."""
    events = (audit.AuditEvent.AUTOMATION_PAUSED, audit.AuditEvent.AUTOMATION_RESUMED)
    with replica.engine.connect() as conn:
        query = select(audit.AUDIT).where(audit.AUDIT.c.event.in_(events)).order_by(audit.AUDIT.c.seq)
        return list(conn.execute(query).all())


def test_admins_pause_and_resume_by_hand_with_a_reason(store: Store, tmp_path: Path) -> None:
    with pytest.raises(NotAllowed):
        circuit_breaker.pause(store, WORKFLOW, "why not", actor="bob", role=Role.REVIEWER)
    with pytest.raises(ControlError, match="say why"):
        circuit_breaker.pause(store, WORKFLOW, "   ", actor="ada", role=Role.ADMIN)
    with pytest.raises(ControlError, match="already running"):
        circuit_breaker.resume(store, WORKFLOW, "go", actor="ada", role=Role.ADMIN)
    replica = open_replica(tmp_path, store)
    try:
        paused = circuit_breaker.pause_and_record(
            store, replica, WORKFLOW, "  CRM  migration\ttonight ", actor="ada", role=Role.ADMIN
        )
        assert (paused.paused, paused.reason, paused.set_by) == (True, "CRM migration tonight", "ada")
        assert pipeline_reads(store) is True
        with pytest.raises(ControlError, match="already paused"):
            circuit_breaker.pause(store, WORKFLOW, "again", actor="ada", role=Role.ADMIN)
        # A paused workflow is not evaluated: the breaker never overwrites an admin's pause.
        History(store).add([Action.REJECT] * 50, START)
        assert circuit_breaker.evaluate(store, START) == []
        circuit_breaker.resume_and_record(
            store, replica, WORKFLOW, "migration done", actor="ada", role=Role.ADMIN
        )
        entries = automation_entries(replica)
        seen = [(e.event, json.loads(e.payload)["data"]) for e in entries]
        assert [(event, d["changes"]["automation_paused"]["to"], d["reason"]) for event, d in seen] == [
            (audit.AuditEvent.AUTOMATION_PAUSED, True, "CRM migration tonight"),
            (audit.AuditEvent.AUTOMATION_RESUMED, False, "migration done"),
        ]
        assert {e.workflow for e in entries} == {WORKFLOW}
    finally:
        replica.close()


def test_trips_are_audited_where_they_are_found(store: Store, tmp_path: Path) -> None:
    use_settings(store, SMALL)
    History(store).add([Action.REJECT] * 20, START)
    trips = circuit_breaker.evaluate(store, START)
    replica = open_replica(tmp_path, store)
    try:
        circuit_breaker.record_trips(replica, trips, actor="alice", role=Role.REVIEWER)
        with replica.engine.connect() as conn:
            entry = conn.execute(select(audit.AUDIT)).one()
        data = json.loads(entry.payload)["data"]
        assert (entry.event, entry.actor, entry.workflow) == ("automation_paused", "alice", WORKFLOW)
        assert (data["source"], data["rate"], data["sample_size"]) == ("breaker", 1.0, 20)
    finally:
        replica.close()


def test_every_installation_evaluates_but_the_trip_is_written_once(store: Store) -> None:
    use_settings(store, SMALL)
    History(store).add([Action.REJECT] * 20, START)
    other = Store.open(store.url)
    try:
        found = [circuit_breaker.evaluate(s, START) for s in (store, other, store)]
    finally:
        other.close()
    assert [len(trips) for trips in found] == [1, 0, 0]
    assert isinstance(found[0][0], Trip)


def test_the_cli_checks_pauses_and_resumes(
    tmp_path: Path, home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.cli import main as cli
    from app.core.settings import Settings

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    store = Store.initialize(url)
    try:
        use_settings(store, SMALL)
        assert cli(["sync", "--store", url]) == 0  # makes this installation's local audit log
        [replica_file] = sorted((home / "replicas").glob("*.sqlite3"))
        History(store).add([Action.REJECT] * 2 + [Action.APPROVE] * 18, datetime.now(UTC))
    finally:
        store.close()
    capsys.readouterr()
    assert cli(["breaker", "check", "--store", url]) == 0
    out = capsys.readouterr().out
    assert f"now paused: {WORKFLOW} — circuit breaker: 2 of 20" in out
    assert "automation paused for 1 workflow" in out
    assert cli(["breaker", "check", "--store", url]) == 0  # idempotent: nothing new
    assert "now paused" not in capsys.readouterr().out
    # Resuming needs a reason and an administrator.
    assert cli(["breaker", "resume", "--store", url, "--workflow", WORKFLOW]) == 2
    assert cli(["breaker", "resume", "--store", url, "--workflow", WORKFLOW, "--reason", "fixed"]) == 1
    assert "only an administrator" in capsys.readouterr().err
    settings = Settings.load(home)
    settings.role = "admin"
    settings.save(home)
    assert cli(["breaker", "resume", "--store", url, "--workflow", WORKFLOW, "--reason", "model fixed"]) == 0
    assert "now running: lead_qualification — model fixed" in capsys.readouterr().out
    assert cli(["breaker", "pause", "--store", url, "--workflow", "ask_amount", "--reason", "audit"]) == 0
    assert "automation paused for 1 workflow" in capsys.readouterr().out
    reopened = Store.open(url)
    try:
        assert pipeline_reads(reopened) is False and pipeline_reads(reopened, "ask_amount") is True
    finally:
        reopened.close()
    # The trip, the resume and the pause are in this installation's chain, in that order.
    replica = Replica.open(replica_file)
    try:
        audited = [(e.event, e.workflow, e.role) for e in automation_entries(replica)]
        assert replica.verify_audit().ok
    finally:
        replica.close()
    assert audited == [
        (audit.AuditEvent.AUTOMATION_PAUSED, WORKFLOW, "reviewer"),
        (audit.AuditEvent.AUTOMATION_RESUMED, WORKFLOW, "admin"),
        (audit.AuditEvent.AUTOMATION_PAUSED, "ask_amount", "admin"),
    ]


def test_a_sync_push_runs_the_breaker_and_audits_the_trip(store: Store, tmp_path: Path) -> None:
    use_settings(store, SMALL)
    History(store).add([Action.APPROVE] * 19, datetime.now(UTC) - timedelta(hours=1))
    store.ingest(numbered([make_ticket(external_id="to-reject")]))
    replica = open_replica(tmp_path, store)
    try:
        assert sync(replica, store).trips == []
        replica.record_decision(
            replica_ticket_id(replica, "to-reject"),
            Action.REJECT,
            "stale_data",
            reviewer="alice",
            role=Role.REVIEWER,
        )
        report = sync(replica, store)  # the 20th decision: 1 in 20 rejected, 5 %
        assert [t.workflow for t in report.trips] == [WORKFLOW]
        assert pipeline_reads(store) is True
        (entry,) = automation_entries(replica)
        assert (entry.event, entry.actor, entry.workflow) == ("automation_paused", "alice", WORKFLOW)
        assert json.loads(entry.payload)["data"]["source"] == "breaker"
        assert sync(replica, store).trips == []
    finally:
        replica.close()


def test_a_login_the_store_refuses_the_pause_still_syncs(tmp_path: Path) -> None:
    """With row security only some roles may pause; a refused write is logged, never a failed
    sync (here a trigger refuses it, as a database would)."""
    store = Store.initialize(f"sqlite:///{tmp_path / 'store.db'}")
    try:
        use_settings(store, SMALL)
        History(store).add([Action.REJECT] * 20, START)
        with store.engine.begin() as conn:
            conn.exec_driver_sql(
                "CREATE TRIGGER no_pause BEFORE INSERT ON automation_controls "
                "BEGIN SELECT RAISE(ABORT, 'permission denied for table automation_controls'); END"
            )
        with pytest.raises(StoreRefused):
            circuit_breaker.evaluate(store, START)
        replica = open_replica(tmp_path, store)
        try:
            assert circuit_breaker.check_after_sync(store, replica, actor="alice", role=Role.REVIEWER) == []
            with replica.engine.connect() as conn:
                assert conn.execute(select(audit.AUDIT)).all() == []
        finally:
            replica.close()
    finally:
        store.close()
