"""Personal data in the reviewer window: masked where the role may not see it, Reveal asks the
store and is audited, offline says so, a role that sees it gets it from the store, and no
value ever lands in the replica. Also renders the states to /tmp/pii_*.png for a look."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import example_tickets
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QLabel

from app.cli import main as cli
from app.core import audit, pii, pii_access
from app.core.domain import Role, TicketView
from app.core.workspace import Workspace, open_workspace
from app.ui.main_window import MainWindow
from app.ui.pii_reveal import PiiReveal
from app.ui.tasks import TaskRunner
from app.ui.ticket_panes import TicketDetail, pane_texts
from app.ui.ticket_panes.pii_controls import PiiState
from app.ui.window_builder import build_window

pytestmark = pytest.mark.gui
HOSTILE_NAME = "<b>Mal</b><img src=x onerror=alert(1)>"
SHOTS = Path("/tmp")


def _view(ticket: dict[str, Any], ticket_id: int = 1, revision: int = 1) -> TicketView:
    return TicketView(
        id=ticket_id,
        source=ticket.get("source", "default"),
        external_id=ticket["external_id"],
        workflow=ticket["workflow"],
        status="open",
        queue="review",
        priority=50,
        due_at=None,
        revision=revision,
        payload=pii.split(ticket)[0],  # as the replica has it: masked
    )


def _all_text(widget: Any) -> str:
    return "\n".join(pane_texts(widget).values())


@pytest.fixture
def detail(qtbot: Any) -> TicketDetail:
    widget = TicketDetail()
    qtbot.addWidget(widget)
    widget.resize(1200, 700)
    widget.show()
    return widget


# --- the detail on its own -------------------------------------------------------------------------


def test_a_masked_role_sees_the_mask_and_reveal_shows_the_values(qtbot: Any, detail: TicketDetail) -> None:
    ticket = example_tickets()[1]
    values = pii.split(ticket)[1]
    detail.set_pii_masked(True)
    detail.set_reveal_allowed(True)
    detail.show_ticket(_view(ticket, 7))
    shown = _all_text(detail)
    assert all(str(v) not in shown for v in values.values())
    assert pii.MASK in pane_texts(detail)["header"] and pii.MASK in pane_texts(detail)["interaction"]
    assert "Personal data hidden for your role" in shown
    button = detail.subject_header.pii.button
    assert button.isVisible() and button.text() == "Reveal"
    with qtbot.waitSignal(detail.reveal_requested) as asked:
        button.click()
    assert asked.args == [7] and detail.pii_state is PiiState.REVEALING and not button.isEnabled()

    detail.show_personal_data(7, values, revealed=True)
    shown = _all_text(detail)
    assert ticket["subject"]["display_name"] in shown and ticket["subject"]["email"] in shown
    assert ticket["interaction"]["messages"][0]["from"] in pane_texts(detail)["interaction"]
    assert "recorded in the audit log" in shown and button.text() == "Hide"

    button.click()  # Hide: masked again, the values forgotten
    assert ticket["subject"]["email"] not in _all_text(detail)
    assert detail.pii_state is PiiState.HIDDEN and button.text() == "Reveal"


def test_values_belong_to_the_ticket_on_screen_only(detail: TicketDetail) -> None:
    first, second = example_tickets()[0], example_tickets()[1]
    detail.set_pii_masked(True)
    detail.set_reveal_allowed(True)
    detail.show_ticket(_view(first, 1))
    detail.show_personal_data(1, pii.split(first)[1], revealed=True)
    assert first["subject"]["email"] in _all_text(detail)
    detail.show_ticket(_view(second, 2))
    detail.show_personal_data(1, pii.split(first)[1], revealed=True)  # a late answer for ticket 1
    assert first["subject"]["email"] not in _all_text(detail)
    detail.show_ticket(_view(first, 1))  # back to the first: asked again, not remembered
    assert first["subject"]["email"] not in _all_text(detail)
    detail.show_personal_data(1, pii.split(first)[1], revealed=True)
    detail.show_ticket(_view(first, 1, revision=2))  # new content: the old values do not fit it
    assert first["subject"]["email"] not in _all_text(detail)


def test_no_reveal_button_for_a_role_that_may_not_reveal(detail: TicketDetail) -> None:
    detail.set_pii_masked(True)
    detail.set_reveal_allowed(False)
    detail.show_ticket(_view(example_tickets()[0]))
    assert not detail.subject_header.pii.button.isVisible()
    assert "Personal data hidden for your role" in _all_text(detail)


def test_a_role_that_sees_personal_data_asks_for_it_on_open(qtbot: Any, detail: TicketDetail) -> None:
    ticket = example_tickets()[0]
    detail.set_pii_masked(False)
    with qtbot.waitSignal(detail.personal_data_wanted) as wanted:
        detail.show_ticket(_view(ticket, 3))
    assert wanted.args == [3]
    detail.show_personal_data(3, pii.split(ticket)[1], revealed=False)
    assert ticket["subject"]["email"] in _all_text(detail)
    assert detail.pii_state is PiiState.SHOWN and not detail.subject_header.pii.isVisible()


def test_unavailable_says_why_and_keeps_the_mask(detail: TicketDetail) -> None:
    detail.set_pii_masked(True)
    detail.set_reveal_allowed(True)
    detail.show_ticket(_view(example_tickets()[0], 5))
    detail.personal_data_unavailable(5, "Personal data comes from the store: not available offline")
    assert "not available offline" in _all_text(detail)
    assert detail.subject_header.pii.button.isEnabled()  # try again once back online


def test_revealed_values_stay_plain_text(detail: TicketDetail) -> None:
    ticket = example_tickets()[0]
    ticket["subject"]["display_name"] = HOSTILE_NAME
    detail.set_pii_masked(True)
    detail.show_ticket(_view(ticket))
    detail.show_personal_data(1, pii.split(ticket)[1], revealed=True)
    assert HOSTILE_NAME in pane_texts(detail)["header"]
    assert all(label.textFormat() == Qt.TextFormat.PlainText for label in detail.findChildren(QLabel))


# --- the window, wired as app.ui.pii_reveal says ---------------------------------------------------


class Reviewer:
    """The real reviewer window on a SQLite store, with the personal-data controller attached."""

    def __init__(self, qtbot: Any, home: Path, url: str, role: Role) -> None:
        self.qtbot = qtbot
        self.workspace: Workspace = open_workspace(home, url)
        self.workspace.settings.role = str(role)
        syncer = self.workspace.syncer()
        assert syncer is not None and syncer.run_once().ok
        self.runner = TaskRunner()
        self.window: MainWindow = build_window(self.workspace, self.runner, home / "ui.ini")
        pii = self.window.findChild(PiiReveal)  # the window's own controller, as users get it
        assert pii is not None
        self.pii: PiiReveal = pii
        qtbot.addWidget(self.window)
        self.window.resize(1500, 860)
        self.window.show()
        qtbot.waitExposed(self.window)
        with qtbot.waitSignal(self.pii.policy_changed, timeout=10000):
            self.pii.refresh()
        # Every role looks at the open tickets here (escalation managers start on Escalated).
        self.window.filters.restore(dataclasses.replace(self.window.filters.query(), status="open"))
        self.window.start()
        qtbot.waitUntil(lambda: self.window._current is not None)

    @property
    def detail(self) -> TicketDetail:
        return self.window.detail

    @property
    def ticket(self) -> dict[str, Any]:
        current = self.window._current
        assert current is not None
        external_id = current.ticket.external_id
        return next(t for t in example_tickets() if t["external_id"] == external_id)

    def events(self, event: str) -> list[dict[str, Any]]:
        with self.workspace.replica.engine.connect() as conn:
            rows = conn.execute(
                audit.AUDIT.select()
                .with_only_columns(audit.AUDIT.c.payload)
                .where(audit.AUDIT.c.event == event)
            ).scalars()
            return [json.loads(p)["data"] for p in rows]

    def shoot(self, name: str) -> Path:
        for _ in range(3):  # relayouts cascade a level per round (a longer name, a longer note)
            QApplication.processEvents()
        path = SHOTS / f"pii_{name}.png"
        self.window.grab().save(str(path))
        return path

    def close(self) -> None:
        self.window.close()
        self.runner.shutdown()
        self.workspace.close()


@pytest.fixture
def store_url(tmp_path: Path, examples_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    assert cli(["init-store", "--store", url]) == 0
    assert cli(["ingest", str(examples_path), "--store", url]) == 0
    return url


@pytest.fixture
def reviewer(qtbot: Any, home: Path, store_url: str) -> Iterator[Reviewer]:
    r = Reviewer(qtbot, home, store_url, Role.REVIEWER)
    yield r
    r.close()


def test_the_reviewer_window_masks_every_pane_and_reveal_is_audited(qtbot: Any, reviewer: Reviewer) -> None:
    ticket, detail = reviewer.ticket, reviewer.detail
    values = pii.split(ticket)[1]
    assert values, "the first ticket in the queue should have personal fields"
    assert all(str(v) not in _all_text(detail) for v in values.values())
    queue_text = "\n".join(
        str(reviewer.window.model.data(reviewer.window.model.index(row, col)) or "")
        for row in range(reviewer.window.model.rowCount())
        for col in range(reviewer.window.model.columnCount())
    )
    assert all(str(v) not in queue_text for t in example_tickets() for v in pii.split(t)[1].values())
    assert detail.subject_header.pii.button.isVisible()
    reviewer.shoot("masked")

    detail.subject_header.pii.button.click()
    qtbot.waitUntil(lambda: detail.pii_state is PiiState.REVEALED, timeout=10000)
    assert ticket["subject"]["email"] in _all_text(detail)
    reviewer.shoot("revealed")
    (event,) = reviewer.events(audit.AuditEvent.PII_REVEALED)
    assert event["external_id"] == ticket["external_id"] and event["where"] == "review"
    assert event["fields"] == pii.field_names(values)
    store = reviewer.workspace.store
    assert store is not None
    assert [r["login"] for r in pii_access.reveals(store)] == [reviewer.workspace.reviewer]

    reviewer.window.move(1)  # the next ticket opens masked: nothing carried over
    qtbot.waitUntil(lambda: reviewer.ticket["external_id"] != ticket["external_id"])
    assert ticket["subject"]["email"] not in _all_text(detail)
    assert detail.pii_state is PiiState.HIDDEN

    reviewer.workspace.replica.close()
    content = reviewer.workspace.replica.path.read_bytes()
    assert ticket["subject"]["email"].encode() not in content


def test_offline_the_window_says_personal_data_needs_the_store(qtbot: Any, reviewer: Reviewer) -> None:
    store = reviewer.workspace.store
    reviewer.workspace.store = None  # the store became unreachable
    try:
        reviewer.detail.subject_header.pii.button.click()
        qtbot.waitUntil(lambda: reviewer.detail.pii_state is PiiState.UNAVAILABLE)
        assert "not available offline" in _all_text(reviewer.detail)
        assert reviewer.ticket["subject"]["email"] not in _all_text(reviewer.detail)
        assert reviewer.events(audit.AuditEvent.PII_REVEALED) == []
        reviewer.shoot("offline")
    finally:
        reviewer.workspace.store = store


def test_an_escalation_manager_sees_personal_data_without_revealing(
    qtbot: Any, home: Path, store_url: str
) -> None:
    manager = Reviewer(qtbot, home, store_url, Role.ESCALATION_MANAGER)
    try:
        qtbot.waitUntil(lambda: manager.detail.pii_state is PiiState.SHOWN, timeout=10000)
        assert manager.ticket["subject"]["email"] in _all_text(manager.detail)
        assert not manager.detail.subject_header.pii.button.isVisible()
        assert manager.events(audit.AuditEvent.PII_REVEALED) == []
        manager.shoot("manager")
    finally:
        manager.close()
