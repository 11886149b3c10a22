"""Kill -9 while pushing 10,000 decisions (issue 3, test 1): SQLite and Postgres stores.

A child process (tests/scripts/push_child.py) syncs a replica holding 10,000 decisions not yet
sent (2,000 on Postgres unless SIGNOFF_TORTURE=1) and is SIGKILLed again and again: at points
it picks itself (right after the store committed a batch and before the outbox heard of it, in
the middle of the store's transaction, in the middle of mark_pushed, in the middle of applying
a pull) and at random moments the parent picks. Each new child carries on from what the last
one left on disk. At the end every decision must be in the store exactly once, in the order it
was decided, and replaying a batch changes nothing.

The parent never sleeps to synchronise: it waits on the child's progress lines (with timeouts).
SIGNOFF_TORTURE=1 runs more rounds with many more kills at random points.
"""

from __future__ import annotations

import collections
import os
import queue
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from helpers import ROOT, empty_pg_database, make_ticket, numbered, pg_database
from sqlalchemy import select, update
from sync_support import (
    TORTURE,
    audit_events,
    decided_order,
    outbox_size,
    replica_push_states,
    replica_ticket_statuses,
    sqlite_copy,
    store_counter,
    store_decision_rows,
    store_snapshot,
    store_ticket_states,
)

from app.core.domain import Action, DecisionStatus, PushState, Role, TicketStatus
from app.core.replica import DECISIONS, TICKETS, Replica
from app.core.rows import decision_from_row
from app.core.store import Store
from app.core.store_models import StoreInfo
from app.core.sync import Syncer

CHILD = ROOT / "tests" / "scripts" / "push_child.py"
# 10,000 on SQLite always; on Postgres (slower per decision) 10,000 under torture. Batches are
# sized so a run has some twenty of them for the kill points to land in.
DECISIONS_TO_PUSH = {"sqlite": 10_000, "postgres": 10_000 if TORTURE else 2_000}
ROUNDS = 3 if TORTURE else 1
RANDOM_KILLS = 12 if TORTURE else 0
CHILD_TIMEOUT_S = 180.0
SEED = int(os.environ.get("SIGNOFF_KILL_SEED", str(random.SystemRandom().randrange(1 << 30))))

pg_database = pytest.fixture(scope="module")(pg_database)


@dataclass
class Figures:
    runs: int = 0
    kills: int = 0
    children: int = 0
    decisions: int = 0
    losses: int = 0
    duplicates: int = 0
    kinds: collections.Counter[str] = field(default_factory=collections.Counter)

    def line(self) -> str:
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(self.kinds.items()))
        return (
            f"runs {self.runs}, kills {self.kills} ({kinds}), child processes {self.children}, "
            f"decisions {self.decisions}, losses {self.losses}, duplicates {self.duplicates}, seed {SEED}"
        )


FIGURES: dict[str, Figures] = collections.defaultdict(Figures)


@dataclass(frozen=True)
class Template:
    """A SQLite store with some thousand tickets and a replica that decided every one of them
    offline (nothing pushed yet), built once and copied for each run."""

    store: Path
    replica: Path
    store_id: str
    tickets: list[dict[str, Any]]


def build_template(folder: Path, size: int) -> Template:
    tickets = [make_ticket(external_id=f"kill-{n:05d}") for n in range(size)]
    store = Store.initialize(f"sqlite:///{folder / 'store.sqlite3'}")
    replica = Replica.open(folder / "replica.sqlite3", store_id=store.store_id)
    try:
        store.ingest(numbered(tickets))
        report = Syncer(replica, store, actor="kim", role=Role.REVIEWER).run_once()
        assert report.ok and report.pulled == size, report.describe()
        with replica.engine.connect() as conn:
            ids = list(conn.execute(select(TICKETS.c.id).order_by(TICKETS.c.id)).scalars())
        actions = [(Action.APPROVE, "ai_correct"), (Action.REJECT, "wrong_segment")]
        for n, ticket_id in enumerate(ids):
            action, reason = actions[n % 2]
            replica.record_decision(ticket_id, action, reason, reviewer="kim", role=Role.REVIEWER)
        return Template(folder / "store.sqlite3", folder / "replica.sqlite3", store.store_id, tickets)
    finally:
        replica.close()
        store.close()


