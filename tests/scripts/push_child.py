"""The process tests/test_sync_crash.py kills: it syncs one replica with its store until the
outbox is empty, and can SIGKILL itself at a chosen point.

No hooks in production code: the kill points are set from out here, by a Store subclass, by
wrapping Outbox methods and replica_pull.commit, and by SQLAlchemy statement events (to die
in the middle of a transaction). Progress goes to stdout, one flushed line per step, so the
parent waits on lines instead of sleeping:

    ready | taken <n> | committed <n> | marked <decisions marked so far> | pulled | done <pushed>

Usage: push_child.py STORE_URL REPLICA_PATH [KILL [PUSH_BATCH]]

KILL (counted from this process's start):
    take:K           after the K-th batch is marked in flight, before it is sent
    store-txn:K:S    at the S-th statement of the K-th push transaction (not committed)
    store-commit:K   right after the store committed the K-th batch, before mark_pushed
    mark:K:S         at the S-th statement of the K-th mark_pushed transaction
    pull-commit:S    at the S-th statement of the transaction applying a pull
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event

from app.core import replica_pull
from app.core.domain import Decision, Role
from app.core.outbox import Outbox
from app.core.replica import Replica
from app.core.store import PushOutcome, Store
from app.core.sync import Syncer

CYCLES = 20  # a healthy store needs one; more means something is wrong (the parent sees "stuck")


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def die(where: str) -> None:
    say(f"dying {where}")
    os.kill(os.getpid(), signal.SIGKILL)


class StatementTrap:
    """Dies at the S-th statement on an engine once armed."""

    def __init__(self, engine: Engine, where: str) -> None:
        self.where = where
        self.remaining: int | None = None
        event.listen(engine, "before_cursor_execute", self._before)

    def arm(self, statements: int) -> None:
        self.remaining = statements

    def _before(self, *_args: Any) -> None:
        if self.remaining is None:
            return
        self.remaining -= 1
        if self.remaining <= 0:
            die(self.where)


def main(argv: list[str]) -> int:
    url, replica_path = argv[1], Path(argv[2])
    kill = argv[3].split(":") if len(argv) > 3 and argv[3] != "none" else [""]
    push_batch = int(argv[4]) if len(argv) > 4 else 500
    point = kill[0]
    numbers = [int(n) for n in kill[1:]]

    batches = {"take": 0, "push": 0, "mark": 0}
    store_trap: StatementTrap | None = None

    class KillingStore(Store):
        def push_decisions(self, decisions: Sequence[Decision]) -> PushOutcome:
            batches["push"] += 1
            n = batches["push"]
            if point == "store-txn" and n == numbers[0] and store_trap is not None:
                store_trap.arm(numbers[1])
            outcome = super().push_decisions(decisions)
            say(f"committed {n}")
            if point == "store-commit" and n == numbers[0]:
                die("after the store committed, before mark_pushed")
            return outcome

    store = KillingStore.open(url)
    replica = Replica.open(replica_path, store_id=store.store_id)
    store_trap = StatementTrap(store.engine, "inside the store's push transaction")
    replica_trap = StatementTrap(replica.engine, point)

    take_for_push, mark_pushed, commit = Outbox.take_for_push, Outbox.mark_pushed, replica_pull.commit
    marked = 0

    def take(self: Outbox, *args: Any, **kwargs: Any) -> list[Decision]:
        batch = take_for_push(self, *args, **kwargs)
        if batch:
            batches["take"] += 1
            say(f"taken {batches['take']}")
            if point == "take" and batches["take"] == numbers[0]:
                die("after take_for_push, before the push")
        return batch

    def mark(self: Outbox, accepted: Sequence[str], refused: dict[str, str], **kwargs: Any) -> None:
        nonlocal marked
        batches["mark"] += 1
        if point == "mark" and batches["mark"] == numbers[0]:
            replica_trap.arm(numbers[1])
        mark_pushed(self, accepted, refused, **kwargs)
        marked += len(accepted) + len(refused)
        say(f"marked {marked}")

    def pull_commit(conn: Any, cursor: int) -> int:
        if point == "pull-commit":
            replica_trap.arm(numbers[0])
        return commit(conn, cursor)

    Outbox.take_for_push = take  # type: ignore[method-assign]
    Outbox.mark_pushed = mark  # type: ignore[method-assign]
    replica_pull.commit = pull_commit  # type: ignore[assignment]

    syncer = Syncer(replica, store, actor="kim", role=Role.REVIEWER, push_batch=push_batch)
    say("ready")
    pushed = 0
    for _ in range(CYCLES):
        replica.outbox.retry_now()
        report = syncer.run_once()
        pushed += report.pushed
        if report.error:
            say(f"error {report.error}")
            continue
        say("pulled")
        if replica.outbox.waiting_count() == 0:
            say(f"done {pushed}")
            return 0
    say("stuck")
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
