"""Personal data for the ticket detail: asks the store on a worker lane when the detail wants it.

- At start (and after each sync, `refresh`) it reads the store's PII setting and tells the
  detail whether this role sees personal data (unmasked) and whether it may Reveal.
- A role that sees personal data gets it fetched for each ticket it opens, online only.
- Reveal calls `pii_access.reveal_for_review`: the store logs the reveal (on Postgres the
  database itself), the installation's audit chain gets a PII_REVEALED entry, and only then
  does the detail show the values.
- Offline, or when the store refuses, the detail says so and keeps the mask.
Values go from the worker straight to the detail's memory: never to the replica or a cache.
Store I/O runs on the "claim" lane (short store round trips, never behind a sync).
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, Signal

from app.core import pii, pii_access
from app.core.store_errors import StoreError, StoreUnavailable
from app.core.workspace import Workspace
from app.ui.tasks import TaskRunner
from app.ui.ticket_panes import TicketDetail

log = logging.getLogger(__name__)
LANE = "claim"


class PiiReveal(QObject):
    revealed = Signal(int)  # ticket id, once an audited reveal is shown
    policy_changed = Signal(object)  # pii.PiiPolicy, as read from the store

    def __init__(
        self, detail: TicketDetail, runner: TaskRunner, workspace: Workspace, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self.detail = detail
        self.runner = runner
        self.workspace = workspace
        self.policy: pii.PiiPolicy | None = None
        detail.set_pii_masked(True)  # until the store's setting is known: the safe side
        detail.set_reveal_allowed(False)
        detail.reveal_requested.connect(self.reveal)
        detail.personal_data_wanted.connect(self.fetch)

    def refresh(self, *_ignored: object) -> None:
        """Read the store's setting (at start, and after a sync: it may have changed, or the
        store may be back)."""
        store = self.workspace.store
        if store is None:
            return
        self.runner.submit(LANE, lambda: pii_access.load_policy(store), self._apply, self._setting_failed)

    def _apply(self, policy: pii.PiiPolicy) -> None:
        self.policy = policy
        role = str(self.workspace.role)
        self.detail.set_reveal_allowed(policy.may_reveal(role))
        self.detail.set_pii_masked(not policy.sees(role))
        self.policy_changed.emit(policy)

    def _setting_failed(self, error: Exception) -> None:
        log.info("could not read the store's personal-data setting: %s", error)

    def fetch(self, ticket_id: int) -> None:
        """Personal values for a role that sees them (not a reveal: nothing to audit)."""
        store, role = self.workspace.store, str(self.workspace.role)
        if store is None:
            self._unavailable(ticket_id, StoreUnavailable("offline"))
            return
        self.runner.submit(
            LANE,
            lambda: pii_access.personal_data(store, ticket_id, role=role),
            lambda data: self.detail.show_personal_data(ticket_id, data.values, revealed=False),
            lambda error: self._unavailable(ticket_id, error),
        )

    def reveal(self, ticket_id: int) -> None:
        store, replica = self.workspace.store, self.workspace.replica
        actor, role = self.workspace.reviewer, self.workspace.role
        if store is None:
            self._unavailable(ticket_id, StoreUnavailable("offline"))
            return

        def done(data: pii_access.PersonalData) -> None:
            self.detail.show_personal_data(ticket_id, data.values, revealed=True)
            self.revealed.emit(ticket_id)

        self.runner.submit(
            LANE,
            lambda: pii_access.reveal_for_review(store, replica, ticket_id, actor=actor, role=role),
            done,
            lambda error: self._unavailable(ticket_id, error),
        )

    def _unavailable(self, ticket_id: int, error: Exception) -> None:
        if isinstance(error, StoreUnavailable):
            message = self.tr("Personal data comes from the store: not available offline")
        elif isinstance(error, pii_access.PiiRefused):
            message = self.tr("Personal data refused: {0}").format(_short(str(error)))
        elif isinstance(error, StoreError):
            message = self.tr("Personal data could not be read: {0}").format(_short(str(error)))
        else:
            log.error("personal data for ticket %s: %s", ticket_id, error)
            message = self.tr("Personal data could not be read")
        self.detail.personal_data_unavailable(ticket_id, message)


def _short(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
