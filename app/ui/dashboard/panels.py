"""The cards that are more than a time series: calibration with threshold advice, shadow mode,
drift alerts, blind-review agreement and (administrators only) reviewers."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QWidget

from app.core.metrics.summary import percent
from app.ui.dashboard import tables
from app.ui.dashboard.card import ChartCard
from app.ui.dashboard.charts import Line, bar_chart, reliability_chart
from app.ui.dashboard.theme import severity_color
from app.ui.ticket_panes import plain_label
from app.ui.ticket_panes.plain import muted

SELECTION_NOTE = (
    "Only tickets that reached review are counted: what the pipeline auto-approved is not in this "
    "data unless it was sampled for audit or the workflow ran in shadow mode."
)


def advice_text(advice: dict[str, Any]) -> str:
    """The threshold advice in words, with its sample size; or why there is none."""
    if advice["refused"]:
        return "No advice: " + advice["refused"]
    low, high = advice["interval"] or (None, None)
    ci = advice["precision_ci"]
    text = (
        f"Auto-approving from confidence {advice['threshold']:.2f} would have met the "
        f"{percent(advice['target'], 0)} target: {percent(advice['precision'])} approved "
        f"(95% interval {percent(ci[0])}–{percent(ci[1])}) on {advice['auto_approved']:,} tickets, "
        f"{percent(advice['coverage'], 0)} of the {advice['sample']:,} settled."
    )
    if high is None:
        return text + " No threshold meets the target with 95% confidence yet: more data first."
    return text + f" Plausible thresholds: {low:.2f} to {high:.2f} ({high:.2f} is the cautious choice)."


class BandsCard(ChartCard):
    """Approval rate per confidence band for one group, picked in a combo box, with the advice."""

    def __init__(self, key: str, title: str, y_title: str, parent: QWidget | None = None) -> None:
        super().__init__(key, title, parent)
        self._y_title = y_title
        self._entries: list[dict[str, Any]] = []
        self.group = QComboBox()
        self.group.setObjectName(f"group_{key}")
        self.group.setAccessibleName(self.tr("Which workflow and model version"))
        self.group.currentIndexChanged.connect(self._show_group)
        picker = QHBoxLayout()
        picker.addWidget(QLabel(self.tr("Show")))
        picker.addWidget(self.group, 1)
        self.body.insertLayout(2, picker)
        self.advice = plain_label()
        self.advice.setObjectName(f"advice_{key}")
        self.note = muted(plain_label(SELECTION_NOTE))
        self.body.addWidget(self.advice)
        self.body.addWidget(self.note)

    def show_entries(self, entries: list[dict[str, Any]], empty_text: str) -> None:
        current = self.group.currentText()
        self._entries = entries
        self.group.blockSignals(True)
        self.group.clear()
        for entry in entries:
            self.group.addItem(self.label_of(entry))
        index = self.group.findText(current)
        if index < 0 and entries:  # first showing: the group with the most data
            index = max(range(len(entries)), key=lambda i: entries[i]["n"])
        self.group.setCurrentIndex(max(index, 0))
        self.group.blockSignals(False)
        self.group.setEnabled(bool(entries))
        if not entries:
            self.set_subtitle("")
            self.advice.setText("")
            self.set_chart(None, empty_text)
            self.set_table(([], []))
            return
        self._show_group(self.group.currentIndex())

    def label_of(self, entry: dict[str, Any]) -> str:
        return f"{entry['workflow'].replace('_', ' ')} · model {entry['model_version']}"

    def subtitle_of(self, entry: dict[str, Any]) -> str:
        return f"Approval rate of the AI's proposal by its confidence: {entry['n']:,} settled tickets"

    def _show_group(self, index: int) -> None:
        if not 0 <= index < len(self._entries):
            return
        entry = self._entries[index]
        self.set_subtitle(self.subtitle_of(entry))
        if entry["n"]:
            self.set_chart(reliability_chart(entry["bands"], y_title=self._y_title))
        else:
            self.set_chart(None, "No settled tickets yet.")
        self.set_table(tables.bands(entry))
        advice = entry["advice"]
        self.advice.setText(advice_text(advice))
        refused = advice["refused"] is not None
        self.advice.setStyleSheet(f"color: {severity_color('warning').name()}" if refused else "")


class ShadowCard(BandsCard):
    def label_of(self, entry: dict[str, Any]) -> str:
        return entry["workflow"].replace("_", " ")

    def subtitle_of(self, entry: dict[str, Any]) -> str:
        agreed = sum(b["approved"] for b in entry["bands"])
        share = percent(agreed / entry["n"] if entry["n"] else None)
        return (
            f"In shadow mode since {entry['since'][:10]}: people approved the AI's proposal on "
            f"{agreed:,} of {entry['n']:,} settled tickets ({share})"
        )


class AlertsCard(ChartCard):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("drift", "Drift alerts", parent)
        self.alerts = QListWidget()
        self.alerts.setObjectName("driftAlerts")
        self.alerts.setAccessibleName(self.tr("Drift alerts"))
        self.alerts.setWordWrap(True)
        self.alerts.setMinimumHeight(200)
        self.set_custom(self.alerts)

    def _add_quiet(self, text: str) -> None:
        item = QListWidgetItem(text)
        item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
        self.alerts.addItem(item)

    def show_report(self, report: dict[str, Any]) -> None:
        drift = report["drift"]
        self.set_subtitle(
            f"The week to {drift['window']['to'][:10]} against the four weeks before, per workflow"
        )
        self.alerts.clear()
        for alert in drift["alerts"]:
            word = "Alert" if alert["severity"] == "alert" else "Warning"
            item = QListWidgetItem(f"{word} · {alert['workflow'].replace('_', ' ')}: {alert['message']}")
            item.setForeground(QBrush(severity_color(alert["severity"])))
            item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
            self.alerts.addItem(item)
        alerted = {a["workflow"] for a in drift["alerts"]}
        for entry in drift["workflows"]:
            if entry["workflow"] not in alerted:
                self._add_quiet(f"{entry['workflow'].replace('_', ' ')}: {quiet_text(entry)}")
        if not drift["workflows"]:
            self._add_quiet("No tickets in the last five weeks to compare.")
        self.set_table(tables.drift(report))


def quiet_text(entry: dict[str, Any]) -> str:
    """A workflow without alerts, in words: why it is quiet."""
    if entry.get("note"):
        return f"nothing to compare against yet ({entry['tickets']['window']:,} tickets this week)"
    psi = (
        "not enough tickets for a PSI"
        if entry["psi"] is None
        else f"confidence stable (PSI {entry['psi']:.2f})"
    )
    override = entry["override"]
    return (
        f"no new exception code, {psi}, override rate {percent(override['window']['value'])} "
        f"this week against {percent(override['reference']['value'])} before"
    )


def show_agreement(card: ChartCard, report: dict[str, Any]) -> None:
    figure = report["agreement"]
    kappa = "—" if figure["kappa"] is None else f"{figure['kappa']:.2f}"
    card.set_subtitle(
        f"Blind second reviews: {figure['n']:,} done, {figure['pending']:,} waiting · agreement "
        f"{percent(figure['agreement'])} · Cohen's kappa {kappa}"
    )
    rows = [w for w in figure["by_workflow"] if w["kappa"] is not None]
    if not rows:
        card.set_chart(None, "No blind second reviews with a kappa yet (set a share per workflow).")
    else:
        lowest = min(0.0, *(w["kappa"] for w in rows))
        card.set_chart(
            bar_chart(
                [w["workflow"].replace("_", " ") for w in rows],
                [Line("Cohen's kappa", [w["kappa"] for w in rows])],
                y_title="Cohen's kappa",
                x_title="Workflow",
                top=1.0,
                bottom=lowest,
            )
        )
    card.set_table(tables.agreement(report))


def show_reviewers(card: ChartCard, report: dict[str, Any]) -> None:
    people = report["reviewers"] or []
    card.set_subtitle(
        f"{len(people)} people decided tickets in this range (blind second reviews included); "
        "agreement with the AI and with blind reviewers in the table"
    )
    if not people:
        card.set_chart(None, "No decisions in this range yet.")
    else:
        card.set_chart(
            bar_chart(
                [p["reviewer"] for p in people],
                [Line("Decisions", [p["decisions"] for p in people])],
                y_title="Decisions",
                x_title="Reviewer",
            )
        )
    card.set_table(tables.reviewers(report))
