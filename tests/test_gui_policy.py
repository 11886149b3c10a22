"""The policy screens, driven as an admin would: the rules editor (edits, validation, audit),
escalating reason codes, pausing and resuming automation; the automation banner; the SLA
countdown in the queue; notifications without a system tray (offscreen has none)."""

from __future__ import annotations

import inspect
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from helpers import make_decision, make_ticket, numbered, replica_ticket_id
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor

from app.core import audit, circuit_breaker, policy_store
from app.core.domain import Action, QueueQuery, Role, utcnow
from app.core.settings import Settings
from app.core.store import Store
from app.core.workspace import Workspace, open_workspace
from app.ui import main_window
from app.ui.breaker_banner import BreakerBanner, BreakerWatch
from app.ui.notifications import Notifier
from app.ui.policy_editor import PolicyEditor
from app.ui.policy_rules_table import LIGHTEN, NAME, QUEUE, SLA_COL, parse_sla
from app.ui.queue_model import QueueModel
from app.ui.tasks import TaskRunner

pytestmark = pytest.mark.gui


def iso(delta: timedelta) -> str:
    return (utcnow() + delta).isoformat().replace("+00:00", "Z")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store.initialize(f"sqlite:///{tmp_path / 'shared.db'}")
    store.ingest(
        numbered(
            [
                make_ticket(external_id="late", routing={"due_at": iso(-timedelta(hours=2))}),
                make_ticket(external_id="soon", routing={"due_at": iso(timedelta(minutes=30))}),
                make_ticket(external_id="later", routing={"due_at": iso(timedelta(hours=20))}),
            ]
        )
    )
    yield store
    store.close()


def workspace_as(home: Path, store: Store, role: Role, name: str = "ada") -> Workspace:
    settings = Settings.load(home)
    settings.role, settings.reviewer = str(role), name
    settings.save(home)
    workspace = open_workspace(home, store.url)
    syncer = workspace.syncer()
    assert syncer is not None and syncer.run_once().ok
    return workspace


@pytest.fixture
def admin(home: Path, store: Store) -> Iterator[Workspace]:
    workspace = workspace_as(home, store, Role.ADMIN)
    yield workspace
    workspace.close()


@pytest.fixture
def runner() -> Iterator[TaskRunner]:
    runner = TaskRunner()
    yield runner
    runner.shutdown()


@pytest.fixture
def editor(qtbot: Any, runner: TaskRunner, admin: Workspace) -> PolicyEditor:
    editor = PolicyEditor(runner, admin)
    qtbot.addWidget(editor)
    editor.resize(1400, 900)
    with qtbot.waitSignal(editor.loaded):
        editor.show()  # the first showing reads the store
    with qtbot.waitSignal(editor.loaded):
        editor.workflow.setCurrentIndex(editor.workflow.findData("lead_qualification"))
    return editor


def local_events(workspace: Workspace, event: str) -> list[dict[str, Any]]:
    with workspace.replica.engine.connect() as conn:
        rows = conn.execute(audit.AUDIT.select().where(audit.AUDIT.c.event == event)).all()
    return [json.loads(r.payload)["data"] for r in rows]


# --- the rules editor ------------------------------------------------------------------------


def test_an_edit_is_saved_as_a_new_version_and_audited(
    qtbot: Any, editor: PolicyEditor, admin: Workspace
) -> None:
    assert editor.version_label.text() == "The practice's defaults (never changed here)"
    assert editor.rules.rowCount() == 7
    last = editor.rules.rowCount() - 1
    assert editor.rules.item(last, NAME).text() == "Everything else"
    editor.rules.item(last, SLA_COL).setText("8 h")
    editor.threshold.setValue(7.5)
    with qtbot.waitSignal(editor.saved) as saved:
        editor.save_button.click()
    assert saved.args == ["Policy saved"]
    assert admin.store is not None
    stored = policy_store.load_policy(admin.store, "lead_qualification")
    assert (stored.version, stored.created_by) == (1, "ada")
    assert stored.policy.rules[-1].sla_minutes == 480
    assert stored.policy.breaker.threshold == 0.075
    assert editor.version_label.text().startswith("Version 1, saved by ada on ")
    (change,) = local_events(admin, audit.AuditEvent.POLICY_CHANGED)
    assert change["workflow"] == "lead_qualification" and change["version"] == 1
    assert set(change["changes"]) == {"rule 7", "breaker.threshold"}
    assert change["changes"]["rule 7"]["to"]["sla_minutes"] == 480


