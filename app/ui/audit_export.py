"""Exporting an audit view with a progress dialog: the file is written a batch at a time on the
read lane, each batch one task, so the dialog moves, Cancel works between batches, and other
reads (the queue, the browser's pages) are never stuck behind a long export."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QProgressDialog, QWidget

from app.core.governance import AuditQuery, ExportFormat, ExportJob, Trail
from app.ui.tasks import TaskRunner

SHOW_AFTER_MS = 400  # a small export finishes before the dialog would flash up


class ExportRunner(QObject):
    finished = Signal(object, int)  # path, rows written
    failed = Signal(str)
    cancelled = Signal()

    def __init__(self, runner: TaskRunner, parent: QWidget) -> None:
        super().__init__(parent)
        self._runner = runner
        self._parent = parent
        self._job: ExportJob | None = None
        self.progress: QProgressDialog | None = None

    @property
    def busy(self) -> bool:
        return self._job is not None or self.progress is not None

    def start(self, trail: Trail, query: AuditQuery, path: Path, fmt: ExportFormat, total: int) -> None:
        progress = QProgressDialog(
            self.tr("Exporting {0} entries to {1}…").format(total, path.name),
            self.tr("Cancel"),
            0,
            max(total, 1),
            self._parent,
        )
        progress.setWindowTitle(self.tr("Export"))
        progress.setWindowModality(Qt.WindowModality.WindowModal)
        progress.setMinimumDuration(SHOW_AFTER_MS)
        progress.setAutoClose(False)
        progress.setAutoReset(False)
        progress.setValue(0)
        self.progress = progress
        self._runner.submit("read", lambda: ExportJob(trail, query, path, fmt), self._opened, self._error)

    def _opened(self, job: ExportJob) -> None:
        self._job = job
        self._next()

    def _next(self) -> None:
        job = self._job
        assert job is not None and self.progress is not None
        if self.progress.wasCanceled():
            self._job = None
            self._runner.submit("read", job.abort, lambda _none: self._done_cancelled(), self._error)
            return
        if job.done:
            self._job = None
            self._runner.submit("read", job.finish, lambda path: self._done(path, job.written), self._error)
            return
        self._runner.submit("read", job.step, self._stepped, self._error)

    def _stepped(self, written: int) -> None:
        assert self.progress is not None
        self.progress.setValue(min(written, self.progress.maximum()))
        self._next()

    def _close_progress(self) -> None:
        if self.progress is not None:
            self.progress.close()
            self.progress.deleteLater()
            self.progress = None

    def _done(self, path: Path, written: int) -> None:
        self._close_progress()
        self.finished.emit(path, written)

    def _done_cancelled(self) -> None:
        self._close_progress()
        self.cancelled.emit()

    def _error(self, error: Exception) -> None:
        job, self._job = self._job, None
        if job is not None:
            self._runner.submit("read", job.abort)
        self._close_progress()
        self.failed.emit(str(error))
