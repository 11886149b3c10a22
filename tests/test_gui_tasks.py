"""TaskRunner: results come back on the GUI thread, in lane order, and never to a deleted owner."""

from __future__ import annotations

import threading
from typing import Any

from PySide6.QtCore import QObject

from app.ui.tasks import TaskRunner


def test_results_arrive_on_the_gui_thread_in_lane_order(qtbot: Any) -> None:
    runner = TaskRunner()
    seen: list[tuple[int, bool]] = []
    gui = threading.get_ident()
    try:
        for n in range(5):
            runner.submit("read", lambda n=n: n, lambda r: seen.append((r, threading.get_ident() == gui)))
        qtbot.waitUntil(lambda: len(seen) == 5)
        assert seen == [(n, True) for n in range(5)]
    finally:
        runner.shutdown()


def test_an_error_reaches_the_caller(qtbot: Any) -> None:
    runner = TaskRunner()
    errors: list[Exception] = []
    try:
        runner.submit("read", lambda: 1 / 0, on_error=errors.append)
        qtbot.waitUntil(lambda: errors != [])
        assert isinstance(errors[0], ZeroDivisionError)
    finally:
        runner.shutdown()


def test_nothing_is_delivered_to_an_owner_deleted_while_the_work_ran(qtbot: Any) -> None:
    runner = TaskRunner()
    owner = QObject()
    release = threading.Event()
    delivered: list[object] = []
    try:
        runner.submit("read", lambda: release.wait(5), delivered.append, delivered.append, owner=owner)
        runner.submit("read", lambda: "after", delivered.append)  # no owner: always delivered
        owner.deleteLater()
        qtbot.waitUntil(lambda: not _alive(owner))
        release.set()
        qtbot.waitUntil(lambda: delivered != [])
        qtbot.waitUntil(lambda: not runner.is_busy())
        assert delivered == ["after"]
    finally:
        release.set()
        runner.shutdown()


class _Receiver(QObject):
    def __init__(self, sink: list[object]) -> None:
        super().__init__()
        self.sink = sink

    def got(self, result: object) -> None:
        self.sink.append(result)


def test_a_method_of_a_deleted_qobject_is_not_called_back(qtbot: Any) -> None:
    runner = TaskRunner()
    delivered: list[object] = []
    receiver = _Receiver(delivered)
    release = threading.Event()
    try:
        runner.submit("read", lambda: release.wait(5) and "late", receiver.got)  # owner: receiver
        runner.submit("read", lambda: "after", delivered.append)
        receiver.deleteLater()
        qtbot.waitUntil(lambda: not _alive(receiver))
        release.set()
        qtbot.waitUntil(lambda: not runner.is_busy())
        assert delivered == ["after"]
    finally:
        release.set()
        runner.shutdown()


def _alive(obj: QObject) -> bool:
    import shiboken6

    return shiboken6.isValid(obj)
