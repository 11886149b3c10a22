"""Drafts of decision notes, kept on disk while they are typed so a crash or a power cut never
loses them. One small JSON file per ticket under <home>/drafts/<store id>/; the replica is not
used on purpose: a draft must be written from the GUI thread at once, even while the write lane
is busy, and must survive a replica being rebuilt.
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from app.core.domain import utcnow

log = logging.getLogger(__name__)

DRAFTS_DIR = "drafts"
_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


@dataclass(frozen=True)
class Draft:
    ticket_id: int
    note: str
    action: str | None  # the decision being made when the draft was written, if any
    saved_at: str  # ISO time, for the "restored draft from …" message


class DraftStore:
    """Drafts of one store's tickets (ticket ids are the replica's, stable for a store)."""

    def __init__(self, home: Path, store_id: str | None) -> None:
        self.folder = home / DRAFTS_DIR / _SAFE.sub("_", store_id or "unknown")

    def _path(self, ticket_id: int) -> Path:
        return self.folder / f"{int(ticket_id)}.json"

    def save(
        self, ticket_id: int, note: str, action: str | None = None, *, now: datetime | None = None
    ) -> None:
        """Write (or, for an empty note and no action, delete) the draft of a ticket."""
        if not note.strip() and action is None:
            self.delete(ticket_id)
            return
        draft = Draft(ticket_id, note, action, (now or utcnow()).isoformat())
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self._path(ticket_id)
        tmp = path.with_suffix(".tmp")
        with tmp.open("w", encoding="utf-8") as file:
            json.dump(asdict(draft), file)
            file.flush()
            os.fsync(file.fileno())  # the point of a draft is to survive a crash a moment later
        tmp.replace(path)

    def load(self, ticket_id: int) -> Draft | None:
        path = self._path(ticket_id)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return Draft(int(data["ticket_id"]), str(data["note"]), data.get("action"), str(data["saved_at"]))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as error:
            log.warning("draft %s unreadable, set aside: %s", path, error)
            path.replace(path.with_suffix(".damaged"))
            return None

    def delete(self, ticket_id: int) -> None:
        self._path(ticket_id).unlink(missing_ok=True)

    def ticket_ids(self) -> list[int]:
        if not self.folder.is_dir():
            return []
        return sorted(int(p.stem) for p in self.folder.glob("*.json") if p.stem.isdigit())
