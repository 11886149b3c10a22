"""Opening a store and its replica together: what the CLI and the window both do."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from app.core.domain import Role
from app.core.replica import Replica, replica_path
from app.core.settings import Settings, without_password
from app.core.store import Store, StoreError
from app.core.sync import Syncer


@dataclass
class Workspace:
    home: Path
    settings: Settings
    store_url: str
    replica: Replica
    store: Store | None  # None while the store cannot be reached
    store_error: str | None = None

    @property
    def reviewer(self) -> str:
        return self.settings.reviewer

    @property
    def role(self) -> Role:
        return Role(self.settings.role)

    def syncer(self) -> Syncer | None:
        if self.store is None:
            return None
        return Syncer(self.replica, self.store, actor=self.reviewer, role=self.role)

    def close(self) -> None:
        self.replica.close()
        if self.store is not None:
            self.store.close()


def open_workspace(home: Path, store_url: str, *, remember: bool = True) -> Workspace:
    """Open the store (or, when it cannot be reached, the replica of it this installation
    already has) and the matching replica. Raises StoreError when neither is possible."""
    settings = Settings.load(home)
    try:
        store: Store | None = Store.open(store_url)
        assert store is not None
        store_id = store.store_id
        error = None
    except StoreError as failure:
        store_id = settings.known_stores.get(without_password(store_url))
        if store_id is None or not replica_path(home, store_id).exists():
            raise
        store, error = None, str(failure)
    replica = Replica.open(
        replica_path(home, store_id), store_id=store_id, store_url=without_password(store_url)
    )
    if remember and store is not None:
        settings.remember_store(store_url, store_id)
        settings.save(home)
    return Workspace(home, settings, store_url, replica, store, error)


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
