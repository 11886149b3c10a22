"""The reviewer window with all its tabs, wired to a workspace: what the app, the smoke test and the
screenshot script all show."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QWidget

from app.core.audit import VerifyResult
from app.core.domain import Role
from app.core.store import StoreError
from app.core.workspace import Workspace
from app.ui.breaker_banner import BreakerWatch
from app.ui.crash_dialog import CrashHandler
from app.ui.main_window import MainWindow
from app.ui.notifications import Notifier
from app.ui.pii_reveal import PiiReveal
from app.ui.review_session import ReviewSession
from app.ui.settings_dialog import Preferences
from app.ui.tasks import TaskRunner


def build_window(
    workspace: Workspace, runner: TaskRunner, ui_settings: Path, *, title_note: str = ""
) -> MainWindow:
    """The reviewer window with all its tabs, wired to the workspace (also used by the
    screenshot script, so the pictures show what users get)."""
    session = ReviewSession(workspace, runner)
    window = MainWindow(session, ui_settings, title_note=title_note)

    def record(event: str, data: dict[str, object], ticket_id: int | None) -> None:
        workspace.replica.record_event(
            event, actor=workspace.reviewer, role=workspace.role, data=data, ticket_id=ticket_id
        )

    # Personal data: masked until the store's setting says this role may see it; reveals audited.
    reveal = PiiReveal(window.detail, runner, workspace, window)
    session.sync_finished.connect(reveal.refresh)
    reveal.refresh()

    # Automation pauses: a banner for everyone, read after every sync; admins get a notice.
    watch = BreakerWatch(runner, lambda: workspace.store, window.breaker_banner, parent=window)
    session.sync_finished.connect(watch.refresh)
    # Tray icon and desktop notifications (the status bar says it too: there may be no tray).
    notifier = Notifier(
        runner, workspace.replica, workspace.role, parent=window, enabled=workspace.settings.notifications
    )
    notifier.notified.connect(lambda title, text: window.statusBar().showMessage(f"{title}: {text}", 15000))
    session.replica_changed.connect(notifier.poll)
    watch.newly_paused.connect(notifier.breaker_paused)
    if notifier.tray is not None:
        notifier.tray.show_window.connect(lambda: _bring_to_front(window))
        notifier.tray.quit_requested.connect(window.close)
    # The tray counts read the whole queue: they start once the first ticket is on screen.
    session.after_first_ticket(notifier.start)
    window.notifier = notifier  # type: ignore[attr-defined]

    # Preferences (Ctrl+,): saved to settings.json and applied to this window at once.
    preferences = Preferences(window, notifier)
    window.preferences_requested.connect(preferences.open)
    window.preferences = preferences  # type: ignore[attr-defined]

    # An unexpected error saves the note being typed before anything else happens.
    crash = CrashHandler.current
    if crash is not None:
        saver = window.save_draft
        crash.add_saver(saver)
        window.destroyed.connect(lambda *_: crash.remove_saver(saver))

    def audit_trail() -> QWidget:
        from app.core.governance import trail_for
        from app.ui.audit_browser import AuditBrowser

        return AuditBrowser(runner, lambda: trail_for(workspace.store, workspace.replica), record)

    def dashboard() -> QWidget:
        from app.ui.dashboard import Dashboard

        return Dashboard(runner, lambda: workspace.store, str(workspace.role))

    def policy() -> QWidget:
        from app.ui.policy_editor import PolicyEditor

        editor = PolicyEditor(runner, workspace)
        editor.saved.connect(lambda _text: watch.refresh())
        return editor

    # Tabs other than the queue are built when first shown: their modules (the audit filters,
    # QtCharts, the metrics) are not imported before the first ticket is on screen.
    window.add_lazy_tab(audit_trail, window.tr("Audit"))
    window.add_lazy_tab(dashboard, window.tr("Dashboard"))
    if workspace.role == Role.ADMIN:  # policy_editor.is_admin, without importing the editor yet
        window.add_lazy_tab(policy, window.tr("Policy"))
    return window


def _bring_to_front(window: MainWindow) -> None:
    window.showNormal()
    window.raise_()
    window.activateWindow()


def verify_chain(workspace: Workspace) -> VerifyResult:
    """The local chain, and when online also against the store's checkpoint: the only check
    that catches a local log cut short after it was pushed."""
    local = workspace.replica.verify_audit()
    if not local.ok or workspace.store is None:
        return local
    from app.core import audit_store  # the store's side of the chain: after the first ticket

    try:
        return audit_store.verify_local_against_store(workspace.replica, workspace.store)
    except StoreError:
        return local  # offline after all: the local check stands
