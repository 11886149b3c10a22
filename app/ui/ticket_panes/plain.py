"""Plain-text widgets: the one place the untrusted-text rule is kept.

Every string that comes from a ticket is untrusted. It reaches the screen only through
`plain_label()` (a QLabel forced to plain text), `TextBlock` (a plain label or
`QPlainTextEdit.setPlainText`) or a `QTableWidgetItem`; never as rich text, never in a tooltip.
`shown_text` reads back what those widgets show.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, QSize, Qt
from PySide6.QtGui import QFont, QFontDatabase, QMouseEvent, QPalette, QTextOption
from PySide6.QtWidgets import (
    QApplication,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    QTableWidget,
    QVBoxLayout,
    QWidget,
)

# Text past these limits goes into a scrolling QPlainTextEdit instead of a label, so a 200 KB
# message or a 2,000-character URL cannot stretch the layout.
LONG_TEXT_CHARS = 1500
LONG_TEXT_LINES = 30
LONG_TOKEN_CHARS = 60
LONG_TEXT_MAX_LINES = 16


class _CappedLabel(QLabel):
    """A label whose preferred width is bounded, so a 300-character name cannot size the window."""

    def sizeHint(self) -> QSize:
        hint = super().sizeHint()
        return QSize(min(hint.width(), self.fontMetrics().averageCharWidth() * 60), hint.height())

    def minimumSizeHint(self) -> QSize:
        # Layouts expand the size hint to this, so it must be bounded too.
        hint = super().minimumSizeHint()
        return QSize(min(hint.width(), self.fontMetrics().averageCharWidth() * 8), hint.height())


def plain_label(
    text: str = "", *, selectable: bool = True, wrap: bool = True, capped: bool = False
) -> QLabel:
    """The only way a QLabel is made here: plain text, selectable, never a link."""
    label = _CappedLabel() if capped else QLabel()
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setOpenExternalLinks(False)
    label.setWordWrap(wrap)
    if selectable:
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        # Word wrap never breaks a long token (a URL, a 300-character id), and a QLabel's
        # minimum width is its longest token: without this one field could widen the window.
        # Such a token is clipped instead; free text goes through TextBlock, which wraps anywhere.
        label.setMinimumWidth(1)
    else:
        label.setTextInteractionFlags(Qt.TextInteractionFlag.NoTextInteraction)
    label.setText(text)
    return label


# --- selectable on the first press ------------------------------------------------------------
# A selectable QLabel lays its text out in a QTextDocument, twice for each height a layout asks
# of it, and takes click focus: for the ticket detail's ~40 labels that was a quarter of showing
# the next ticket. Their text is selected with the mouse only, so they wait as plain labels
# until a press lands on one (an unselectable label passes the press up to `select_on_press`,
# which makes it selectable and hands the press back).

_SELECT_ON_PRESS = "signoffSelectOnPress"


def defer_selection(root: QWidget) -> None:
    """Make the selectable labels under `root` (and `root` itself) selectable on first press;
    the widget that calls `select_on_press` from its mousePressEvent must contain them."""
    labels = root.findChildren(QLabel)
    if isinstance(root, QLabel):
        labels.append(root)
    for label in labels:
        if label.textInteractionFlags() & Qt.TextInteractionFlag.TextSelectableByMouse:
            # NoFocus until pressed too: left at ClickFocus, showing the next ticket still took
            # ~8 ms more (measured with benchmarks P1; the cause inside Qt was not traced).
            label.setTextInteractionFlags(Qt.TextInteractionFlag.NoTextInteraction)
            label.setProperty(_SELECT_ON_PRESS, True)


def select_on_press(container: QWidget, event: QMouseEvent) -> bool:
    """Called with a press that reached `container` unhandled: if it fell on a deferred label,
    make the label selectable and give it the press (the selection starts where it landed)."""
    label = container.childAt(event.position().toPoint())
    if not isinstance(label, QLabel) or not label.property(_SELECT_ON_PRESS):
        return False
    label.setProperty(_SELECT_ON_PRESS, False)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)  # and ClickFocus
    label.setFocus(Qt.FocusReason.MouseFocusReason)  # what the press would have done
    local = label.mapFrom(container, event.position())
    replay = QMouseEvent(
        event.type(), local, event.scenePosition(), event.globalPosition(),
        event.button(), event.buttons(), event.modifiers(),
    )
    QApplication.sendEvent(label, replay)
    return True


def muted(label: QLabel) -> QLabel:
    # PlaceholderText is a palette role, so the dimming follows light and dark themes.
    label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
    return label


class _FontFollower(QObject):
    """Keeps a widget's derived font (bold, scaled, fixed-width) in step with the application
    font: an explicit setFont() stops Qt from passing a new font size (Preferences) down."""

    def __init__(self, widget: QWidget, derive: Callable[[QFont], QFont]) -> None:
        super().__init__(widget)
        self._widget, self._derive = widget, derive
        app = QApplication.instance()
        if isinstance(app, QApplication):
            app.fontChanged.connect(self.apply)  # a child of the widget: gone with it
        self.apply()

    def apply(self, *_font: object) -> None:
        self._widget.setFont(self._derive(QFont(QApplication.font(self._widget))))


def follow_app_font(widget: QWidget, derive: Callable[[QFont], QFont]) -> None:
    """Give `widget` the font `derive` makes of the surrounding font, now and after every change."""
    _FontFollower(widget, derive)


def bold(label: QLabel, scale: float = 1.0) -> QLabel:
    def derive(font: QFont) -> QFont:
        font.setBold(True)
        if scale != 1.0 and font.pointSizeF() > 0:
            font.setPointSizeF(font.pointSizeF() * scale)
        return font

    follow_app_font(label, derive)
    return label


def mono(label: QLabel) -> QLabel:
    def derive(font: QFont) -> QFont:
        fixed = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        fixed.setPointSizeF(font.pointSizeF())
        return fixed

    follow_app_font(label, derive)
    return label


def section_title(text: str) -> QLabel:
    label = bold(plain_label(text, selectable=False))
    label.setContentsMargins(0, label.fontMetrics().height() // 2, 0, 0)
    return label


def _is_long(text: str) -> bool:
    if len(text) > LONG_TEXT_CHARS or text.count("\n") > LONG_TEXT_LINES:
        return True
    return max(map(len, text.split()), default=0) > LONG_TOKEN_CHARS


class TextBlock(QWidget):
    """Untrusted free text: a selectable label when short, a read-only plain-text box when long."""

    def __init__(self, accessible_name: str, *, emphasis: float | None = None) -> None:
        super().__init__()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.label = plain_label()
        if emphasis is not None:
            bold(self.label, emphasis)
        self.label.setAccessibleName(accessible_name)
        self.edit = QPlainTextEdit()
        self.edit.setReadOnly(True)
        self.edit.setAccessibleName(accessible_name)
        self.edit.setWordWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
        self.edit.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.edit.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.edit.hide()
        self.size_note = muted(plain_label(selectable=False))
        self.size_note.hide()
        layout.addWidget(self.label)
        layout.addWidget(self.edit)
        layout.addWidget(self.size_note)

    def set_text(self, text: str) -> None:
        if _is_long(text):
            self.label.clear()
            self.label.hide()
            self.edit.setPlainText(text)
            # Height in text lines, so it scales with the font on any DPI.
            estimate = text.count("\n") + 1 + len(text) // 70
            lines = max(3, min(LONG_TEXT_MAX_LINES, estimate))
            margin = 2 * (self.edit.frameWidth() + round(self.edit.document().documentMargin()))
            self.edit.setFixedHeight(lines * self.edit.fontMetrics().lineSpacing() + margin)
            self.edit.show()
            if estimate > lines:
                self.size_note.setText(
                    self.tr("{n} characters: scroll inside the box").format(n=f"{len(text):,}")
                )
            self.size_note.setVisible(estimate > lines)
        else:
            if not self.edit.isHidden():
                self.edit.clear()
                self.edit.hide()
                self.size_note.hide()
            self.label.setText(text)
            self.label.show()

    def text(self) -> str:
        return self.edit.toPlainText() if not self.edit.isHidden() else self.label.text()


def _widget_text(widget: QWidget) -> str:
    if isinstance(widget, QLabel):
        return widget.text()
    if isinstance(widget, QPlainTextEdit):
        return widget.toPlainText()
    if isinstance(widget, QPushButton):
        return widget.text()
    if isinstance(widget, QTableWidget):
        lines = []
        for row in range(widget.rowCount()):
            cells = [widget.item(row, col).text() if widget.item(row, col) else "" for col in range(3)]
            lines.append("\t".join(cells))
        return "\n".join(lines)
    return ""


def shown_text(root: QWidget) -> str:
    """The text of every widget under `root` that would show now, one widget a line."""
    texts = []
    for widget in root.findChildren(QWidget):
        if widget.isVisibleTo(root) and (text := _widget_text(widget)):
            texts.append(text)
    return "\n".join(texts)
