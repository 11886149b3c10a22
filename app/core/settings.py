"""Per-installation settings that the core needs (which store, who is reviewing).

Window layout lives in Qt's QSettings; anything that must not be lost lives in the replica.
"""

from __future__ import annotations

import getpass
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from app.core.domain import Role
from app.core.urls import url_without_password

SETTINGS_FILE = "settings.json"
THEMES = ("system", "light", "dark")
SYNC_INTERVAL_RANGE_S = (5, 3600)
FONT_SIZE_RANGE = (0, 32)


def default_reviewer() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        return os.environ.get("USER") or "reviewer"


def without_password(url: str) -> str:
    """Passwords belong in the OS keyring, never in a settings file."""
    return url_without_password(url)


@dataclass
class Settings:
    reviewer: str = field(default_factory=default_reviewer)
    role: str = str(Role.REVIEWER)
    last_store: str | None = None
    # store URL -> store id, so a known store's replica opens offline too
    known_stores: dict[str, str] = field(default_factory=dict)
    sync_interval_s: int = 60
    # What the window looks like and how it speaks; the dialog under Preferences edits these.
    notifications: bool = True
    theme: str = "system"  # one of THEMES
    font_size: int = 0  # points; 0 keeps the system's size
    # action id -> its keys, only for actions the user remapped (an empty list: no key)
    shortcuts: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def load(cls, home: Path) -> Settings:
        path = home / SETTINGS_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls()
        except (OSError, ValueError):
            # A damaged settings file must not stop review; keep it aside for inspection.
            path.replace(path.with_suffix(".damaged.json"))
            return cls()
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known}).checked()

    def checked(self) -> Settings:
        """Values a hand-edited file may have broken, put back in range (never a reason to fail)."""
        if self.theme not in THEMES:
            self.theme = "system"
        low, high = SYNC_INTERVAL_RANGE_S
        self.sync_interval_s = min(max(int(self.sync_interval_s or 60), low), high)
        low, high = FONT_SIZE_RANGE
        self.font_size = min(max(int(self.font_size or 0), low), high)
        self.notifications = bool(self.notifications)
        if not isinstance(self.shortcuts, dict):
            self.shortcuts = {}
        self.shortcuts = {
            str(k): [str(key) for key in v] for k, v in self.shortcuts.items() if isinstance(v, list)
        }
        return self

    def save(self, home: Path) -> None:
        path = home / SETTINGS_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2, sort_keys=True), encoding="utf-8")
        tmp.replace(path)  # atomic: a crash never leaves half a settings file

    def remember_store(self, url: str, store_id: str) -> None:
        clean = without_password(url)
        self.known_stores[clean] = store_id
        self.last_store = clean
