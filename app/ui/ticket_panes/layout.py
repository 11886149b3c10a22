"""Layout pieces the panes share: the pane frame, cards, forms and pools of reusable widgets."""

from __future__ import annotations

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPaintEvent, QPalette
from PySide6.QtWidgets import QFormLayout, QFrame, QHBoxLayout, QLabel, QScrollArea, QVBoxLayout, QWidget

from app.ui.ticket_panes.plain import bold, defer_selection, follow_app_font, muted, plain_label


class Form(QFormLayout):
    """Muted field names on the left, plain-text values on the right; empty rows hide."""

    def __init__(self) -> None:
        super().__init__()
        self.setContentsMargins(0, 0, 0, 0)
        self.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.setRowWrapPolicy(QFormLayout.RowWrapPolicy.DontWrapRows)
        self.setLabelAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.setFormAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)

    def value_row(self, name: str, accessible_name: str | None = None) -> QLabel:
        value = plain_label()
        value.setAccessibleName(accessible_name or name)
        self.addRow(muted(plain_label(name, selectable=False)), value)
        return value

    def show_value(self, value: QLabel, text: str | None) -> None:
        value.setText(text or "")
        if value.isHidden() == bool(text):  # only when it changes: each call relayouts the form
            self.setRowVisible(value, bool(text))


class Pane(QFrame):
    """One of the three columns: a fixed title over a vertically scrolling body."""

    def __init__(self, object_name: str, eyebrow: str, title: str) -> None:
        super().__init__()
        self.setObjectName(object_name)
        self.setAccessibleName(eyebrow)
        self.setMinimumWidth(self.fontMetrics().averageCharWidth() * 30)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(0)

        heading = QWidget()
        heading_layout = QVBoxLayout(heading)
        unit = self.fontMetrics().height()
        heading_layout.setContentsMargins(unit, unit * 2 // 3, unit, unit // 3)
        heading_layout.setSpacing(0)
        small = muted(plain_label(eyebrow.upper(), selectable=False))
        follow_app_font(small, _eyebrow_font)
        heading_layout.addWidget(small)
        heading_layout.addWidget(bold(plain_label(title, selectable=False), 1.2))
        outer.addWidget(heading)

        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.body = QWidget()
        self.body_layout = QVBoxLayout(self.body)
        self.body_layout.setContentsMargins(unit, unit // 3, unit, unit)
        self.body_layout.setSpacing(unit // 3)
        self.scroll.setWidget(self.body)
        outer.addWidget(self.scroll, 1)

    def add(self, item: QWidget | QFormLayout | QHBoxLayout) -> None:
        if isinstance(item, QWidget):
            self.body_layout.addWidget(item)
        else:
            self.body_layout.addLayout(item)

    def finish(self) -> None:
        self.body_layout.addStretch(1)

    def to_top(self) -> None:
        self.scroll.verticalScrollBar().setValue(0)


class Card(QWidget):
    """A block on the Base colour (white in light themes, near-black in dark) with a soft frame.

    Painted rather than styled: per-widget style sheets made showing a long thread ~7x slower.
    """

    def __init__(self) -> None:
        super().__init__()
        self.layout_ = QVBoxLayout(self)
        unit = self.fontMetrics().height()
        self.layout_.setContentsMargins(unit * 2 // 3, unit // 2, unit * 2 // 3, unit // 2)
        self.layout_.setSpacing(unit // 4)

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        border = QColor(self.palette().color(QPalette.ColorRole.WindowText))
        border.setAlpha(45)
        painter.setPen(border)
        painter.setBrush(self.palette().color(QPalette.ColorRole.Base))
        radius = self.fontMetrics().height() / 3
        painter.drawRoundedRect(QRectF(self.rect()).adjusted(0.5, 0.5, -0.5, -0.5), radius, radius)
        painter.end()


def pool_fill(pool: list, layout: QVBoxLayout, factory: type, count: int) -> list:
    """Grow a widget pool to `count` and show exactly that many; extra ones hide, not die."""
    while len(pool) < count:
        widget = factory()
        defer_selection(widget)  # like the rest of the ticket detail
        layout.addWidget(widget)
        pool.append(widget)
    for i, widget in enumerate(pool):
        widget.setVisible(i < count)
    return pool[:count]


def pool_trim(pool: list, keep: int) -> None:
    """After a 'show all', drop the surplus so one huge thread does not stay resident."""
    while len(pool) > keep:
        widget = pool.pop()
        widget.hide()  # deleteLater waits for the event loop; until then it must not show
        widget.deleteLater()


def _eyebrow_font(font: QFont) -> QFont:
    font.setPointSizeF(font.pointSizeF() * 0.8)
    font.setLetterSpacing(QFont.SpacingType.PercentageSpacing, 108)
    font.setBold(True)
    return font
