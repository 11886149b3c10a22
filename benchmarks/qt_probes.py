"""The window benchmarks (P1, P2, P3, P10), each run in a process of its own so its timings and
resident memory are the window's alone:

    python -m benchmarks.qt_probes p1|p3|p10 HOME [N]     prints one JSON line
    python -m benchmarks.qt_probes p2 HOME                the real `signoff` start, see p2()

They drive the real MainWindow built by app.ui.window_builder on an offline workspace (the replica
only), press keys with QTest and wait on the window's own signals; deadlines turn hangs into errors.
"""

from __future__ import annotations

import gc
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

DEADLINE_S = 120.0
# The window's store: a file that is not there, so the window works offline from the replica (the
# generated homes remember it). Defined here, not in generate.py: a probe process must load the
# app's modules only, or its start-up time and memory would count the benchmark's own.
OFFLINE_URL = "sqlite:////nonexistent/signoff-bench/store.sqlite3"


def rss_mb() -> tuple[float, float]:
    """(resident now, peak resident) in MB, from /proc (Linux)."""
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) / 1024
    return fields.get("VmRSS", 0.0), fields.get("VmHWM", 0.0)


def wait_until(condition: Callable[[], bool], what: str, deadline_s: float = DEADLINE_S) -> None:
    from PySide6.QtCore import QCoreApplication, QEventLoop

    end = time.monotonic() + deadline_s
    while not condition():
        if time.monotonic() > end:
            raise TimeoutError(f"{what}: not within {deadline_s:g} s")
        QCoreApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 5)


def open_window(home: Path) -> Any:
    """The app's window on the home's (offline) workspace, shown, started, first ticket on screen."""
    from app import cli

    cli._run_app()  # the modules load as at a real start (the core first, then Qt)
    from PySide6.QtGui import QGuiApplication

    from app.core.workspace import open_workspace
    from app.ui.application import application
    from app.ui.tasks import TaskRunner
    from app.ui.window_builder import build_window

    application()
    runner = TaskRunner()
    workspace = open_workspace(home, OFFLINE_URL, remember=False)
    window = build_window(workspace, runner, home / "ui.ini")
    window.resize(1400, 900)
    window.show()
    window.start()
    window.activateWindow()
    wait_until(lambda: QGuiApplication.focusWindow() is window.windowHandle(), "window active")
    wait_until(lambda: window._current is not None, "first ticket shown")
    return window


def settle(window: Any) -> None:
    """Wait until the window's reads and writes are done: the start-up reads too (the tray's
    counts, the chain check), which moved from the read lane to the background lane."""
    runner = window.session.runner
    lanes = ("read", "write", "background")
    wait_until(lambda: not any(runner.is_busy(lane) for lane in lanes), "lanes idle")


def close(window: Any) -> None:
    window.close()
    window.session.workspace.close()


def p1(home: Path, decisions: int) -> dict[str, Any]:
    """Decision key (the reason digit, which records it) to the next ticket shown and painted."""
    from PySide6.QtCore import QCoreApplication, Qt
    from PySide6.QtTest import QTest

    window = open_window(home)
    latencies: list[float] = []
    shown: list[float] = []
    try:
        for _ in range(decisions):
            settle(window)
            before = window._current.ticket.id
            QTest.keyClick(window.table, Qt.Key.Key_A)
            if not window.decision_bar.is_picking:
                raise RuntimeError("the A key did not open the reason picker")
            started = time.perf_counter()
            QTest.keyClick(window.table, Qt.Key.Key_1)
            wait_until(
                lambda b=before: window._current is not None and window._current.ticket.id != b,
                "next ticket",
            )
            shown.append(time.perf_counter() - started)
            # What the reviewer sees: the pending paints (the changed panes and rows) done.
            QCoreApplication.sendPostedEvents()
            QCoreApplication.processEvents()
            latencies.append(time.perf_counter() - started)
        settle(window)
    finally:
        close(window)
    latencies.sort()
    p95 = latencies[max(0, round(0.95 * len(latencies)) - 1)]
    return {
        "p95_ms": 1000 * p95,
        "median_ms": 1000 * statistics.median(latencies),
        "max_ms": 1000 * latencies[-1],
        "p95_shown_ms": 1000 * sorted(shown)[max(0, round(0.95 * len(shown)) - 1)],
        "decisions": len(latencies),
    }


def p3(home: Path) -> dict[str, Any]:
    """Scroll the queue view from the first row to the last, loading every page; then RSS."""
    window = open_window(home)
    model, table = window.model, window.table
    pages = 0
    try:
        baseline, _ = rss_mb()
        started = time.perf_counter()
        while True:
            wait_until(lambda: not model.is_loading, "page")
            if not model.canFetchMore():
                break
            table.scrollToBottom()  # the view asks for the next page itself (fetchMore)
            if not model.is_loading and model.canFetchMore():
                model.fetchMore()
            pages += 1
        scrolled = time.perf_counter() - started
        table.scrollToTop()
        table.scrollToBottom()
        settle(window)
        gc.collect()
        now, peak = rss_mb()
        rows = model.rowCount()
    finally:
        close(window)
    return {
        "rss_mb": now,
        "peak_mb": peak,
        "rss_after_first_page_mb": baseline,
        "rows": rows,
        "pages": pages,
        "scroll_s": scrolled,
    }


