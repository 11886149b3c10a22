"""The reviewer window, driven as a reviewer would: keys, the reason picker, the three panes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel

from app.cli import main as cli
from app.core.domain import Action, PushState, Role
from app.core.replica import DecisionError
from app.core.workspace import Workspace, open_workspace
from app.ui.main_window import MainWindow
from app.ui.review_session import ReviewSession
from app.ui.tasks import TaskRunner
from app.ui.ticket_panes import pane_texts

pytestmark = pytest.mark.gui

HOSTILE = (
    '<b>bold</b><script>alert(1)</script><img src=x onerror=alert(1)><a href="http://evil.example">x</a>'
)


def hostile_ticket(examples_path: Path) -> dict:
    ticket = json.loads(examples_path.read_text(encoding="utf-8").splitlines()[0])
    ticket["external_id"] = "hostile-1"
    ticket["interaction"]["messages"][0]["text"] = HOSTILE
    ticket["exception"]["summary"] = "<i>summary</i> & <u>more</u>"
    ticket["ai"]["rationale"] = "<h1>rationale</h1>"
    ticket["created_at"] = "2000-01-01T00:00:00Z"  # oldest: first in the due-time order
    ticket["routing"] = {"due_at": "2000-01-01T01:00:00Z"}
    return ticket


@pytest.fixture
def store_url(tmp_path: Path, examples_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    assert cli(["init-store", "--store", url]) == 0
    assert cli(["ingest", str(examples_path), "--store", url]) == 0
    return url


class Harness:
    def __init__(self, qtbot, home: Path, url: str) -> None:
        self.qtbot = qtbot
        self.workspace: Workspace = open_workspace(home, url)
        syncer = self.workspace.syncer()
        assert syncer is not None and syncer.run_once().ok
        self.runner = TaskRunner()
        self.session = ReviewSession(self.workspace, self.runner)
        self.window = MainWindow(self.session, home / "ui.ini")
        qtbot.addWidget(self.window)
        self.window.show()
        qtbot.waitExposed(self.window)
        self.window.activateWindow()
        self.window.start()
        qtbot.waitUntil(lambda: self.window._current is not None)

    def key(self, key: Qt.Key, text: str = "") -> None:
        self.qtbot.keyClick(self.window.table, key)

    def decisions(self) -> list:
        with self.workspace.replica.engine.connect() as conn:
            return list(conn.exec_driver_sql("select action, reason_code, note, push_state from decisions"))

    def close(self) -> None:
        self.window.close()
        self.runner.shutdown()
        self.workspace.close()


@pytest.fixture
def harness(qtbot, home: Path, store_url: str) -> Iterator[Harness]:
    h = Harness(qtbot, home, store_url)
    yield h
    h.close()


def test_title_and_three_panes_show_the_ticket(harness: Harness) -> None:
    window = harness.window
    assert window.windowTitle().startswith("Signoff")
    ticket = window._current.ticket.payload
    texts = pane_texts(window.detail)
    assert ticket["interaction"]["messages"][0]["text"] in texts["interaction"]
    assert ticket["ai"]["rationale"] in texts["assessment"]
    assert ticket["ai"]["model_version"] in texts["assessment"]
    assert ticket["exception"]["summary"] in texts["exception"]
    assert ticket["exception"]["code"] in texts["exception"]


def test_a_then_1_records_an_approval_with_that_reason(harness: Harness) -> None:
    first = harness.window._current.ticket
    expected = harness.window._current.reasons[Action.APPROVE][0].code
    harness.key(Qt.Key.Key_A)
    assert harness.window.decision_bar.is_picking
    harness.key(Qt.Key.Key_1)
    harness.qtbot.waitUntil(lambda: len(harness.decisions()) == 1)
    action, reason, note, push_state = harness.decisions()[0]
    assert (action, reason, note) == ("approve", expected, None)
    assert push_state in (PushState.PENDING, PushState.PUSHED)
    # The next ticket opened by itself and the decided one left the queue.
    harness.qtbot.waitUntil(lambda: harness.window._current is not None)
    assert harness.window._current.ticket.id != first.id
    assert first.id not in harness.window.model.loaded_ids()


def test_no_decision_without_a_reason(harness: Harness) -> None:
    harness.key(Qt.Key.Key_A)
    harness.key(Qt.Key.Key_Escape)
    harness.key(Qt.Key.Key_1)  # the picker is closed: a digit alone decides nothing
    harness.key(Qt.Key.Key_R)
    harness.key(Qt.Key.Key_Return)
    harness.window.decision_bar.action_buttons[Action.APPROVE].click()  # button opens the picker only
    assert harness.runner.shutdown()
    assert harness.decisions() == []
    with pytest.raises(DecisionError):
        harness.workspace.replica.record_decision(
            harness.window._current.ticket.id, Action.APPROVE, "", reviewer="x", role=Role.REVIEWER
        )


def test_clarify_needs_the_question(harness: Harness) -> None:
    bar = harness.window.decision_bar
    harness.key(Qt.Key.Key_C)
    harness.key(Qt.Key.Key_1)
    assert harness.runner.shutdown()
    assert harness.decisions() == []
    assert bar.note.hasFocus() or bar.is_picking
    harness.qtbot.keyClicks(bar.note, "Which depot count?")
    harness.qtbot.keyClick(bar.note, Qt.Key.Key_Return)
    harness.qtbot.waitUntil(lambda: len(harness.decisions()) == 1)
    assert harness.decisions()[0][:3] == ("clarify", "needs_more_info", "Which depot count?")


def test_j_and_k_move_through_the_queue(harness: Harness) -> None:
    window = harness.window
    first = window.current_ticket_id()
    harness.key(Qt.Key.Key_J)
    harness.qtbot.waitUntil(lambda: window._current is not None and window._current.ticket.id != first)
    assert window.current_ticket_id() == window.model.ticket_id(1)
    harness.key(Qt.Key.Key_K)
    harness.qtbot.waitUntil(lambda: window._current is not None and window._current.ticket.id == first)


def test_hostile_html_is_shown_literally(
    qtbot, home: Path, tmp_path: Path, store_url: str, examples_path
) -> None:
    path = tmp_path / "hostile.jsonl"
    path.write_text(json.dumps(hostile_ticket(examples_path)) + "\n", encoding="utf-8")
    assert cli(["ingest", str(path), "--store", store_url]) == 0
    h = Harness(qtbot, home, store_url)
    try:
        assert h.window._current.ticket.external_id == "hostile-1"
        texts = pane_texts(h.window.detail)
        assert HOSTILE in texts["interaction"]
        assert "<h1>rationale</h1>" in texts["assessment"]
        assert "<i>summary</i> & <u>more</u>" in texts["exception"]
        for label in h.window.findChildren(QLabel):
            if "<" in label.text():
                assert label.textFormat() == Qt.TextFormat.PlainText, label.objectName()
        assert h.window.model.data(h.window.model.index(0, 1)) == "<i>summary</i> & <u>more</u>"
    finally:
        h.close()


def test_end_to_end_keyboard_decision_reaches_the_export(
    harness: Harness, store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    ticket = harness.window._current.ticket
    harness.key(Qt.Key.Key_R)
    harness.key(Qt.Key.Key_2)
    harness.qtbot.waitUntil(lambda: len(harness.decisions()) == 1)
    harness.key(Qt.Key.Key_F5)
    harness.qtbot.waitUntil(lambda: harness.decisions()[0][3] == PushState.PUSHED, timeout=10000)
    capsys.readouterr()
    assert cli(["export", "decisions", "--store", store_url]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(records) == 1
    record = records[0]
    assert record["schema"] == "signoff.decision/1"
    assert (record["source"], record["external_id"]) == (ticket.source, ticket.external_id)
    assert record["action"] == "reject"
    assert (
        record["reason_code"]
        == harness.window.session.workspace.replica.reason_codes(Action.REJECT, ticket.workflow)[1].code
    )
    assert record["ai"]["model_version"] == ticket.payload["ai"]["model_version"]


def test_offline_decisions_wait_and_push_when_the_store_returns(
    qtbot, home: Path, tmp_path: Path, store_url: str
) -> None:
    h = Harness(qtbot, home, store_url)
    try:
        store_file = tmp_path / "shared.db"
        hidden = tmp_path / "shared.db.away"
        h.workspace.store.close()
        h.workspace.store = None
        store_file.rename(hidden)  # the store vanishes (unplugged drive, VPN down)
        h.key(Qt.Key.Key_F5)
        h.qtbot.waitUntil(lambda: "offline" in h.window.sync_status.text() and not h.session.state().syncing)
        h.key(Qt.Key.Key_A)
        h.key(Qt.Key.Key_1)
        h.qtbot.waitUntil(lambda: "offline · 1 waiting" in h.window.sync_status.text())
        hidden.rename(store_file)
        h.key(Qt.Key.Key_F5)
        h.qtbot.waitUntil(lambda: "online · 0 waiting" in h.window.sync_status.text(), timeout=10000)
        assert [d[3] for d in h.decisions()] == [PushState.PUSHED]
    finally:
        h.close()


def test_the_next_ticket_can_be_decided_straight_away(harness: Harness) -> None:
    # The preload cache makes the next ticket appear synchronously while its row is removed:
    # it must still be the one the keys act on.
    harness.window.session.preload(harness.window.model.ticket_id(1))
    harness.runner.shutdown()
    second = harness.window.model.ticket_id(1)
    harness.key(Qt.Key.Key_A)
    harness.key(Qt.Key.Key_1)
    harness.qtbot.waitUntil(lambda: harness.window._current is not None)
    assert harness.window._current.ticket.id == second
    harness.key(Qt.Key.Key_R)
    assert harness.window.decision_bar.is_picking
    harness.key(Qt.Key.Key_1)
    harness.qtbot.waitUntil(lambda: len(harness.decisions()) == 2)
    assert [d[0] for d in harness.decisions()] == ["approve", "reject"]


def test_a_note_then_a_decision_without_the_mouse(harness: Harness) -> None:
    bar = harness.window.decision_bar
    harness.key(Qt.Key.Key_N)
    assert bar.note.hasFocus()
    harness.qtbot.keyClicks(bar.note, "checked CRM")
    harness.qtbot.keyClick(bar.note, Qt.Key.Key_Return)  # the note is done: keys go back to the queue
    assert not bar.note.hasFocus()
    harness.key(Qt.Key.Key_A)
    harness.key(Qt.Key.Key_1)
    harness.qtbot.waitUntil(lambda: len(harness.decisions()) == 1)
    assert harness.decisions()[0][:3] == ("approve", "ai_correct", "checked CRM")
    assert bar.note.text() == ""


def test_escape_leaves_the_search_for_the_queue(harness: Harness) -> None:
    window = harness.window
    search = window.filters.search
    window.actions_by_id["find"].trigger()
    assert search.hasFocus()
    harness.qtbot.keyClicks(search, "lead")
    harness.qtbot.keyClick(search, Qt.Key.Key_Escape)
    assert not search.hasFocus()
    first = window.current_ticket_id()
    harness.key(Qt.Key.Key_J)  # a shortcut again, not a letter in the search
    assert search.text() == "lead"
    harness.qtbot.waitUntil(lambda: window.current_ticket_id() != first)


def test_ctrl_z_withdraws_a_decision_before_it_is_sent(harness: Harness) -> None:
    first = harness.window._current.ticket.id
    harness.key(Qt.Key.Key_A)
    harness.key(Qt.Key.Key_1)
    harness.qtbot.waitUntil(lambda: len(harness.decisions()) == 1)
    harness.qtbot.keyClick(harness.window.table, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    harness.qtbot.waitUntil(lambda: harness.decisions()[0][3] == "withdrawn")
    harness.qtbot.waitUntil(lambda: first in harness.window.model.loaded_ids())
    assert harness.workspace.replica.outbox.waiting_count() == 0


def test_a_sync_that_reloads_the_queue_keeps_the_reason_picker_and_the_note(
    harness: Harness, examples_path: Path, tmp_path: Path
) -> None:
    """A sync lands while the reviewer is mid-decision (it runs seconds after each decision):
    the picker stays open, the typed question stays, and the next key decides."""
    window, bar = harness.window, harness.window.decision_bar
    shown = window._current.ticket.id
    before = len(window.model.loaded_ids())
    harness.key(Qt.Key.Key_C)
    bar.note.setText("Which depot count should we use: 12 or 40?")
    assert bar.is_picking
    newcomer = json.loads(examples_path.read_text(encoding="utf-8").splitlines()[0])
    newcomer["external_id"] = "arrived-during-the-decision"
    new_file = tmp_path / "new.jsonl"
    new_file.write_text(json.dumps(newcomer) + "\n", encoding="utf-8")
    assert cli(["ingest", str(new_file), "--store", harness.workspace.store_url]) == 0
    harness.qtbot.waitUntil(lambda: not harness.runner.is_busy("sync"))  # the start-up sync is done
    with harness.qtbot.waitSignal(harness.session.replica_changed, timeout=20000):
        harness.session.sync_now()
    harness.qtbot.waitUntil(lambda: len(window.model.loaded_ids()) == before + 1)
    harness.qtbot.waitUntil(lambda: not harness.runner.is_busy("read"))
    assert window._current.ticket.id == shown
    assert bar.is_picking and bar.note.text() == "Which depot count should we use: 12 or 40?"
    harness.key(Qt.Key.Key_1)
    harness.qtbot.waitUntil(lambda: len(harness.decisions()) == 1)
    action, _reason, note, _state = harness.decisions()[0]
    assert (action, note) == ("clarify", "Which depot count should we use: 12 or 40?")



def test_undo_brings_the_ticket_back_with_its_question(harness: Harness) -> None:
    window, bar = harness.window, harness.window.decision_bar
    asked = window._current.ticket.id
    harness.key(Qt.Key.Key_C)
    bar.note.setText("Is the budget for this year or next?")
    harness.key(Qt.Key.Key_1)
    harness.qtbot.waitUntil(lambda: len(harness.decisions()) == 1)
    harness.qtbot.waitUntil(lambda: window._current is not None and window._current.ticket.id != asked)
    harness.qtbot.keyClick(window.table, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    harness.qtbot.waitUntil(lambda: window._current is not None and window._current.ticket.id == asked)
    assert [row[3] for row in harness.decisions()] == ["withdrawn"]
    assert bar.note.text() == "Is the budget for this year or next?"