def test_every_problem_is_shown_and_nothing_is_saved(
    qtbot: Any, editor: PolicyEditor, admin: Workspace
) -> None:
    editor.rules.cellWidget(1, QUEUE).setCurrentIndex(editor.rules.cellWidget(1, QUEUE).findData("auto"))
    assert editor.rules.item(1, SLA_COL).text() == "—"  # automated: no SLA
    editor.rules.item(3, SLA_COL).setText("soon")
    editor.save_button.click()
    assert editor.problems.isVisible()
    assert editor.problems.textFormat() == Qt.TextFormat.PlainText
    text = editor.problems.text()
    assert "rule 4 (High risk): SLA 'soon' is not like '24 h'" in text
    assert "rule 2 (Sensitive) would automate high-risk and sensitive tickets" in text
    assert admin.store is not None
    assert policy_store.policy_history(admin.store, "lead_qualification") == []
    assert local_events(admin, audit.AuditEvent.POLICY_CHANGED) == []


def test_rules_can_be_added_moved_and_removed(qtbot: Any, editor: PolicyEditor) -> None:
    editor.rules.selectRow(0)
    editor.rule_buttons["down"].click()
    assert [editor.rules.item(r, NAME).text() for r in range(2)] == [
        "Sensitive",
        "QA sample of an automated decision",
    ]
    editor.rule_buttons["up"].click()
    editor.rules.clearSelection()
    editor.rule_buttons["add"].click()
    names = [editor.rules.item(r, NAME).text() for r in range(editor.rules.rowCount())]
    assert names[-2:] == ["New rule", "Everything else"]  # before the catch-all
    editor.rule_buttons["remove"].click()
    assert editor.rules.rowCount() == 7
    editor.rules.item(6, NAME).setText("Rest")
    editor.rules.item(6, LIGHTEN).setCheckState(Qt.CheckState.Unchecked)
    rules, problems = editor.rules.read_rules()
    assert problems == [] and rules[-1].name == "Rest" and not rules[-1].hints_may_lighten
    editor.rule_buttons["defaults"].click()
    assert editor.rules.item(6, NAME).text() == "Everything else"
    # A row that cannot be read is never silently rewritten by a move: the problem is shown.
    editor.rules.item(2, SLA_COL).setText("later")
    editor.rules.selectRow(2)
    editor.rule_buttons["up"].click()
    assert editor.rules.item(2, SLA_COL).text() == "later"
    assert editor.problems.isVisible() and "rule 3 (High value): SLA 'later'" in editor.problems.text()


def test_sla_text_reads_hours_minutes_and_days() -> None:
    assert [parse_sla(t) for t in ("24 h", "90 min", "1 h 30 min", "2 d", "4", "1.5h", "—", "")] == [
        1440,
        90,
        90,
        2880,
        240,
        90,
        None,
        None,
    ]
    with pytest.raises(ValueError):
        parse_sla("tomorrow")


def test_marking_a_reason_code_escalating_is_saved_and_audited(
    qtbot: Any, editor: PolicyEditor, admin: Workspace
) -> None:
    rows = {editor.codes.item(r, 2).text(): r for r in range(editor.codes.rowCount())}
    assert editor.codes.item(rows["policy_legal"], 4).checkState() == Qt.CheckState.Checked
    editor.codes.item(rows["compliance_concern"], 4).setCheckState(Qt.CheckState.Checked)
    assert editor.escalates_wanted() == {("*", "reject", "compliance_concern"): True}
    with qtbot.waitSignal(editor.saved):
        editor.codes_button.click()
    assert admin.store is not None
    flags = {c.code: c.escalates for c in policy_store.reason_codes(admin.store)}
    assert flags["compliance_concern"] is True
    (change,) = local_events(admin, audit.AuditEvent.REASON_CODES_CHANGED)
    assert change["changes"] == {"*/reject:compliance_concern escalates": {"from": False, "to": True}}
    assert editor.escalates_wanted() == {}  # reloaded from the store