def p10(home: Path) -> dict[str, Any]:
    """Filter and sort changes through the filter bar: time to the first page of the new view."""
    window = open_window(home)
    filters, model = window.filters, window.model
    timings: dict[str, float] = {}
    loaded: list[float] = []
    model.page_loaded.connect(lambda: loaded.append(time.perf_counter()))
    changes: list[tuple[str, Any, Any]] = []
    for index in range(1, filters.workflow.count()):
        changes.append((f"workflow={filters.workflow.itemData(index)}", filters.workflow, index))
    changes.append(("all workflows", filters.workflow, 0))
    for index in range(1, filters.sort.count()):
        changes.append((f"sort={filters.sort.itemData(index)}", filters.sort, index))
    changes.append((f"sort={filters.sort.itemData(0)}", filters.sort, 0))
    for index in range(1, filters.queue.count()):
        changes.append((f"queue={filters.queue.itemData(index)}", filters.queue, index))
    changes.append(("all queues", filters.queue, 0))
    try:
        for label, combo, index in changes:
            settle(window)
            loaded.clear()
            started = time.perf_counter()
            combo.setCurrentIndex(index)
            wait_until(lambda: bool(loaded), f"first rows after {label}")
            timings[label] = 1000 * (loaded[0] - started)
        settle(window)
    finally:
        close(window)
    worst = max(timings, key=timings.__getitem__)
    return {"max_ms": timings[worst], "worst": worst, "median_ms": statistics.median(timings.values()),
            "timings_ms": timings}


# --- P2: the real start-up, in a fresh process -----------------------------------------------


def _p2_child(home: Path, store_url: str) -> int:
    """Runs `signoff --home HOME` (app.cli.main) with a hook that prints the moment the window
    shows its first ticket, then quits."""
    from app import cli

    cli._run_app()  # the modules load in the order the real start loads them (core, then Qt)
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from app.ui.main_window import MainWindow

    original = MainWindow.start

    def start(self: MainWindow) -> None:
        def shown(loaded: object) -> None:
            if loaded is None:
                return
            self.repaint()
            print(f"READY {time.time():.6f}", flush=True)
            QTimer.singleShot(0, self.close)
            QTimer.singleShot(0, QApplication.quit)

        self.session.ticket_loaded.connect(shown)
        original(self)

    MainWindow.start = start  # type: ignore[method-assign]
    return cli.main(["--home", str(home), "--store", store_url])


def p2(home: Path, runs: int = 3) -> dict[str, Any]:
    """Wall time from spawning the process to the window showing the first ticket (median)."""
    times = []
    # As an installed app starts: with its compiled bytecode (pip writes it at install; the
    # packaged bundle ships it). A first, unmeasured run writes it for this checkout.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["QT_QPA_PLATFORM"] = "offscreen"
    for run in range(runs + 1):
        started = time.time()
        result = subprocess.run(
            [sys.executable, "-m", "benchmarks.qt_probes", "p2-child", str(home), OFFLINE_URL],
            capture_output=True,
            text=True,
            timeout=DEADLINE_S,
            env=env,
            cwd=Path(__file__).resolve().parents[1],
        )
        ready = [line for line in result.stdout.splitlines() if line.startswith("READY ")]
        if not ready:
            raise RuntimeError(f"the window never showed a ticket: {result.stderr[-2000:]}")
        if run:
            times.append(float(ready[0].split()[1]) - started)
    return {"median_s": statistics.median(times), "runs_s": times}


def run_probe(name: str, home: Path, *args: Any) -> dict[str, Any]:
    """Run a probe in a fresh interpreter; its last stdout line is the JSON result."""
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.qt_probes", name, str(home), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=DEADLINE_S * 10,
        cwd=Path(__file__).resolve().parents[1],
    )
    lines = result.stdout.strip().splitlines()
    if result.returncode != 0 or not lines:
        raise RuntimeError(f"probe {name} failed: {result.stderr[-3000:]}")
    return json.loads(lines[-1])


def main(argv: list[str]) -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ.setdefault("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
    name, home = argv[0], Path(argv[1])
    if name == "p2-child":
        return _p2_child(home, argv[2])  # the store URL: the child imports nothing of the benchmarks
    if name == "p1":
        result = p1(home, int(argv[2]) if len(argv) > 2 else 50)
    elif name == "p2":
        result = p2(home, int(argv[2]) if len(argv) > 2 else 3)
    elif name == "p3":
        result = p3(home)
    elif name == "p10":
        result = p10(home)
    else:
        raise SystemExit(f"unknown probe {name}")
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