@pytest.fixture(scope="module")
def templates(tmp_path_factory: pytest.TempPathFactory) -> Callable[[int], Template]:
    """Templates by size, each built once for the module (deciding 10,000 tickets takes a while)."""
    built: dict[int, Template] = {}

    def get(size: int) -> Template:
        if size not in built:
            built[size] = build_template(tmp_path_factory.mktemp(f"kill-template-{size}"), size)
        return built[size]

    return get


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def fresh_store(backend: str, template: Template, folder: Path, request: pytest.FixtureRequest) -> str:
    """The template's store, as a new SQLite file or as a Postgres database with the same id,
    tickets, ids and change numbers (the same store moved to Postgres)."""
    if backend == "sqlite":
        sqlite_copy(template.store, folder / "store.sqlite3")
        return f"sqlite:///{folder / 'store.sqlite3'}"
    url: str = request.getfixturevalue("pg_database")
    empty_pg_database(url)
    store = Store.initialize(url)
    try:
        with store.engine.begin() as conn:
            info = StoreInfo.__table__
            conn.execute(update(info).where(info.c.key == "store_id").values(value=template.store_id))
        store.ingest(numbered(template.tickets))
        original = Store.open(f"sqlite:///{template.store}")
        try:
            count = len(template.tickets)
            assert identities(store, count) == identities(original, count), (
                "the Postgres copy must have the template's ticket ids and change numbers"
            )
        finally:
            original.close()
    finally:
        store.close()
    return url


def identities(store: Store, count: int) -> list[tuple[Any, ...]]:
    keys = ("id", "external_id", "change_seq", "revision", "content_hash")
    return [tuple(row[k] for k in keys) for row in store.pull_tickets(0, count + 1)]