def test_admins_pause_and_resume_automation_with_a_reason(
    qtbot: Any, editor: PolicyEditor, admin: Workspace
) -> None:
    assert editor.pause_button.isEnabled() and not editor.resume_button.isEnabled()
    assert editor.breaker_state.text().startswith("Running.")
    editor.pause_button.click()
    assert editor.status.text() == "Say why in the reason field: it is recorded."
    editor.reason.setText("Vendor outage <b>tonight</b>")
    with qtbot.waitSignal(editor.saved):
        editor.pause_button.click()
    assert admin.store is not None
    (control,) = circuit_breaker.paused(admin.store)
    assert (control.workflow, control.reason, control.set_by) == (
        "lead_qualification",
        "Vendor outage <b>tonight</b>",
        "ada",
    )
    assert editor.breaker_state.textFormat() == Qt.TextFormat.PlainText
    assert "Vendor outage <b>tonight</b>" in editor.breaker_state.text()
    assert editor.resume_button.isEnabled() and not editor.pause_button.isEnabled()
    editor.reason.setText("Vendor back")
    with qtbot.waitSignal(editor.saved):
        editor.resume_button.click()
    assert circuit_breaker.paused(admin.store) == []
    paused = local_events(admin, audit.AuditEvent.AUTOMATION_PAUSED)
    resumed = local_events(admin, audit.AuditEvent.AUTOMATION_RESUMED)
    assert [d["changes"]["automation_paused"]["to"] for d in paused + resumed] == [True, False]
    assert local_events(admin, audit.AuditEvent.POLICY_CHANGED) == []


def test_the_store_wide_policy_has_no_pause(qtbot: Any, editor: PolicyEditor) -> None:
    with qtbot.waitSignal(editor.loaded):
        editor.workflow.setCurrentIndex(0)
    assert editor.current_workflow == "*"
    assert not editor.pause_button.isEnabled() and not editor.resume_button.isEnabled()
    assert editor.save_button.isEnabled()


def test_a_reviewer_is_refused_by_the_core(qtbot: Any, home: Path, store: Store, runner: TaskRunner) -> None:
    workspace = workspace_as(home, store, Role.REVIEWER, "bob")
    try:
        editor = PolicyEditor(runner, workspace)
        qtbot.addWidget(editor)
        with qtbot.waitSignal(editor.loaded):
            editor.reload()
        editor.codes.item(0, 4).setCheckState(Qt.CheckState.Checked)
        with qtbot.waitSignal(editor.failed) as failed:
            editor.codes_button.click()
        assert "only an administrator" in failed.args[0]
        assert editor.status.text().startswith("Not done: only an administrator")
    finally:
        workspace.close()


# --- the banner ------------------------------------------------------------------------------


def test_the_banner_shows_paused_workflows_and_hides_when_resumed(
    qtbot: Any, runner: TaskRunner, admin: Workspace
) -> None:
    assert admin.store is not None
    banner = BreakerBanner()
    qtbot.addWidget(banner)
    banner.show()
    watch = BreakerWatch(runner, lambda: admin.store, banner)
    with qtbot.waitSignal(watch.changed):
        watch.refresh()
    assert banner.isHidden()
    history = [make_ticket(external_id=f"d{n}") for n in range(50)]
    admin.store.ingest(numbered(history))
    admin.store.push_decisions(
        [
            make_decision(t, Action.REJECT, "stale_data", decided_at=utcnow() - timedelta(hours=1))
            for t in history
        ]
    )
    assert circuit_breaker.evaluate(admin.store)
    with qtbot.waitSignal(watch.newly_paused) as fresh:
        watch.refresh()
    assert [c.workflow for c in fresh.args[0]] == ["lead_qualification"]
    assert banner.isVisible() and banner.textFormat() == Qt.TextFormat.PlainText
    assert banner.text().startswith("Automation paused for lead_qualification since ")
    assert " UTC — circuit breaker: 50 of 50 AI recommendations rejected (100.0%)" in banner.text()
    circuit_breaker.resume(admin.store, "lead_qualification", "fixed", actor="ada", role=Role.ADMIN)
    with qtbot.waitSignal(watch.changed):
        watch.refresh()
    assert banner.isHidden()


# --- SLA countdown -----------------------------------------------------------------------------


def test_the_queue_counts_down_to_the_due_time_and_colours_it(
    qtbot: Any, runner: TaskRunner, admin: Workspace
) -> None:
    replica = admin.replica
    model = QueueModel(runner, replica.queue_page, replica.queue_count, replica.queue_rows)
    with qtbot.waitSignal(model.page_loaded):
        model.set_query(QueueQuery(sort="due"))
    assert model.rowCount() == 3
    shown = [model.data(model.index(row, 0)) for row in range(3)]
    # Sorted by due time: the overdue ticket first.
    assert shown[0].startswith("overdue 2 h") or shown[0].startswith("overdue 1 h 59")
    assert shown[1].startswith("in 29 min") or shown[1].startswith("in 30 min")
    assert shown[2].startswith("in 19 h") or shown[2].startswith("in 20 h")
    colours = [model.data(model.index(row, 0), Qt.ItemDataRole.ForegroundRole) for row in range(3)]
    assert colours[0] == QColor("#d64541") and colours[1] == QColor("#d68910")
    assert colours[2] not in (QColor("#d64541"), QColor("#d68910"))


