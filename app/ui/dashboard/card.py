"""A dashboard card: a title, one line on what it counts and from how many, the chart, and a
"Table" toggle that shows the same figures as a table (plain text cells)."""

from __future__ import annotations

from PySide6.QtCharts import QChart, QChartView
from PySide6.QtCore import Qt
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QPushButton,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.ui.dashboard.tables import Table
from app.ui.ticket_panes import plain_label
from app.ui.ticket_panes.plain import bold, muted

CHART_HEIGHT = 250


class ChartCard(QFrame):
    def __init__(self, key: str, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName(f"card_{key}")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.title = bold(plain_label(title, wrap=False), 1.1)
        self.subtitle = muted(plain_label())
        self.subtitle.setObjectName(f"subtitle_{key}")
        self.toggle = QPushButton(self.tr("Table"))
        self.toggle.setObjectName(f"toggle_{key}")
        self.toggle.setCheckable(True)
        self.toggle.setAccessibleDescription(self.tr("Show these figures as a table"))
        self.toggle.toggled.connect(self._toggled)
        self.view = QChartView()
        self.view.setRenderHint(QPainter.RenderHint.Antialiasing)
        self.view.setMinimumHeight(CHART_HEIGHT)
        self.view.setStyleSheet("background: transparent")
        self.empty = muted(plain_label())
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setMinimumHeight(CHART_HEIGHT)
        self.table = QTableWidget()
        self.table.setObjectName(f"table_{key}")
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().hide()
        self.table.setMinimumHeight(CHART_HEIGHT)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.view)
        self.stack.addWidget(self.empty)
        self.stack.addWidget(self.table)
        head = QHBoxLayout()
        head.addWidget(self.title, 1)
        head.addWidget(self.toggle)
        self.body = QVBoxLayout(self)
        self.body.setContentsMargins(10, 8, 10, 8)
        self.body.addLayout(head)
        self.body.addWidget(self.subtitle)
        self.body.addWidget(self.stack, 1)
        self._chart_page: QWidget = self.view

    def set_subtitle(self, text: str) -> None:
        self.subtitle.setText(text)

    def set_chart(self, chart: QChart | None, empty_text: str = "") -> None:
        """The chart to draw, or (None) the sentence that says why there is none."""
        if chart is None:
            self.empty.setText(empty_text)
            self._chart_page = self.empty
        else:
            old = self.view.chart()
            self.view.setChart(chart)  # the view owns the new chart and lets go of the old one
            if old is not None:
                old.deleteLater()
            self._chart_page = self.view
        self._toggled(self.toggle.isChecked())

    def set_table(self, table: Table) -> None:
        headers, rows = table
        self.table.clear()
        self.table.setColumnCount(len(headers))
        self.table.setRowCount(len(rows))
        self.table.setHorizontalHeaderLabels(headers)
        for r, row in enumerate(rows):
            for c, text in enumerate(row):
                item = QTableWidgetItem(text)  # plain text: names come from pipelines
                if c > 0:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(r, c, item)

    def set_custom(self, widget: QWidget) -> None:
        """A card whose body is its own widget (the alerts list), still with a table behind it."""
        self.stack.insertWidget(0, widget)
        self._chart_page = widget
        self._toggled(self.toggle.isChecked())

    def _toggled(self, as_table: bool) -> None:
        self.toggle.setText(self.tr("Chart") if as_table else self.tr("Table"))
        self.stack.setCurrentWidget(self.table if as_table else self._chart_page)

    @property
    def showing_table(self) -> bool:
        return self.stack.currentWidget() is self.table
