"""`signoff smoke`: the packaging self-test. It runs the real start-up path on a demo store with no
display, decides one ticket the way a reviewer does, and exits.

What it goes through is what a bundle can get wrong: the Qt platform plugin and the SVG icon, the
store and replica migrations (Alembic loads their scripts from files), the window and its
shortcuts, the write lane recording the decision with its audit entry; and, reported alongside,
keyring backends found through entry points and psycopg's compiled implementation. It waits on the
app's own signals, never on sleeps; a deadline turns a hang into a failure.

Prints one line, ``smoke: ok — …`` (exit 0) or ``smoke: FAILED — …`` (exit 1).
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import time
from importlib.metadata import entry_points
from pathlib import Path

import psycopg
from PySide6 import __version__ as pyside_version
from PySide6.QtCore import QCoreApplication, QObject, Qt, QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from app.core.demo import prepare_demo
from app.core.domain import Action, Decision
from app.core.workspace import Workspace
from app.paths import HOME_ENV, home_dir
from app.ui.application import application, configure_logging
from app.ui.launcher import Launcher
from app.ui.main_window import MainWindow
from app.ui.review_session import LoadedTicket
from app.ui.tasks import TaskRunner

SMOKE_TICKETS = 40  # enough for a queue, quick to make
DEADLINE_MS = 90_000


def run_smoke(*, home: str | None = None, reviewer: str | None = None) -> int:
    """The self-test. With no home given (neither ``home`` nor ``$SIGNOFF_HOME``) it works in a
    throwaway folder, so it never decides a ticket in someone's own demo store."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # read when the QApplication is made
    if home or os.environ.get(HOME_ENV):
        return _smoke(home_dir(home), reviewer)
    with tempfile.TemporaryDirectory(prefix="signoff-smoke-", ignore_cleanup_errors=True) as scratch:
        return _smoke(Path(scratch), reviewer)


def _smoke(home: Path, reviewer: str | None) -> int:
    started = time.monotonic()
    root = logging.getLogger()
    handlers_before = list(root.handlers)
    configure_logging(home)
    app = application()
    runner = TaskRunner()
    smoke = Smoke(home, prepare_demo(home, tickets=SMOKE_TICKETS, history=False), runner, reviewer)
    try:
        smoke.start()
        app.exec()
    finally:
        smoke.stop()
        runner.shutdown()
        # Results still queued for the GUI thread arrive now, not in some later event loop of the
        # caller's: a workspace opened after the deadline is closed by SmokeLauncher._opened.
        QCoreApplication.sendPostedEvents()
        if smoke.workspace is not None:
            smoke.workspace.close()
        for handler in [h for h in root.handlers if h not in handlers_before]:
            root.removeHandler(handler)  # the log file lives in home, which may be about to go
            handler.close()
    elapsed = time.monotonic() - started
    if smoke.failure is not None:
        print(f"smoke: FAILED — {smoke.failure} (after {elapsed:.1f} s)", flush=True)
        return 1
    details = [smoke.outcome, *_environment(app)]
    print(f"smoke: ok — {'; '.join(details)}; {elapsed:.1f} s", flush=True)
    return 0


def _environment(app: QApplication) -> list[str]:
    """What the bundle carries besides the window: icon, keyring backends, psycopg, Qt."""
    icon = "icon ok" if not app.windowIcon().pixmap(32, 32).isNull() else "NO ICON"
    names = []
    for point in entry_points(group="keyring.backends"):
        try:
            point.load()
            names.append(point.name)
        except Exception as error:  # a backend that cannot even be imported in this build
            names.append(f"{point.name}!{type(error).__name__}")
    backends = f"keyring backends: {','.join(sorted(names)) or 'NONE'}"
    kind = "frozen" if getattr(sys, "frozen", False) else "from source"
    return [icon, backends, f"psycopg {psycopg.pq.__impl__}", f"Qt {pyside_version}", kind]


class SmokeLauncher(Launcher):
    """The app's own Launcher (resolve the URL and open the workspace on the sync lane, then build
    and show the MainWindow), reporting to the smoke test instead of asking: a box would hang here."""

    def __init__(self, smoke: Smoke, home: Path, url: str, runner: TaskRunner, reviewer: str | None) -> None:
        super().__init__(home, url, demo=True, runner=runner, reviewer=reviewer)
        self.smoke = smoke

    def _opened(self, result: tuple) -> None:
        if self.smoke.done:  # too late: the test has already failed
            self._idle()
            result[0].close()
            return
        super()._opened(result)
        if self.window is not None:
            self.smoke.ready(self.window)

    def _show_failure(self, error: Exception) -> None:
        self._idle()
        self.smoke.fail(f"could not open the store: {error}")


