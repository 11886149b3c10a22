"""Sync as a reviewer sees it: claims by others, corrections, taking work offline."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel
from test_gui_review import Harness

from app.cli import main as cli
from app.core.domain import PushState
from app.core.store import Store

pytestmark = pytest.mark.gui


@pytest.fixture
def store_url(tmp_path: Path, examples_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    assert cli(["init-store", "--store", url]) == 0
    assert cli(["ingest", str(examples_path), "--store", url]) == 0
    return url


@pytest.fixture
def harness(qtbot, home: Path, store_url: str) -> Iterator[Harness]:
    h = Harness(qtbot, home, store_url)
    yield h
    h.close()


def test_a_ticket_in_review_elsewhere_says_so(qtbot, home: Path, store_url: str) -> None:
    store = Store.open(store_url)
    try:
        first = Harness(qtbot, home, store_url)
        try:
            target = first.window.model.ticket_id(1)
            assert target is not None
            state = store.claim(target, holder="bob", client_id="another-installation")
            assert state.holder == "bob"
            first.key(Qt.Key.Key_J)  # open the ticket bob holds: the claim attempt reports him
            qtbot.waitUntil(lambda: first.window.claim_banner.isVisible(), timeout=15000)
            assert "In review by bob" in first.window.claim_banner.text()
            assert first.window.claim_banner.textFormat() == Qt.TextFormat.PlainText
            first.key(Qt.Key.Key_K)  # a ticket nobody holds: the banner goes
            qtbot.waitUntil(lambda: not first.window.claim_banner.isVisible(), timeout=15000)
        finally:
            first.close()
    finally:
        store.close()


def test_decided_tickets_can_be_corrected_and_both_decisions_stay(
    harness: Harness, store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    window = harness.window
    ticket = window._current.ticket
    harness.key(Qt.Key.Key_A)
    harness.key(Qt.Key.Key_1)
    harness.qtbot.waitUntil(lambda: len(harness.decisions()) == 1)
    harness.key(Qt.Key.Key_F5)
    harness.qtbot.waitUntil(lambda: harness.decisions()[0][3] == PushState.PUSHED, timeout=10000)
    # Undo no longer applies; the Decided view offers the ticket for a correction instead.
    view = window.filters.view
    view.setCurrentIndex(view.findData("decided"))
    harness.qtbot.waitUntil(
        lambda: window._current is not None and window._current.ticket.id == ticket.id, timeout=5000
    )
    assert window._current.correctable is not None
    harness.key(Qt.Key.Key_R)
    harness.key(Qt.Key.Key_2)
    harness.qtbot.waitUntil(lambda: len(harness.decisions()) == 2)
    harness.key(Qt.Key.Key_F5)
    harness.qtbot.waitUntil(lambda: all(d[3] == PushState.PUSHED for d in harness.decisions()), timeout=10000)
    capsys.readouterr()
    assert cli(["export", "decisions", "--store", store_url]) == 0
    records = {r["action"]: r for r in map(json.loads, capsys.readouterr().out.splitlines())}
    assert records["approve"]["status"] == "superseded"
    assert records["reject"]["status"] == "final"


def test_decision_keys_do_nothing_outside_the_review_tab(harness: Harness) -> None:
    harness.window.add_tab(QLabel("elsewhere"), "Elsewhere")
    harness.window.tabs.setCurrentIndex(1)
    harness.key(Qt.Key.Key_A)
    harness.key(Qt.Key.Key_1)
    assert not harness.window.decision_bar.is_picking
    assert harness.runner.shutdown()
    assert harness.decisions() == []


def test_take_offline_checks_out_my_queue(harness: Harness, store_url: str) -> None:
    window = harness.window
    window.actions_by_id[next(a for a in window.actions_by_id if a == "take_offline")].trigger()
    harness.qtbot.waitUntil(lambda: "checked out" in window.statusBar().currentMessage(), timeout=10000)
    store = Store.open(store_url)
    try:
        claims = store.active_claims()
    finally:
        store.close()
    open_tickets = window.model.total
    assert len(claims) == open_tickets > 0
    assert {c.client_id for c in claims} == {harness.workspace.replica.client_id}
    assert all(c.offline for c in claims)
