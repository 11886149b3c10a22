"""Runs core work off the GUI thread and hands results back to it.

Lanes are single-threaded pools, so work within a lane keeps its order (two writes to the
replica never race, and a page requested first arrives first), while a slow store on the
"sync" lane never delays a decision on the "write" lane. Reads nobody waits on (the tray's counts,
the audit chain check: seconds at a million rows) go on the "background" lane, so they never
queue in front of a page or a ticket on the "read" lane. Modelled on Anki's taskman.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from typing import Any

import shiboken6
from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot

log = logging.getLogger(__name__)

LANES = ("read", "write", "sync", "claim", "background")


class _Relay(QObject):
    """Lives on the GUI thread. A worker emits its signals; because the receiving slots belong
    to this object, Qt queues the call onto the GUI thread."""

    succeeded = Signal(object)
    failed = Signal(object, str)

    def __init__(self, on_done: Callable[[Any], None], on_error: Callable[[Exception, str], None]) -> None:
        super().__init__()
        self._on_done = on_done
        self._on_error = on_error
        self.succeeded.connect(self._deliver)
        self.failed.connect(self._deliver_error)

    @Slot(object)
    def _deliver(self, result: Any) -> None:
        self._on_done(result)

    @Slot(object, str)
    def _deliver_error(self, error: Exception, trace: str) -> None:
        self._on_error(error, trace)


class _Job(QRunnable):
    def __init__(self, fn: Callable[[], Any], relay: _Relay) -> None:
        super().__init__()
        self.fn = fn
        self.relay = relay
        self.setAutoDelete(True)

    def run(self) -> None:
        try:
            result = self.fn()
        except Exception as error:  # every failure goes back to the caller, never lost
            self.relay.failed.emit(error, traceback.format_exc())
        else:
            self.relay.succeeded.emit(result)


class TaskRunner(QObject):
    busy_changed = Signal(str, bool)  # lane, busy

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pools: dict[str, QThreadPool] = {}
        for lane in LANES:
            pool = QThreadPool(self)
            pool.setMaxThreadCount(1)
            self._pools[lane] = pool
        self._in_flight: dict[str, int] = dict.fromkeys(LANES, 0)
        self._relays: set[_Relay] = set()

    def submit(
        self,
        lane: str,
        fn: Callable[[], Any],
        on_done: Callable[[Any], None] | None = None,
        on_error: Callable[[Exception], None] | None = None,
        *,
        owner: QObject | None = None,
    ) -> None:
        """Run `fn` on `lane`; its result or error comes back on the GUI thread. With `owner`,
        nothing is delivered once the owner is gone (a model or view closed while its page was
        being read). A method of a QObject as `on_done` makes that object the owner: a window
        closed while its reads were out must not be written to when they come back."""
        if owner is None and isinstance(getattr(on_done, "__self__", None), QObject):
            owner = on_done.__self__  # type: ignore[union-attr]

        def wanted() -> bool:
            return owner is None or shiboken6.isValid(owner)

        def done(result: Any) -> None:
            self._finish(lane, relay)
            if on_done is not None and wanted():
                on_done(result)

        def failed(error: Exception, trace: str) -> None:
            self._finish(lane, relay)
            log.error("task on lane %s failed: %s\n%s", lane, error, trace)
            if on_error is not None and wanted():
                on_error(error)

        relay = _Relay(done, failed)
        self._relays.add(relay)  # keep it alive until it has delivered
        self._in_flight[lane] += 1
        if self._in_flight[lane] == 1:
            self.busy_changed.emit(lane, True)
        self._pools[lane].start(_Job(fn, relay))

    def _finish(self, lane: str, relay: _Relay) -> None:
        self._relays.discard(relay)
        relay.deleteLater()
        self._in_flight[lane] -= 1
        if self._in_flight[lane] == 0:
            self.busy_changed.emit(lane, False)

    def is_busy(self, lane: str | None = None) -> bool:
        lanes = [lane] if lane else LANES
        return any(self._in_flight[name] for name in lanes)

    def shutdown(self, timeout_ms: int = 10000) -> bool:
        """Wait for queued work (a decision being written must finish before exit)."""
        return all(pool.waitForDone(timeout_ms) for pool in self._pools.values())
