"""Chart builders: one idea per chart, labelled axes with units, gaps where there is no data.

Times run along a date axis (a bucket is the day, or the Monday of the week, it starts); rates
are in percent, durations in hours. Y axes start at 0 with round ticks; a rate that can reach
the top of its scale is drawn on 0-100%.

QtCharts renders its labels and legend as rich text, so every name from the data (workflow,
reason code, reviewer) goes through `chart_text`, which escapes it: shown as typed, never run."""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time

from PySide6.QtCharts import (
    QBarCategoryAxis,
    QBarSeries,
    QBarSet,
    QChart,
    QDateTimeAxis,
    QLineSeries,
    QScatterSeries,
    QStackedBarSeries,
    QValueAxis,
)
from PySide6.QtCore import QDateTime, Qt
from PySide6.QtGui import QPen

from app.ui.dashboard.theme import series_color, style_chart

DAY_MS = 86_400_000
MAX_CATEGORY_LABELS = 16


@dataclass(frozen=True)
class Line:
    name: str
    values: Sequence[float | None]  # one per bucket or category; None: nothing to show there


def chart_text(text: str) -> str:
    """Untrusted text for a chart label or legend entry (QtCharts reads them as HTML)."""
    return html.escape(text, quote=False)


def bucket_ms(bucket: str) -> float:
    return datetime.combine(date.fromisoformat(bucket), time(), tzinfo=UTC).timestamp() * 1000


def _chart() -> QChart:
    chart = QChart()
    chart.setAnimationOptions(QChart.AnimationOption.NoAnimation)
    chart.legend().setAlignment(Qt.AlignmentFlag.AlignBottom)
    return chart


def value_axis(title: str, peak: float, *, percent: bool = False, top: float | None = None) -> QValueAxis:
    """A y axis from 0 with round ticks, up to `top` when given, else just above the peak."""
    axis = QValueAxis()
    axis.setTitleText(title)
    if top is None and percent and peak > 50:
        top = 100.0
    if top is not None:
        axis.setRange(0, top)
        axis.setTickCount(5)
    else:
        axis.setRange(0, max(peak * 1.1, 0.5 if percent else 1.0))
        axis.applyNiceNumbers()
    step = (axis.max() - axis.min()) / max(axis.tickCount() - 1, 1)
    decimals = next((d for d in (0, 1, 2) if abs(step * 10**d - round(step * 10**d)) < 1e-6), 2)
    axis.setLabelFormat(f"%.{decimals}f%%" if percent else f"%.{decimals}f")
    return axis


def time_chart(
    buckets: Sequence[str],
    lines: Sequence[Line],
    *,
    y_title: str,
    percent: bool = False,
    period: str = "day",
    top: float | None = None,
) -> QChart:
    """Lines over time, a dot on each point (so a lone point between gaps still shows)."""
    chart = _chart()
    scale = 100.0 if percent else 1.0
    x_axis = QDateTimeAxis()
    x_axis.setFormat("d MMM")
    x_axis.setTitleText("Week starting" if period == "week" else "Day (UTC)")
    pad = DAY_MS * (3.5 if period == "week" else 0.5)
    x_axis.setRange(
        QDateTime.fromMSecsSinceEpoch(int(bucket_ms(buckets[0]) - pad)),
        QDateTime.fromMSecsSinceEpoch(int(bucket_ms(buckets[-1]) + pad)),
    )
    x_axis.setTickCount(min(len(buckets), 6) + 1 if len(buckets) > 1 else 2)
    every = [v * scale for line in lines for v in line.values if v is not None]
    y_axis = value_axis(y_title, max(every, default=0.0), percent=percent, top=top)
    chart.addAxis(x_axis, Qt.AlignmentFlag.AlignBottom)
    chart.addAxis(y_axis, Qt.AlignmentFlag.AlignLeft)
    for index, line in enumerate(lines):
        color = series_color(index)
        series = QLineSeries()
        series.setName(chart_text(line.name))
        pen = QPen(color)
        pen.setWidthF(2.0)
        series.setPen(pen)
        dots = QScatterSeries()
        dots.setColor(color)
        dots.setBorderColor(color)
        dots.setMarkerSize(6.0)
        for bucket, value in zip(buckets, line.values, strict=True):
            if value is not None:
                series.append(bucket_ms(bucket), value * scale)
                dots.append(bucket_ms(bucket), value * scale)
        for item in (series, dots):
            chart.addSeries(item)
            item.attachAxis(x_axis)
            item.attachAxis(y_axis)
        chart.legend().markers(dots)[0].setVisible(False)
    if len(lines) < 2:
        chart.legend().hide()
    style_chart(chart)
    return chart


