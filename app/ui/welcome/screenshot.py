"""Pictures of the welcome dialog for the docs: `welcome_screenshots(out_dir)`, or run
`python -m app.ui.welcome.screenshot [OUTPUT_DIR]` (offscreen; default /tmp)."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QEventLoop, QTimer
from PySide6.QtWidgets import QApplication

from app.ui.tasks import TaskRunner
from app.ui.welcome.connection_dialog import ConnectionDialog


def _wait(condition: Callable[[], bool], timeout_ms: int = 10000) -> None:
    loop = QEventLoop()
    poll = QTimer()
    poll.timeout.connect(lambda: loop.quit() if condition() else None)
    poll.start(20)
    QTimer.singleShot(timeout_ms, loop.quit)
    loop.exec()


def welcome_screenshots(out_dir: Path, runner: TaskRunner | None = None) -> list[Path]:
    """welcome.png (the three choices) and welcome-postgres.png (a remote server with a weaker TLS
    mode chosen, so the warning shows). Needs a QApplication; never connects anywhere."""
    own_runner = runner is None
    tasks = runner or TaskRunner()
    home = Path(tempfile.mkdtemp(prefix="signoff-welcome-"))
    written = []
    dialog = ConnectionDialog(tasks, home)
    dialog.show()
    dialog.adjustSize()
    path = out_dir / "welcome.png"
    dialog.grab().save(str(path))
    written.append(path)

    dialog.show_postgres()
    form = dialog.form
    form.host_edit.setText("db.example.org")
    form.login_edit.setText("maria.lopez")
    form.tls_combo.setCurrentIndex(form.tls_combo.findData("require"))
    form.password_edit.setText("correct horse")
    _wait(lambda: dialog.keyring_status() is not None)
    dialog.adjustSize()
    path = out_dir / "welcome-postgres.png"
    dialog.grab().save(str(path))
    written.append(path)
    dialog.close()
    if own_runner:
        tasks.shutdown()
    return written


if __name__ == "__main__":
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ.setdefault("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
    app = QApplication.instance() or QApplication(sys.argv[:1])
    for written_path in welcome_screenshots(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("/tmp")):
        print(f"wrote {written_path}")