# --- notifications -----------------------------------------------------------------------------


def test_without_a_tray_breaches_still_notify(qtbot: Any, runner: TaskRunner, admin: Workspace) -> None:
    notifier = Notifier(runner, admin.replica, Role.REVIEWER)
    assert not notifier.has_tray  # offscreen: no system tray, nothing breaks
    with qtbot.waitSignal(notifier.notified) as message:
        notifier.start()
    assert message.args == [
        "SLA breached",
        "1 ticket passed the due time (lead_qualification); 1 past due in all.",
    ]
    assert (notifier.waiting, notifier.breached) == (3, 1)
    # The next reading: nothing new, nothing said.
    with qtbot.waitSignal(notifier.counts_changed), qtbot.assertNotEmitted(notifier.notified):
        notifier.poll()
    notifier.stop()


def test_escalation_managers_hear_of_new_escalations(
    qtbot: Any, runner: TaskRunner, home: Path, store: Store
) -> None:
    workspace = workspace_as(home, store, Role.ESCALATION_MANAGER, "maria")
    try:
        notifier = Notifier(runner, workspace.replica, workspace.role)
        with qtbot.waitSignal(notifier.counts_changed):
            notifier.poll()
        workspace.replica.record_decision(
            replica_ticket_id(workspace.replica, "later"),
            Action.REJECT,
            "policy_legal",
            reviewer="maria",
            role=Role.ESCALATION_MANAGER,
        )
        with qtbot.waitSignal(notifier.notified) as message:
            notifier.poll()
        assert message.args == ["Escalations", "1 new escalation waiting for your decision."]
        # Admins hear of pauses; others do not.
        pause = circuit_breaker.Control("ask_amount", True, "audit", "manual", "ada", utcnow())
        with qtbot.assertNotEmitted(notifier.notified):
            notifier.breaker_paused([pause])
    finally:
        workspace.close()


def test_admins_hear_of_pauses(qtbot: Any, runner: TaskRunner, admin: Workspace) -> None:
    assert admin.store is not None
    notifier = Notifier(runner, admin.replica, admin.role)
    control = circuit_breaker.pause(admin.store, "ask_amount", "audit", actor="ada", role=Role.ADMIN)
    with qtbot.waitSignal(notifier.notified) as message:
        notifier.breaker_paused([control])
    assert message.args == [
        "Automation paused",
        "Automation paused for ask_amount. See the Policy tab to resume.",
    ]


# --- the window, as the lead wires these in (see the report) ------------------------------------

UI_WIRED = "breaker_banner" in inspect.getsource(main_window)


@pytest.mark.xfail(not UI_WIRED, reason="the window does not show the policy pieces yet", strict=True)
@pytest.mark.parametrize("role", [Role.ADMIN, Role.ESCALATION_MANAGER, Role.REVIEWER])
def test_the_window_shows_banner_tray_and_policy_tab_by_role(
    qtbot: Any, home: Path, store: Store, runner: TaskRunner, role: Role
) -> None:
    from app.ui.window_builder import build_window

    assert store is not None
    circuit_breaker.pause(store, "lead_qualification", "Vendor outage", actor="ada", role=Role.ADMIN)
    workspace = workspace_as(home, store, role)
    try:
        window = build_window(workspace, runner, home / "ui.ini")
        qtbot.addWidget(window)
        window.show()
        window.start()
        tabs = [window.tabs.tabText(i) for i in range(window.tabs.count())]
        assert ("Policy" in tabs) == (role == Role.ADMIN)
        # Escalation managers open on the Escalated view (nothing saved yet).
        expected_view = "escalated" if role == Role.ESCALATION_MANAGER else "open"
        assert window.filters.query().status == expected_view
        banner = window.breaker_banner  # type: ignore[attr-defined]
        qtbot.waitUntil(banner.isVisible)  # read after the first sync
        assert "Automation paused for lead_qualification" in banner.text()
        window.close()
    finally:
        runner.shutdown()
        workspace.close()
