"""The Audit tab, driven as an auditor would: filter, answer the saved questions, open a ticket as
it was seen, export the view (and the file matches the view)."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from audit_history import History, generate
from helpers import example_tickets, numbered, open_replica, replica_ticket_id, sqlite_store, sync
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel

from app.core import audit, audit_store, governance
from app.core.domain import Action, Role
from app.core.replica import Replica
from app.core.store import Store
from app.ui.audit_browser import AuditBrowser
from app.ui.audit_model import COLUMN_FIELDS, EVENT_LABELS, PAGE_SIZE, cell_text
from app.ui.audit_ticket_dialog import SeenTicketDialog
from app.ui.tasks import TaskRunner

pytestmark = pytest.mark.gui
HOSTILE_NOTE = "<b>bold</b><img src=x onerror=alert(1)>"


@dataclass
class Setup:
    store: Store
    replica: Replica  # the installation the browser runs in (it records export and PII events)
    history: History
    browser: AuditBrowser
    runner: TaskRunner
    state: dict[str, bool]  # {"online": …}: whether the browser's trail is the store's

    def local_events(self, event: str) -> list[dict[str, Any]]:
        with self.replica.engine.connect() as conn:
            payloads = conn.execute(
                audit.AUDIT.select()
                .with_only_columns(audit.AUDIT.c.payload)
                .where(audit.AUDIT.c.event == event)
            ).scalars()
            return [json.loads(p)["data"] for p in payloads]


@pytest.fixture
def setup(qtbot: Any, tmp_path: Path) -> Iterator[Setup]:
    store = sqlite_store(tmp_path)
    store.ingest(numbered(example_tickets()))
    replica = open_replica(tmp_path, store)
    sync(replica, store)
    first = replica_ticket_id(replica, example_tickets()[1]["external_id"])
    replica.record_decision(
        first, Action.REJECT, "wrong_segment", reviewer="alice", role=Role.REVIEWER, note=HOSTILE_NOTE
    )
    sync(replica, store)
    assert audit_store.push_entries(replica, store, label="alice").ok
    history = generate(tmp_path / "history")
    for name, log in history.logs.items():
        assert audit_store.push_entries(log, store, label=name).ok
    runner = TaskRunner()
    state = {"online": True}

    def trail() -> governance.Trail:
        return governance.store_trail(store) if state["online"] else governance.replica_trail(replica)

    def record(event: str, data: dict[str, Any], ticket_id: int | None) -> None:
        replica.record_event(event, actor="alice", role=Role.REVIEWER, data=data, ticket_id=ticket_id)

    browser = AuditBrowser(runner, trail, record)
    qtbot.addWidget(browser)
    browser.resize(1500, 820)
    browser.show()
    qtbot.waitExposed(browser)
    s = Setup(store, replica, history, browser, runner, state)
    qtbot.waitUntil(lambda: browser.model.total > 0 and browser.filters.combos["actor"].count() > 1)
    yield s
    runner.shutdown()
    history.close()
    replica.close()
    store.close()


def settle(qtbot: Any, browser: AuditBrowser) -> None:
    """Wait until the view shows its filter's first page and its count."""
    qtbot.waitUntil(
        lambda: not browser.model.is_loading and browser.count_label.text().endswith(("entries", "entry"))
    )


def load_all(qtbot: Any, browser: AuditBrowser) -> list[governance.TrailRow]:
    model = browser.model
    while model.canFetchMore():
        model.fetchMore()
        qtbot.waitUntil(lambda: not model.is_loading)
    return model.loaded_rows()


def choose(combo: Any, value: str) -> None:
    index = combo.findData(value)
    assert index > 0, value
    combo.setCurrentIndex(index)


