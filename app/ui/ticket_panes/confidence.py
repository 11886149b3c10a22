"""The AI's confidence: its band (low / medium / high) and a painted bar with the band ticks."""

from __future__ import annotations

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPaintEvent, QPalette
from PySide6.QtWidgets import QSizePolicy, QWidget

from app.ui.ticket_panes.tones import FILLS

BAND_LOW = 0.60
BAND_HIGH = 0.90
# The tone (see tones.py) each band is shown in.
BAND_TONES = {"low": "bad", "medium": "warn", "high": "good"}


def confidence_band(confidence: float) -> str:
    """'low' below 60 %, 'high' above 90 %, else 'medium'."""
    if confidence < BAND_LOW:
        return "low"
    if confidence > BAND_HIGH:
        return "high"
    return "medium"


class ConfidenceBar(QWidget):
    """A painted bar (QProgressBar ignores colours in some native styles) with 60/90 % ticks."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._value = 0.0
        self._fill = QColor(FILLS["good"])
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setAccessibleName(self.tr("Confidence bar"))

    def set_value(self, value: float, band: str) -> None:
        self._value = min(1.0, max(0.0, value))
        self._fill = QColor(FILLS[BAND_TONES[band]])
        self.setAccessibleDescription(f"{round(self._value * 100)} %")
        self.update()

    def _thickness(self) -> int:
        return max(6, self.fontMetrics().height() // 2)

    def sizeHint(self) -> QSize:
        return QSize(self._thickness() * 16, self._thickness())

    def minimumSizeHint(self) -> QSize:
        return QSize(self._thickness() * 4, self._thickness())

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        rect = QRectF(self.rect())
        radius = rect.height() / 2
        track = QColor(self.palette().color(QPalette.ColorRole.WindowText))
        track.setAlpha(40)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(track)
        painter.drawRoundedRect(rect, radius, radius)
        if self._value > 0:
            filled = QRectF(rect.x(), rect.y(), max(rect.height(), rect.width() * self._value), rect.height())
            painter.setBrush(self._fill)
            painter.drawRoundedRect(filled, radius, radius)
        tick = QColor(self.palette().color(QPalette.ColorRole.Window))
        tick.setAlpha(200)
        painter.setBrush(tick)
        for mark in (BAND_LOW, BAND_HIGH):
            x = rect.x() + rect.width() * mark
            painter.drawRect(QRectF(x - 0.5, rect.y(), 1, rect.height()))
        painter.end()
