"""A pull into a replica without tickets (its first, or one after a rebuild), in one transaction.

Fast path (issue 7, P4): a pull normally stages every page and applies them together, so a crash
leaves the old state or the new. When the replica has no tickets, writing the pages straight
into `tickets` inside the caller's one transaction gives the same guarantee (a crash rolls back
to the empty replica) and writes each row once instead of three times. Rows come from the store
as plain tuples (`store_fetch`). The cursor, the restore witnesses and the statuses are settled
in the same transaction, as `Syncer` does after a staged pull.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from sqlalchemy import Connection

from app.core import replica_pull, store_fetch, store_witness
from app.core.store import Store
from app.core.store_errors import translate_errors

Progress = Callable[[str, int], None]  # as sync.Progress: (phase, items done so far)


def fill(
    conn: Connection,
    store: Store,
    after_seq: int,
    page: int,
    *,
    wide: bool | None,
    progress: Progress | None = None,
) -> int:
    """Pull every ticket changed after `after_seq` into the empty replica behind `conn` (an open
    transaction the caller commits). Returns how many tickets were written."""
    writer = replica_pull.FreshWriter(conn)
    latest: dict[int, store_witness.TicketMark] = {}  # the next sync's restore witnesses
    written: set[int] = set()
    cursor, pulled = after_seq, 0
    # The next page is read from the store while this one is written to the replica: both
    # wait on something else (the server, the disk) for much of the time.
    with ThreadPoolExecutor(1, thread_name_prefix="pull-fetch") as fetcher:
        ahead: Future[list[tuple[Any, ...]]] | None = fetcher.submit(_page, store, cursor, page)
        while ahead is not None and (rows := ahead.result()):
            cursor = rows[-1][store_fetch.SEQ]
            ahead = fetcher.submit(_page, store, cursor, page) if len(rows) == page else None
            writer.write(rows)
            store_witness.keep_latest(latest, _newest(rows))
            written.update(row[store_fetch.ID] for row in rows)
            pulled += len(rows)
            if progress:
                progress("pull", pulled)
    if pulled:
        writer.finish(cursor)
        store_witness.remember(conn, list(latest.values()), fresh=after_seq == 0, wide=wide)
    replica_pull.settle_statuses(conn)
    return len(written)


def _page(store: Store, after_seq: int, limit: int) -> list[tuple[Any, ...]]:
    with translate_errors(store.url), store.engine.connect() as conn:
        return store_fetch.ticket_rows(conn, after_seq, limit, dates_as_text=True)


def _newest(rows: Sequence[Sequence[Any]]) -> list[dict[str, Any]]:
    """The rows holding the page's WITNESSES newest tickets (their last version here), in change
    order: all `keep_latest` can keep from the page, without a dict for every row."""
    seen: set[int] = set()
    newest = []
    for row in reversed(rows):
        if row[store_fetch.ID] not in seen:
            seen.add(row[store_fetch.ID])
            newest.append(dict(zip(store_fetch.COLUMNS, row, strict=True)))
            if len(seen) == store_witness.WITNESSES:
                break
    return newest[::-1]