def test_the_tab_says_what_it_reads_and_pages_lazily(qtbot: Any, setup: Setup) -> None:
    browser = setup.browser
    assert browser.source_label.text().startswith("Shared store sqlite:///")
    assert browser.source_label.text().endswith("every installation")
    with setup.replica.engine.connect() as conn:
        own = audit.size(conn)  # alice's decision, and its sending
    assert browser.model.total == setup.history.entries + own
    assert browser.model.rowCount() == PAGE_SIZE < browser.model.total  # one page, not the whole trail
    assert len(load_all(qtbot, browser)) == browser.model.total
    # Offline it reads this installation's own log, and says so.
    setup.state["online"] = False
    browser.refresh_button.click()
    qtbot.waitUntil(lambda: browser.source_label.text().startswith("This installation only"))
    settle(qtbot, browser)
    assert {r.client_id for r in load_all(qtbot, browser)} == {setup.replica.client_id}


def test_filtering_then_exporting_writes_exactly_the_view(qtbot: Any, setup: Setup, tmp_path: Path) -> None:
    browser = setup.browser
    choose(browser.filters.combos["actor"], "carol")
    choose(browser.filters.combos["event"], audit.AuditEvent.DECISION_RECORDED)
    settle(qtbot, browser)
    expected = [d for d in setup.history.decisions if d.actor == "carol"]
    assert browser.model.total == len(expected)
    rows = load_all(qtbot, browser)
    assert {r.decision_id for r in rows} == {d.decision_id for d in expected}

    path = tmp_path / "carol.csv"
    with qtbot.waitSignal(browser.export_finished, timeout=10000) as finished:
        browser.export_to(path, "csv")
    assert finished.args == [path, len(rows)]
    with path.open(encoding="utf-8-sig", newline="") as handle:
        table = list(csv.DictReader(handle))
    assert [(line["client_id"], int(line["seq"])) for line in table] == [(r.client_id, r.seq) for r in rows]
    for line, row in zip(table, rows, strict=True):
        for column, name in enumerate(COLUMN_FIELDS):
            shown = cell_text(row, column)
            if name in ("actor", "action", "reason_code", "workflow", "model_version", "details"):
                assert line[name].removeprefix("'") == shown
        assert line["at"] == row.at and line["event"] == row.event
    # The export itself is on record, with its filter.
    qtbot.waitUntil(lambda: setup.local_events(audit.AuditEvent.EXPORT_MADE) != [])
    made = setup.local_events(audit.AuditEvent.EXPORT_MADE)[0]
    assert (made["format"], made["rows"], made["file_name"]) == ("csv", len(rows), "carol.csv")
    assert made["query"] == {"actor": "carol", "event": audit.AuditEvent.DECISION_RECORDED}
    assert browser.status_label.text() == f"Exported {len(rows)} entries to carol.csv"


def test_json_lines_export_matches_the_view(qtbot: Any, setup: Setup, tmp_path: Path) -> None:
    browser = setup.browser
    browser.filters.ticket.setText(setup.history.decisions[0].external_id)
    qtbot.waitUntil(lambda: browser.model.query.ticket == setup.history.decisions[0].external_id)
    settle(qtbot, browser)
    rows = load_all(qtbot, browser)
    assert rows and {r.external_id for r in rows} == {setup.history.decisions[0].external_id}
    path = tmp_path / "ticket.jsonl"
    with qtbot.waitSignal(browser.export_finished, timeout=10000):
        browser.export_to(path, "jsonl")
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert [(r["client_id"], r["seq"]) for r in records] == [(r.client_id, r.seq) for r in rows]
    assert [r["details"] for r in records] == [r.details for r in rows]


def test_a_cancelled_export_writes_nothing(qtbot: Any, setup: Setup, tmp_path: Path) -> None:
    browser = setup.browser
    path = tmp_path / "all.csv"
    with qtbot.waitSignal(browser.exporter.cancelled, timeout=10000):
        browser.export_to(path, "csv")
        assert browser.exporter.progress is not None
        browser.exporter.progress.cancel()
    assert not path.exists() and list(tmp_path.glob(".all.csv*")) == []
    assert browser.status_label.text() == "Export cancelled; no file written"
    assert setup.local_events(audit.AuditEvent.EXPORT_MADE) == []