def category_labels(names: Sequence[str]) -> list[str]:
    """Category labels, thinned out when there are many (every k-th shown; the others blank, made
    unique with zero-width spaces since an axis needs distinct categories)."""
    step = max(1, -(-len(names) // MAX_CATEGORY_LABELS))
    return [chart_text(name) if i % step == 0 else "\u200b" * (i + 1) for i, name in enumerate(names)]


def bar_chart(
    categories: Sequence[str],
    sets: Sequence[Line],
    *,
    y_title: str,
    x_title: str,
    percent: bool = False,
    stacked: bool = False,
    top: float | None = None,
    bottom: float = 0.0,
    legend_right: bool = False,
) -> QChart:
    chart = _chart()
    series = QStackedBarSeries() if stacked else QBarSeries()
    scale = 100.0 if percent else 1.0
    for index, line in enumerate(sets):
        bar_set = QBarSet(chart_text(line.name))
        bar_set.setColor(series_color(index))
        bar_set.setBorderColor(series_color(index))
        bar_set.append([(v or 0.0) * scale for v in line.values])
        series.append(bar_set)
    series.setBarWidth(0.7 if len(categories) > 3 else 0.35)
    chart.addSeries(series)
    x_axis = QBarCategoryAxis()
    x_axis.append(category_labels(categories))
    x_axis.setTitleText(x_title)
    if stacked:
        heights = [sum((line.values[i] or 0.0) for line in sets) * scale for i in range(len(categories))]
    else:
        heights = [(v or 0.0) * scale for line in sets for v in line.values]
    y_axis = value_axis(y_title, max(heights, default=0.0), percent=percent, top=top)
    if bottom < 0:
        y_axis.setMin(bottom)
        y_axis.applyNiceNumbers()
    chart.addAxis(x_axis, Qt.AlignmentFlag.AlignBottom)
    chart.addAxis(y_axis, Qt.AlignmentFlag.AlignLeft)
    series.attachAxis(x_axis)
    series.attachAxis(y_axis)
    if len(sets) < 2:
        chart.legend().hide()
    elif legend_right:
        chart.legend().setAlignment(Qt.AlignmentFlag.AlignRight)
    style_chart(chart)
    return chart


def reliability_chart(bands: Sequence[dict], *, y_title: str) -> QChart:
    """Approval rate per confidence band (bars) against the line of a perfectly calibrated model
    (approval rate = confidence). Bands without tickets stay empty."""
    chart = bar_chart(
        [f"{b['low']:.1f}" for b in bands],
        [Line("Approval rate", [b["rate"] for b in bands])],
        y_title=y_title,
        x_title="AI confidence (band start)",
        percent=True,
        top=100.0,
    )
    ideal = QLineSeries()
    ideal.setName("Perfect calibration")
    pen = QPen(series_color(6))
    pen.setStyle(Qt.PenStyle.DashLine)
    pen.setWidthF(1.5)
    ideal.setPen(pen)
    for index, band in enumerate(bands):
        ideal.append(index, (band["low"] + band["high"]) / 2 * 100)
    chart.addSeries(ideal)
    for axis in chart.axes():
        ideal.attachAxis(axis)
    chart.legend().show()
    style_chart(chart)
    return chart
