"""The automation banner: which workflows' pipelines are paused (the circuit breaker tripped, or
an admin paused them), above the queue, for everyone. `BreakerWatch` reads the store's
automation controls on the sync lane and tells the banner, and anyone listening, what changed."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QLabel, QWidget

from app.core.domain import to_rfc3339
from app.core.policy import BREAKER
from app.ui.tasks import TaskRunner

if TYPE_CHECKING:  # the breaker's store code is imported on the worker, when a store is there
    from app.core.circuit_breaker import Control
    from app.core.store import Store

log = logging.getLogger(__name__)


def banner_text(paused: Sequence[Control]) -> str:
    if not paused:
        return ""
    lines = []
    for control in paused:
        since = to_rfc3339(control.set_at)[:16].replace("T", " ")
        # A trip's reason starts "circuit breaker: …" already; a person's needs their name.
        who = "" if control.source == BREAKER else f" by {control.set_by}"
        lines.append(f"Automation paused for {control.workflow} since {since} UTC{who} — {control.reason}")
    lines.append(
        "The pipeline sends these workflows' decisions for review instead of acting on them; "
        "an administrator resumes it in the Policy tab."
    )
    return "\n".join(lines)


class BreakerBanner(QLabel):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("breakerBanner")
        # Reasons are typed by admins and workflow names come from pipelines: never rich text.
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setWordWrap(True)
        self.setStyleSheet(
            "padding: 6px 10px; border-left: 4px solid #d68910; background: rgba(214, 137, 16, 0.16);"
        )
        self.hide()

    def show_controls(self, paused: Sequence[Control]) -> None:
        self.setText(banner_text(paused))
        self.setVisible(bool(paused))


class BreakerWatch(QObject):
    """Reads which workflows are paused (after every sync, and when asked)."""

    changed = Signal(object)  # list[Control]: every paused workflow now
    newly_paused = Signal(object)  # list[Control]: paused since the last reading (not the first)

    def __init__(
        self,
        runner: TaskRunner,
        store: Callable[[], Store | None],
        banner: BreakerBanner | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._runner = runner
        self._store = store
        self._known: set[tuple[str, object]] | None = None  # (workflow, set_at) of pauses seen
        self.paused: list[Control] = []
        if banner is not None:
            self.changed.connect(banner.show_controls)

    def refresh(self, *_args: object) -> None:
        """Connect to the session's sync_finished; offline it keeps what it last knew."""
        store = self._store()
        if store is None:
            return
        self._runner.submit(
            "sync",
            lambda: _paused(store),
            self._got,
            lambda error: log.info("automation controls not read: %s", error),
        )

    def _got(self, paused: list[Control]) -> None:
        seen = {(c.workflow, c.set_at) for c in paused}
        if self._known is not None:
            fresh = [c for c in paused if (c.workflow, c.set_at) not in self._known]
            if fresh:
                self.newly_paused.emit(fresh)
        self._known = seen
        self.paused = paused
        self.changed.emit(paused)


def _paused(store: Store) -> list[Control]:
    from app.core import circuit_breaker

    return circuit_breaker.paused(store)
