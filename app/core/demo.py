"""The demo: a throwaway SQLite store full of realistic tickets, so a new user needs no server.

Besides today's open queue it holds four weeks of decided history (app/core/demo_history.py), made
by other reviewers through the store's own write paths, so the dashboard has something to show."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from app.core.demo_data import generate_tickets
from app.core.demo_history import add_history
from app.core.store import Store

DEMO_FILE = "demo-store.sqlite3"


def demo_store_path(home: Path) -> Path:
    folder = home / "demo"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / DEMO_FILE


def prepare_demo(
    home: Path,
    *,
    tickets: int = 300,
    reset: bool = False,
    seed: int = 7,
    history: bool = True,
    now: datetime | None = None,
) -> str:
    """Make the demo store on first use (or afresh with `reset`) and return its URL.
    An existing demo store is kept, so decisions made in the demo survive a restart.
    `now` (default: this minute) fixes the generated times, for a reproducible store."""
    path = demo_store_path(home)
    if reset and path.exists():
        path.unlink()
    url = f"sqlite:///{path}"
    fresh = not path.exists()
    store = Store.initialize(url)
    try:
        if fresh:
            now = (now or datetime.now(UTC)).astimezone(UTC).replace(second=0, microsecond=0)
            today = generate_tickets(tickets, seed=seed, now=now)
            if history:
                add_history(store, seed=seed, now=now, today=today)
            store.ingest(enumerate(today, start=1))
    finally:
        store.close()
    return url
