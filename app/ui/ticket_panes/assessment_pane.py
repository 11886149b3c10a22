"""The AI assessment pane: the recommendation, how sure the AI is, how old its data is, and why."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
)

from app.ui.formatting import span_text
from app.ui.ticket_panes.confidence import BAND_TONES, ConfidenceBar, confidence_band
from app.ui.ticket_panes.layout import Card, Form, Pane
from app.ui.ticket_panes.plain import TextBlock, bold, mono, muted, plain_label, section_title
from app.ui.ticket_panes.timefmt import parse_time
from app.ui.ticket_panes.tones import badge, set_tone, tone_color
from app.ui.ticket_panes.value_text import pairs, scalar_text

STALE_AFTER = timedelta(days=30)


def _weight(signal: Mapping[str, Any]) -> float | None:
    weight = signal.get("weight")
    return weight if isinstance(weight, int | float) and not isinstance(weight, bool) else None


class AssessmentPane(Pane):
    def __init__(self) -> None:
        super().__init__("assessmentPane", self.tr("AI assessment"), self.tr("What the AI proposes"))
        self._ai: Mapping[str, Any] = {}
        card = Card()
        self.recommendation = TextBlock(self.tr("Recommendation"), emphasis=1.1)
        self._action = mono(muted(plain_label()))
        self._action.setAccessibleName(self.tr("Recommended action"))
        self._details = TextBlock(self.tr("Recommendation details"))
        card.layout_.addWidget(self.recommendation)
        card.layout_.addWidget(self._action)
        card.layout_.addWidget(self._details)
        self.add(card)

        confidence_row = QHBoxLayout()
        unit = self.fontMetrics().height()
        confidence_row.setSpacing(unit // 2)
        confidence_row.setContentsMargins(0, unit // 3, 0, 0)
        self.confidence = bold(plain_label(wrap=False), 1.1)
        self.confidence.setAccessibleName(self.tr("Confidence"))
        self.confidence_bar = ConfidenceBar()
        self._band = plain_label(wrap=False)
        self._band.setAccessibleName(self.tr("Confidence band"))
        confidence_row.addWidget(self.confidence)
        confidence_row.addWidget(self.confidence_bar, 1, Qt.AlignmentFlag.AlignVCenter)
        confidence_row.addWidget(self._band)
        self.add(confidence_row)

        data_row = QHBoxLayout()
        data_row.setSpacing(unit // 2)
        self.data_age = plain_label()
        self.data_age.setAccessibleName(self.tr("Data age"))
        self._stale = badge(self.tr("Stale data"), "warn")
        self._stale.setAccessibleName(self.tr("Stale data warning"))
        data_row.addWidget(self.data_age, 1)
        data_row.addWidget(self._stale, 0, Qt.AlignmentFlag.AlignTop)
        self.add(data_row)

        self._effect_title = section_title(self.tr("If approved"))
        self.effect = TextBlock(self.tr("Proposed effect if approved"))
        self.add(self._effect_title)
        self.add(self.effect)

        self.add(section_title(self.tr("Rationale")))
        self.rationale = TextBlock(self.tr("Rationale"))
        self.add(self.rationale)

        self._signals_title = section_title(self.tr("Signals"))
        self.signals = self._build_signals()
        self.add(self._signals_title)
        self.add(self.signals)

        self.add(section_title(self.tr("Model")))
        form = Form()
        self.model = form.value_row(self.tr("Model"))
        self.model_version = form.value_row(self.tr("Version"), self.tr("Model version"))
        self._prompt_version = form.value_row(self.tr("Prompt"), self.tr("Prompt version"))
        self._form = form
        self.add(form)
        self.finish()

    def _build_signals(self) -> QTableWidget:
        signals = QTableWidget(0, 3)
        signals.setAccessibleName(self.tr("Signals"))
        signals.setHorizontalHeaderLabels([self.tr("Signal"), self.tr("Value"), self.tr("Weight")])
        signals.verticalHeader().hide()
        signals.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        signals.setSelectionMode(QAbstractItemView.SelectionMode.ContiguousSelection)
        signals.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        signals.setWordWrap(False)
        signals.setShowGrid(False)
        signals.setAlternatingRowColors(True)
        signals.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        line = self.fontMetrics().height()
        signals.verticalHeader().setMinimumSectionSize(line)
        signals.verticalHeader().setDefaultSectionSize(line + line // 2)
        header = signals.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        # Long values elide ("…") instead of pushing the name column out of sight.
        header.setMaximumSectionSize(self.fontMetrics().averageCharWidth() * 32)
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        signals.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        return signals

    def show_assessment(self, ai: Mapping[str, Any], *, dark: bool) -> None:
        """Show the AI part of a payload; `dark` is the theme the weight colours are picked for."""
        self._ai = ai
        recommendation = ai.get("recommendation") or {}
        action = scalar_text(recommendation.get("action", ""))
        self.recommendation.set_text(scalar_text(recommendation.get("label") or action))
        self._action.setText(action)
        details = pairs(recommendation.get("details"))
        self._details.set_text("\n".join(details))
        self._details.setVisible(bool(details))

        confidence = ai.get("confidence")
        if isinstance(confidence, int | float) and not isinstance(confidence, bool):
            band = confidence_band(float(confidence))
            tone = BAND_TONES[band]
            self.confidence.setText(f"{round(confidence * 100)} %")
            self.confidence_bar.set_value(float(confidence), band)
            band_text = {
                "low": self.tr("low (under 60 %)"),
                "medium": self.tr("medium (60–90 %)"),
                "high": self.tr("high (over 90 %)"),
            }[band]
            self._band.setText(band_text)
            set_tone(self.confidence, tone)
            set_tone(self._band, tone)
        else:
            self.confidence.setText("—")
            self.confidence_bar.set_value(0.0, "low")
            self._band.setText(self.tr("not given"))
            set_tone(self.confidence, None)
            set_tone(self._band, None)

        effect = ai.get("proposed_effect")
        self.effect.set_text(scalar_text(effect) if effect else "")
        self._effect_title.setVisible(bool(effect))
        self.effect.setVisible(bool(effect))
        self.rationale.set_text(scalar_text(ai.get("rationale", "")))
        self._show_signals(ai.get("signals") or [], dark)

        self._form.show_value(self.model, scalar_text(ai.get("model", "")))
        self._form.show_value(self.model_version, scalar_text(ai.get("model_version", "")))
        prompt = ai.get("prompt_version")
        self._form.show_value(self._prompt_version, scalar_text(prompt) if prompt else None)

    def _show_signals(self, signals: Any, dark: bool) -> None:
        rows = [s for s in signals if isinstance(s, Mapping)] if isinstance(signals, list) else []

        def strength(signal: Mapping[str, Any]) -> float:
            weight = _weight(signal)
            return abs(weight) if weight is not None else -1.0

        # Strongest influence first; signals without a weight go last, in the order given.
        rows.sort(key=strength, reverse=True)
        table = self.signals
        table.setUpdatesEnabled(False)
        table.clearContents()
        table.setRowCount(len(rows))
        for row, signal in enumerate(rows):
            weight = _weight(signal)
            weight_item = QTableWidgetItem(f"{weight:+.2f}" if weight is not None else "—")
            weight_item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            if weight:
                weight_item.setForeground(tone_color("good" if weight > 0 else "bad", dark))
            table.setItem(row, 0, QTableWidgetItem(scalar_text(signal.get("name", ""))))
            table.setItem(row, 1, QTableWidgetItem(scalar_text(signal.get("value"))))
            table.setItem(row, 2, weight_item)
        table.setUpdatesEnabled(True)
        # Fit up to 10 rows without an inner scrollbar; more rows scroll inside the table.
        row_height = table.verticalHeader().defaultSectionSize()
        visible_rows = min(len(rows), 10)
        height = table.horizontalHeader().sizeHint().height() + visible_rows * row_height
        table.setFixedHeight(height + 2 * table.frameWidth())
        self._signals_title.setVisible(bool(rows))
        table.setVisible(bool(rows))

    def refresh_times(self, now: datetime) -> None:
        """The data age line and the stale-data badge."""
        ai = self._ai
        as_of = parse_time(ai.get("data_as_of"))
        stale = False
        if as_of is not None:
            age = now - as_of
            stale = age > STALE_AFTER
            self.data_age.setText(
                self.tr("Data as of {date}, {span} old").format(date=f"{as_of:%Y-%m-%d}", span=span_text(age))
                if age >= timedelta(0)
                else self.tr("Data as of {date}").format(date=f"{as_of:%Y-%m-%d}")
            )
        elif ai.get("data_as_of"):
            self.data_age.setText(self.tr("Data as of {raw}").format(raw=scalar_text(ai.get("data_as_of"))))
        else:
            self.data_age.setText(self.tr("Data age not given"))
        set_tone(self.data_age, "warn" if stale else None)
        self._stale.setVisible(stale)
