"""One sync cycle between a replica and its store: push the outbox, then pull changes.

Push first, so tickets this reviewer decided come back from the store already decided. Every
step is idempotent, so a cycle cut short anywhere (crash, kill, lost connection) is repaired by
simply running the next one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from app.core import (
    audit,
    audit_store,
    circuit_breaker,
    replica_fill,
    replica_pull,
    retention,
    roles,
    store_witness,
)
from app.core.domain import Decision, Role, to_rfc3339, utcnow
from app.core.replica import Replica
from app.core.store import PushOutcome, Store, StoreError, StoreRefused

log = logging.getLogger(__name__)

Progress = Callable[[str, int], None]  # (phase, items done so far)


class StoreMismatch(StoreError):
    """The replica was made from another store than the one at this URL."""


class StoreRestored(StoreError):
    """The store is behind what this replica has already seen: restored from an older backup."""


@dataclass
class SyncReport:
    pushed: int = 0
    refused: dict[str, str] = field(default_factory=dict)
    pulled: int = 0
    decisions_pulled: int = 0
    rebuilt: bool = False
    error: str | None = None
    audit_error: str | None = None  # the store refused this installation's audit checkpoint
    trips: list[circuit_breaker.Trip] = field(default_factory=list)  # automation this cycle paused

    @property
    def ok(self) -> bool:
        return self.error is None

    def describe(self) -> str:
        parts = [f"pushed {self.pushed}", f"pulled {self.pulled}"]
        if self.refused:
            parts.append(f"refused by the store {len(self.refused)}")
        if self.trips:
            parts.append(f"automation paused for {', '.join(t.workflow for t in self.trips)}")
        if self.rebuilt:
            parts.append("replica rebuilt after a store restore")
        if self.audit_error:
            parts.append(f"audit log refused by the store: {self.audit_error}")
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
        push_batch: int = 2000,
        pull_page: int = 5000,
    ) -> None:
        self.replica = replica
        self.store = store
        self.actor = actor
        self.role = role
        self.push_batch = push_batch
        self.pull_page = pull_page
        self._pulled_wide: bool | None = None  # whether this login sees every ticket (check_identity)

    def check_identity(self) -> None:
        if self.replica.store_id not in (None, self.store.store_id):
            raise StoreMismatch(
                f"the store at {self.store.url} is not the store this replica was made from "
                f"({self.store.store_id} != {self.replica.store_id})"
            )
        seen = max(self.replica.pull_cursor, self.replica.cursor("decision_cursor"))
        # The counter comes with what the witness check needs, in the same statement.
        observed = store_witness.observe(self.store, self.replica)
        counter = observed.counter
        if seen > counter:
            raise StoreRestored(
                f"the store has changes up to #{counter} but this replica has already seen #{seen}: "
                "it was restored from an older backup"
            )
        # Once the restored store has handed out more numbers than we saw (others re-sent their
        # decisions, upstream sent tickets), the counter no longer tells. A decision it accepted
        # from us and no longer has still does: a restore loses the latest changes first.
        latest = self.replica.outbox.last_pushed()
        if latest is not None and not self.store.has_decisions([latest]):
            raise StoreRestored(
                f"the store no longer has decision {latest}, which it accepted from this "
                "installation: it was restored from an older backup"
            )
        # A replica that only read since has its witnesses: the tickets it pulled last, which
        # in the genuine store only ever move forward (see store_witness).
        evidence = observed.restore_evidence(self.replica)
        if evidence is not None:
            raise StoreRestored(f"{evidence}: it was restored from an older backup")
        self._pulled_wide = observed.wide
        if observed.widened:
            self.replica.set_info("pull_cursor", "0")  # fetch what the narrower view never showed

    # --- push ------------------------------------------------------------------------------

    def push(self, progress: Progress | None = None) -> tuple[int, dict[str, str]]:
        pushed, refused = 0, {}
        outbox = self.replica.outbox
        while batch := outbox.take_for_push(self.push_batch):
            try:
                outcome = self._push_batch(batch)
            except StoreError as error:
                outbox.note_push_failure([d.decision_id for d in batch], str(error))
                raise
            outbox.mark_pushed(outcome.accepted, outcome.refused, actor=self.actor, role=self.role)
            pushed += len(outcome.accepted)
            refused.update(outcome.refused)
            if progress:
                progress("push", pushed)
        return pushed, refused

    def _push_batch(self, batch: Sequence[Decision]) -> PushOutcome:
        try:
            return self.store.push_decisions(batch)
        except StoreRefused:
            if len(batch) == 1:
                raise
        # Something in the batch is unacceptable to the store for good. Find it, so it is set
        # aside with the store's reason and the rest still goes through.
        return self._push_halves(batch)

    def _push_halves(self, batch: Sequence[Decision]) -> PushOutcome:
        """A refused batch, in order, by halves: a refused half is split again, down to single
        decisions (a few pushes for a few bad decisions in a page of thousands, where pushing
        one by one would take a transaction each)."""
        outcome = PushOutcome()
        middle = len(batch) // 2
        for half in (batch[:middle], batch[middle:]):
            try:
                part = self.store.push_decisions(half)
            except StoreRefused as error:
                if len(half) > 1:
                    part = self._push_halves(half)
                else:
                    outcome.refused[half[0].decision_id] = str(error)
                    continue
            outcome.accepted.extend(part.accepted)
            outcome.refused.update(part.refused)
        return outcome

    # --- pull ------------------------------------------------------------------------------

    def pull(self, progress: Progress | None = None) -> tuple[int, int]:
        store, replica = self.store, self.replica
        replica.replace_reference_data(
            store.reason_codes(), store.workflows(), actor=self.actor, role=self.role
        )
        pulled = self._pull_tickets(progress)
        decisions = 0
        while rows := store.pull_decisions(replica.cursor("decision_cursor"), self.pull_page):
            with replica.engine.begin() as conn:
                conflicts = replica_pull.new_conflicts(conn, rows)
                decisions += replica_pull.apply_decisions(conn, rows, rows[-1]["change_seq"])
                self._record_conflicts(conn, conflicts, rows)
            if len(rows) < self.pull_page:
                break
        claims = store.active_claims()
        with replica.engine.begin() as conn:
            replica_pull.replace_claims(conn, claims)
        return pulled, decisions

    def _record_conflicts(
        self, conn: Connection, conflicts: dict[int, list[str]], rows: Sequence[dict[str, Any]]
    ) -> None:
        """Audit each newly seen conflict once, in the same transaction that stores it."""
        by_ticket = {row["ticket_id"]: row for row in rows}
        for ticket_id, decision_ids in conflicts.items():
            row = by_ticket[ticket_id]
            audit.append(
                conn,
                client_id=self.replica.client_id,
                actor=self.actor,
                role=str(self.role),
                event=audit.AuditEvent.CONFLICT_DETECTED,
                ticket_id=ticket_id,
                data=audit.conflict_data(
                    external_id=row["external_id"], workflow=row["workflow"], decision_ids=decision_ids
                ),
            )

    def _pull_tickets(self, progress: Progress | None) -> int:
        replica, cursor, staged = self.replica, self.replica.pull_cursor, 0
        start = cursor
        with replica.engine.begin() as conn:
            fresh = replica_pull.is_empty(conn)
            if fresh:
                # A first pull or a rebuild goes straight into `tickets` in this one transaction:
                # a crash rolls back to the empty replica, so nothing to stage (issue 7, P4).
                # It holds the replica's write lock for the whole pull (~6 s per 100k tickets):
                # other replica writes wait for it, up to the busy timeout. With no tickets yet
                # there are no decisions or reveals to write; an audit export or a policy save
                # made during a long first pull may fail with "database is locked" and be redone.
                applied = replica_fill.fill(
                    conn, self.store, start, self.pull_page, wide=self._pulled_wide, progress=progress
                )
            else:
                replica_pull.begin(conn)
        if fresh:
            self._forget_withdrawn(start)
            return applied
        latest: dict[int, store_witness.TicketMark] = {}  # the next sync's restore witnesses
        while rows := self.store.pull_tickets(cursor, self.pull_page):
            with replica.engine.begin() as conn:
                replica_pull.stage(conn, rows)
            store_witness.keep_latest(latest, rows)
            staged += len(rows)
            cursor = rows[-1]["change_seq"]
            if progress:
                progress("pull", staged)
            if len(rows) < self.pull_page:
                break
        with replica.engine.begin() as conn:
            applied = replica_pull.commit(conn, cursor) if staged else 0
            if staged:
                store_witness.remember(
                    conn, list(latest.values()), fresh=start == 0, wide=self._pulled_wide
                )
            replica_pull.settle_statuses(conn)
        self._forget_withdrawn(start)
        return applied

    def _forget_withdrawn(self, start: int) -> None:
        """Drop copies of tickets that left this login's view since `start` (row security hides
        them from the pull, which therefore never updates them). Asked after the pull: change
        numbers are handed out in commit order, so whatever leaves later is after the new cursor."""
        with self.replica.engine.connect() as conn:
            recheck = replica_pull.withdrawn_recheck(conn)
        changes = dict(roles.withdrawn_changes(self.store, start if recheck is None else min(start, recheck)))
        if not changes and recheck is None:
            return
        with self.replica.engine.begin() as conn:
            kept = replica_pull.forget_tickets(conn, list(changes))
            replica_pull.set_withdrawn_recheck(conn, min(changes[t] for t in kept) - 1 if kept else None)
        if kept:
            log.info("kept %d withdrawn tickets until their decisions are sent: %s", len(kept), kept)

    # --- the cycle -------------------------------------------------------------------------

    def run_once(self, progress: Progress | None = None) -> SyncReport:
        """Never raises for store trouble: the report carries the error, and the outbox keeps
        everything that did not get through."""
        report = SyncReport()
        try:
            try:
                self.check_identity()
            except StoreRestored as restored:
                log.warning("%s; rebuilding the replica", restored)
                self.replica.rebuild_after_restore(str(restored), actor=self.actor, role=self.role)
                report.rebuilt = True
            report.pushed, report.refused = self.push(progress)
            # The breaker judges the store's decisions (everyone's) once ours are in; each trip
            # is written and returned once, whoever syncs first, and audited here.
            report.trips = circuit_breaker.check_after_sync(
                self.store, self.replica, actor=self.actor, role=self.role
            )
            report.pulled, report.decisions_pulled = self.pull(progress)
            policy = retention.load_policy(self.store)
            retention.purge_replica(self.replica, policy, actor=self.actor, role=str(self.role))
            # The audit trail travels with the decisions: new entries plus a checkpoint that
            # the store only accepts if it extends the last one.
            shipped = audit_store.push_entries(self.replica, self.store, label=self.actor)
            if not shipped.ok:
                report.audit_error = shipped.error
                log.warning("audit push: %s", shipped.error)
            self.replica.set_info("last_sync_at", to_rfc3339(utcnow()))
            log.info("sync: %s", report.describe())
        except StoreError as error:
            report.error = str(error)
            log.warning("sync failed: %s", error)
        return report
