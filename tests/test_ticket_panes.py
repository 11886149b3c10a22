"""TicketDetail: what the three panes show, and that ticket text stays plain."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QPlainTextEdit, QSplitter, QWidget

from app.core.domain import Action, Decision, Role, TicketView
from app.ui.ticket_panes import (
    THREAD_LIMIT,
    TicketDetail,
    confidence_band,
    pane_texts,
    span_text,
)

pytestmark = pytest.mark.gui

NOW = datetime(2026, 11, 20, 17, 0, tzinfo=UTC)
HOSTILE = (
    '<b>bold</b><script>alert(1)</script><img src=x onerror=alert(1)><a href="http://evil.example">click</a>'
)


def load_examples(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


_DEFAULT_DUE = NOW + timedelta(hours=3, minutes=20)


def make_view(
    t: dict[str, Any], *, ticket_id: int = 1, due_at: datetime | None = _DEFAULT_DUE, **extra: Any
) -> TicketView:
    return TicketView(
        id=ticket_id,
        source=t.get("source", "default"),
        external_id=t["external_id"],
        workflow=t["workflow"],
        status=extra.pop("status", "open"),
        queue=extra.pop("queue", "review"),
        priority=extra.pop("priority", 50),
        due_at=due_at,
        revision=1,
        payload=t,
        **extra,
    )


@pytest.fixture
def examples(examples_path: Path) -> list[dict[str, Any]]:
    return load_examples(examples_path)


@pytest.fixture
def detail(qtbot: Any) -> TicketDetail:
    widget = TicketDetail()
    qtbot.addWidget(widget)
    widget.resize(1400, 700)
    widget.show()
    return widget


def visible(widget: QWidget, root: QWidget) -> bool:
    return widget.isVisibleTo(root)


def all_text(detail: TicketDetail) -> str:
    return "\n".join(pane_texts(detail).values())


def assert_plain_everywhere(detail: TicketDetail) -> None:
    labels = detail.findChildren(QLabel)
    assert labels
    for label in labels:
        assert label.textFormat() == Qt.TextFormat.PlainText, label.text()[:80]
        assert not label.openExternalLinks()
    for widget in detail.findChildren(QWidget):
        assert widget.toolTip() == "", f"{type(widget).__name__} has a tooltip"


# --- content of each example -------------------------------------------------------------------


@pytest.mark.parametrize("line", range(5))
def test_each_spec_example_fills_the_three_panes(detail: TicketDetail, examples: list, line: int) -> None:
    t = examples[line]
    detail.show_ticket(make_view(t, ticket_id=line + 1), now=NOW)
    texts = pane_texts(detail)

    for message in t["interaction"]["messages"]:
        assert message["text"] in texts["interaction"]
    ai = t["ai"]
    assert ai["rationale"] in texts["assessment"]
    assert ai["recommendation"].get("label", ai["recommendation"]["action"]) in texts["assessment"]
    assert ai["recommendation"]["action"] in texts["assessment"]
    assert ai["model"] in texts["assessment"]
    assert ai["model_version"] in texts["assessment"]
    for signal in ai.get("signals", []):
        assert signal["name"] in texts["assessment"]
    if "proposed_effect" in ai:
        assert ai["proposed_effect"] in texts["assessment"]
    assert t["exception"]["summary"] in texts["exception"]
    assert t["exception"]["code"] in texts["exception"]
    for trigger in t["exception"].get("triggers", []):
        assert trigger in texts["exception"]
    assert t["subject"]["ref"] in texts["header"]
    assert t["subject"]["display_name"] in texts["header"]
    assert_plain_everywhere(detail)


def test_objects_for_tests_and_state_saving(detail: TicketDetail) -> None:
    splitter = detail.findChild(QSplitter, "detailSplitter")
    assert splitter is detail.splitter
    names = ["interactionPane", "assessmentPane", "exceptionPane"]
    assert [splitter.widget(i).objectName() for i in range(3)] == names
    assert detail.interaction_pane.objectName() == "interactionPane"
    for name in names:
        pane = detail.findChild(QWidget, name)
        assert pane is not None and pane.accessibleName()
    assert detail.confidence.accessibleName() == "Confidence"
    assert detail.due.accessibleName()


def test_details_amount_and_sensitive_flag(detail: TicketDetail, examples: list) -> None:
    t = examples[1]  # major donor, bereavement
    detail.show_ticket(make_view(t), now=NOW)
    texts = pane_texts(detail)
    assert "amount: 50000" in texts["assessment"]
    assert "timing: next 14 days" in texts["assessment"]
    assert "If approved" in texts["assessment"]
    assert "50,000 USD" in texts["exception"]
    assert "bereavement" in texts["exception"]
    assert "Sensitive" in texts["exception"] and "Sensitive" in texts["header"]
    assert "Human only" in texts["exception"] or "Review" in texts["exception"]
    assert "93 %" in texts["assessment"]
    assert "lifetime_giving: 184000" in texts["header"]

    detail.show_ticket(make_view(examples[0], ticket_id=2), now=NOW)
    assert "Sensitive" not in all_text(detail)


# --- untrusted text stays text -----------------------------------------------------------------


def test_markup_in_every_text_field_is_shown_literally(detail: TicketDetail, examples: list) -> None:
    t = copy.deepcopy(examples[1])
    t["interaction"]["messages"][0]["text"] = HOSTILE
    t["interaction"]["messages"][0]["from"] = HOSTILE
    t["subject"]["display_name"] = HOSTILE
    t["subject"]["attributes"]["note"] = HOSTILE
    t["ai"]["rationale"] = HOSTILE
    t["ai"]["recommendation"]["label"] = HOSTILE
    t["ai"]["proposed_effect"] = HOSTILE
    t["ai"]["signals"][0]["value"] = HOSTILE
    t["exception"]["summary"] = HOSTILE
    t["exception"]["details"] = HOSTILE
    t["exception"]["triggers"] = [HOSTILE]
    detail.show_ticket(make_view(t), now=NOW)

    shown = [w.text() for w in detail.findChildren(QLabel) if w.isVisibleTo(detail)]
    shown += [w.toPlainText() for w in detail.findChildren(QPlainTextEdit) if w.isVisibleTo(detail)]
    # The message, rationale, label, effect, summary, details and display name: each verbatim.
    assert shown.count(HOSTILE) >= 7
    texts = pane_texts(detail)
    assert HOSTILE in texts["interaction"]
    assert HOSTILE in texts["assessment"]
    assert HOSTILE in texts["exception"]
    assert f"note: {HOSTILE}" in texts["header"]
    assert_plain_everywhere(detail)


def test_sixty_kilobyte_message_is_shown_whole_without_widening_the_layout(
    detail: TicketDetail, examples: list, qtbot: Any
) -> None:
    t = copy.deepcopy(examples[3])
    long_text = ("The quick brown fox jumps over the lazy dog. " * 1400)[:61_000]
    unbroken = "x" * 5000  # one token no word wrap can break
    t["interaction"]["messages"] = [{"from": "a@b.example", "text": long_text}, {"text": unbroken}]
    detail.show_ticket(make_view(t), now=NOW)
    qtbot.wait(1)

    boxes = [e for e in detail.interaction_pane.findChildren(QPlainTextEdit) if e.isVisibleTo(detail)]
    assert sorted(box.toPlainText() for box in boxes) == sorted([long_text, unbroken])
    for box in boxes:
        assert box.isReadOnly()
        # A bounded box that scrolls, not a 60 KB-tall widget.
        assert box.height() < 40 * box.fontMetrics().lineSpacing()
    assert detail.minimumSizeHint().width() < 1000
    assert detail.width() == 1400
    assert long_text in pane_texts(detail)["interaction"]


# --- time-dependent facts ----------------------------------------------------------------------


def test_stale_data_is_flagged(detail: TicketDetail, examples: list) -> None:
    t = copy.deepcopy(examples[0])
    t["ai"]["data_as_of"] = "2026-10-01T00:00:00Z"
    detail.show_ticket(make_view(t), now=NOW)
    texts = pane_texts(detail)
    assert "Data as of 2026-10-01, 7 weeks old" in texts["assessment"]
    assert "Stale data" in texts["assessment"]

    fresh = copy.deepcopy(examples[0])  # data_as_of a few hours before NOW
    detail.show_ticket(make_view(fresh, ticket_id=2), now=NOW)
    texts = pane_texts(detail)
    assert "Data as of 2026-11-20, 2 h 57 min old" in texts["assessment"]
    assert "Stale data" not in texts["assessment"]


def test_due_and_overdue(detail: TicketDetail, examples: list) -> None:
    t = examples[1]
    detail.show_ticket(make_view(t, due_at=NOW - timedelta(hours=2)), now=NOW)
    assert "overdue by 2 h" in pane_texts(detail)["exception"]

    detail.show_ticket(make_view(t, ticket_id=2, due_at=NOW + timedelta(hours=3, minutes=20)), now=NOW)
    exception = pane_texts(detail)["exception"]
    assert "due in 3 h 20 min" in exception
    assert "overdue" not in exception


def test_span_text_reads_naturally() -> None:
    assert span_text(timedelta(seconds=20)) == "less than a minute"
    assert span_text(timedelta(minutes=45)) == "45 min"
    assert span_text(timedelta(hours=3, minutes=20)) == "3 h 20 min"
    assert span_text(-timedelta(hours=2)) == "2 h"
    assert span_text(timedelta(hours=30)) == "1 day 6 h"
    assert span_text(timedelta(days=5)) == "5 days"
    assert span_text(timedelta(days=50)) == "7 weeks"
    assert span_text(timedelta(days=200)) == "6 months"


# --- AI assessment details ---------------------------------------------------------------------


def test_confidence_bands() -> None:
    assert confidence_band(0.58) == "low"
    assert confidence_band(0.60) == "medium"
    assert confidence_band(0.90) == "medium"
    assert confidence_band(0.93) == "high"


def test_signals_sorted_by_strength_with_signed_weights(detail: TicketDetail, examples: list) -> None:
    t = copy.deepcopy(examples[2])  # months_since_gift 0.5, events_attended -0.4, email_opens 0.3
    t["ai"]["signals"].append({"name": "no_weight", "value": None})
    detail.show_ticket(make_view(t), now=NOW)
    table = detail.signals
    rows = [[table.item(r, c).text() for c in range(3)] for r in range(table.rowCount())]
    assert rows == [
        ["months_since_gift", "18", "+0.50"],
        ["events_attended", "3", "-0.40"],
        ["email_opens_90d", "0", "+0.30"],
        ["no_weight", "—", "—"],
    ]
    assert detail.confidence.text() == "64 %"


# --- state changes -----------------------------------------------------------------------------


def test_empty_state(detail: TicketDetail, examples: list) -> None:
    detail.show_ticket(make_view(examples[0]), now=NOW)
    detail.show_ticket(None)
    assert "No ticket selected" in detail.visible_text()
    assert set(pane_texts(detail).values()) == {""}
    detail.show_ticket(None, queue_empty=True)
    assert "Queue is empty" in detail.visible_text()
    assert_plain_everywhere(detail)


def test_switching_tickets_leaves_nothing_behind(detail: TicketDetail, examples: list) -> None:
    a = copy.deepcopy(examples[1])  # rich: details, risk, effect, triggers, attributes
    decisions = [
        Decision(
            decision_id="d-1",
            source=a["source"],
            external_id=a["external_id"],
            workflow=a["workflow"],
            action=Action.CLARIFY,
            reason_code="needs_more_info",
            reviewer="jdoe",
            role=Role.REVIEWER,
            decided_at=NOW - timedelta(days=1),
            client_id="c1",
            ai={},
            note="Asked whether she is ready to talk.",
        )
    ]
    detail.show_ticket(make_view(a, ticket_id=1, decisions=decisions), now=NOW)
    before = pane_texts(detail)
    assert "Previous decisions" in before["exception"]
    assert "needs_more_info" in before["exception"] and "jdoe" in before["exception"]
    assert "Asked whether she is ready to talk." in before["exception"]

    b = examples[4]  # the sparsest example: no signals, effect, risk, triggers or attributes
    detail.show_ticket(make_view(b, ticket_id=2), now=NOW)
    after = all_text(detail)
    leftovers = [
        a["subject"]["display_name"],
        a["subject"]["email"],
        a["interaction"]["messages"][0]["text"],
        a["ai"]["rationale"],
        a["ai"]["recommendation"]["label"],
        a["ai"]["proposed_effect"],
        a["exception"]["summary"],
        a["exception"]["details"],
        "giving_trend",
        "lifetime_giving",
        "bereavement",
        "Previous decisions",
        "needs_more_info",
        "Sensitive",
        "If approved",
        "Signals",
    ]
    for text in leftovers:
        assert text not in after, text
    assert b["interaction"]["messages"][0]["text"] in after
    assert not detail.signals.isVisibleTo(detail)


def test_long_thread_shows_head_and_tail_then_all(detail: TicketDetail, examples: list) -> None:
    t = copy.deepcopy(examples[3])
    t["interaction"]["messages"] = [
        {"from": f"p{k}@x.example", "text": f"message-{k:03d}"} for k in range(120)
    ]
    detail.show_ticket(make_view(t), now=NOW)
    shown = pane_texts(detail)["interaction"]
    assert shown.count("message-") == THREAD_LIMIT
    assert "message-000" in shown and "message-119" in shown
    assert "message-050" not in shown
    assert "100 messages not shown (#6 to #105)" in shown

    detail._gap_button.click()
    shown = pane_texts(detail)["interaction"]
    assert shown.count("message-") == 120
    assert "not shown" not in shown

    # The next long ticket starts collapsed again.
    detail.show_ticket(make_view(t, ticket_id=2), now=NOW)
    assert pane_texts(detail)["interaction"].count("message-") == THREAD_LIMIT


def test_pii_can_be_masked(detail: TicketDetail, examples: list) -> None:
    t = examples[0]
    detail.set_pii_masked(True)
    detail.show_ticket(make_view(t), now=NOW)
    texts = all_text(detail)
    assert t["subject"]["display_name"] not in texts
    assert t["subject"]["email"] not in texts
    assert t["subject"]["organization"] in texts  # not PII
    detail.set_pii_masked(False)
    assert t["subject"]["email"] in all_text(detail)


def test_sparse_or_odd_payload_does_not_crash(detail: TicketDetail) -> None:
    t = {
        "external_id": "odd-1",
        "workflow": "support_triage",
        "subject": {"kind": "other", "ref": "r-1"},
        "interaction": {"channel": "carrier_pigeon", "messages": [{"text": ""}]},
        "ai": {"model": "m", "model_version": "1", "recommendation": {"action": "x"}, "rationale": "r"},
        "exception": {"code": "low_confidence", "summary": "s"},
    }
    detail.show_ticket(make_view(t, due_at=None), now=NOW)
    texts = pane_texts(detail)
    assert "carrier_pigeon" in texts["interaction"]
    assert "No due time" in texts["exception"]
    assert "Data age not given" in texts["assessment"]


def test_ticket_text_is_selectable_with_the_mouse(detail: TicketDetail, examples: list, qtbot: Any) -> None:
    """Labels wait as plain labels (cheaper to lay out) and turn selectable when pressed: a drag
    over the rationale selects its text, and the label takes the focus as a selectable one does."""
    from PySide6.QtCore import QPoint
    from PySide6.QtTest import QTest

    detail.show_ticket(make_view(examples[0]), now=NOW)
    label = detail.assessment_pane.rationale.label
    assert label.isVisibleTo(detail) and label.text()
    start, end = QPoint(2, label.height() // 2), QPoint(label.width() - 2, label.height() // 2)
    QTest.mousePress(label, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start)
    assert label.textInteractionFlags() & Qt.TextInteractionFlag.TextSelectableByMouse
    QTest.mouseMove(label, end)
    QTest.mouseRelease(label, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, end)
    assert label.hasSelectedText()
    assert label.selectedText() in label.text()
    assert label.hasFocus()
    # Messages made later (the thread's pool) wait the same way.
    for message in detail.interaction_pane._message_pool:
        assert not message.body.label.textInteractionFlags() & Qt.TextInteractionFlag.TextSelectableByMouse
