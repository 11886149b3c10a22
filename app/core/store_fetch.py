"""The store's tickets changed after a cursor, read for a pull as plain tuples.

Fast path (issue 7, P4): on Postgres a page is one plain statement whose dates the server
converts, so no SQLAlchemy row objects or per-value result processors are built for the 100k
tickets of a first pull. It still goes through the SQLAlchemy connection, so statement events,
error wrapping and the login's row security are those of any other read.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, select

from app.core.dbtypes import UTCDateTime
from app.core.store_models import StoreTicket

TICKETS = StoreTicket.__table__
COLUMNS: tuple[str, ...] = tuple(c.name for c in TICKETS.columns)  # the order of every tuple
ID, SEQ = COLUMNS.index("id"), COLUMNS.index("change_seq")
DATES = tuple(i for i, c in enumerate(TICKETS.columns) if isinstance(c.type, UTCDateTime))


def utc_text(value: datetime) -> str:
    """An aware UTC date-time as `dates_as_text` gives it: SQLAlchemy's SQLite storage format
    (the replica's), "YYYY-MM-DD HH:MM:SS.ffffff"."""
    return value.replace(tzinfo=None).isoformat(" ", "microseconds")


def _pg_sql(date: str) -> str:
    columns = ", ".join(date.format(name) if i in DATES else name for i, name in enumerate(COLUMNS))
    where = "change_seq > %(after)s ORDER BY change_seq LIMIT %(limit)s"
    return f"SELECT {columns} FROM {TICKETS.name} WHERE {where}"


_PG_AWARE = _pg_sql("{0} AT TIME ZONE 'UTC' AS {0}")
_PG_TEXT = _pg_sql("to_char({0} AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') AS {0}")


def ticket_rows(
    conn: Connection, after_seq: int, limit: int, *, dates_as_text: bool = False
) -> list[tuple[Any, ...]]:
    """Up to `limit` tickets changed after `after_seq`, in change order, as tuples in COLUMNS
    order, with the values `select(tickets)` gives: dates as aware UTC datetimes, or with
    `dates_as_text` as `utc_text` strings. Safe against out-of-order commits: change_seq is
    handed out under a lock held to commit (see Counter)."""
    if conn.dialect.name == "postgresql":
        params = {"after": after_seq, "limit": limit}
        if dates_as_text:
            return [tuple(row) for row in conn.exec_driver_sql(_PG_TEXT, params).all()]
        return [_aware(row) for row in conn.exec_driver_sql(_PG_AWARE, params).all()]
    stmt = select(TICKETS).where(TICKETS.c.change_seq > after_seq).order_by(TICKETS.c.change_seq)
    rows = [tuple(row) for row in conn.execute(stmt.limit(limit))]
    return [_as_text(row) for row in rows] if dates_as_text else rows


def ticket_dicts(conn: Connection, after_seq: int, limit: int) -> list[dict[str, Any]]:
    """`ticket_rows` as column name -> value, what `Store.pull_tickets` hands out."""
    return [dict(zip(COLUMNS, row, strict=True)) for row in ticket_rows(conn, after_seq, limit)]


def _aware(row: Any) -> tuple[Any, ...]:
    # The server sent naive UTC wall times (AT TIME ZONE 'UTC'): mark them as UTC.
    values = list(row)
    for i in DATES:
        if values[i] is not None:
            values[i] = values[i].replace(tzinfo=UTC)
    return tuple(values)


def _as_text(row: tuple[Any, ...]) -> tuple[Any, ...]:
    values = list(row)
    for i in DATES:
        if values[i] is not None:
            values[i] = utc_text(values[i])
    return tuple(values)
