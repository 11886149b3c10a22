"""The routing rules as an editable table: one row per rule, first match wins.

Conditions are typed as comma lists ("low, medium"; empty or "any" matches anything), the queue
and the sensitive flag are picked from lists, the SLA is typed ("24 h", "90 min"). Reading the
table back gives rules plus every problem found, in words; the policy editor validates the rest.
Rule names come from admins and are shown in table items: plain text, never rich text.
"""

from __future__ import annotations

import re
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHeaderView,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from app.core import policy
from app.core.domain import Queue
from app.core.policy import AUTO, Rule

COLUMNS = (
    "Name",
    "Confidence",
    "Risk tier",
    "Value tier",
    "Sensitive",
    "Exception codes",
    "Queue",
    "Priority",
    "SLA",
    "Hints may lighten",
)
(NAME, CONFIDENCE, RISK, VALUE, SENSITIVE, CODES, QUEUE, PRIORITY, SLA_COL, LIGHTEN) = range(len(COLUMNS))
COLUMN_WIDTHS = (190, 110, 110, 110, 80, 150, 130, 70, 90, 120)
QUEUE_LABELS = {
    AUTO: "auto (no ticket)",
    Queue.REVIEW: "review",
    Queue.HUMAN_ONLY: "human only",
    Queue.ESCALATION: "escalation",
    Queue.SAMPLE_AUDIT: "sample audit",
}
SENSITIVE_LABELS = {None: "any", True: "yes", False: "no"}
NO_SLA = "—"

# --- rules as text -----------------------------------------------------------------------


def sla_text(minutes: int | None) -> str:
    if minutes is None:
        return NO_SLA
    hours, rest = divmod(minutes, 60)
    if not hours:
        return f"{rest} min"
    return f"{hours} h" + (f" {rest} min" if rest else "")


_SLA_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(d|h|min|m)?")
_UNIT_MINUTES = {"d": 1440, "h": 60, None: 60, "min": 1, "m": 1}


def parse_sla(text: str) -> int | None:
    """'24 h', '90 min', '1 h 30 min', '2 d', '4' (hours) -> minutes; '—' or '' -> None."""
    text = text.strip().lower()
    if text in ("", NO_SLA, "-", "none"):
        return None
    parts = _SLA_PART.findall(text)
    if not parts or _SLA_PART.sub("", text).strip():
        raise ValueError(f"SLA {text!r} is not like '24 h', '90 min' or '1 h 30 min'")
    return round(sum(float(number) * _UNIT_MINUTES[unit or None] for number, unit in parts))


def list_text(values: tuple[str, ...]) -> str:
    return ", ".join(values) if values else "any"


def parse_list(text: str) -> tuple[str, ...]:
    words = tuple(w.strip().lower().replace(" ", "_") for w in text.split(",") if w.strip())
    return () if words in ((), ("any",), ("*",)) else words


