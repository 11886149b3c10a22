"""The thin controller between the reviewer window and the core.

It owns no widgets: it runs core calls on the task lanes and reports back by signal. Views
react to the signals; nothing here reaches into a widget.
"""

from __future__ import annotations

import logging
import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer, Signal

from app.core.domain import Action, Decision, QueueQuery, QueueRow, ReasonCode, TicketView, utcnow
from app.core.store import StoreUnavailable
from app.core.workspace import Workspace, reconnect
from app.ui.tasks import TaskRunner

if TYPE_CHECKING:  # the sync machinery is imported by the first sync, after the first ticket
    from app.core.store_claims import ClaimState
    from app.core.sync import SyncReport

log = logging.getLogger(__name__)

DECIDE_ACTIONS = (Action.APPROVE, Action.REJECT, Action.CLARIFY)
# Decisions wait this long before the push, so Ctrl+Z can still withdraw them; the status
# bar's undo hint stays up just as long.
PUSH_DEBOUNCE_MS = 8000
UNDO_DEPTH = 50
PRELOAD_CACHE = 16
FIRST_SYNC_LATEST_MS = 1500


@dataclass(frozen=True)
class LoadedTicket:
    ticket: TicketView
    reasons: dict[Action, list[ReasonCode]]  # empty when this reviewer cannot decide it now
    # This installation's decision on it that reached the store: a new one corrects it.
    correctable: str | None = None


@dataclass(frozen=True)
class SyncState:
    online: bool
    syncing: bool
    waiting: int
    rejected: int
    last_sync: datetime | None
    last_error: str | None


