"""The reviewer window: queue on the left, the ticket's three panes and the decision bar on
the right. It wires views to the ReviewSession; the work itself happens in the core."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import (
    QItemSelectionModel,
    QModelIndex,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QHeaderView,
    QLabel,
    QMainWindow,
    QMessageBox,
    QSplitter,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.core import policy
from app.core.domain import Action, Decision, QueueQuery
from app.core.drafts import DraftStore
from app.core.settings import without_password
from app.core.store_claims import ClaimState
from app.ui.actions import (
    REASON_ACTIONS,
    SPECS,
    ActionId,
    Overrides,
    apply_shortcuts,
    build_actions,
    keys_for,
)
from app.ui.banners import ClaimBanner, NoticeBar
from app.ui.breaker_banner import BreakerBanner
from app.ui.decision_bar import DecisionBar
from app.ui.filter_bar import FilterBar
from app.ui.queue_model import TICKET_ID_ROLE, QueueModel
from app.ui.review_session import PUSH_DEBOUNCE_MS, LoadedTicket, ReviewSession
from app.ui.row_table import row_table
from app.ui.shortcuts_dialog import ShortcutsDialog
from app.ui.sync_feedback import SyncFeedback
from app.ui.ticket_panes import TicketDetail
from app.ui.window_state import WindowState

log = logging.getLogger(__name__)

CLOCK_TICK_MS = 30_000
DRAFT_SAVE_MS = 400  # a note is on disk this soon after the last key press
REVIEW_ONLY = (
    ActionId.APPROVE,
    ActionId.REJECT,
    ActionId.CLARIFY,
    ActionId.NEXT,
    ActionId.PREVIOUS,
    ActionId.NOTE,
    ActionId.UNDO,
    ActionId.FIND,
)


class MainWindow(QMainWindow):
    preferences_requested = Signal()

    def __init__(self, session: ReviewSession, ui_settings: Path, *, title_note: str = "") -> None:
        super().__init__()
        self.setObjectName("mainWindow")
        self.session = session
        self._state = WindowState(ui_settings, session.workspace.replica.store_id)
        self._current: LoadedTicket | None = None
        self._select_after_load: int | None = None
        self._decided_notes: dict[int, str] = {}  # ticket → the note of its undoable decision
        self._live_claims: dict[int, ClaimState | None] = {}  # latest claim answers, by ticket
        workspace = session.workspace
        # The note being typed, on disk while it is typed: a crash never loses it.
        self.drafts = DraftStore(workspace.home, workspace.replica.store_id)
        self._draft_ticket: int | None = None  # the ticket the note field belongs to
        self._deciding: dict[str, int] = {}  # decision id -> ticket, until recorded
        self._draft_timer = QTimer(self)
        self._draft_timer.setSingleShot(True)
        self._draft_timer.setInterval(DRAFT_SAVE_MS)
        self._draft_timer.timeout.connect(self.save_draft)
        self._title_note = title_note
        self.update_title()

        self.filters = FilterBar()
        self.model = QueueModel(
            session.runner, session.queue_page, session.queue_count, session.queue_rows, self
        )
        self.table = self._make_table()
        self.count_label = QLabel()
        self.count_label.setObjectName("queueCount")
        self.count_label.setTextFormat(Qt.TextFormat.PlainText)
        self.claim_banner = ClaimBanner()
        self.detail = TicketDetail()
        self.decision_bar = DecisionBar()
        self.sync = SyncFeedback(session, self, self.filters)
        self.sync_status = self.sync.status

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(6, 0, 0, 6)
        left_layout.addWidget(self.table, 1)
        left_layout.addWidget(self.count_label)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 6, 6)
        right_layout.addWidget(self.claim_banner)
        right_layout.addWidget(self.detail, 1)
        right_layout.addWidget(self.decision_bar)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setObjectName("mainSplitter")
        self.splitter.addWidget(left)
        self.splitter.addWidget(right)
        self.splitter.setStretchFactor(0, 2)
        self.splitter.setStretchFactor(1, 3)
        self.splitter.setSizes([700, 900])
        review_page = QWidget()
        review_page.setObjectName("reviewPage")
        central_layout = QVBoxLayout(review_page)
        central_layout.setContentsMargins(0, 6, 0, 0)
        self.filters.setContentsMargins(6, 0, 6, 0)
        self.notice = NoticeBar()
        self.breaker_banner = BreakerBanner()  # automation paused: filled by a BreakerWatch
        central_layout.addWidget(self.notice)
        central_layout.addWidget(self.breaker_banner)
        central_layout.addWidget(self.filters)
        central_layout.addWidget(self.splitter, 1)
        # Review is the first tab; audit, dashboard and settings join as tabs of their own.
        self.tabs = QTabWidget()
        self.tabs.setObjectName("mainTabs")
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(review_page, self.tr("Review"))
        self.setCentralWidget(self.tabs)

        self.actions_by_id = build_actions(self, self._handlers(), workspace.settings.shortcuts)
        self._build_menus()
        self._show_decision_keys(workspace.settings.shortcuts)
        self.tabs.currentChanged.connect(self._tab_changed)
        self._lazy_pages: dict[QWidget, Callable[[], QWidget]] = {}  # placeholder -> builder
        self.tabs.currentChanged.connect(self._build_lazy_tab)
        self._connect()
        self._clock = QTimer(self)
        self._clock.setInterval(CLOCK_TICK_MS)
        self._clock.timeout.connect(self.model.tick)
        self._clock.start()
        self._saved_tab = self._state.restore(
            self,
            self._splitters(),
            self.table.horizontalHeader(),
            self.filters,
            default_view=policy.default_view(workspace.role),
        )

    # --- construction ------------------------------------------------------------------

    def _make_table(self) -> QTableView:
        table = row_table(self.model, "queueTable", self.tr("Ticket queue"))
        header = table.horizontalHeader()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setMinimumSectionSize(48)
        for column, width in ((0, 128), (2, 150), (3, 56), (4, 64), (5, 92)):
            table.setColumnWidth(column, width)
        return table

    def _handlers(self) -> dict[ActionId, object]:
        handlers: dict[ActionId, object] = {
            ActionId.APPROVE: lambda: self.begin_decision(Action.APPROVE),
            ActionId.REJECT: lambda: self.begin_decision(Action.REJECT),
            ActionId.CLARIFY: lambda: self.begin_decision(Action.CLARIFY),
            ActionId.NEXT: lambda: self.move(1),
            ActionId.PREVIOUS: lambda: self.move(-1),
            ActionId.CANCEL: self._cancel,
            ActionId.NOTE: self.decision_bar.focus_note,
            ActionId.UNDO: self.session.undo_last,
            ActionId.SYNC: self.sync.sync_now,
            ActionId.TAKE_OFFLINE: self.sync.take_offline,
            ActionId.FIND: self._focus_search,
            ActionId.SHORTCUTS: self.show_shortcuts,
            ActionId.PREFERENCES: self.preferences_requested.emit,
            ActionId.QUIT: self.close,
        }
        for number, action_id in enumerate(REASON_ACTIONS, start=1):
            handlers[action_id] = lambda n=number: self.decision_bar.choose(n)
        return handlers  # type: ignore[return-value]

    def _build_menus(self) -> None:
        menus: dict[str, object] = {}
        for name in ("File", "Decide", "Go", "Store", "Help"):
            menus[name] = self.menuBar().addMenu("&" + self.tr(name))
        for action_id, action in self.actions_by_id.items():
            menu_name = SPECS[action_id].menu
            if menu_name:
                menus[menu_name].addAction(action)  # type: ignore[attr-defined]
            else:
                self.addAction(action)  # reason digits: shortcuts without a menu entry
        self._set_reason_keys_enabled(False)

    def _connect(self) -> None:
        session = self.session
        self.filters.query_changed.connect(self._query_changed)
        self.model.page_loaded.connect(self._page_loaded)
        self.model.total_changed.connect(self._total_changed)
        self.table.selectionModel().currentRowChanged.connect(self._row_changed)
        session.ticket_loaded.connect(self._ticket_loaded)
        session.decision_recorded.connect(self._decision_recorded)
        session.decision_failed.connect(self._decision_failed)
        session.undone.connect(self._undone)
        session.undo_refused.connect(lambda message: self.statusBar().showMessage(message, 10000))
        session.replica_changed.connect(self._replica_changed)
        session.claim_changed.connect(self._claim_changed)
        self.decision_bar.decided.connect(self._decided)
        self.decision_bar.picking_changed.connect(self._set_reason_keys_enabled)
        self.decision_bar.note_done.connect(self.table.setFocus)
        self.decision_bar.note.textEdited.connect(lambda _text: self._draft_timer.start())
        self.filters.search.returnPressed.connect(self.table.setFocus)

    # --- start and stop ----------------------------------------------------------------

    def start(self) -> None:
        """Load the queue and start syncing; call once the window is shown and its tabs added."""
        if 0 <= self._saved_tab < self.tabs.count():
            self.tabs.setCurrentIndex(self._saved_tab)
        self.model.set_query(self.filters.query())  # the first page first: the first ticket waits on it
        self.session.runner.submit("read", self.session.workflows, self.filters.set_workflows)
        self.session.start()

    def show_notice(self, text: str) -> None:
        """A standing warning above the queue (network share, damaged audit log …)."""
        self.notice.add(text)

    def add_tab(self, page: QWidget, title: str) -> int:
        return self.tabs.addTab(page, title)

    def add_lazy_tab(self, build: Callable[[], QWidget], title: str) -> int:
        """A tab whose page is built (and its modules imported: charts, metrics) the first time
        it is shown, so start-up does not pay for tabs the reviewer may never open."""
        placeholder = QWidget()
        self._lazy_pages[placeholder] = build
        return self.tabs.addTab(placeholder, title)

    def _build_lazy_tab(self, index: int) -> None:
        placeholder = self.tabs.widget(index)
        build = self._lazy_pages.pop(placeholder, None) if placeholder is not None else None
        if build is None:
            return
        page = build()
        title = self.tabs.tabText(index)
        self.tabs.blockSignals(True)  # the swap is not a tab change: nobody reacts to it twice
        try:
            self.tabs.removeTab(index)
            self.tabs.insertTab(index, page, title)
            self.tabs.setCurrentIndex(index)
        finally:
            self.tabs.blockSignals(False)
        placeholder.deleteLater()

    def _tab_changed(self, index: int) -> None:
        # Decision keys act on the ticket in the Review tab only: no deciding blind from another tab.
        on_review = index == 0
        for action_id in REVIEW_ONLY:
            if action_id in self.actions_by_id:
                self.actions_by_id[action_id].setEnabled(on_review)
        if not on_review:
            self.decision_bar.cancel()

    def _detail_splitter(self) -> QSplitter | None:
        return self.detail.findChild(QSplitter, "detailSplitter")

    def _splitters(self) -> dict[str, QSplitter | None]:
        return {"splitter": self.splitter, "detailSplitter": self._detail_splitter()}

    def save_state(self) -> None:
        self._state.save(self, self._splitters(), self.table.horizontalHeader(), self.filters, self.tabs)

    def update_title(self) -> None:
        workspace = self.session.workspace
        store = without_password(workspace.store_url)
        title = f"Signoff — {store} — {workspace.reviewer} ({workspace.role})"
        self.setWindowTitle(title + (f" — {self._title_note}" if self._title_note else ""))

    def apply_shortcuts(self, overrides: Overrides) -> None:
        """Remapped keys take effect at once: actions, and the keys printed on the buttons."""
        apply_shortcuts(self.actions_by_id, overrides)
        self._show_decision_keys(overrides)

    def _show_decision_keys(self, overrides: Overrides) -> None:
        def first(action_id: ActionId) -> str:
            keys = keys_for(action_id, overrides)
            return keys[0].toString(keys[0].SequenceFormat.NativeText) if keys else ""

        self.decision_bar.set_keys(
            {
                Action.APPROVE: first(ActionId.APPROVE),
                Action.REJECT: first(ActionId.REJECT),
                Action.CLARIFY: first(ActionId.CLARIFY),
            },
            [first(a) for a in REASON_ACTIONS],
        )

    def closeEvent(self, event: QCloseEvent) -> None:
        self.save_draft()
        self.save_state()
        self.session.sync_timer.stop()
        # A decision still being written must reach the replica before we go.
        self.session.runner.shutdown()
        super().closeEvent(event)

    # --- the queue ---------------------------------------------------------------------

    def _query_changed(self, query: QueueQuery) -> None:
        self._select_after_load = self.current_ticket_id()
        self.model.set_query(query)

    def _replica_changed(self) -> None:
        self._live_claims.clear()  # the sync brought the store's claims: fresher than old answers
        self._select_after_load = self.current_ticket_id()
        self.session.runner.submit("read", self.session.workflows, self.filters.set_workflows)
        self.model.reload()

    def _page_loaded(self) -> None:
        if self.table.currentIndex().isValid():
            return
        wanted = self._select_after_load
        row = self.model.row_of(wanted) if wanted is not None else None
        if row is None and self.model.rowCount() == 0:
            self.session.open_ticket(None)
            return
        self._select_after_load = None
        self.select_row(row if row is not None else 0)

    def _total_changed(self, total: int) -> None:
        text = self.tr("1 ticket in this view") if total == 1 else self.tr("{0} tickets in this view")
        self.count_label.setText(text.format(f"{total:,}"))

    def current_ticket_id(self) -> int | None:
        index = self.table.currentIndex()
        return self.model.ticket_id(index.row()) if index.isValid() else None

    def select_row(self, row: int) -> None:
        if not 0 <= row < self.model.rowCount():
            return
        index = self.model.index(row, 0)
        self.table.selectionModel().setCurrentIndex(
            index, QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows
        )
        self.table.scrollTo(index)

    def move(self, step: int) -> None:
        current = self.table.currentIndex()
        row = current.row() + step if current.isValid() else 0
        if row >= self.model.rowCount() and self.model.canFetchMore():
            self.model.fetchMore()
        self.select_row(max(0, min(row, self.model.rowCount() - 1)))

    def _row_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        ticket_id = current.data(TICKET_ID_ROLE) if current.isValid() else None
        self.session.open_ticket(ticket_id)
        if current.isValid():
            self.session.preload(self.model.ticket_id(current.row() + 1))
            if current.row() >= self.model.rowCount() - 20 and self.model.canFetchMore():
                self.model.fetchMore()  # stay a page ahead of the reviewer

    def _ticket_loaded(self, loaded: LoadedTicket | None) -> None:
        shown = self._current
        if loaded is not None and shown is not None and loaded.ticket.id == shown.ticket.id:
            # The same ticket again (a sync reloaded the queue): a reason picker or a note being
            # typed must survive it; only new content or a new claim is shown.
            self._current = loaded
            if loaded.ticket != shown.ticket:
                self.detail.show_ticket(loaded.ticket)
            self._show_claim(loaded.ticket.id, loaded.ticket.claimed_by)
            return
        self.save_draft()  # the note typed so far belongs to the ticket being left
        self._draft_ticket = None
        self._current = loaded
        if loaded is None:
            self.claim_banner.hide()
            self.detail.show_ticket(
                None, queue_empty=self.model.rowCount() == 0 and not self.model.is_loading
            )
            self.decision_bar.set_ticket_reasons({})
            return
        self.detail.show_ticket(loaded.ticket)
        self.decision_bar.set_ticket_reasons(loaded.reasons)
        self._show_claim(loaded.ticket.id, loaded.ticket.claimed_by)
        self._draft_ticket = loaded.ticket.id
        self._restore_draft(loaded.ticket.id)

    # --- drafts ------------------------------------------------------------------------

    def save_draft(self) -> None:
        """Write the note being typed now (the crash handler calls this too)."""
        self._draft_timer.stop()
        if self._draft_ticket is not None:
            self.save_note_draft(self._draft_ticket, self.decision_bar.note.text())

    def save_note_draft(self, ticket_id: int, note: str) -> None:
        try:
            self.drafts.save(ticket_id, note)
        except OSError as error:
            log.warning("draft not saved: %s", error)

    def _restore_draft(self, ticket_id: int) -> None:
        try:
            draft = self.drafts.load(ticket_id)
        except OSError as error:
            log.warning("draft not read: %s", error)
            return
        if draft is not None and draft.note and not self.decision_bar.note.text():
            self.decision_bar.note.setText(draft.note)
            self.statusBar().showMessage(self.tr("Restored the note you were writing on this ticket"), 6000)

    # --- deciding ----------------------------------------------------------------------

    def begin_decision(self, action: Action) -> None:
        if self._current is None:
            self.statusBar().showMessage(self.tr("No ticket selected"), 4000)
            return
        self.decision_bar.begin(action)

    def _cancel(self) -> None:
        """Esc: close the reason picker, and hand the keys back to the queue from any text field
        (the one-key shortcuts need the focus there)."""
        self.decision_bar.cancel()
        self.table.setFocus()

    def _set_reason_keys_enabled(self, enabled: bool) -> None:
        for action_id in REASON_ACTIONS:
            action = self.actions_by_id.get(action_id)
            if action is not None:
                action.setEnabled(enabled)

    def _decided(self, action: str, reason_code: str, note: str) -> None:
        if self._current is None:
            return
        ticket_id = self._current.ticket.id
        # The note now travels with the decision; its draft goes once the decision is recorded.
        self._draft_timer.stop()
        self._draft_ticket = None
        if note:
            self.save_note_draft(ticket_id, note)  # until recorded, in case the write fails or we crash
            self._decided_notes[ticket_id] = note  # Ctrl+Z brings it back with the ticket
        decision_id = self.session.decide(
            ticket_id, Action(action), reason_code, note or None, supersedes=self._current.correctable
        )
        self._deciding[decision_id] = ticket_id
        # The decided ticket leaves the queue at once and the next one opens: the write
        # finishes on the write lane while the reviewer is already reading. Removing the row
        # moves the current index, which opens the next ticket (often straight from the
        # preload cache), so `_current` must be cleared before, never after.
        self._current = None
        self.table.setFocus()  # keys decide again, wherever the note or search left focus
        row = self.model.remove_ticket(ticket_id)
        # Lay the rows out now rather than on the view's zero timer: otherwise the window is
        # painted with the next ticket, then the queue a second time when the timer fires.
        self.table.executeDelayedItemsLayout()
        if row is None or self.model.rowCount() == 0:
            self.session.open_ticket(None)
            if self.model.canFetchMore():
                self.model.fetchMore()
            return
        target = min(row, self.model.rowCount() - 1)
        if self.table.currentIndex().row() != target:
            self.select_row(target)
        elif self._current is None:
            self.session.open_ticket(self.model.ticket_id(target))

    def _decision_recorded(self, decision: Decision) -> None:
        ticket_id = self._deciding.pop(decision.decision_id, None)
        if ticket_id is not None:
            self.drafts.delete(ticket_id)
        self.statusBar().showMessage(
            self.tr("Recorded: {0} · {1} — {2}  (Ctrl+Z to undo)").format(
                decision.action, decision.reason_code, decision.external_id
            ),
            PUSH_DEBOUNCE_MS,
        )

    def _decision_failed(self, message: str, ticket_id: int) -> None:
        # The draft stays: the note is back when the ticket is opened again.
        self._deciding = {d: t for d, t in self._deciding.items() if t != ticket_id}
        self._select_after_load = ticket_id
        self.model.reload()
        box = QMessageBox(QMessageBox.Icon.Warning, self.tr("Decision not recorded"), "", parent=self)
        box.setTextFormat(Qt.TextFormat.PlainText)
        box.setText(
            self.tr("The decision could not be recorded and the ticket is back in the queue:\n\n") + message
        )
        box.open()

    def _undone(self, ticket_id: int) -> None:
        note = self._decided_notes.pop(ticket_id, None)
        if note:
            self.save_note_draft(ticket_id, note)  # shown again when the ticket reopens
        self.statusBar().showMessage(self.tr("Decision withdrawn; the ticket is back in the queue"), 5000)
        self._select_after_load = ticket_id
        self.table.clearSelection()
        self.table.setCurrentIndex(QModelIndex())
        self.model.reload()

    # --- sync --------------------------------------------------------------------------

    def _claim_changed(self, ticket_id: int, state: ClaimState | None) -> None:
        # The claim answer (claim lane) and the ticket (read lane) race: keep the answer for
        # when the ticket arrives, since it is fresher than the replica's last-sync view.
        self._live_claims[ticket_id] = state
        if self._current is not None and self._current.ticket.id == ticket_id:
            self._show_claim(ticket_id, self._current.ticket.claimed_by)

    def _show_claim(self, ticket_id: int, synced_holder: str | None) -> None:
        if ticket_id in self._live_claims:
            state = self._live_claims[ticket_id]
            self.claim_banner.show_claim(state.holder if state else None, state.expires_at if state else None)
        else:
            self.claim_banner.show_claim(synced_holder)

    # --- small things ------------------------------------------------------------------

    def _focus_search(self) -> None:
        self.filters.search.setFocus()
        self.filters.search.selectAll()

    def show_shortcuts(self) -> None:
        ShortcutsDialog(self, self.session.workspace.settings.shortcuts).open()
