"""What happens on an unexpected error: the draft in progress is saved first, then a dialog
shows a plain-text report the reviewer can copy to whoever supports them.

The report holds the version, the platform, the traceback and the last log lines, with every
URL's password removed (app.core.urls) and `password=` values masked: reports get pasted
into tickets and chats. Qt's own warnings go to the log, so they show in the report too.
"""

from __future__ import annotations

import collections
import logging
import platform
import re
import sys
import threading
import traceback
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from types import TracebackType

from PySide6.QtCore import (
    QMessageLogContext,
    QObject,
    Qt,
    QtMsgType,
    Signal,
    Slot,
    qInstallMessageHandler,
    qVersion,
)
from PySide6.QtGui import QFontDatabase, QGuiApplication
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QDialogButtonBox,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app import __version__
from app.core.urls import display_url
from app.paths import logs_dir

log = logging.getLogger(__name__)

TAIL_LINES = 60
_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>]+")
_PASSWORD_FIELD = re.compile(r"(?i)\b(password|passwd|pwd)\s*([=:])\s*('[^']*'|\"[^\"]*\"|[^\s&;,]+)")
ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]


class LogTail(logging.Handler):
    """The last log lines in memory, for the report: reading the log file back could fail on
    the very disk problem that caused the crash."""

    def __init__(self, size: int = TAIL_LINES) -> None:
        super().__init__(logging.INFO)
        self.lines: collections.deque[str] = collections.deque(maxlen=size)
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(self.format(record))
        except Exception:  # a log handler must never raise
            self.handleError(record)


def redact(text: str) -> str:
    """No secret in a report: URLs lose their password, `password=…` its value."""

    def url(match: re.Match[str]) -> str:
        try:
            return display_url(match.group(0))
        except Exception:  # not a URL SQLAlchemy understands: drop any userinfo by hand
            return re.sub(r"//[^/@\s]*@", "//***@", match.group(0))

    return _PASSWORD_FIELD.sub(lambda m: f"{m.group(1)}{m.group(2)}***", _URL.sub(url, text))


def crash_report(exc_info: ExcInfo, log_lines: list[str]) -> str:
    kind, error, tb = exc_info
    lines = [
        f"Signoff {__version__}",
        f"Platform: {platform.platform()} ({platform.machine()})",
        f"Python {platform.python_version()}, Qt {qVersion()}",
        f"Thread: {threading.current_thread().name}",
        "",
        "".join(traceback.format_exception(kind, error, tb)).rstrip(),
        "",
        f"Last {len(log_lines)} log lines:",
        *log_lines,
    ]
    return redact("\n".join(lines))


