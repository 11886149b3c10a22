"""The store's change counter: every write takes its sequence numbers here.

Taking the counter row's lock (SELECT ... FOR UPDATE, then UPDATE ... RETURNING) holds it until
commit, so sequence numbers become visible in commit order and a pull cursor `change_seq > N`
can never skip a row that commits late (the classic out-of-order-sequence trap in Postgres).
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import Connection, select, update

from app.core.store_models import Counter

COUNTERS = Counter.__table__


def lock_changes(conn: Connection) -> None:
    """Serialise writers on the change counter before reading what they will change."""
    conn.execute(select(COUNTERS.c.value).where(COUNTERS.c.name == "change").with_for_update()).scalar_one()


def take_change_seqs(conn: Connection, count: int) -> Iterator[int]:
    end = conn.execute(
        update(COUNTERS)
        .where(COUNTERS.c.name == "change")
        .values(value=COUNTERS.c.value + count)
        .returning(COUNTERS.c.value)
    ).scalar_one()
    return iter(range(end - count + 1, end + 1))
