"""The Policy tab, for administrators: a workflow's routing rules (first match wins), its
confidence bands and circuit-breaker settings, which reason codes escalate, and pausing or
resuming the pipeline's automation by hand.

Everything is read and written through core functions on the sync lane (the store is remote);
every change is audited by those functions. A rule's conditions are typed as comma lists
("low, medium"; empty or "any" matches anything) and checked with the core's validation before
anything is saved, so the admin sees every problem at once, in words.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.core import circuit_breaker, policy, policy_store
from app.core.circuit_breaker import Control, Measure
from app.core.domain import ReasonCode, Role, to_rfc3339
from app.core.policy import Bands, BreakerSettings, Policy, PolicyError
from app.core.policy_store import ALL_WORKFLOWS, StoredPolicy
from app.core.store import Store
from app.core.workspace import Workspace
from app.ui.policy_rules_table import RulesTable
from app.ui.tasks import TaskRunner
from app.ui.ticket_panes import plain_label

ALL_LABEL = "All workflows (store-wide default)"
ERROR_STYLE = "color: #c0392b;"


@dataclass(frozen=True)
class EditorData:
    """Everything the tab shows for one workflow, read on the sync lane."""

    workflows: list[str]
    stored: StoredPolicy
    codes: list[ReasonCode]
    measure: Measure | None  # None for the store-wide policy: the breaker counts per workflow
    control: Control | None
    automated: int  # tickets of this workflow the policy automated


def load_editor_data(store: Store, workflow: str) -> EditorData:
    controls = {c.workflow: c for c in circuit_breaker.controls(store)}
    per_workflow = workflow != ALL_WORKFLOWS
    return EditorData(
        workflows=[name for name, _label in store.workflows()],
        stored=policy_store.load_policy(store, workflow),
        codes=[c for c in policy_store.reason_codes(store) if c.workflow in (ALL_WORKFLOWS, workflow)],
        measure=circuit_breaker.measure(store, workflow) if per_workflow else None,
        control=controls.get(workflow),
        automated=policy_store.auto_routed_counts(store).get(workflow, 0) if per_workflow else 0,
    )


class PolicyEditor(QWidget):
    loaded = Signal(object)  # EditorData
    saved = Signal(str)  # what was done, in words
    failed = Signal(str)

    def __init__(self, runner: TaskRunner, workspace: Workspace, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("policyEditor")
        self._runner = runner
        self._workspace = workspace
        self._data: EditorData | None = None
        self._loading = False

        self.workflow = QComboBox()
        self.workflow.setObjectName("policyWorkflow")
        self.workflow.setAccessibleName(self.tr("Workflow whose policy is shown"))
        self.workflow.addItem(self.tr(ALL_LABEL), ALL_WORKFLOWS)
        self.workflow.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.workflow.currentIndexChanged.connect(lambda _i: self.reload())
        self.version_label = plain_label(wrap=False)
        self.version_label.setObjectName("policyVersion")
        self.reload_button = QPushButton(self.tr("Reload"))
        self.reload_button.clicked.connect(self.reload)

        self.rules = RulesTable()
        self.rule_buttons = {
            "add": QPushButton(self.tr("Add rule")),
            "remove": QPushButton(self.tr("Remove")),
            "up": QPushButton(self.tr("Move up")),
            "down": QPushButton(self.tr("Move down")),
            "defaults": QPushButton(self.tr("Practice defaults")),
        }
        self.rule_buttons["add"].clicked.connect(lambda: self._show_problems(self.rules.add_rule()))
        self.rule_buttons["remove"].clicked.connect(self.rules.remove_rule)
        self.rule_buttons["up"].clicked.connect(lambda: self._show_problems(self.rules.move_rule(-1)))
        self.rule_buttons["down"].clicked.connect(lambda: self._show_problems(self.rules.move_rule(1)))
        self.rule_buttons["defaults"].clicked.connect(lambda: self.rules.show_rules(policy.DEFAULT_RULES))

        self.low_below = self._fraction_box("policyLowBelow")
        self.high_above = self._fraction_box("policyHighAbove")
        self.threshold = QDoubleSpinBox()
        self.threshold.setMaximumWidth(140)
        self.threshold.setObjectName("breakerThreshold")
        self.threshold.setRange(0.1, 100.0)
        self.threshold.setDecimals(1)
        self.threshold.setSuffix(" %")
        self.window_hours = QSpinBox()
        self.window_hours.setMaximumWidth(140)
        self.window_hours.setObjectName("breakerWindow")
        self.window_hours.setRange(1, 24 * 90)
        self.window_hours.setSuffix(" h")
        self.min_sample = QSpinBox()
        self.min_sample.setMaximumWidth(140)
        self.min_sample.setObjectName("breakerMinSample")
        self.min_sample.setRange(1, 1_000_000)
        self.save_button = QPushButton(self.tr("Save policy"))
        self.save_button.setObjectName("policySave")
        self.save_button.clicked.connect(self.save_policy)
        self.problems = plain_label()
        self.problems.setObjectName("policyProblems")
        self.problems.setStyleSheet(ERROR_STYLE)
        self.problems.hide()

        self.breaker_state = plain_label()
        self.breaker_state.setObjectName("breakerState")
        self.automated_label = plain_label()
        self.automated_label.setObjectName("policyAutomated")
        self.reason = QLineEdit()
        self.reason.setObjectName("breakerReason")
        self.reason.setPlaceholderText(self.tr("Why? (recorded with the pause or resume)"))
        self.pause_button = QPushButton(self.tr("Pause automation"))
        self.pause_button.setObjectName("breakerPause")
        self.pause_button.clicked.connect(lambda: self.set_paused(True))
        self.resume_button = QPushButton(self.tr("Resume automation"))
        self.resume_button.setObjectName("breakerResume")
        self.resume_button.clicked.connect(lambda: self.set_paused(False))

        self.codes = self._make_codes_table()
        self.codes_button = QPushButton(self.tr("Save reason codes"))
        self.codes_button.setObjectName("reasonCodesSave")
        self.codes_button.clicked.connect(self.save_escalates)

        self.status = plain_label()
        self.status.setObjectName("policyStatus")
        self._layout()
        self._set_enabled(False)

    # --- construction --------------------------------------------------------------------

    def _fraction_box(self, name: str) -> QDoubleSpinBox:
        box = QDoubleSpinBox()
        box.setObjectName(name)
        box.setRange(0.0, 1.0)
        box.setDecimals(2)
        box.setSingleStep(0.01)
        box.setMaximumWidth(140)
        return box

    def _make_codes_table(self) -> QTableWidget:
        table = QTableWidget(0, 5)
        table.setObjectName("reasonCodes")
        table.setAccessibleName(self.tr("Reason codes; tick Escalates to send the ticket to a manager"))
        table.setHorizontalHeaderLabels(
            [
                self.tr("Applies to"),
                self.tr("Action"),
                self.tr("Code"),
                self.tr("Label"),
                self.tr("Escalates"),
            ]
        )
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        table.verticalHeader().hide()
        table.verticalHeader().setDefaultSectionSize(table.fontMetrics().height() + 8)
        for column, width in enumerate((80, 70, 150, 190, 80)):
            table.setColumnWidth(column, width)
        table.horizontalHeader().setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        return table

    def _layout(self) -> None:
        top = QHBoxLayout()
        top.addWidget(QLabel(self.tr("Workflow:")))
        top.addWidget(self.workflow)
        top.addWidget(self.version_label, 1)
        top.addWidget(self.reload_button)

        rules_box = QGroupBox(self.tr("Routing rules — first match wins; empty or “any” matches everything"))
        rules_layout = QVBoxLayout(rules_box)
        rules_layout.addWidget(self.rules, 1)
        buttons = QHBoxLayout()
        for key in ("add", "remove", "up", "down", "defaults"):
            buttons.addWidget(self.rule_buttons[key])
        buttons.addStretch(1)
        rules_layout.addLayout(buttons)

        settings_box = QGroupBox(self.tr("Confidence bands and circuit breaker"))
        form = QFormLayout(settings_box)
        form.addRow(self.tr("Low confidence below"), self.low_below)
        form.addRow(self.tr("High confidence above"), self.high_above)
        form.addRow(self.tr("Pause when rejections reach"), self.threshold)
        form.addRow(self.tr("Over the last"), self.window_hours)
        form.addRow(self.tr("Minimum decisions counted"), self.min_sample)

        automation_box = QGroupBox(self.tr("Automation"))
        automation = QVBoxLayout(automation_box)
        automation.addWidget(self.breaker_state)
        automation.addWidget(self.automated_label)
        automation.addWidget(self.reason)
        pause_row = QHBoxLayout()
        pause_row.addWidget(self.pause_button)
        pause_row.addWidget(self.resume_button)
        pause_row.addStretch(1)
        automation.addLayout(pause_row)
        automation.addStretch(1)

        codes_box = QGroupBox(self.tr("Reason codes"))
        codes_layout = QVBoxLayout(codes_box)
        codes_layout.addWidget(self.codes, 1)
        codes_row = QHBoxLayout()
        codes_row.addStretch(1)
        codes_row.addWidget(self.codes_button)
        codes_layout.addLayout(codes_row)

        left = QVBoxLayout()
        left.addWidget(settings_box)
        left.addWidget(automation_box, 1)
        lower = QHBoxLayout()
        lower.addLayout(left, 2)
        lower.addWidget(codes_box, 3)

        # One save for the whole policy: the rules, the bands and the breaker settings above.
        save_row = QHBoxLayout()
        save_row.addWidget(self.status, 1)
        save_row.addWidget(self.save_button)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 6)
        layout.addLayout(top)
        layout.addWidget(rules_box, 1)
        layout.addLayout(lower, 1)
        layout.addWidget(self.problems)
        layout.addLayout(save_row)

    # --- loading -------------------------------------------------------------------------

    @property
    def current_workflow(self) -> str:
        return self.workflow.currentData() or ALL_WORKFLOWS

    def _store(self) -> Store | None:
        return self._workspace.store

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._data is None and not self._loading:
            self.reload()  # first time the tab is opened: nothing is read before

    def reload(self) -> None:
        store = self._store()
        if store is None:
            self._set_enabled(False)
            self.status.setText(self.tr("The store cannot be reached: policies are edited online."))
            return
        workflow = self.current_workflow
        self._set_enabled(False)
        self._loading = True
        self.status.setText(self.tr("Loading…"))
        self._runner.submit("sync", lambda: load_editor_data(store, workflow), self._loaded, self._failed)

    def _loaded(self, data: EditorData) -> None:
        self._loading = False
        if data.stored.workflow != self.current_workflow:
            return  # the admin picked another workflow meanwhile: its answer follows
        self._data = data
        self._set_workflows(data.workflows)
        stored = data.stored
        self.version_label.setText(self._version_text(stored))
        self.rules.show_rules(stored.policy.rules)
        self.low_below.setValue(stored.policy.bands.low_below)
        self.high_above.setValue(stored.policy.bands.high_above)
        self.threshold.setValue(stored.policy.breaker.threshold * 100)
        self.window_hours.setValue(stored.policy.breaker.window_hours)
        self.min_sample.setValue(stored.policy.breaker.min_sample)
        self._show_codes(data.codes)
        self._show_automation(data)
        self.problems.hide()
        self.status.setText("")
        self._set_enabled(True)
        self.loaded.emit(data)

    def _version_text(self, stored: StoredPolicy) -> str:
        if stored.version == 0:
            return self.tr("The practice's defaults (never changed here)")
        when = to_rfc3339(stored.created_at)[:16].replace("T", " ") if stored.created_at else "?"
        text = self.tr("Version {0}, saved by {1} on {2} UTC").format(stored.version, stored.created_by, when)
        if stored.inherited:
            text = self.tr("From the store-wide policy: ") + text
        return text

    def _set_workflows(self, names: list[str]) -> None:
        current = self.current_workflow
        self.workflow.blockSignals(True)
        self.workflow.clear()
        self.workflow.addItem(self.tr(ALL_LABEL), ALL_WORKFLOWS)
        for name in names:
            self.workflow.addItem(name, name)
        self.workflow.setCurrentIndex(max(0, self.workflow.findData(current)))
        self.workflow.blockSignals(False)

    def _set_enabled(self, enabled: bool) -> None:
        per_workflow = enabled and self.current_workflow != ALL_WORKFLOWS
        for widget in (
            self.rules,
            self.save_button,
            self.codes,
            self.codes_button,
            self.low_below,
            self.high_above,
            self.threshold,
            self.window_hours,
            self.min_sample,
            *self.rule_buttons.values(),
        ):
            widget.setEnabled(enabled)
        paused = bool(self._data and self._data.control and self._data.control.paused)
        self.reason.setEnabled(per_workflow)
        self.pause_button.setEnabled(per_workflow and not paused)
        self.resume_button.setEnabled(per_workflow and paused)

    def _failed(self, error: Exception) -> None:
        self._loading = False
        self._set_enabled(self._data is not None)
        self.status.setText(self.tr("Not done: ") + str(error))
        self.failed.emit(str(error))

    # --- the rules table -----------------------------------------------------------------

    # --- saving the policy ---------------------------------------------------------------

    def edited_policy(self) -> Policy:
        """The policy as the tab shows it now; PolicyError lists what is wrong."""
        rules, problems = self.rules.read_rules()
        edited = Policy(
            rules=tuple(rules),
            bands=Bands(
                low_below=round(self.low_below.value(), 4), high_above=round(self.high_above.value(), 4)
            ),
            breaker=BreakerSettings(
                threshold=round(self.threshold.value() / 100, 6),
                window_hours=self.window_hours.value(),
                min_sample=self.min_sample.value(),
            ),
        )
        problems += policy.validate(edited)
        if problems:
            raise PolicyError(problems)
        return edited

    def save_policy(self) -> None:
        store, data = self._store(), self._data
        if store is None or data is None:
            return
        try:
            edited = self.edited_policy()
        except PolicyError as error:
            self._show_problems(error.problems)
            return
        self.problems.hide()
        workspace, workflow, expected = self._workspace, self.current_workflow, data.stored.own_version
        if edited == data.stored.policy and not data.stored.inherited:
            self.status.setText(self.tr("Nothing changed."))
            return

        def work() -> EditorData:
            policy_store.change_policy(
                store,
                workspace.replica,
                workflow,
                edited,
                expected_version=expected,
                actor=workspace.reviewer,
                role=workspace.role,
            )
            return load_editor_data(store, workflow)

        self._run(work, self.tr("Policy saved"))

    def _show_problems(self, problems: list[str]) -> None:
        """Every problem at once; an empty list clears them."""
        self.problems.setText(self.tr("Not saved:") + "\n" + "\n".join(problems))
        self.problems.setVisible(bool(problems))

    def _run(self, work: Callable[[], EditorData], done_text: str) -> None:
        self._set_enabled(False)
        self.status.setText(self.tr("Saving…"))

        def done(data: EditorData) -> None:
            self._loaded(data)
            self.status.setText(done_text)
            self.saved.emit(done_text)

        self._runner.submit("sync", work, done, self._failed)

    # --- reason codes --------------------------------------------------------------------

    def _show_codes(self, codes: list[ReasonCode]) -> None:
        self.codes.setRowCount(0)
        for code in sorted(codes, key=lambda c: (c.action != "reject", c.action, c.workflow, c.position)):
            row = self.codes.rowCount()
            self.codes.insertRow(row)
            applies = self.tr("all") if code.workflow == ALL_WORKFLOWS else code.workflow
            for column, text in enumerate((applies, str(code.action), code.code, code.label)):
                self.codes.setItem(row, column, QTableWidgetItem(text))
            check = QTableWidgetItem()
            check.setFlags(Qt.ItemFlag.ItemIsUserCheckable | Qt.ItemFlag.ItemIsEnabled)
            check.setCheckState(Qt.CheckState.Checked if code.escalates else Qt.CheckState.Unchecked)
            check.setData(Qt.ItemDataRole.UserRole, (code.workflow, str(code.action), code.code))
            self.codes.setItem(row, 4, check)

    def escalates_wanted(self) -> dict[tuple[str, str, str], bool]:
        """The ticks that differ from the store's flags."""
        known = {
            (c.workflow, str(c.action), c.code): c.escalates for c in (self._data.codes if self._data else [])
        }
        wanted = {}
        for row in range(self.codes.rowCount()):
            item = self.codes.item(row, 4)
            key = tuple(item.data(Qt.ItemDataRole.UserRole))
            ticked = item.checkState() == Qt.CheckState.Checked
            if known.get(key) != ticked:  # type: ignore[call-overload]
                wanted[key] = ticked
        return wanted  # type: ignore[return-value]

    def save_escalates(self) -> None:
        store, wanted = self._store(), self.escalates_wanted()
        if store is None:
            return
        if not wanted:
            self.status.setText(self.tr("Nothing changed."))
            return
        workspace, workflow = self._workspace, self.current_workflow

        def work() -> EditorData:
            policy_store.change_escalates(
                store, workspace.replica, wanted, actor=workspace.reviewer, role=workspace.role
            )
            return load_editor_data(store, workflow)

        self._run(work, self.tr("Reason codes saved"))

    # --- automation ----------------------------------------------------------------------

    def _show_automation(self, data: EditorData) -> None:
        control, found = data.control, data.measure
        if self.current_workflow == ALL_WORKFLOWS:
            self.breaker_state.setText(
                self.tr("Automation is paused and resumed per workflow: choose one above.")
            )
            self.automated_label.setText("")
            return
        when = to_rfc3339(control.set_at)[:16].replace("T", " ") if control else ""
        if control is not None and control.paused:
            if control.source == circuit_breaker.BREAKER:
                evidence = control.reason.removeprefix("circuit breaker: ")
                text = self.tr("Paused since {0} UTC by the circuit breaker: {1}").format(when, evidence)
            else:
                text = self.tr("Paused since {0} UTC by {1}: {2}").format(
                    when, control.set_by, control.reason
                )
        else:
            text = self.tr("Running.")
            if control is not None:
                text += " " + self.tr("Resumed {0} UTC by {1}: {2}").format(
                    when, control.set_by, control.reason
                )
            if found is not None:
                settings = found.settings
                text += "\n" + self.tr(
                    "{0} of {1} AI recommendations rejected ({2}) since {3} UTC; automation pauses at "
                    "{4:.1%} once {5} decisions are counted."
                ).format(
                    found.rejected,
                    found.sample_size,
                    f"{found.rate:.1%}" if found.sample_size else "—",
                    to_rfc3339(found.since)[:16].replace("T", " "),
                    settings.threshold,
                    settings.min_sample,
                )
        self.breaker_state.setText(text)
        self.automated_label.setText(
            self.tr("{0} tickets of this workflow were automated by the policy (status auto).").format(
                data.automated
            )
        )

    def set_paused(self, pause: bool) -> None:
        store = self._store()
        reason = self.reason.text().strip()
        if store is None:
            return
        if not reason:
            self.status.setText(self.tr("Say why in the reason field: it is recorded."))
            self.reason.setFocus()
            return
        workspace, workflow = self._workspace, self.current_workflow
        act = circuit_breaker.pause_and_record if pause else circuit_breaker.resume_and_record

        def work() -> EditorData:
            act(store, workspace.replica, workflow, reason, actor=workspace.reviewer, role=workspace.role)
            return load_editor_data(store, workflow)

        self.reason.clear()
        self._run(work, self.tr("Automation paused") if pause else self.tr("Automation resumed"))


def is_admin(workspace: Workspace) -> bool:
    """The tab is for administrators (the core refuses everyone else anyway)."""
    return workspace.role == Role.ADMIN