class CrashDialog(QDialog):
    def __init__(self, report: str, saved_to: Path | None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("crashDialog")
        self.setWindowTitle(self.tr("Signoff ran into a problem"))
        intro = QLabel(
            self.tr(
                "Something went wrong that Signoff did not expect. Your decisions are safe, and the "
                "note you were typing was kept as a draft.\n\nYou can go on working, or quit and start "
                "Signoff again. Please send the report below to whoever supports Signoff for you."
            )
        )
        intro.setTextFormat(Qt.TextFormat.PlainText)
        intro.setWordWrap(True)
        self.report = QPlainTextEdit()
        self.report.setObjectName("crashReport")
        self.report.setAccessibleName(self.tr("Error report"))
        self.report.setReadOnly(True)
        self.report.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.report.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.report.setPlainText(report)
        where = QLabel(self.tr("The report was also saved to {0}").format(saved_to) if saved_to else "")
        where.setTextFormat(Qt.TextFormat.PlainText)
        where.setTextInteractionFlags(
            where.textInteractionFlags() | Qt.TextInteractionFlag.TextSelectableByMouse
        )
        where.setVisible(saved_to is not None)
        buttons = QDialogButtonBox()
        self.copy_button = QPushButton(self.tr("&Copy report"))
        self.copy_button.clicked.connect(self.copy)
        buttons.addButton(self.copy_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.quit_button = buttons.addButton(
            self.tr("&Quit Signoff"), QDialogButtonBox.ButtonRole.DestructiveRole
        )
        self.quit_button.clicked.connect(self._quit)
        self.continue_button = buttons.addButton(self.tr("C&ontinue"), QDialogButtonBox.ButtonRole.AcceptRole)
        self.continue_button.clicked.connect(self.accept)
        self.continue_button.setDefault(True)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.report, 1)
        layout.addWidget(where)
        layout.addWidget(buttons)
        self.resize(760, 520)

    def copy(self) -> None:
        QGuiApplication.clipboard().setText(self.report.toPlainText())
        self.copy_button.setText(self.tr("Copied"))

    def _quit(self) -> None:
        self.reject()
        # Through the windows' close handlers: the replica gets its pending write, drafts their flush.
        QApplication.closeAllWindows()
        QApplication.quit()


class CrashHandler(QObject):
    """Catches what nothing else caught (sys.excepthook, threading.excepthook, Qt's messages)
    and shows one CrashDialog at a time. `add_saver` registers what must be written before the
    dialog (the draft being typed)."""

    _crashed = Signal(object)  # ExcInfo, queued onto the GUI thread from any thread

    current: CrashHandler | None = None

    def __init__(self, home: Path | None = None, tail: LogTail | None = None) -> None:
        super().__init__()
        self.home = home
        self.tail = tail or LogTail()
        self.dialog: CrashDialog | None = None
        self.reports: list[str] = []
        self._savers: list[Callable[[], None]] = []
        self._previous: tuple[object, object, object] | None = None
        self._handling = False
        self._crashed.connect(self._show)

    # --- installing ----------------------------------------------------------------------

    def install(self) -> CrashHandler:
        self._previous = (sys.excepthook, threading.excepthook, qInstallMessageHandler(self._qt_message))
        sys.excepthook = self._excepthook
        threading.excepthook = self._thread_excepthook
        if self.tail not in logging.getLogger().handlers:
            logging.getLogger().addHandler(self.tail)
        CrashHandler.current = self
        return self

    def uninstall(self) -> None:
        if self._previous is not None:
            sys.excepthook, threading.excepthook, qt = self._previous  # type: ignore[assignment]
            qInstallMessageHandler(qt)  # type: ignore[arg-type]
            self._previous = None
        logging.getLogger().removeHandler(self.tail)
        if CrashHandler.current is self:
            CrashHandler.current = None

    def add_saver(self, saver: Callable[[], None]) -> None:
        self._savers.append(saver)

    def remove_saver(self, saver: Callable[[], None]) -> None:
        if saver in self._savers:
            self._savers.remove(saver)

    # --- catching ------------------------------------------------------------------------

    def _excepthook(self, kind: type[BaseException], error: BaseException, tb: TracebackType | None) -> None:
        if issubclass(kind, KeyboardInterrupt):
            sys.__excepthook__(kind, error, tb)
            return
        self.handle((kind, error, tb))

    def _thread_excepthook(self, args: threading.ExceptHookArgs) -> None:
        if args.exc_value is None:
            return
        self.handle((args.exc_type, args.exc_value, args.exc_traceback))

    def _qt_message(self, kind: QtMsgType, context: QMessageLogContext, message: str) -> None:
        level = {
            QtMsgType.QtDebugMsg: logging.DEBUG,
            QtMsgType.QtInfoMsg: logging.INFO,
            QtMsgType.QtWarningMsg: logging.WARNING,
            QtMsgType.QtCriticalMsg: logging.ERROR,
            QtMsgType.QtFatalMsg: logging.CRITICAL,
        }.get(kind, logging.WARNING)
        logging.getLogger(f"qt.{context.category or 'default'}").log(level, "%s", redact(message))
        if kind == QtMsgType.QtFatalMsg:
            # Qt aborts the process after this returns: save what can be saved, leave a report.
            self._save_drafts()
            self._write_report(
                redact(f"Signoff {__version__}: Qt fatal error: {message}\n") + "\n".join(self.tail.lines)
            )

    def handle(self, exc_info: ExcInfo) -> None:
        """Log, save drafts, and show the dialog (on the GUI thread, whichever thread failed)."""
        log.critical("unexpected error", exc_info=exc_info)
        if self._handling:  # the dialog itself failed: do not loop
            sys.__excepthook__(*exc_info)
            return
        app = QApplication.instance()
        if app is None or threading.current_thread() is not threading.main_thread():
            self._save_drafts()
            if app is not None:
                self._crashed.emit(exc_info)
            return
        self._show(exc_info)

    @Slot(object)
    def _show(self, exc_info: ExcInfo) -> None:
        self._handling = True
        try:
            self._save_drafts()
            report = crash_report(exc_info, list(self.tail.lines))
            self.reports.append(report)
            saved = self._write_report(report)
            if self.dialog is not None and self.dialog.isVisible():
                # Errors often come in bursts: one dialog, every report in it.
                self.dialog.report.appendPlainText("\n\n" + "=" * 60 + "\n\n" + report)
                return
            self.dialog = CrashDialog(report, saved, QApplication.activeWindow())
            self.dialog.open()
        finally:
            self._handling = False

    def _save_drafts(self) -> None:
        for saver in list(self._savers):
            try:
                saver()
            except Exception:  # one failing saver must not stop the others
                log.exception("saving a draft after an error failed")

    def _write_report(self, report: str) -> Path | None:
        if self.home is None:
            return None
        try:
            path = logs_dir(self.home) / f"crash-{datetime.now():%Y%m%d-%H%M%S-%f}.txt"
            path.write_text(report, encoding="utf-8")
            return path
        except OSError:
            log.exception("could not write the crash report")
            return None
