"""Chart colours and styling that read in light and dark mode: series from the Okabe-Ito palette
(distinct for colour-blind readers too), text and grid from the window's own palette."""

from __future__ import annotations

from PySide6.QtCharts import QAbstractAxis, QChart
from PySide6.QtGui import QColor, QFont, QPalette, QPen
from PySide6.QtWidgets import QApplication

SERIES = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#999999", "#F0E442")
SERIES_ON_DARK = ("#56B4E9", "#E69F00", "#2BC48F", "#E08CC0", "#8FD3FF", "#FF7F3F", "#BBBBBB", "#F0E442")
WARNING = "#B35900"
ALERT = "#C0392B"
WARNING_ON_DARK = "#F0A050"
ALERT_ON_DARK = "#FF7B6B"


def palette() -> QPalette:
    return QApplication.palette()


def is_dark(pal: QPalette | None = None) -> bool:
    return (pal or palette()).color(QPalette.ColorRole.Window).lightness() < 128


def series_color(index: int) -> QColor:
    colors = SERIES_ON_DARK if is_dark() else SERIES
    return QColor(colors[index % len(colors)])


def severity_color(severity: str) -> QColor:
    dark = is_dark()
    if severity == "alert":
        return QColor(ALERT_ON_DARK if dark else ALERT)
    return QColor(WARNING_ON_DARK if dark else WARNING)


def style_chart(chart: QChart) -> None:
    """Text, grid and background from the palette, so a chart sits calmly on either mode."""
    pal = palette()
    text = pal.color(QPalette.ColorRole.WindowText)
    grid = QColor(text)
    grid.setAlpha(40)
    chart.setBackgroundVisible(False)
    chart.setPlotAreaBackgroundVisible(False)
    chart.setMargins(chart.margins().__class__(4, 4, 4, 4))
    chart.legend().setLabelColor(text)
    chart.legend().setFont(QFont(chart.legend().font().family(), 9))
    for axis in chart.axes():
        style_axis(axis, text, grid)


def style_axis(axis: QAbstractAxis, text: QColor, grid: QColor) -> None:
    axis.setLabelsColor(text)
    axis.setTitleBrush(text)
    font = axis.titleFont()
    font.setPointSize(9)
    axis.setTitleFont(font)
    labels = axis.labelsFont()
    labels.setPointSize(8)
    axis.setLabelsFont(labels)
    axis.setGridLineColor(grid)
    axis.setLinePen(QPen(grid))
    axis.setMinorGridLineVisible(False)
