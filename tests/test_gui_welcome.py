"""The first-run welcome dialog, each path driven as a person would: the demo, an existing SQLite
store, a new SQLite file, and a real Postgres server (test connection, TLS, keyring)."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QFileDialog,
    QLabel,
    QLineEdit,
    QMessageBox,
    QWidget,
)
from sqlalchemy.engine import make_url
from test_credentials import HangingKeyring, MemoryKeyring, use_keyring
from test_roles_postgres import Secured, secured  # noqa: F401  (the fixture, shared)

from app.core.connection import create_sqlite_store, sqlite_url
from app.core.credentials import SessionPasswords
from app.core.demo import demo_store_path
from app.core.settings import SETTINGS_FILE, Settings
from app.core.store import Store
from app.ui.launcher import Launcher
from app.ui.tasks import TaskRunner
from app.ui.welcome import ConnectionDialog

pytestmark = pytest.mark.gui

SECRET = "pw-s3cret:/@%&?"  # typed key by key: QTest types ASCII only
TYPED_ELSEWHERE = "pw-Ünïcode:/@%"  # pasted


@pytest.fixture
def runner(qtbot) -> Iterator[TaskRunner]:
    tasks = TaskRunner()
    yield tasks
    tasks.shutdown()


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    yield from use_keyring(MemoryKeyring())  # type: ignore[misc]


def make_dialog(qtbot, runner: TaskRunner, home: Path, **kwargs: Any) -> ConnectionDialog:
    dialog = ConnectionDialog(runner, home, **kwargs)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    dialog.activateWindow()
    qtbot.waitUntil(dialog.isActiveWindow)
    return dialog


def fill_postgres(qtbot, dialog: ConnectionDialog, host: str, port: int, database: str, login: str) -> None:
    if dialog.stack.currentIndex() != dialog.POSTGRES:
        qtbot.mouseClick(dialog.postgres_button, Qt.MouseButton.LeftButton)
    form = dialog.form
    form.host_edit.clear()
    qtbot.keyClicks(form.host_edit, host)
    form.port_spin.setValue(port)
    form.database_edit.setText(database)
    form.login_edit.setText(login)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- the dialog itself -----------------------------------------------------------------------------


def controls(dialog: QWidget) -> list[QWidget]:
    found = []
    for widget in dialog.findChildren(QWidget):
        inner = isinstance(widget.parent(), (QAbstractSpinBox, QComboBox))  # their own line edits
        if isinstance(widget, (QAbstractButton, QLineEdit, QComboBox, QAbstractSpinBox)) and not inner:
            found.append(widget)
    return found


def assert_named(dialog: QWidget) -> None:
    for widget in controls(dialog):
        assert widget.accessibleName(), f"{type(widget).__name__} {widget.objectName()}: no accessible name"


def test_every_control_is_named_and_the_keyboard_reaches_each_choice(
    qtbot, runner: TaskRunner, home: Path
) -> None:
    dialog = make_dialog(qtbot, runner, home)
    assert_named(dialog)
    for label in dialog.findChildren(QLabel):
        if label.text() and label.wordWrap():
            assert label.textFormat() == Qt.TextFormat.PlainText
    assert dialog.stack.currentIndex() == dialog.CHOICES
    assert dialog.demo_button.isDefault() and dialog.demo_button.hasFocus()
    reached = []
    for _ in range(6):
        reached.append(dialog.focusWidget())
        qtbot.keyClick(dialog.focusWidget(), Qt.Key.Key_Tab)
    for button in (dialog.demo_button, dialog.sqlite_button, dialog.postgres_button, dialog.close_button):
        assert button in reached

    dialog.postgres_button.setFocus()
    qtbot.keyClick(dialog.postgres_button, Qt.Key.Key_Space)
    assert dialog.stack.currentIndex() == dialog.POSTGRES
    assert dialog.form.host_edit.hasFocus()
    assert dialog.connect_button.isDefault() and not dialog.demo_button.isDefault()
    assert not dialog.connect_button.isEnabled()  # nothing typed yet
    assert "host is missing" in dialog.missing_label.text()
    assert_named(dialog)
    qtbot.mouseClick(dialog.back_button, Qt.MouseButton.LeftButton)
    assert dialog.stack.currentIndex() == dialog.CHOICES and not dialog.back_button.isVisible()


# --- the demo --------------------------------------------------------------------------------------


def test_the_demo_path_opens_the_review_window(qtbot, runner: TaskRunner, home: Path) -> None:
    launcher = Launcher(home, None, demo=False, runner=runner)
    launcher.start()
    dialog = launcher.welcome
    assert dialog is not None and dialog.isVisible()
    qtbot.addWidget(dialog)
    # Between this dialog closing and the window opening no window may be open: that moment
    # must not end the app (Qt quits on the last window closed by default).
    QApplication.setQuitOnLastWindowClosed(True)  # as in a fresh app
    quits_when_closed: list[bool] = []
    dialog.finished.connect(lambda _code: quits_when_closed.append(QApplication.quitOnLastWindowClosed()))
    qtbot.mouseClick(dialog.demo_button, Qt.MouseButton.LeftButton)
    assert dialog.is_busy() and dialog.progress.isVisible()
    assert dialog.status_label.text() == "Preparing the demo store…"
    assert not dialog.sqlite_button.isEnabled()
    qtbot.waitUntil(lambda: launcher.window is not None, timeout=60000)
    window = launcher.window
    assert window is not None
    qtbot.addWidget(window)
    try:
        assert quits_when_closed == [False]
        assert QApplication.quitOnLastWindowClosed()  # with the window open, closing it quits again
        assert not dialog.isVisible() and dialog.result() == ConnectionDialog.DialogCode.Accepted
        assert launcher.demo and "demo" in window.windowTitle()
        assert Settings.load(home).last_store == f"sqlite:///{demo_store_path(home)}"
        qtbot.waitUntil(lambda: window._current is not None, timeout=30000)
    finally:
        window.close()
        runner.shutdown()
        window.session.workspace.close()


# --- a SQLite file ---------------------------------------------------------------------------------


def pick_file(qtbot, dialog: ConnectionDialog, path: Path) -> None:
    qtbot.mouseClick(dialog.sqlite_button, Qt.MouseButton.LeftButton)
    files = dialog.file_dialog
    assert isinstance(files, QFileDialog) and files.isVisible()
    assert files.fileMode() == QFileDialog.FileMode.AnyFile  # a new name is allowed
    files.selectFile(str(path))
    files.accept()


def test_an_existing_sqlite_store_is_checked_then_chosen(
    qtbot, runner: TaskRunner, home: Path, tmp_path: Path
) -> None:
    path = tmp_path / "team.db"
    made = create_sqlite_store(path)
    dialog = make_dialog(qtbot, runner, home)
    with qtbot.waitSignal(dialog.checked, timeout=10000) as checked, qtbot.waitSignal(
        dialog.store_chosen, timeout=10000
    ) as chosen:
        pick_file(qtbot, dialog, path)
    assert dialog.confirm_box is None  # nothing to create
    assert checked.args[0].store_id == made.store_id and not checked.args[0].created
    assert chosen.args == [sqlite_url(path), False]
    assert dialog.result() == ConnectionDialog.DialogCode.Accepted


def test_a_new_sqlite_file_offers_to_create_the_store(
    qtbot, runner: TaskRunner, home: Path, tmp_path: Path
) -> None:
    path = tmp_path / "new-team.db"
    dialog = make_dialog(qtbot, runner, home)

    pick_file(qtbot, dialog, path)
    box = dialog.confirm_box
    assert box is not None and box.isVisible()
    assert str(path) in box.text() and box.textFormat() == Qt.TextFormat.PlainText
    qtbot.mouseClick(box.button(QMessageBox.StandardButton.Cancel), Qt.MouseButton.LeftButton)
    assert not path.exists() and not dialog.is_busy() and dialog.isVisible()

    pick_file(qtbot, dialog, path)
    box = dialog.confirm_box
    assert box is not None
    create = box.defaultButton()
    assert create is not None and create.text() == "Create store"
    with qtbot.waitSignal(dialog.store_chosen, timeout=20000) as chosen:
        qtbot.mouseClick(create, Qt.MouseButton.LeftButton)
    assert chosen.args == [sqlite_url(path), False]
    store = Store.open(sqlite_url(path))  # what init-store would have made
    try:
        assert store.store_id and store.reason_codes()
    finally:
        store.close()


def test_a_file_that_is_not_a_store_says_why_and_stays_open(
    qtbot, runner: TaskRunner, home: Path, tmp_path: Path
) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("<b>not</b> a database\n" * 100)
    dialog = make_dialog(qtbot, runner, home)
    with qtbot.waitSignal(dialog.check_failed, timeout=10000) as failed:
        pick_file(qtbot, dialog, path)
    assert dialog.confirm_box is None  # a file with data is never offered for creation
    assert dialog.status_label.text() == failed.args[0]
    assert str(path) in failed.args[0]
    assert dialog.status_label.textFormat() == Qt.TextFormat.PlainText
    assert dialog.isVisible() and not dialog.is_busy() and dialog.sqlite_button.isEnabled()


# --- Postgres: TLS ---------------------------------------------------------------------------------


def test_a_remote_host_gets_verify_full_and_a_weaker_mode_needs_confirmation(
    qtbot, runner: TaskRunner, home: Path
) -> None:
    dialog = make_dialog(qtbot, runner, home)
    fill_postgres(qtbot, dialog, "db.example.org", 5432, "signoff", "maria")
    form = dialog.form
    assert form.sslmode() == "verify-full"
    assert not form.warning_box.isVisible() and dialog.connect_button.isEnabled()

    form.tls_combo.setFocus()
    qtbot.keyClick(form.tls_combo, Qt.Key.Key_Down)  # the person picks, by keyboard: verify-ca
    qtbot.keyClick(form.tls_combo, Qt.Key.Key_Down)  # then require
    assert form.sslmode() == "require"
    assert form.warning_box.isVisible() and form.tls_ack.isVisible()
    assert "db.example.org" in form.tls_warning.text()
    assert "certificate is not checked" in form.tls_warning.text()
    assert not dialog.connect_button.isEnabled() and not dialog.test_button.isEnabled()
    assert "confirmation" in dialog.missing_label.text()
    form.tls_ack.setFocus()
    qtbot.keyClick(form.tls_ack, Qt.Key.Key_Space)
    assert dialog.connect_button.isEnabled() and dialog.test_button.isEnabled()
    assert "sslmode=require" in form.target().url()

    # another host: the chosen mode stays, the acknowledgement does not
    form.host_edit.setText("db2.example.org")
    assert form.sslmode() == "require" and not form.tls_ack.isChecked()
    assert not dialog.connect_button.isEnabled()
    # this computer: no network in between, no warning
    form.host_edit.setText("127.0.0.1")
    assert not form.warning_box.isVisible() and dialog.connect_button.isEnabled()


def test_this_computer_keeps_libpqs_default_until_the_host_is_remote(
    qtbot, runner: TaskRunner, home: Path
) -> None:
    dialog = make_dialog(qtbot, runner, home)
    fill_postgres(qtbot, dialog, "localhost", 5432, "signoff", "maria")
    assert dialog.form.sslmode() == "prefer" and not dialog.form.warning_box.isVisible()
    dialog.form.host_edit.setText("db.example.org")  # nothing picked: the safe default follows the host
    assert dialog.form.sslmode() == "verify-full"


# --- Postgres: a real server -----------------------------------------------------------------------


def test_test_connection_shows_busy_then_the_store_and_login(
    qtbot,
    runner: TaskRunner,
    home: Path,
    secured: Secured,  # noqa: F811
    memory_keyring: MemoryKeyring,
) -> None:
    server = secured.server
    dialog = make_dialog(qtbot, runner, home)
    fill_postgres(qtbot, dialog, server.host, server.port, secured.dbname, "alice")
    with qtbot.waitSignal(dialog.checked, timeout=20000) as checked:
        qtbot.mouseClick(dialog.test_button, Qt.MouseButton.LeftButton)
        assert dialog.is_busy() and dialog.progress.isVisible()
        assert not dialog.connect_button.isEnabled() and not dialog.form.host_edit.isEnabled()
        assert "Connecting to 127.0.0.1" in dialog.status_label.text()
    report = checked.args[0]
    assert (report.login, report.role, report.login_problem) == ("alice", "reviewer", None)
    text = dialog.status_label.text()
    assert report.store_id in text and report.server in text and "PostgreSQL" in text
    assert "alice" in text and "reviewer" in text
    assert not dialog.is_busy() and not dialog.progress.isVisible()
    assert dialog.isVisible()  # a test connects nothing
    assert memory_keyring.secrets == {}  # and saves nothing


def test_test_connection_to_a_wrong_port_shows_the_stores_error(
    qtbot, runner: TaskRunner, home: Path, pg_server: Any
) -> None:
    dialog = make_dialog(qtbot, runner, home)
    fill_postgres(qtbot, dialog, pg_server.host, closed_port(), "signoff", "alice")
    with qtbot.waitSignal(dialog.check_failed, timeout=20000) as failed:
        qtbot.mouseClick(dialog.test_button, Qt.MouseButton.LeftButton)
    assert "cannot reach the store" in failed.args[0] and "refused" in failed.args[0].lower()
    assert dialog.status_label.text() == failed.args[0]
    assert dialog.status_label.textFormat() == Qt.TextFormat.PlainText
    assert dialog.connect_button.isEnabled() and dialog.isVisible()

    # Connect checks first, so it fails the same way and chooses nothing
    with qtbot.assertNotEmitted(dialog.store_chosen), qtbot.waitSignal(dialog.check_failed, timeout=20000):
        qtbot.mouseClick(dialog.connect_button, Qt.MouseButton.LeftButton)
    assert dialog.isVisible()


def test_a_superuser_is_told_the_window_would_refuse_it(
    qtbot, runner: TaskRunner, home: Path, pg_url: str, memory_keyring: MemoryKeyring
) -> None:
    Store.initialize(pg_url).close()
    parsed = make_url(pg_url)
    dialog = make_dialog(qtbot, runner, home)
    fill_postgres(qtbot, dialog, parsed.host or "", parsed.port or 5432, parsed.database or "", "postgres")
    with qtbot.assertNotEmitted(dialog.store_chosen), qtbot.waitSignal(dialog.checked, timeout=20000):
        qtbot.mouseClick(dialog.connect_button, Qt.MouseButton.LeftButton)
    assert "superuser" in dialog.status_label.text() and dialog.isVisible()


def test_connect_saves_the_password_in_the_keyring_and_never_in_settings(
    qtbot,
    runner: TaskRunner,
    home: Path,
    secured: Secured,  # noqa: F811
    memory_keyring: MemoryKeyring,
) -> None:
    server = secured.server
    launcher = Launcher(home, None, demo=False, runner=runner)
    launcher.start()
    dialog = launcher.welcome
    assert dialog is not None
    qtbot.addWidget(dialog)
    fill_postgres(qtbot, dialog, server.host, server.port, secured.dbname, "alice")
    qtbot.waitUntil(lambda: dialog.keyring_status() is not None, timeout=5000)
    assert dialog.form.remember_box.isEnabled() and dialog.form.remember_box.isChecked()
    assert "system keyring" in dialog.form.keyring_label.text()
    qtbot.keyClicks(dialog.form.password_edit, SECRET)
    with qtbot.waitSignal(dialog.saving_finished, timeout=20000) as saved:
        qtbot.keyClick(dialog.form.password_edit, Qt.Key.Key_Return)  # Enter connects
    assert saved.args == [True]
    url = f"postgresql+psycopg://alice@{server.host}:{server.port}/{secured.dbname}?sslmode=prefer"
    service = f"signoff:{server.host}:{server.port}/{secured.dbname}"
    assert memory_keyring.secrets == {(service, "alice"): SECRET}

    qtbot.waitUntil(lambda: launcher.window is not None, timeout=60000)
    window = launcher.window
    assert window is not None
    qtbot.addWidget(window)
    try:
        assert launcher.store_url == url and not launcher.demo
        assert window.session.workspace.reviewer == "alice"
        settings_text = (home / SETTINGS_FILE).read_text(encoding="utf-8")
        assert SECRET not in settings_text and json.dumps(SECRET)[1:-1] not in settings_text
        assert Settings.load(home).last_store == url
    finally:
        window.close()
        runner.shutdown()
        window.session.workspace.close()


def test_without_a_keyring_the_password_is_kept_for_the_session_only(
    qtbot,
    runner: TaskRunner,
    home: Path,
    secured: Secured,  # noqa: F811
) -> None:
    server = secured.server
    session = SessionPasswords()
    dialog = make_dialog(qtbot, runner, home, session=session)  # the tests' keyring: null
    fill_postgres(qtbot, dialog, server.host, server.port, secured.dbname, "bob")
    qtbot.waitUntil(lambda: dialog.keyring_status() is not None, timeout=6000)
    status = dialog.keyring_status()
    assert status is not None and not status.available and "switched off" in status.reason
    assert not dialog.form.remember_box.isEnabled() and not dialog.form.remember_box.isChecked()
    assert "this session only" in dialog.form.keyring_label.text()
    dialog.form.password_edit.setText(TYPED_ELSEWHERE)
    with qtbot.assertNotEmitted(dialog.saving_finished), qtbot.waitSignal(
        dialog.store_chosen, timeout=20000
    ) as chosen:
        qtbot.mouseClick(dialog.connect_button, Qt.MouseButton.LeftButton)
    url = chosen.args[0]
    assert make_url(url).password is None and TYPED_ELSEWHERE not in url
    assert session.get(url) == TYPED_ELSEWHERE


def test_a_hanging_keyring_is_given_up_on_quickly(qtbot, runner: TaskRunner, home: Path) -> None:
    for hanging in use_keyring(HangingKeyring()):
        dialog = make_dialog(qtbot, runner, home, keyring_timeout_s=0.3)
        qtbot.mouseClick(dialog.postgres_button, Qt.MouseButton.LeftButton)
        assert dialog.form.keyring_label.text() == "Checking the system keyring…"
        assert not dialog.form.remember_box.isEnabled()
        qtbot.waitUntil(lambda: dialog.keyring_status() is not None, timeout=3000)  # noqa: B023
        assert hanging.entered.is_set()  # type: ignore[attr-defined]
        assert "did not answer" in dialog.form.keyring_label.text()
        assert "this session only" in dialog.form.keyring_label.text()
        assert not dialog.form.remember_box.isEnabled()


# --- changing store from Preferences -----------------------------------------------------------


def test_change_store_closes_this_window_and_opens_the_other_store(
    qtbot, runner: TaskRunner, home: Path, tmp_path: Path
) -> None:
    from PySide6.QtWidgets import QApplication

    from app.core.demo import prepare_demo
    from app.ui.settings_dialog import Preferences

    first_url = prepare_demo(home, tickets=20)
    other_url = sqlite_url(tmp_path / "team.db")
    create_sqlite_store(tmp_path / "team.db")
    launcher = Launcher(home, first_url, demo=True, runner=runner)
    launcher.start()
    qtbot.waitUntil(lambda: launcher.window is not None, timeout=60000)
    first = launcher.window
    assert first is not None
    qtbot.waitUntil(lambda: first._current is not None, timeout=30000)
    preferences = first.findChild(Preferences)
    assert preferences is not None

    preferences.store_change_requested.emit(other_url, False)
    qtbot.waitUntil(lambda: launcher.window is not None and launcher.window is not first, timeout=60000)
    second = launcher.window
    assert second is not None
    qtbot.addWidget(second)
    try:
        assert second.session.workspace.store_url == other_url and not launcher.demo
        assert "demo" not in second.windowTitle()
        assert Settings.load(home).last_store == other_url
        app = QApplication.instance()
        assert isinstance(app, QApplication) and app.quitOnLastWindowClosed()
    finally:
        second.close()
        runner.shutdown()
        second.session.workspace.close()


def test_the_dialog_grows_so_no_note_or_error_is_clipped(qtbot, runner: TaskRunner, home: Path) -> None:
    dialog = make_dialog(qtbot, runner, home)
    fill_postgres(qtbot, dialog, "db.example.org", 5432, "signoff", "alice")
    qtbot.waitUntil(lambda: dialog.keyring_status() is not None, timeout=10000)
    dialog._show_status("cannot reach the store: " + "a long server error that wraps " * 6, None)

    def unclipped(label: Any) -> bool:
        return label.height() >= label.heightForWidth(label.width())

    qtbot.waitUntil(lambda: unclipped(dialog.form.keyring_label) and unclipped(dialog.status_label))
