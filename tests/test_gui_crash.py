"""An unexpected error: a dialog with a copyable plain-text report (no passwords), and the note
being typed survives as a draft that comes back when the ticket is opened after a restart."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from gui_window import Opened, make_store
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QPushButton

from app import __version__
from app.core.drafts import DraftStore
from app.ui.crash_dialog import CrashHandler, LogTail, crash_report, redact

pytestmark = pytest.mark.gui


@pytest.fixture
def store_url(tmp_path: Path, examples_path: Path) -> str:
    return make_store(tmp_path, examples_path)


@pytest.fixture
def crash(home: Path) -> Iterator[CrashHandler]:
    handler = CrashHandler(home, LogTail()).install()
    yield handler
    if handler.dialog is not None:
        handler.dialog.close()
    handler.uninstall()


def test_redaction_removes_every_password() -> None:
    text = redact(
        "could not reach postgresql+psycopg://alice:s3cret@db.example.org:5432/signoff "
        "and sqlite:///x.db?password=hunter2; libpq said password=topsecret"
    )
    assert "s3cret" not in text and "hunter2" not in text and "topsecret" not in text
    assert "db.example.org" in text and "alice" in text


def test_the_report_names_version_platform_traceback_and_log(home: Path) -> None:
    try:
        raise RuntimeError("boom at postgresql://bob:pw123@host/db")
    except RuntimeError:
        report = crash_report(sys.exc_info(), ["12:00 INFO app: opened sqlite:///a.db"])  # type: ignore[arg-type]
    assert f"Signoff {__version__}" in report and "Platform:" in report
    assert "RuntimeError: boom at postgresql://bob@host/db" in report
    assert "test_the_report_names_version_platform_traceback_and_log" in report  # the traceback
    assert "opened sqlite:///a.db" in report and "pw123" not in report


@pytest.mark.qt_no_exception_capture
def test_an_error_in_a_slot_shows_the_dialog_and_keeps_the_note(
    qtbot, home: Path, store_url: str, crash: CrashHandler
) -> None:
    opened = Opened(qtbot, home, store_url)
    try:
        window = opened.window
        ticket_id = window._current.ticket.id
        logging.getLogger("app.test").warning("store at postgresql://carol:letmein@db/x is slow")
        qtbot.keyClicks(window.decision_bar.note, "ask about the gala budget")
        # No wait for the debounce: the crash handler writes the draft itself.
        button = QPushButton("explode")
        qtbot.addWidget(button)
        button.clicked.connect(lambda: 1 / 0)
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: crash.dialog is not None and crash.dialog.isVisible())
        report = crash.dialog.report.toPlainText()
        assert "ZeroDivisionError" in report and "Traceback" in report
        assert "letmein" not in report and "postgresql://carol@db/x is slow" in report
        assert crash.dialog.report.isReadOnly()
        crash.dialog.copy_button.click()
        assert QGuiApplication.clipboard().text() == report
        assert list((home / "logs").glob("crash-*.txt"))  # kept on disk too
        draft = DraftStore(home, opened.workspace.replica.store_id).load(ticket_id)
        assert draft is not None and draft.note == "ask about the gala budget"
        # A second error while the dialog is up joins the same dialog.
        button.clicked.disconnect()
        button.clicked.connect(lambda: [][1])
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: "IndexError" in crash.dialog.report.toPlainText())
        assert len(crash.reports) == 2
        crash.dialog.continue_button.click()
        assert not crash.dialog.isVisible()
    finally:
        opened.close()


def test_the_draft_comes_back_after_a_restart_and_goes_with_the_decision(
    qtbot, home: Path, store_url: str
) -> None:
    first = Opened(qtbot, home, store_url)
    ticket_id = first.window._current.ticket.id
    qtbot.keyClicks(first.window.decision_bar.note, "half a thought")
    drafts = DraftStore(home, first.workspace.replica.store_id)
    qtbot.waitUntil(lambda: drafts.load(ticket_id) is not None)  # the debounced save
    first.close()

    second = Opened(qtbot, home, store_url)
    try:
        window = second.window
        assert window._current.ticket.id == ticket_id
        assert window.decision_bar.note.text() == "half a thought"
        # Moving away and back keeps it too (the field belongs to the ticket, not the window).
        qtbot.keyClick(window.table, Qt.Key.Key_J)
        qtbot.waitUntil(lambda: window._current is not None and window._current.ticket.id != ticket_id)
        assert window.decision_bar.note.text() == ""
        qtbot.keyClick(window.table, Qt.Key.Key_K)
        qtbot.waitUntil(lambda: window._current is not None and window._current.ticket.id == ticket_id)
        assert window.decision_bar.note.text() == "half a thought"
        with qtbot.waitSignal(window.session.decision_recorded):
            qtbot.keyClick(window.table, Qt.Key.Key_A)
            qtbot.keyClick(window.table, Qt.Key.Key_1)
        assert drafts.load(ticket_id) is None
        with window.session.workspace.replica.engine.connect() as conn:
            notes = [row[0] for row in conn.exec_driver_sql("select note from decisions")]
        assert notes == ["half a thought"]
    finally:
        second.close()
