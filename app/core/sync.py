"""One sync cycle between a replica and its store: push the outbox, then pull changes.

Push first, so tickets this reviewer decided come back from the store already decided.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from app.core.domain import Role
from app.core.replica import Replica
from app.core.store import Store, StoreError

log = logging.getLogger(__name__)

Progress = Callable[[str, int], None]  # (phase, items done so far)


class StoreMismatch(StoreError):
    """The replica was made from another store than the one at this URL."""


@dataclass
class SyncReport:
    pushed: int = 0
    refused: dict[str, str] = field(default_factory=dict)
    pulled: int = 0
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def describe(self) -> str:
        parts = [f"pushed {self.pushed}", f"pulled {self.pulled}"]
        if self.refused:
            parts.append(f"refused by the store {len(self.refused)}")
        if self.error:
            parts.append(f"error: {self.error}")
        return ", ".join(parts)


class Syncer:
    def __init__(
        self,
        replica: Replica,
        store: Store,
        *,
        actor: str,
        role: Role,
        push_batch: int = 500,
        pull_page: int = 5000,
    ) -> None:
        self.replica = replica
        self.store = store
        self.actor = actor
        self.role = role
        self.push_batch = push_batch
        self.pull_page = pull_page

    def check_identity(self) -> None:
        if self.replica.store_id not in (None, self.store.store_id):
            raise StoreMismatch(
                f"the store at {self.store.url} is not the store this replica was made from "
                f"({self.store.store_id} != {self.replica.store_id})"
            )

    def push(self, progress: Progress | None = None) -> tuple[int, dict[str, str]]:
        pushed, refused = 0, {}
        while batch := self.replica.pending_decisions(self.push_batch):
            try:
                outcome = self.store.push_decisions(batch)
            except StoreError as error:
                self.replica.note_push_failure([d.decision_id for d in batch], str(error))
                raise
            self.replica.mark_pushed(outcome.accepted, outcome.refused, actor=self.actor, role=self.role)
            pushed += len(outcome.accepted)
            refused.update(outcome.refused)
            if progress:
                progress("push", pushed)
            if len(outcome.accepted) + len(outcome.refused) < len(batch):  # pragma: no cover - defensive
                raise StoreError("the store answered for fewer decisions than were sent")
        return pushed, refused

    def pull(self, progress: Progress | None = None) -> int:
        self.replica.replace_reference_data(self.store.reason_codes(), self.store.workflows())
        pulled = 0
        while rows := self.store.pull_tickets(self.replica.pull_cursor, self.pull_page):
            pulled += self.replica.apply_pull(rows, rows[-1]["change_seq"])
            if progress:
                progress("pull", pulled)
            if len(rows) < self.pull_page:
                break
        return pulled

    def run_once(self, progress: Progress | None = None) -> SyncReport:
        """Never raises for store trouble: the report carries the error, and the outbox keeps
        everything that did not get through."""
        report = SyncReport()
        try:
            self.check_identity()
            report.pushed, report.refused = self.push(progress)
            report.pulled = self.pull(progress)
        except StoreError as error:
            report.error = str(error)
            log.warning("sync failed: %s", error)
        return report