def test_saved_questions_answer_with_rows_and_a_ranking(qtbot: Any, setup: Setup) -> None:
    browser = setup.browser
    browser.saved_buttons["rejections_by_model"].click()
    top, count = setup.history.rejections_by_version()[0]
    qtbot.waitUntil(lambda: "Most rejected" in browser.ranking_label.text())
    assert browser.ranking_label.text().startswith(f"Most rejected: model version {top}, {count} rejected")
    assert browser.saved_buttons["rejections_by_model"].isChecked()
    settle(qtbot, browser)
    assert all(r.action == "reject" for r in load_all(qtbot, browser))

    browser.saved_buttons["pii_revealed"].click()
    settle(qtbot, browser)
    assert browser.ranking_label.isHidden()
    assert not browser.saved_buttons["rejections_by_model"].isChecked()
    rows = load_all(qtbot, browser)
    assert [(r.actor, r.external_id) for r in rows] == [
        (r.actor, r.external_id) for r in sorted(setup.history.reveals, key=lambda r: r.at, reverse=True)
    ]
    # Changing a filter by hand leaves the saved question.
    choose(browser.filters.combos["actor"], rows[0].actor)
    settle(qtbot, browser)
    assert not browser.saved_buttons["pii_revealed"].isChecked()


def test_a_row_opens_the_ticket_as_seen_and_revealing_pii_is_audited(qtbot: Any, setup: Setup) -> None:
    browser = setup.browser
    browser.filters.ticket.setText(example_tickets()[1]["external_id"])
    choose(browser.filters.combos["event"], audit.AuditEvent.DECISION_RECORDED)
    qtbot.waitUntil(lambda: browser.model.query.ticket is not None)
    settle(qtbot, browser)
    assert browser.model.rowCount() == 1
    # Untrusted text stays text: the note is shown as written, never as markup.
    assert browser.model.data(browser.model.index(0, COLUMN_FIELDS.index("details"))) == HOSTILE_NOTE
    browser.table.setCurrentIndex(browser.model.index(0, 0))
    with qtbot.waitSignal(browser.ticket_opened, timeout=10000) as opened:
        browser.open_button.click()
    dialog: SeenTicketDialog = opened.args[0]
    assert dialog.seen.note == "Revision 1, as seen."
    assert (
        dialog.seen.ticket is not None
        and dialog.seen.ticket.external_id == example_tickets()[1]["external_id"]
    )
    assert all(label.textFormat() == Qt.TextFormat.PlainText for label in dialog.findChildren(QLabel))
    name = example_tickets()[1]["subject"]["display_name"]
    assert name not in dialog.detail.visible_text()  # masked until asked for
    dialog.reveal_button.click()  # the values come from the store's ticket_pii, on a worker
    qtbot.waitUntil(lambda: name in dialog.detail.visible_text())
    qtbot.waitUntil(lambda: setup.local_events(audit.AuditEvent.PII_REVEALED) != [])
    revealed = setup.local_events(audit.AuditEvent.PII_REVEALED)[0]
    assert (revealed["external_id"], revealed["where"]) == (
        example_tickets()[1]["external_id"],
        "audit browser",
    )
    dialog.close()


def test_a_date_range_filters_by_local_days(qtbot: Any, setup: Setup) -> None:
    browser = setup.browser
    browser.saved_buttons["decided_last_week"].click()
    settle(qtbot, browser)
    query = browser.model.query
    assert query.since is not None and query.until is not None and (query.until - query.since).days == 7
    assert browser.filters.since.date().dayOfWeek() == 1  # Monday
    assert browser.filters.until.date().dayOfWeek() == 7  # to Sunday, inclusive
    browser.filters.clear()
    settle(qtbot, browser)
    assert browser.model.query == governance.AuditQuery()


def test_every_event_has_a_label_in_the_browser() -> None:
    assert set(EVENT_LABELS) == set(audit.AuditEvent.ALL)
