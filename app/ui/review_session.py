"""The thin controller between the reviewer window and the core.

It owns no widgets: it runs core calls on the task lanes and reports back by signal. Views
react to the signals; nothing here reaches into a widget.
"""

from __future__ import annotations

import logging
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime

from PySide6.QtCore import QObject, QTimer, Signal

from app.core.domain import Action, Decision, QueueQuery, QueueRow, ReasonCode, TicketView, utcnow
from app.core.sync import SyncReport
from app.core.workspace import Workspace, reconnect
from app.ui.tasks import TaskRunner

log = logging.getLogger(__name__)

DECIDE_ACTIONS = (Action.APPROVE, Action.REJECT, Action.CLARIFY)
PUSH_DEBOUNCE_MS = 1500
PRELOAD_CACHE = 16


@dataclass(frozen=True)
class LoadedTicket:
    ticket: TicketView
    reasons: dict[Action, list[ReasonCode]]


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

    def __init__(self, workspace: Workspace, runner: TaskRunner, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.workspace = workspace
        self.runner = runner
        self._cache: OrderedDict[int, LoadedTicket] = OrderedDict()
        self._wanted: int | None = None
        self._undo_stack: list[tuple[Decision, int]] = []  # (decision, ticket id)
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
        reasons = {action: replica.reason_codes(action, ticket.workflow) for action in DECIDE_ACTIONS}
        return LoadedTicket(ticket, reasons)

    def open_ticket(self, ticket_id: int | None) -> None:
        """Show a ticket: from the preload cache at once, else from the replica."""
        self._wanted = ticket_id
        if ticket_id is None:
            self.ticket_loaded.emit(None)
            return
        cached = self._cache.get(ticket_id)
        if cached is not None:
            self.ticket_loaded.emit(cached)
            return
        self.runner.submit(
            "read", lambda: self._load(ticket_id), lambda loaded: self._loaded(ticket_id, loaded)
        )

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

    def decide(self, ticket_id: int, action: Action, reason_code: str, note: str | None) -> str:
        """Record a decision on the write lane. Its id and time are fixed now, at the key press."""
        decision_id, decided_at = str(uuid.uuid4()), utcnow()
        replica, reviewer, role = self.workspace.replica, self.workspace.reviewer, self.workspace.role
        self.forget(ticket_id)

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
            )

        self.runner.submit(
            "write",
            write,
            lambda decision: self._recorded(decision, ticket_id),
            lambda error: self.decision_failed.emit(str(error), ticket_id),
        )
        return decision_id

    def _recorded(self, decision: Decision, ticket_id: int) -> None:
        self._undo_stack.append((decision, ticket_id))
        self._waiting += 1
        self._emit_state()
        self.decision_recorded.emit(decision)
        if self.is_online:
            self._push_timer.start()

    def undo_last(self) -> None:
        if not self._undo_stack:
            self.undo_refused.emit(self.tr("Nothing to undo"))
            return
        decision, ticket_id = self._undo_stack.pop()
        replica, reviewer, role = self.workspace.replica, self.workspace.reviewer, self.workspace.role

        def undo() -> tuple[bool, int]:
            withdrawn = replica.undo(decision.decision_id, actor=reviewer, role=role)
            return withdrawn, replica.waiting_count()

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
                        "That decision has already been sent to the store; "
                        "decide the ticket again to correct it"
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
        self.sync_now()

    def sync_now(self) -> None:
        if self._syncing:
            return
        self._syncing = True
        self._push_timer.stop()
        self._emit_state()
        workspace = self.workspace

        def cycle() -> tuple[SyncReport, int, int]:
            if not reconnect(workspace):
                report = SyncReport(error=workspace.store_error)
            else:
                syncer = workspace.syncer()
                assert syncer is not None
                workspace.replica.retry_now()
                report = syncer.run_once()
            status = workspace.replica.status()
            return report, status.waiting, status.rejected

        self.runner.submit("sync", cycle, self._synced, self._sync_crashed)

    def _synced(self, result: tuple[SyncReport, int, int]) -> None:
        report, self._waiting, self._rejected = result
        self._syncing = False
        self._last_error = report.error
        if report.ok:
            self._last_sync = utcnow()
            if report.pushed:
                # Pushed decisions can no longer be withdrawn, only corrected.
                self._undo_stack.clear()
        if report.pulled:
            self.clear_cache()
            self.replica_changed.emit()
        self._emit_state()
        self.sync_finished.emit(report)

    def _sync_crashed(self, error: Exception) -> None:
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
