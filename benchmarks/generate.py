"""Seeded, fast builders of realistic stores, replicas and ticket files for the benchmarks.

Content comes from the demo generator (app/core/demo_data) and goes through the app's own column
code (store_ingest.ticket_parts, replica_pull.ticket_values), so rows look like what ingest and
pull write. A million distinct demo tickets would take most of a minute to make, so a pool of
distinct tickets is made once and repeated with fresh ids, keys, times and confidences.
Built files are cached under $SIGNOFF_BENCH_CACHE (default ~/.cache/signoff-bench), keyed by
kind, size and seed, so a rerun starts at once.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from app.core import replica_pull
from app.core.demo_data import generate_tickets
from app.core.domain import Role
from app.core.reasons import default_reason_codes
from app.core.replica import TICKETS, Replica, replica_path
from app.core.settings import Settings
from app.core.store_ingest import ticket_parts
from benchmarks.qt_probes import OFFLINE_URL

POOL = 5000  # distinct demo tickets behind every generated row
BATCH = 20_000
NOW = datetime(2026, 6, 1, tzinfo=UTC)  # fixed, so a seed always builds the same rows
# The window opens this URL; no file is there, so it works offline from the replica alone
# (start-up sync would otherwise talk to a store that has none of the replica's tickets).
STORE_ID = "bench-store"
WORKFLOWS = ("lead_qualification", "donor_segmentation", "ask_amount", "reactivation", "message_draft")


def cache_dir() -> Path:
    folder = Path(os.environ.get("SIGNOFF_BENCH_CACHE") or Path.home() / ".cache" / "signoff-bench")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@cache
def pool(seed: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(demo tickets, their store columns) for `POOL` distinct tickets."""
    tickets = generate_tickets(POOL, seed=seed, now=NOW)
    return tickets, [ticket_parts(t)[0] for t in tickets]


def store_rows(count: int, seed: int, *, start: int = 1) -> Iterator[list[dict[str, Any]]]:
    """Store `tickets` rows (batches), ids and change_seq from `start`, all open."""
    _tickets, columns = pool(seed)
    rng = random.Random(seed)
    batch: list[dict[str, Any]] = []
    for number in range(start, start + count):
        base = columns[number % POOL]
        created = NOW - timedelta(seconds=rng.randrange(30 * 86400))
        row = {
            **base,
            "id": number,
            "external_id": f"{base['external_id']}-{number}",
            "status": "open",
            "created_at": created,
            "updated_at": created,
            "due_at": created + timedelta(minutes=rng.randrange(30, 5 * 1440)),
            "confidence": round(rng.uniform(0.2, 0.99), 3),
            "revision": 1,
            "change_seq": number,
        }
        batch.append(row)
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


@cache
def _search_texts(seed: int) -> list[str]:
    return [replica_pull.search_text(json.loads(c["payload"])) for c in pool(seed)[1]]


def replica_rows(count: int, seed: int) -> Iterator[list[dict[str, Any]]]:
    """Replica `tickets` rows, as a pull would write them."""
    texts = _search_texts(seed)
    for batch in store_rows(count, seed):
        yield [
            {
                **replica_pull.ticket_values(
                    row, search=f"{row['external_id'].casefold()} {texts[row['id'] % POOL]}"
                ),
                "status": row["status"],  # a fresh replica: no local decisions to resolve
            }
            for row in batch
        ]


def fill_replica(replica: Replica, count: int, seed: int) -> None:
    """`count` open tickets straight into the replica's table, plus the reason-code catalog."""
    with replica.engine.begin() as conn:
        for rows in replica_rows(count, seed):
            conn.execute(insert(TICKETS), rows)
        replica_pull._advance(conn, "pull_cursor", count)
    replica.replace_reference_data(default_reason_codes(), [(w, w.replace("_", " ")) for w in WORKFLOWS])


def window_home(count: int, seed: int = 7) -> Path:
    """A Signoff home whose known (offline) store has a replica of `count` open tickets. Cached;
    a copy is made per call site that writes (see `fresh_copy`)."""
    home = cache_dir() / f"home-{count}-{seed}"
    done = home / "built"
    if done.exists():
        return home
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    settings = Settings(reviewer="bench", role=str(Role.REVIEWER))
    settings.remember_store(OFFLINE_URL, STORE_ID)
    settings.save(home)
    replica = Replica.open(replica_path(home, STORE_ID), store_id=STORE_ID, store_url=OFFLINE_URL)
    try:
        # No ANALYZE: the app never runs it, so the window benchmarks must see the plans users
        # get. (Statistics from before a migration added indexes made every page sort the queue;
        # Replica.open now drops such partial statistics.)
        fill_replica(replica, count, seed)
    finally:
        replica.close()
    done.write_text("ok")
    return home


def fresh_copy(home: Path, target: Path) -> Path:
    """A writable copy of a cached home (benchmarks that decide must not change the cache).
    Hard-links nothing: SQLite would write through to the cached file."""
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(home, target)
    return target


def jsonl_file(count: int, seed: int = 7) -> Path:
    """`count` valid signoff.ticket/1 lines (distinct external ids), cached."""
    path = cache_dir() / f"tickets-{count}-{seed}.jsonl"
    if path.exists():
        return path
    tickets, _columns = pool(seed)
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8") as out:
        for number in range(1, count + 1):
            ticket = tickets[number % POOL]
            line = json.dumps(
                {**ticket, "external_id": f"{ticket['external_id']}-{number}"},
                ensure_ascii=False,
                separators=(",", ":"),
            )
            out.write(line)
            out.write("\n")
    tmp.replace(path)
    return path
