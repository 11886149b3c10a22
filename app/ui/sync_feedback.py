"""What the reviewer sees of sync: the status-bar line, progress, the details dialog, and the
"Sync now" / "Take offline" commands with their outcome."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QMainWindow, QMessageBox

from app.core.domain import Decision
from app.ui.filter_bar import FilterBar
from app.ui.review_session import ReviewSession
from app.ui.status_panel import SyncStatus, describe

if TYPE_CHECKING:  # the sync machinery loads with the first sync, after the first ticket
    from app.core.sync import SyncReport

OFFLINE_BATCH = 50


class SyncFeedback(QObject):
    def __init__(self, session: ReviewSession, window: QMainWindow, filters: FilterBar) -> None:
        super().__init__(window)
        self.session = session
        self.window = window
        self.filters = filters
        self.status = SyncStatus()
        window.statusBar().addPermanentWidget(self.status)
        self._manual = False
        session.sync_state_changed.connect(self.status.show_state)
        session.sync_progress.connect(self._progress)
        session.sync_finished.connect(self._finished)
        session.offline_taken.connect(self._offline_taken)
        self.status.clicked.connect(self.show_details)
        self.status.show_state(session.state())

    def _say(self, text: str, timeout_ms: int = 0) -> None:
        self.window.statusBar().showMessage(text, timeout_ms)

    def sync_now(self) -> None:
        self._manual = True
        self._say(self.tr("Syncing…"))
        self.session.sync_now(manual=True)

    def _finished(self, report: SyncReport) -> None:
        if not self._manual:
            return  # background cycles speak through the status line only
        self._manual = False
        if report.ok:
            self._say(self.tr("Synced: {0}").format(report.describe()), 6000)
        else:
            self._say(self.tr("Sync failed: {0}").format(report.error), 10000)

    def _progress(self, phase: str, done: int) -> None:
        wording = self.tr("Sending decisions… {0}") if phase == "push" else self.tr("Fetching tickets… {0}")
        self._say(wording.format(f"{done:,}"), 3000)

    def take_offline(self) -> None:
        query = self.filters.query()
        self._say(self.tr("Checking out tickets for offline review…"))
        self.session.take_offline(OFFLINE_BATCH, workflow=query.workflow, queue=query.queue)

    def _offline_taken(self, count: int) -> None:
        self._say(
            self.tr("{0} tickets checked out for offline review; they stay yours for 12 hours").format(count),
            8000,
        )

    def show_details(self) -> None:
        self.session.runner.submit("read", self.session.workspace.replica.outbox.refused, self._details)

    def _details(self, refused: list[tuple[Decision, str]]) -> None:
        state = self.status.state
        lines = [
            describe(state) if state else "",
            "",
            (state.last_error if state else None) or self.tr("No errors."),
        ]
        if refused:
            lines += ["", self.tr("Refused by the store (kept here and in the audit log):")]
            lines += [f"• {d.external_id} — {d.action} · {d.reason_code}: {why}" for d, why in refused[:20]]
        box = QMessageBox(QMessageBox.Icon.Information, self.tr("Sync status"), "", parent=self.window)
        box.setTextFormat(Qt.TextFormat.PlainText)  # errors and reasons come from the store
        box.setText("\n".join(lines))
        box.open()
