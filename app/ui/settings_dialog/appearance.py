"""Theme and font size, applied to the running application (and at start-up).

Qt >= 6.8 can ask the platform for a colour scheme (QStyleHints.setColorScheme); where the
platform does not follow (offscreen, older desktops, styles without dark support) an explicit
Fusion palette makes dark mode real anyway. Widgets that colour by meaning read the palette
(ticket_panes.tones, dashboard.theme), so they follow.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont, QPalette
from PySide6.QtWidgets import QApplication, QStyleFactory


@dataclass
class _System:
    style: str
    font: QFont


_system: _System | None = None


def _remember_system(app: QApplication) -> _System:
    global _system
    if _system is None:
        _system = _System(app.style().name(), QFont(app.font()))
    return _system


def is_dark(palette: QPalette) -> bool:
    return palette.color(QPalette.ColorRole.Window).lightness() < 128


def dark_palette() -> QPalette:
    p = QPalette()
    roles = QPalette.ColorRole
    window, base, text = QColor(37, 37, 38), QColor(30, 30, 30), QColor(230, 230, 230)
    for role, color in (
        (roles.Window, window),
        (roles.WindowText, text),
        (roles.Base, base),
        (roles.AlternateBase, QColor(45, 45, 48)),
        (roles.ToolTipBase, QColor(50, 50, 52)),
        (roles.ToolTipText, text),
        (roles.PlaceholderText, QColor(150, 150, 150)),
        (roles.Text, text),
        (roles.Button, QColor(50, 50, 52)),
        (roles.ButtonText, text),
        (roles.BrightText, QColor(255, 110, 100)),
        (roles.Light, QColor(70, 70, 72)),
        (roles.Midlight, QColor(60, 60, 62)),
        (roles.Mid, QColor(45, 45, 47)),
        (roles.Dark, QColor(20, 20, 20)),
        (roles.Shadow, QColor(0, 0, 0)),
        (roles.Highlight, QColor(38, 110, 190)),
        (roles.HighlightedText, QColor(255, 255, 255)),
        (roles.Link, QColor(110, 170, 255)),
        (roles.LinkVisited, QColor(180, 140, 255)),
    ):
        p.setColor(role, color)
    disabled = QPalette.ColorGroup.Disabled
    for role in (roles.WindowText, roles.Text, roles.ButtonText):
        p.setColor(disabled, role, QColor(125, 125, 125))
    p.setColor(disabled, roles.Button, QColor(42, 42, 44))
    return p


def light_palette() -> QPalette:
    style = QStyleFactory.create("Fusion")
    return style.standardPalette() if style is not None else QPalette()


def apply_theme(app: QApplication, theme: str) -> None:
    """'system' follows the desktop; 'light' and 'dark' are forced."""
    system = _remember_system(app)
    hints = app.styleHints()
    scheme = {
        "light": Qt.ColorScheme.Light,
        "dark": Qt.ColorScheme.Dark,
    }.get(theme, Qt.ColorScheme.Unknown)
    if hasattr(hints, "setColorScheme"):  # Qt >= 6.8: native dialogs and title bars follow too
        hints.setColorScheme(scheme)
    # Back to the platform's own look first: with the colour scheme set it may already match.
    if app.style().name() != system.style:
        app.setStyle(system.style)
    app.setPalette(QPalette())  # an empty palette resolves to the platform's
    if theme not in ("light", "dark"):
        return
    want_dark = theme == "dark"
    if is_dark(app.palette()) == want_dark:
        return
    # Fusion honours every palette role on every platform; native styles may not.
    app.setStyle("Fusion")
    app.setPalette(dark_palette() if want_dark else light_palette())


def apply_font_size(app: QApplication, points: int) -> None:
    """0 puts the system font back; otherwise the whole window in that point size."""
    system = _remember_system(app)
    font = QFont(system.font)
    if points > 0:
        font.setPointSize(points)
    app.setFont(font)


def apply_appearance(app: QApplication, theme: str, font_size: int) -> None:
    apply_theme(app, theme)
    apply_font_size(app, font_size)