class RulesTable(QTableWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, len(COLUMNS), parent)
        self.setObjectName("policyRules")
        self.setAccessibleName(self.tr("Routing rules, first match wins"))
        self.setHorizontalHeaderLabels([self.tr(c) for c in COLUMNS])
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setWordWrap(False)
        self.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 14)
        header = self.horizontalHeader()
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        for column, width in enumerate(COLUMN_WIDTHS):
            self.setColumnWidth(column, width)
        header.setSectionResizeMode(NAME, QHeaderView.ResizeMode.Stretch)

    def show_rules(self, rules: tuple[Rule, ...] | list[Rule]) -> None:
        self.setRowCount(0)
        for rule in rules:
            self._append(rule)

    def _append(self, rule: Rule) -> None:
        row = self.rowCount()
        self.insertRow(row)
        texts = {
            NAME: rule.name,
            CONFIDENCE: list_text(rule.confidence),
            RISK: list_text(rule.risk),
            VALUE: list_text(rule.value),
            CODES: list_text(rule.exception_codes),
            SLA_COL: sla_text(rule.sla_minutes),
        }
        for column, text in texts.items():
            self.setItem(row, column, QTableWidgetItem(text))
        sensitive = QComboBox()
        for value, label in SENSITIVE_LABELS.items():
            sensitive.addItem(self.tr(label), value)
        sensitive.setCurrentIndex(list(SENSITIVE_LABELS).index(rule.sensitive))
        self.setCellWidget(row, SENSITIVE, sensitive)
        queue = QComboBox()
        for value, label in QUEUE_LABELS.items():
            queue.addItem(self.tr(label), str(value))
        queue.setCurrentIndex(max(0, queue.findData(str(rule.queue))))
        queue.currentIndexChanged.connect(lambda _i, box=queue: self._queue_changed(box))
        self.setCellWidget(row, QUEUE, queue)
        priority = QSpinBox()
        priority.setRange(0, 100)
        priority.setValue(rule.priority)
        self.setCellWidget(row, PRIORITY, priority)
        lighten = QTableWidgetItem()
        lighten.setFlags(
            Qt.ItemFlag.ItemIsUserCheckable | Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
        )
        lighten.setCheckState(Qt.CheckState.Checked if rule.hints_may_lighten else Qt.CheckState.Unchecked)
        self.setItem(row, LIGHTEN, lighten)

    def _queue_changed(self, box: QComboBox) -> None:
        """An automated rule has no SLA; a rule leaving automation gets its queue's usual one."""
        for row in range(self.rowCount()):
            if self.cellWidget(row, QUEUE) is box:
                item = self.item(row, SLA_COL)
                queue = box.currentData()
                if queue == AUTO:
                    item.setText(NO_SLA)
                elif item.text().strip() in ("", NO_SLA):
                    item.setText(sla_text(int(policy.SLA[Queue(queue)].total_seconds() // 60)))

    def _cell(self, row: int, column: int) -> str:
        item = self.item(row, column)
        return item.text() if item is not None else ""

    def _widget(self, row: int, column: int) -> Any:
        return self.cellWidget(row, column)

    def read_rules(self) -> tuple[list[Rule], list[str]]:
        """The table as rules, and every problem found reading it. A row whose SLA cannot be
        read keeps its place (with its queue's usual SLA), so validation still numbers rules
        as the table does."""
        rules, problems = [], []
        for row in range(self.rowCount()):
            name = self._cell(row, NAME).strip() or f"Rule {row + 1}"
            queue = self._widget(row, QUEUE).currentData()
            try:
                sla = parse_sla(self._cell(row, SLA_COL))
            except ValueError as error:
                problems.append(f"rule {row + 1} ({name}): {error}")
                sla = None if queue == AUTO else int(policy.SLA[Queue(queue)].total_seconds() // 60)
            rules.append(
                Rule(
                    name=name,
                    queue=queue,
                    priority=self._widget(row, PRIORITY).value(),
                    sla_minutes=sla,
                    confidence=parse_list(self._cell(row, CONFIDENCE)),
                    risk=parse_list(self._cell(row, RISK)),
                    value=parse_list(self._cell(row, VALUE)),
                    sensitive=self._widget(row, SENSITIVE).currentData(),
                    exception_codes=parse_list(self._cell(row, CODES)),
                    hints_may_lighten=self.item(row, LIGHTEN).checkState() == Qt.CheckState.Checked,
                )
            )
        return rules, problems

    def add_rule(self) -> list[str]:
        """A new rule above the selected one (else above the catch-all: a rule after it would
        never match). Returns the problems that stopped it (rows that cannot be read)."""
        rules, problems = self.read_rules()
        if problems:
            return problems
        at = self.selected_row()
        position = at if at is not None else max(0, len(rules) - 1)
        rules.insert(
            position, Rule(self.tr("New rule"), Queue.REVIEW, policy.PRIORITY[Queue.REVIEW], 24 * 60)
        )
        self.show_rules(rules)
        self.selectRow(position)
        return []

    def remove_rule(self) -> None:
        at = self.selected_row()
        if at is not None:
            self.removeRow(at)

    def move_rule(self, step: int) -> list[str]:
        """Swap the selected rule with its neighbour; returns what stopped it, as add_rule."""
        at = self.selected_row()
        rules, problems = self.read_rules()
        if problems or at is None or not 0 <= at + step < len(rules):
            return problems
        rules[at], rules[at + step] = rules[at + step], rules[at]
        self.show_rules(rules)
        self.selectRow(at + step)
        return []

    def selected_row(self) -> int | None:
        rows = self.selectionModel().selectedRows()
        return rows[0].row() if rows else None