class ReviewSession(QObject):
    ticket_loaded = Signal(object)  # LoadedTicket | None
    decision_recorded = Signal(object)  # Decision
    decision_failed = Signal(str, int)  # message, ticket id
    undone = Signal(int)  # ticket id back in the queue
    undo_refused = Signal(str)
    sync_state_changed = Signal(object)  # SyncState
    sync_finished = Signal(object)  # SyncReport
    replica_changed = Signal()  # new or changed tickets arrived
    sync_progress = Signal(str, int)  # phase, items so far (emitted from the sync worker)
    claim_changed = Signal(int, object)  # ticket id, ClaimState | None
    offline_taken = Signal(int)  # how many tickets were checked out for offline review

    def __init__(self, workspace: Workspace, runner: TaskRunner, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.workspace = workspace
        self.runner = runner
        self._cache: OrderedDict[int, LoadedTicket] = OrderedDict()
        self._wanted: int | None = None
        # (decision id, ticket id), pushed at the key press: Ctrl+Z right after a decision must
        # work even before the write lane has finished recording it (it runs after it, in order).
        self._undo_stack: list[tuple[str, int]] = []
        self._syncing = False
        self._last_sync: datetime | None = None
        self._last_error: str | None = workspace.store_error
        self._waiting = 0
        self._rejected = 0
        self._push_timer = QTimer(self)
        self._push_timer.setSingleShot(True)
        self._push_timer.setInterval(PUSH_DEBOUNCE_MS)
        self._push_timer.timeout.connect(self.sync_now)
        self.sync_timer = QTimer(self)
        self.sync_timer.setInterval(max(5, workspace.settings.sync_interval_s) * 1000)
        self.sync_timer.timeout.connect(self.sync_now)

    # --- queue data (called on the read lane by the model) ------------------------------

    def queue_page(self, query: QueueQuery, after: QueueRow | None, limit: int) -> list[QueueRow]:
        return self.workspace.replica.queue_page(query, after, limit)

    def queue_rows(self, query: QueueQuery, ticket_ids: Sequence[int]) -> list[QueueRow]:
        return self.workspace.replica.queue_rows(query, ticket_ids)

    def queue_count(self, query: QueueQuery) -> int:
        return self.workspace.replica.queue_count(query)

    def workflows(self) -> list[str]:
        return self.workspace.replica.workflows()

    # --- tickets -----------------------------------------------------------------------

    def _load(self, ticket_id: int) -> LoadedTicket | None:
        replica = self.workspace.replica
        ticket = replica.ticket(ticket_id)
        if ticket is None:
            return None
        correctable = None
        # Not decidable (a blind second review's first reviewer included): a correction at most.
        if not replica.decidable(ticket, self.workspace.reviewer):
            last = replica.last_decision(ticket_id)
            correctable = last.decision_id if last is not None else None
            if correctable is None:
                return LoadedTicket(ticket, {})
        reasons = {action: replica.reason_codes(action, ticket.workflow) for action in DECIDE_ACTIONS}
        return LoadedTicket(ticket, reasons, correctable)

    def open_ticket(self, ticket_id: int | None) -> None:
        """Show a ticket: from the preload cache at once, else from the replica. When online,
        also claim it, so other reviewers see it is in review."""
        self._wanted = ticket_id
        if ticket_id is None:
            self.ticket_loaded.emit(None)
            return
        self._claim(ticket_id)
        cached = self._cache.get(ticket_id)
        if cached is not None:
            self.ticket_loaded.emit(cached)
            return
        self.runner.submit(
            "read", lambda: self._load(ticket_id), lambda loaded: self._loaded(ticket_id, loaded)
        )

    def _claim(self, ticket_id: int) -> None:
        store = self.workspace.store
        if store is None or not self.is_online:
            return
        reviewer, client_id = self.workspace.reviewer, self.workspace.replica.client_id

        def claim() -> ClaimState:
            return store.claim(ticket_id, holder=reviewer, client_id=client_id)

        def done(state: ClaimState) -> None:
            if ticket_id == self._wanted:
                self.claim_changed.emit(ticket_id, None if state.held_by(client_id) else state)

        # A failed claim is not worth a dialog: review goes on, and sync reports the store.
        self.runner.submit("claim", claim, done, lambda error: log.info("claim failed: %s", error))

    def take_offline(self, count: int = 50, *, workflow: str | None = None, queue: str | None = None) -> None:
        """Check out a batch of my queue with a long lease, then sync, for review without a
        connection (train, gala)."""
        workspace = self.workspace
        reviewer, client_id = workspace.reviewer, workspace.replica.client_id

        def work() -> tuple[int, tuple[SyncReport, int, int]]:
            if not reconnect(workspace) or workspace.store is None:
                raise StoreUnavailable(workspace.store_error or "the store cannot be reached")
            taken = workspace.store.claim_batch(
                holder=reviewer, client_id=client_id, count=count, workflow=workflow, queue=queue
            )
            return len(taken), self._cycle(manual=True)

        def done(result: tuple[int, tuple[SyncReport, int, int]]) -> None:
            taken, cycle = result
            self._synced(cycle)
            self.offline_taken.emit(taken)

        self._syncing = True
        self._emit_state()
        self.runner.submit("sync", work, done, self._sync_crashed)

    def preload(self, ticket_id: int | None) -> None:
        """Fetch the ticket the reviewer will most likely open next, so it shows instantly."""
        if ticket_id is None or ticket_id in self._cache:
            return
        self.runner.submit(
            "read", lambda: self._load(ticket_id), lambda loaded: self._remember(ticket_id, loaded)
        )

    def _remember(self, ticket_id: int, loaded: LoadedTicket | None) -> None:
        if loaded is None:
            return
        self._cache[ticket_id] = loaded
        self._cache.move_to_end(ticket_id)
        while len(self._cache) > PRELOAD_CACHE:
            self._cache.popitem(last=False)

    def _loaded(self, ticket_id: int, loaded: LoadedTicket | None) -> None:
        self._remember(ticket_id, loaded)
        if ticket_id == self._wanted:  # the reviewer may have moved on meanwhile
            self.ticket_loaded.emit(loaded)

    def forget(self, ticket_id: int) -> None:
        self._cache.pop(ticket_id, None)

    def clear_cache(self) -> None:
        self._cache.clear()

    # --- deciding ----------------------------------------------------------------------

    def decide(
        self,
        ticket_id: int,
        action: Action,
        reason_code: str,
        note: str | None,
        *,
        supersedes: str | None = None,
    ) -> str:
        """Record a decision on the write lane. Its id and time are fixed now, at the key press.
        `supersedes` makes it a correction of a decision that already reached the store."""
        decision_id, decided_at = str(uuid.uuid4()), utcnow()
        replica, reviewer, role = self.workspace.replica, self.workspace.reviewer, self.workspace.role
        self.forget(ticket_id)
        self._undo_stack.append((decision_id, ticket_id))
        del self._undo_stack[:-UNDO_DEPTH]

        def write() -> Decision:
            return replica.record_decision(
                ticket_id,
                action,
                reason_code,
                reviewer=reviewer,
                role=role,
                note=note,
                decision_id=decision_id,
                decided_at=decided_at,
                supersedes=supersedes,
            )

        self.runner.submit(
            "write",
            write,
            lambda decision: self._recorded(decision, ticket_id),
            lambda error: self._failed(decision_id, ticket_id, error),
        )
        return decision_id

    def _failed(self, decision_id: str, ticket_id: int, error: Exception) -> None:
        if (decision_id, ticket_id) in self._undo_stack:
            self._undo_stack.remove((decision_id, ticket_id))
        self.decision_failed.emit(str(error), ticket_id)

    def _recorded(self, decision: Decision, ticket_id: int) -> None:
        self._waiting += 1
        self._emit_state()
        self.decision_recorded.emit(decision)
        if self.is_online:
            self._push_timer.start()

    def undo_last(self) -> None:
        if not self._undo_stack:
            self.undo_refused.emit(self.tr("Nothing to undo"))
            return
        decision_id, ticket_id = self._undo_stack.pop()
        replica, reviewer, role = self.workspace.replica, self.workspace.reviewer, self.workspace.role

        def undo() -> tuple[bool, int]:
            withdrawn = replica.undo(decision_id, actor=reviewer, role=role)
            return withdrawn, replica.outbox.waiting_count()

        def done(result: tuple[bool, int]) -> None:
            withdrawn, waiting = result
            self._waiting = waiting
            self._emit_state()
            if withdrawn:
                self.forget(ticket_id)
                self.undone.emit(ticket_id)
            else:
                self.undo_refused.emit(
                    self.tr(
                        "That decision has already been sent to the store. To correct it, open the "
                        "Decided view and decide the ticket again: both decisions stay on record."
                    )
                )

        self.runner.submit("write", undo, done)

    @property
    def undo_available(self) -> bool:
        return bool(self._undo_stack)

    # --- sync --------------------------------------------------------------------------

    @property
    def is_online(self) -> bool:
        return self.workspace.store is not None and self._last_error is None

    def start(self) -> None:
        self.sync_timer.start()
        self.runner.submit("read", lambda: self.workspace.replica.last_sync, self._got_last_sync)
        # The first sync's imports and round trips would otherwise compete with the first
        # ticket for the interpreter; the timer starts it anyway if no ticket is asked for.
        self.after_first_ticket(self.sync_now, latest_ms=FIRST_SYNC_LATEST_MS)

    def after_first_ticket(self, work: Callable[[], None], *, latest_ms: int | None = None) -> None:
        """Run `work` once, when the first ticket is shown (or the queue found empty), or after
        `latest_ms` if that comes first: start-up work the reviewer does not wait for must not
        stand between them and that ticket."""
        done = False

        def once(*_loaded: object) -> None:
            nonlocal done
            if not done:
                done = True
                work()

        self.ticket_loaded.connect(once)
        if latest_ms is not None:
            QTimer.singleShot(latest_ms, self, once)

    def _got_last_sync(self, moment: datetime | None) -> None:
        if self._last_sync is None:
            self._last_sync = moment
            self._emit_state()

    def sync_now(self, *, manual: bool = False) -> None:
        """One sync cycle on the sync lane. `manual` (F5) also cancels push back-off."""
        if self._syncing:
            return
        self._syncing = True
        self._push_timer.stop()
        self._emit_state()
        self.runner.submit("sync", lambda: self._cycle(manual=manual), self._synced, self._sync_crashed)

    def _cycle(self, *, manual: bool) -> tuple[SyncReport, int, int]:
        """Runs on the sync lane."""
        from app.core.sync import SyncReport

        workspace = self.workspace
        if not reconnect(workspace):
            report = SyncReport(error=workspace.store_error)
        else:
            syncer = workspace.syncer()
            assert syncer is not None
            if manual:
                workspace.replica.outbox.retry_now()
            report = syncer.run_once(progress=self.sync_progress.emit)
        status = workspace.replica.outbox.status()
        return report, status.waiting, status.rejected

    def _synced(self, result: tuple[SyncReport, int, int]) -> None:
        report, self._waiting, self._rejected = result
        self._syncing = False
        self._last_error = report.error
        if report.ok:
            self._last_sync = utcnow()
        if report.pulled or report.decisions_pulled or report.rebuilt:
            self.clear_cache()
            self.replica_changed.emit()
        self._emit_state()
        self.sync_finished.emit(report)

    def _sync_crashed(self, error: Exception) -> None:
        from app.core.sync import SyncReport

        self._synced((SyncReport(error=f"sync failed unexpectedly: {error}"), self._waiting, self._rejected))

    def state(self) -> SyncState:
        return SyncState(
            online=self.is_online,
            syncing=self._syncing,
            waiting=self._waiting,
            rejected=self._rejected,
            last_sync=self._last_sync,
            last_error=self._last_error,
        )

    def _emit_state(self) -> None:
        self.sync_state_changed.emit(self.state())