class Smoke(QObject):
    def __init__(self, home: Path, url: str, runner: TaskRunner, reviewer: str | None) -> None:
        super().__init__()
        self.launcher = SmokeLauncher(self, home, url, runner, reviewer)
        self.window: MainWindow | None = None
        self.workspace: Workspace | None = None
        self.failure: str | None = None
        self.outcome = ""
        self._pressed = False
        self._awaiting_focus = False
        self.done = False
        self._deadline = QTimer(self)
        self._deadline.setSingleShot(True)
        self._deadline.setInterval(DEADLINE_MS)
        self._deadline.timeout.connect(self._too_late)

    def start(self) -> None:
        self._deadline.start()
        self.launcher.start()

    def ready(self, window: MainWindow) -> None:
        self.window = window
        self.workspace = window.session.workspace
        session = window.session
        session.ticket_loaded.connect(self._ticket_loaded)
        session.decision_recorded.connect(self._recorded)
        session.decision_failed.connect(lambda message, _ticket: self.fail(f"not recorded: {message}"))

    def _ticket_loaded(self, loaded: LoadedTicket | None) -> None:
        # None until the start-up sync has filled the replica and the queue has a first ticket.
        if loaded is None or self._pressed:
            return
        self._pressed = True
        QTimer.singleShot(0, self._decide)  # after the window's own slot has shown the ticket

    def _decide(self) -> None:
        window = self.window
        assert window is not None
        if QGuiApplication.focusWindow() is not window.windowHandle():
            # The one-key shortcuts need the window active: wait for the platform to say so.
            if not self._awaiting_focus:
                self._awaiting_focus = True
                QGuiApplication.instance().focusWindowChanged.connect(self._focus_changed)
            window.activateWindow()
            return
        current = window._current
        if current is None:
            self.fail("the ticket went away before it could be decided")
            return
        reason = current.reasons[Action.APPROVE][0].code
        self.outcome = f"approved {current.ticket.external_id} with reason {reason}"
        QTest.keyClick(window.table, Qt.Key.Key_A)
        if not window.decision_bar.is_picking:
            self.fail("the A key did not open the reason picker")
            return
        QTest.keyClick(window.table, Qt.Key.Key_1)

    def _focus_changed(self, _window: object) -> None:
        if self.window is not None and QGuiApplication.focusWindow() is self.window.windowHandle():
            self._stop_awaiting_focus()
            self._decide()

    def _stop_awaiting_focus(self) -> None:
        if self._awaiting_focus:
            self._awaiting_focus = False
            QGuiApplication.instance().focusWindowChanged.disconnect(self._focus_changed)

    def _recorded(self, decision: Decision) -> None:
        if decision.action != Action.APPROVE:
            self.fail(f"recorded {decision.action}, not approve")
            return
        self.outcome += f", decision {decision.decision_id[:8]} written to the replica"
        self._finish()

    def fail(self, message: str) -> None:
        if self.failure is None:
            self.failure = message
        self._finish()

    def _too_late(self) -> None:
        step = "no ticket opened" if not self._pressed else "no decision recorded"
        self.fail(f"{step} within {self._deadline.interval() / 1000:g} s")

    def _finish(self) -> None:
        if self.done:
            return
        self.done = True
        self._deadline.stop()
        # Close "Opening the store…" while the event loop still runs: closed after it, from outside,
        # the next event loops of an in-process caller (a test run) lost their queued results.
        self.launcher._idle()
        if self.window is not None:
            self.window.close()  # saves its state and waits for the write lane
        QTimer.singleShot(0, QApplication.quit)

    def stop(self) -> None:
        """Nothing of this run may fire or stay open later (matters when the caller's event loop
        goes on, as in a test run): no timer, no application-modal "Opening the store…"."""
        self._deadline.stop()
        self._stop_awaiting_focus()
        self.launcher._idle()
        window = self.window
        for owner in (window, window.session if window is not None else None):
            if owner is not None:
                for timer in owner.findChildren(QTimer):
                    timer.stop()
