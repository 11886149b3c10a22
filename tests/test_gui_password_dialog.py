"""The store password dialog against a working, a hanging and an absent keyring (never a real one)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import keyring
import pytest
from keyring.backends import fail
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel
from test_credentials import PG, SECRET, HangingKeyring, MemoryKeyring, use_keyring

from app.core import credentials
from app.core.credentials import SessionPasswords, service_name, url_with_password
from app.ui.password_dialog import PasswordDialog
from app.ui.tasks import TaskRunner

pytestmark = pytest.mark.gui

SERVICE = ("signoff:db.example.org:5432/signoff", "reviewer")


@pytest.fixture
def runner(qtbot) -> Iterator[TaskRunner]:
    tasks = TaskRunner()
    yield tasks
    tasks.shutdown()


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    yield from use_keyring(MemoryKeyring())  # type: ignore[misc]


@pytest.fixture
def hanging_keyring() -> Iterator[HangingKeyring]:
    yield from use_keyring(HangingKeyring())  # type: ignore[misc]


def make_dialog(qtbot, runner: TaskRunner, session: SessionPasswords, **kwargs) -> PasswordDialog:
    dialog = PasswordDialog(PG, runner, session, **kwargs)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    return dialog


def plain_labels_only(dialog: PasswordDialog) -> None:
    for label in dialog.findChildren(QLabel):
        if label.text():
            assert label.textFormat() in (Qt.TextFormat.PlainText, Qt.TextFormat.AutoText)
    for label in (dialog.status_label, dialog.problem_label, dialog.findChild(QLabel, "introLabel")):
        assert label.textFormat() == Qt.TextFormat.PlainText


def test_hanging_keyring_offers_session_only_within_five_seconds(
    qtbot, runner: TaskRunner, hanging_keyring: HangingKeyring
) -> None:
    session = SessionPasswords()
    started = time.monotonic()
    dialog = make_dialog(qtbot, runner, session)
    # at once, before any answer
    assert dialog.status_label.text() == "Checking the system keyring…"
    assert not dialog.remember_box.isEnabled()
    assert dialog.keyring_status() is None

    qtbot.waitUntil(lambda: dialog.keyring_status() is not None, timeout=5000)
    assert time.monotonic() - started < 5
    assert hanging_keyring.entered.is_set()
    status = dialog.keyring_status()
    assert status is not None and not status.available
    assert not dialog.remember_box.isEnabled() and not dialog.remember_box.isChecked()
    assert "did not answer" in dialog.status_label.text()
    assert "kept for this session only" in dialog.status_label.text()
    assert dialog.retry_button.isVisible()

    qtbot.keyClicks(dialog.password_edit, SECRET)
    qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    assert dialog.result() == PasswordDialog.DialogCode.Accepted
    assert not dialog.remembered()
    assert session.get(PG) == SECRET
    assert dialog.engine_url() == url_with_password(PG, SECRET)


def test_check_again_finds_the_keyring_once_unlocked(
    qtbot, runner: TaskRunner, hanging_keyring: HangingKeyring
) -> None:
    dialog = make_dialog(qtbot, runner, SessionPasswords(), keyring_timeout_s=0.3)
    qtbot.waitUntil(lambda: dialog.retry_button.isVisible(), timeout=5000)
    hanging_keyring.release.set()  # the reviewer answers the unlock prompt
    qtbot.waitUntil(lambda: not credentials.keyring_busy(), timeout=5000)
    with qtbot.waitSignal(dialog.keyring_checked, timeout=5000) as checked:
        qtbot.mouseClick(dialog.retry_button, Qt.MouseButton.LeftButton)
    assert checked.args[0].available
    assert dialog.remember_box.isEnabled() and dialog.remember_box.isChecked()
    assert not dialog.retry_button.isVisible()


def test_a_busy_sync_lane_cannot_delay_the_answer_past_five_seconds(
    qtbot, runner: TaskRunner, memory_keyring: MemoryKeyring
) -> None:
    blocker = threading.Event()
    runner.submit("sync", lambda: blocker.wait(30))  # a slow store sync ahead of the probe
    started = time.monotonic()
    dialog = make_dialog(qtbot, runner, SessionPasswords())
    qtbot.waitUntil(lambda: dialog.keyring_status() is not None, timeout=5000)
    assert time.monotonic() - started < 5
    assert not dialog.remember_box.isEnabled()
    assert "did not answer within 4.7 s" in dialog.status_label.text()

    # the probe runs once the lane is free; its late "available" is taken, but the box the
    # reviewer saw unticked stays unticked
    with qtbot.waitSignal(dialog.keyring_checked, timeout=5000) as checked:
        blocker.set()
    assert checked.args[0].available
    assert dialog.remember_box.isEnabled() and not dialog.remember_box.isChecked()


def test_no_keyring_says_so_and_keeps_the_password_for_the_session(qtbot, runner: TaskRunner) -> None:
    for _ in use_keyring(fail.Keyring()):
        session = SessionPasswords()
        dialog = make_dialog(qtbot, runner, session, problem="<b>FATAL:</b> password authentication failed")
        with qtbot.waitSignal(dialog.keyring_checked, timeout=5000) as checked:
            pass
        assert not checked.args[0].available
        assert "no system keyring was found" in dialog.status_label.text()
        assert "session only" in dialog.status_label.text()
        assert not dialog.remember_box.isEnabled()
        # driver text is shown verbatim, never as markup
        assert dialog.problem_label.text() == "<b>FATAL:</b> password authentication failed"
        plain_labels_only(dialog)

        dialog.password_edit.setText(SECRET)
        dialog.accept()
        assert dialog.result() == PasswordDialog.DialogCode.Accepted
        assert session.get(PG) == SECRET


def test_remember_stores_the_password_in_the_keyring(
    qtbot, runner: TaskRunner, memory_keyring: MemoryKeyring
) -> None:
    session = SessionPasswords()
    dialog = make_dialog(qtbot, runner, session)
    qtbot.waitUntil(lambda: dialog.remember_box.isEnabled(), timeout=5000)
    status = dialog.keyring_status()
    assert status is not None and status.available
    assert MemoryKeyring.name in dialog.status_label.text()
    assert dialog.remember_box.isChecked()
    assert not dialog.ok_button.isEnabled()  # no password yet

    qtbot.keyClicks(dialog.password_edit, SECRET)
    with qtbot.waitSignal(dialog.saving_finished, timeout=5000) as saved:
        qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    assert saved.args == [True]
    assert dialog.result() == PasswordDialog.DialogCode.Accepted
    assert dialog.remembered()
    assert memory_keyring.secrets == {SERVICE: SECRET}
    assert session.get(PG) == SECRET


def test_unticking_remember_keeps_it_out_of_the_keyring(
    qtbot, runner: TaskRunner, memory_keyring: MemoryKeyring
) -> None:
    session = SessionPasswords()
    dialog = make_dialog(qtbot, runner, session)
    qtbot.waitUntil(lambda: dialog.remember_box.isEnabled(), timeout=5000)
    dialog.remember_box.setChecked(False)
    dialog.password_edit.setText(SECRET)
    dialog.accept()
    assert dialog.result() == PasswordDialog.DialogCode.Accepted
    assert memory_keyring.secrets == {}
    assert session.get(PG) == SECRET


def test_cancel_stores_nothing(qtbot, runner: TaskRunner, memory_keyring: MemoryKeyring) -> None:
    session = SessionPasswords()
    dialog = make_dialog(qtbot, runner, session)
    qtbot.waitUntil(lambda: dialog.remember_box.isEnabled(), timeout=5000)
    qtbot.keyClicks(dialog.password_edit, SECRET)
    qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)
    assert dialog.result() == PasswordDialog.DialogCode.Rejected
    qtbot.waitUntil(lambda: not runner.is_busy(), timeout=5000)
    assert memory_keyring.secrets == {}
    assert session.get(PG) is None


def test_a_save_that_fails_falls_back_to_the_session(
    qtbot, runner: TaskRunner, memory_keyring: MemoryKeyring
) -> None:
    session = SessionPasswords()
    dialog = make_dialog(qtbot, runner, session)
    qtbot.waitUntil(lambda: dialog.remember_box.isEnabled(), timeout=5000)
    dialog.password_edit.setText("z" * 1500)  # over Windows Credential Manager's 2,560 bytes
    with qtbot.waitSignal(dialog.saving_finished, timeout=5000) as saved:
        dialog.accept()
    assert saved.args == [False]
    assert dialog.isVisible()  # the reviewer reads why before going on
    assert "too long for the system keyring" in dialog.status_label.text()
    assert not dialog.remember_box.isEnabled()
    assert memory_keyring.secrets == {}

    dialog.accept()
    assert dialog.result() == PasswordDialog.DialogCode.Accepted
    assert session.get(PG) == "z" * 1500


def test_a_given_password_is_offered_for_the_keyring(
    qtbot, runner: TaskRunner, memory_keyring: MemoryKeyring
) -> None:
    session = SessionPasswords()
    dialog = make_dialog(qtbot, runner, session, given_password=SECRET)
    assert "command line" in dialog.findChild(QLabel, "introLabel").text()
    assert dialog.password() == SECRET
    qtbot.waitUntil(lambda: dialog.ok_button.isEnabled(), timeout=5000)
    with qtbot.waitSignal(dialog.saving_finished, timeout=5000):
        dialog.accept()
    assert memory_keyring.secrets == {(service_name(PG), "reviewer"): SECRET}


def test_accessible_names(qtbot, runner: TaskRunner, memory_keyring: MemoryKeyring) -> None:
    dialog = make_dialog(qtbot, runner, SessionPasswords())
    assert dialog.password_edit.accessibleName() == "Password for reviewer@db.example.org:5432/signoff"
    for widget in (dialog.remember_box, dialog.status_label, dialog.retry_button, dialog.ok_button):
        assert widget.accessibleName()
    assert keyring.get_keyring() is memory_keyring
