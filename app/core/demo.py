"""The demo: a throwaway SQLite store full of realistic tickets, so a new user needs no server."""

from __future__ import annotations

from pathlib import Path

from app.core.demo_data import generate_tickets
from app.core.store import Store

DEMO_FILE = "demo-store.sqlite3"


def demo_store_path(home: Path) -> Path:
    folder = home / "demo"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / DEMO_FILE


def prepare_demo(home: Path, *, tickets: int = 300, reset: bool = False, seed: int = 7) -> str:
    """Make the demo store on first use (or afresh with `reset`) and return its URL.
    An existing demo store is kept, so decisions made in the demo survive a restart."""
    path = demo_store_path(home)
    if reset and path.exists():
        path.unlink()
    url = f"sqlite:///{path}"
    fresh = not path.exists()
    store = Store.initialize(url)
    try:
        if fresh:
            store.ingest(enumerate(generate_tickets(tickets, seed=seed), start=1))
    finally:
        store.close()
    return url
