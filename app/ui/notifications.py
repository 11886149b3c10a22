"""Desktop notifications and the system-tray icon: how many tickets wait and how many are past
due, a message when tickets breach their SLA, when new escalations arrive (for escalation
managers) and when automation is paused (for admins).

Notification text holds counts and workflow names only, never ticket text: some desktops
render notification bodies as markup. Without a system tray (a bare window manager, the
offscreen platform) nothing breaks: every message still goes out on `notified`, which the
window shows in its status bar.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer, Signal

from app.core import sla
from app.core.domain import Role, utcnow
from app.core.replica import Replica
from app.ui.tasks import TaskRunner
from app.ui.tray import TrayIcon, plural

if TYPE_CHECKING:  # the breaker's store code loads with the first sync
    from app.core.circuit_breaker import Control

log = logging.getLogger(__name__)

POLL_MS = 60_000


@dataclass(frozen=True)
class Snapshot:
    """One reading of the replica (made on the read lane)."""

    at: datetime
    waiting: int
    breached: int
    newly_breached: int
    breached_workflows: tuple[str, ...]
    escalated: frozenset[int]


class Notifier(QObject):
    notified = Signal(str, str)  # title, text: every notification, tray or not
    counts_changed = Signal(int, int)  # waiting, breached

    def __init__(
        self,
        runner: TaskRunner,
        replica: Replica,
        role: Role | str,
        parent: QObject | None = None,
        *,
        use_tray: bool = True,
        enabled: bool = True,
    ) -> None:
        super().__init__(parent)
        self._runner = runner
        self._replica = replica
        self._role = str(role)
        self._last: Snapshot | None = None
        self._polling = False
        self.waiting = 0
        self.breached = 0
        self.enabled = enabled  # the Preferences switch: off means no desktop pop-ups
        self.tray: TrayIcon | None = None
        if use_tray and TrayIcon.available():
            self.attach_tray(TrayIcon(self))
        self.timer = QTimer(self)
        self.timer.setInterval(POLL_MS)
        self.timer.timeout.connect(self.poll)

    @property
    def has_tray(self) -> bool:
        return self.tray is not None

    def attach_tray(self, tray: TrayIcon) -> None:
        self.tray = tray
        tray.set_counts(self.waiting, self.breached)
        tray.show()

    def set_enabled(self, enabled: bool) -> None:
        self.enabled = enabled

    def start(self) -> None:
        self.timer.start()
        self.poll()

    def stop(self) -> None:
        self.timer.stop()
        if self.tray is not None:
            self.tray.hide()

    # --- reading -------------------------------------------------------------------------

    def poll(self, *_args: object) -> None:
        """Read the counts now (also connect the session's replica_changed here)."""
        if self._polling:
            return
        self._polling = True
        since = self._last.at if self._last else None
        # Counting a whole queue takes most of a second at a million tickets: on the background
        # lane, never in front of the page or ticket the reviewer is waiting for.
        self._runner.submit("background", lambda: self._read(since), self._got, self._failed)

    def _read(self, since: datetime | None) -> Snapshot:
        now = utcnow()
        counts = sla.local_counts(self._replica, now)
        managing = self._role in (Role.ESCALATION_MANAGER, Role.ADMIN)
        return Snapshot(
            at=now,
            waiting=sum(c.waiting for c in counts.values()),
            breached=sum(c.breached for c in counts.values()),
            newly_breached=sla.newly_breached(self._replica, since, now),
            breached_workflows=tuple(sorted(w for w, c in counts.items() if c.breached)),
            escalated=frozenset(sla.escalated_ids(self._replica) if managing else ()),
        )

    def _failed(self, error: Exception) -> None:
        self._polling = False
        log.info("notification counts not read: %s", error)

    def _got(self, snapshot: Snapshot) -> None:
        self._polling = False
        previous, self._last = self._last, snapshot
        self.waiting, self.breached = snapshot.waiting, snapshot.breached
        if self.tray is not None:
            self.tray.set_counts(snapshot.waiting, snapshot.breached)
        self.counts_changed.emit(snapshot.waiting, snapshot.breached)
        if snapshot.newly_breached:
            where = ", ".join(snapshot.breached_workflows[:3])
            self.notify(
                self.tr("SLA breached"),
                self.tr("{0} passed the due time").format(plural(snapshot.newly_breached, "ticket"))
                + (f" ({where})" if where else "")
                + self.tr("; {0} past due in all.").format(snapshot.breached),
            )
        if self._role == Role.ESCALATION_MANAGER:
            fresh = snapshot.escalated - (previous.escalated if previous else frozenset())
            if fresh:
                what = "new escalation" if previous else "escalation"
                self.notify(
                    self.tr("Escalations"),
                    self.tr("{0} waiting for your decision.").format(plural(len(fresh), what)),
                )

    # --- telling -------------------------------------------------------------------------

    def breaker_paused(self, paused: Sequence[Control]) -> None:
        """Connect BreakerWatch.newly_paused here: admins hear of every pause."""
        if self._role != Role.ADMIN or not paused:
            return
        names = ", ".join(c.workflow for c in paused)
        self.notify(
            self.tr("Automation paused"),
            self.tr("Automation paused for {0}. See the Policy tab to resume.").format(names),
        )

    def notify(self, title: str, text: str) -> None:
        """A desktop message when allowed; `notified` either way (the window's status bar)."""
        if self.tray is not None and self.enabled:
            self.tray.message(title, text)
        self.notified.emit(title, text)
