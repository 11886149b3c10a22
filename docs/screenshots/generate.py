"""Regenerate the README's screenshots from the real app on demo data.

    .venv/bin/python docs/screenshots/generate.py [OUTPUT_DIR]

Runs offscreen; waits on the app's own signals, never on sleeps.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["PYTHON_KEYRING_BACKEND"] = "keyring.backends.null.Keyring"

from PySide6.QtCore import QEventLoop, QTimer
from PySide6.QtWidgets import QWidget

from app.core.demo import prepare_demo
from app.core.domain import Action
from app.core.settings import Settings
from app.core.workspace import open_workspace
from app.ui.application import application
from app.ui.main_window import MainWindow
from app.ui.tasks import TaskRunner
from app.ui.welcome.screenshot import welcome_screenshots
from app.ui.window_builder import build_window

OUT = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent


def wait_until(condition: Callable[[], bool], timeout_ms: int = 10000) -> None:
    loop = QEventLoop()
    timer = QTimer()
    timer.setInterval(20)
    timer.timeout.connect(lambda: loop.quit() if condition() else None)
    deadline = QTimer()
    deadline.setSingleShot(True)
    deadline.timeout.connect(loop.quit)
    timer.start()
    deadline.start(timeout_ms)
    loop.exec()
    if not condition():
        raise TimeoutError("the window did not get there in time")


def shoot(widget: QWidget, name: str) -> None:
    path = OUT / name
    widget.grab().save(str(path))
    print(f"wrote {path}")


def main() -> None:
    app = application()
    home = Path(tempfile.mkdtemp(prefix="signoff-shots-"))
    settings = Settings(reviewer="maria.lopez")
    settings.save(home)
    url = prepare_demo(home)
    workspace = open_workspace(home, url)
    syncer = workspace.syncer()
    assert syncer is not None
    syncer.run_once()
    runner = TaskRunner()
    window = build_window(workspace, runner, home / "ui.ini", title_note="demo")
    window.resize(1600, 900)
    window.show()
    window.start()
    wait_until(lambda: window._current is not None and not runner.is_busy())
    shoot(window, "main-window.png")

    window.begin_decision(Action.APPROVE)
    wait_until(lambda: window.decision_bar.is_picking)
    shoot(window, "reason-picker.png")
    window.decision_bar.cancel()

    # A morning's work, sent to the store, then the Audit tab on it.
    decided = window.session.workspace.replica.outbox.waiting_count
    for step, action in enumerate(
        (Action.APPROVE, Action.REJECT, Action.APPROVE, Action.CLARIFY, Action.REJECT)
    ):
        wait_until(lambda: window._current is not None)
        window.begin_decision(action)
        if action == Action.CLARIFY:
            window.decision_bar.note.setText("Which depot count should we use: 12 or 40?")
        window.decision_bar.choose(1 + step % 2)
        wait_until(lambda step=step: not runner.is_busy("write") and decided() == step + 1)
    window.sync.sync_now()
    wait_until(lambda: not runner.is_busy() and decided() == 0, timeout_ms=20000)
    browser = show_tab(window, "Audit")
    wait_until(lambda: browser.model.rowCount() > 0 and not runner.is_busy())
    shoot(window, "audit-browser.png")
    window.tabs.setCurrentIndex(0)

    dialog = window.preferences.open()  # type: ignore[attr-defined]
    dialog.resize(720, 560)
    wait_until(dialog.isVisible)
    shoot(dialog, "preferences.png")
    dialog.reject()
    window.close()

    # The same store as an administrator sees it: the Dashboard with the demo's month of
    # decisions, and the Policy tab.
    workspace.settings.role = "admin"
    admin = build_window(workspace, runner, home / "ui-admin.ini", title_note="demo")
    admin.resize(1600, 1000)
    admin.show()
    admin.start()
    wait_until(lambda: admin._current is not None and not runner.is_busy())
    dashboard = show_tab(admin, "Dashboard")
    wait_until(lambda: dashboard.report is not None and not runner.is_busy(), timeout_ms=60000)
    shoot(admin, "dashboard.png")
    show_tab(admin, "Policy")
    wait_until(lambda: not runner.is_busy())
    shoot(admin, "policy.png")
    admin.close()

    for path in welcome_screenshots(OUT, runner):
        print(f"wrote {path}")
    runner.shutdown()
    workspace.close()
    app.quit()


def show_tab(window: MainWindow, title: str) -> QWidget:
    for index in range(window.tabs.count()):
        if window.tabs.tabText(index).replace("&", "") == title:
            window.tabs.setCurrentIndex(index)
            return window.tabs.widget(index)
    raise LookupError(f"no {title} tab")


if __name__ == "__main__":
    main()
