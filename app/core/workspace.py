"""Opening a store and its replica together: what the CLI and the window both do."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from app.core import audit
from app.core.credentials import password_refused
from app.core.domain import Role
from app.core.replica import Replica, replica_path
from app.core.settings import Settings, without_password
from app.core.store import Store, StoreError

if TYPE_CHECKING:  # sync and roles reach most of the store code: imported when first used
    from app.core import roles
    from app.core.sync import Syncer


@dataclass
class Workspace:
    home: Path
    settings: Settings
    store_url: str
    replica: Replica
    store: Store | None  # None while the store cannot be reached
    store_error: str | None = None
    development: bool = False  # a login that bypasses row security, let in by --allow-superuser

    @property
    def reviewer(self) -> str:
        return self.settings.reviewer

    @property
    def role(self) -> Role:
        return Role(self.settings.role)

    def syncer(self) -> Syncer | None:
        from app.core.sync import Syncer

        if self.store is None:
            return None
        return Syncer(self.replica, self.store, actor=self.reviewer, role=self.role)

    def close(self) -> None:
        self.replica.close()
        if self.store is not None:
            self.store.close()


def open_workspace(
    home: Path,
    store_url: str,
    *,
    remember: bool = True,
    reviewer: str | None = None,
    login: bool = False,
    allow_superuser: bool = False,
) -> Workspace:
    """Open the store (or, when it cannot be reached, the replica of it this installation
    already has) and the matching replica. Raises StoreError when neither is possible.
    `reviewer` overrides the saved reviewer name for this run only; `login` (the window, not
    headless commands) checks the login may review (roles.LoginRefused otherwise: a superuser
    only with `allow_superuser`) and audits the opening, or the switch from another store."""
    settings = Settings.load(home)
    previous_store = settings.last_store
    try:
        store: Store | None = Store.open(store_url)
        assert store is not None
        store_id = store.store_id
        error = None
    except StoreError as failure:
        if password_refused(failure):
            raise  # a missing or wrong password must be asked for, not hidden behind offline mode
        store_id = settings.known_stores.get(without_password(store_url))
        if store_id is None or not replica_path(home, store_id).exists():
            raise
        store, error = None, str(failure)
    admitted = _admit(store, allow_superuser) if login and store is not None else None
    replica = Replica.open(
        replica_path(home, store_id), store_id=store_id, store_url=without_password(store_url)
    )
    if remember and store is not None:
        settings.remember_store(store_url, store_id)
        settings.save(home)
    if reviewer:
        settings.reviewer = reviewer  # after the save: a one-off name is never written down
    if admitted is not None and admitted.login:
        # On Postgres the store checks decisions and claims against the login and its group.
        settings.reviewer = admitted.login
        if admitted.role is not None:
            settings.role = str(admitted.role)
    shown_url = without_password(store_url)
    switched = previous_store is not None and previous_store != shown_url
    if login:
        _record_login(replica, settings, shown_url, store_id, previous_store if switched else None)
    development = admitted is not None and admitted.development
    return Workspace(home, settings, store_url, replica, store, error, development)


def _admit(store: Store, allow_superuser: bool) -> roles.WindowLogin:
    """The window's login check; a refusal closes the store and is never softened into offline work."""
    from app.core import roles

    try:
        return roles.admit_reviewer_window(store, allow_superuser=allow_superuser)
    except StoreError:
        store.close()
        raise


def _record_login(
    replica: Replica, settings: Settings, url: str, store_id: str, previous_url: str | None
) -> None:
    replica.record_event(
        audit.AuditEvent.STORE_SWITCHED if previous_url else audit.AuditEvent.STORE_OPENED,
        actor=settings.reviewer,
        role=Role(settings.role),
        data=audit.store_data(store_url=url, store_id=store_id, previous_url=previous_url),
    )


def reconnect(workspace: Workspace) -> bool:
    """Try the store again after it was unreachable; True when it is back."""
    if workspace.store is not None:
        return True
    try:
        store = Store.open(workspace.store_url)
        if store.store_id != workspace.replica.store_id:
            raise StoreError(f"the store at {without_password(workspace.store_url)} is now another store")
    except StoreError as failure:
        workspace.store_error = str(failure)
        return False
    workspace.store, workspace.store_error = store, None
    return True
