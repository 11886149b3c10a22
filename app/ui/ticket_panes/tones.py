"""Colour by meaning ('bad', 'warn', 'good') that stays readable on light and dark windows."""

from __future__ import annotations

from PySide6.QtCore import QObject
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication, QLabel, QSizePolicy, QWidget

from app.ui.ticket_panes.plain import follow_app_font, plain_label

# Text colours as (on a light window, on a dark window): each pair keeps contrast >= 4.5:1.
TONES: dict[str, tuple[str, str]] = {
    "bad": ("#b3261e", "#ff8a80"),
    "warn": ("#8a5300", "#ffc46b"),
    "good": ("#1b6e2e", "#7ee2a0"),
}
# Bar fills and badge backgrounds: mid tones that read on light and dark windows alike.
FILLS: dict[str, str] = {"bad": "#d93025", "warn": "#e8a317", "good": "#2e9d4f"}
BADGES: dict[str, tuple[str, str]] = {  # (background, text)
    "bad": ("#c5221f", "#ffffff"),
    "warn": ("#f4b400", "#1f1600"),
    "good": ("#2e7d32", "#ffffff"),
}


def is_dark(widget: QWidget) -> bool:
    return widget.palette().color(QPalette.ColorRole.Window).lightness() < 128


def tone_color(tone: str, dark: bool) -> QColor:
    """The text colour for `tone` on a dark (or light) window."""
    return QColor(TONES[tone][1 if dark else 0])


def set_tone(label: QLabel, tone: str | None) -> None:
    """Colour a label's text by meaning; None returns it to the inherited palette."""
    dark = is_dark(label)
    if getattr(label, "_tone", None) == (tone, dark):
        return
    label._tone = (tone, dark)  # type: ignore[attr-defined]
    if tone is None:
        label.setPalette(QPalette())  # empty resolve mask: inherit everything again
        return
    palette = QPalette()
    palette.setColor(QPalette.ColorRole.WindowText, tone_color(tone, dark))
    label.setPalette(palette)


def badge(text: str, kind: str) -> QLabel:
    """A small static pill (our own text only). `kind` is a tone or "neutral"."""
    label = plain_label(text, selectable=False, wrap=False)
    if kind == "neutral":
        style = (
            "QLabel { background: palette(alternate-base); color: palette(window-text);"
            " border: 1px solid palette(mid); border-radius: 4px; padding: 1px 6px; }"
        )
    else:
        background, color = BADGES[kind]
        style = (
            f"QLabel {{ background: {background}; color: {color}; border-radius: 4px;"
            " padding: 1px 6px; font-weight: bold; }"
        )
    label.setStyleSheet(style)
    _Restyler(label, style)
    # A style-sheeted widget is skipped when the application font changes: follow it by hand.
    follow_app_font(label, lambda font: font)
    label.setSizePolicy(QSizePolicy.Policy.Maximum, QSizePolicy.Policy.Fixed)
    return label


class _Restyler(QObject):
    """Style sheets resolve palette(...) once: set the sheet again when the theme changes, so a
    neutral badge turns dark with the window instead of staying light until a restart."""

    def __init__(self, label: QLabel, style: str) -> None:
        super().__init__(label)
        self._label, self._style = label, style
        app = QApplication.instance()
        if isinstance(app, QApplication):
            app.paletteChanged.connect(self._restyle)

    def _restyle(self, *_palette: object) -> None:
        self._label.setStyleSheet("")
        self._label.setStyleSheet(self._style)