class Child:
    """One run of push_child.py, its stdout read line by line on a thread."""

    def __init__(self, url: str, replica: Path, kill: str, batch: int) -> None:
        self.kill = kill
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        # stderr to a file: a pipe nobody reads while waiting on stdout could fill and block it.
        self.log = replica.with_name("child-stderr.txt")
        with self.log.open("w") as errors:
            self.process = subprocess.Popen(
                [sys.executable, str(CHILD), url, str(replica), kill, str(batch)],
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=errors,
                text=True,
            )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.deadline = time.monotonic() + CHILD_TIMEOUT_S

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def next_line(self) -> str | None:
        remaining = self.deadline - time.monotonic()
        try:
            line = self.lines.get(timeout=max(0.0, remaining))
        except queue.Empty:
            self.process.kill()
            raise AssertionError(f"child ({self.kill}) silent for too long; saw {self.seen[-5:]}") from None
        if line is not None:
            self.seen.append(line)
        return line

    def wait_for(self, accept: Any) -> bool:
        """Read lines until one satisfies `accept` (True) or the child's output ends (False)."""
        while (line := self.next_line()) is not None:
            if accept(line):
                return True
        return False

    def finish(self) -> int:
        while self.next_line() is not None:
            pass
        code = self.process.wait(timeout=max(1.0, self.deadline - time.monotonic()))
        self._reader.join(timeout=5)
        return code

    def stderr(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


# Statements that surely run inside one batch's transaction (a kill point past the last one
# would never fire): the store's push (lock, reads, inserts, updates) and mark_pushed.
STORE_TXN_STATEMENTS = 9
MARK_STATEMENTS = 3


def plan(rng: random.Random, batch: int) -> list[str]:
    """The kill points of one round, in order. Each child carries on from the last one's state.
    A batch is a handful of statements, whatever its size: the store applies a page with a dozen
    (store_push batches its reads and writes), mark_pushed with a few (plus its audit entries)."""
    within = {"store-txn": STORE_TXN_STATEMENTS, "mark": MARK_STATEMENTS}
    fixed = [
        "store-commit:1",  # the store has the batch, the outbox still holds it
        f"mark:1:{rng.randint(2, within['mark'])}",  # outbox rows deleted, nothing committed yet
        f"store-txn:2:{rng.randint(1, within['store-txn'])}",  # the store's transaction cut short
        "take:1",  # marked in flight, never sent
        f"parent:{rng.randint(1, 4)}",  # the parent kills it at a random moment
        "store-commit:3",
    ]
    extra = []
    for _ in range(RANDOM_KILLS):
        kind = rng.choice(["store-commit", "store-txn", "mark", "take", "parent", "parent"])
        k = rng.randint(1, 3)
        extra.append(
            f"{kind}:{k}:{rng.randint(1, within[kind])}" if kind in within else f"{kind}:{k}"
        )
    # Last, with the whole push done: die while applying the pull, then finish cleanly.
    return [*fixed, *extra, f"pull-commit:{rng.randint(1, 4)}", "none"]


def run_child(url: str, replica: Path, step: str, batch: int, rng: random.Random, figures: Figures) -> bool:
    """One child; True when it ran to the end ("done")."""
    figures.children += 1
    if step.startswith("parent:"):
        batches = int(step.split(":")[1])
        child = Child(url, replica, "none", batch)
        marked_lines = 0

        def enough(line: str) -> bool:
            nonlocal marked_lines
            marked_lines += line.startswith("marked ")
            return marked_lines >= batches or line.startswith("done")

        child.wait_for(enough)
        # Not synchronisation: a random delay so the kill lands anywhere in the next batch.
        time.sleep(rng.uniform(0.0, 0.4))
        if child.process.poll() is None:
            child.process.send_signal(signal.SIGKILL)
    else:
        child = Child(url, replica, step, batch)
    code = child.finish()
    if code == -signal.SIGKILL:
        figures.kills += 1
        figures.kinds[step.split(":")[0]] += 1
        return False
    assert code == 0, f"child ({step}) exited {code}: {child.seen[-5:]}\n{child.stderr()}"
    assert child.seen[-1].startswith("done"), child.seen[-5:]
    return True


def check_exactly_once(url: str, replica_path: Path, template: Template, figures: Figures) -> None:
    store = Store.open(url)
    replica = Replica.open(replica_path, store_id=store.store_id)
    try:
        expected = decided_order(replica)
        assert len(expected) == len(template.tickets)
        rows = store_decision_rows(store)
        stored = [r.decision_id for r in rows]
        # The store's change counter moves by two per decision applied (the decision and its
        # ticket): a decision applied twice under any id shows up here.
        applied = (store_counter(store) - len(template.tickets)) // 2
        losses = len(set(expected) - set(stored))
        duplicates = (len(stored) - len(set(stored))) + max(0, applied - len(expected))
        pushed_events = collections.Counter(audit_events(replica, "decision_pushed"))
        duplicates += sum(n - 1 for n in pushed_events.values() if n > 1)
        figures.decisions += len(expected)
        figures.losses += losses
        figures.duplicates += duplicates
        assert (losses, duplicates) == (0, 0)
        assert set(stored) == set(expected)
        assert applied == len(expected)
        assert stored == expected, "the store's change order must be the order the reviewer decided in"
        assert set(pushed_events) == set(expected)
        assert {r.status for r in rows} == {DecisionStatus.FINAL}
        # What reached the store is what was recorded, field for field.
        with replica.engine.connect() as conn:
            local = {
                r.decision_id: decision_from_row(r)
                for r in conn.execute(select(DECISIONS).order_by(DECISIONS.c.decided_at))
            }
        assert {r.decision_id: decision_from_row(r).to_record() for r in rows} == {
            d: local[d].to_record() for d in expected
        }
        # Replica: nothing waiting, everything pushed, the same statuses as the store.
        assert outbox_size(replica) == 0
        assert set(replica_push_states(replica).values()) == {PushState.PUSHED}
        states = store_ticket_states(store)
        assert {s[0] for s in states.values()} == {TicketStatus.DECIDED}
        assert {k: (v[0], v[0], v[3]) for k, v in states.items()} == replica_ticket_statuses(replica)
        assert replica.pull_cursor == store_counter(store)
        assert replica.verify_audit().ok

        # Replaying batches (the first one, and one from the middle) changes nothing.
        before = store_snapshot(store)
        audit_before = len(audit_events(replica, "decision_pushed"))
        for start in (0, len(expected) // 2):
            replay = [local[d] for d in expected[start : start + 500]]
            outcome = store.push_decisions(replay)
            assert outcome.accepted == [d.decision_id for d in replay] and outcome.refused == {}
            replica.outbox.mark_pushed(outcome.accepted, {}, actor="kim", role=Role.REVIEWER)
        assert store_snapshot(store) == before
        assert len(audit_events(replica, "decision_pushed")) == audit_before
        report = Syncer(replica, store, actor="kim", role=Role.REVIEWER).run_once()
        assert (report.ok, report.pushed, report.pulled) == (True, 0, 0), report.describe()
    finally:
        replica.close()
        store.close()


@pytest.mark.slow
def test_kill_9_while_pushing_10000_decisions_loses_and_duplicates_nothing(
    backend: str, templates: Callable[[int], Template], tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    template = templates(DECISIONS_TO_PUSH[backend])
    batch = len(template.tickets) // 20
    figures = FIGURES[backend]
    rng = random.Random(f"{SEED}-{backend}")
    for round_ in range(ROUNDS):
        folder = tmp_path / f"round-{round_}"
        folder.mkdir()
        url = fresh_store(backend, template, folder, request)
        replica_path = folder / "replica.sqlite3"
        sqlite_copy(template.replica, replica_path)
        steps = plan(rng, batch)
        for step in steps:
            finished = run_child(url, replica_path, step, batch, rng, figures)
            if step == "none":
                assert finished
        figures.runs += 1
        check_exactly_once(url, replica_path, template, figures)
    kills_needed = 5 * ROUNDS  # the fixed points that must land wherever the push stands
    assert figures.kills >= kills_needed, figures.line()
    print(f"\nkill -9 figures ({backend}): {figures.line()}")
