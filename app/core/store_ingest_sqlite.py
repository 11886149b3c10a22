"""Ingest's writes on a SQLite store, as plain DBAPI statements (issue 7, P6).

SQLAlchemy Core spent more per row than SQLite itself: compiling a multi-row INSERT ... RETURNING,
processing every bound value, rendering a 4,000-parameter IN list. Here the same rows go to
`executemany` with prepared text (still through `Connection.exec_driver_sql`, so the
transaction and the engine's events are SQLAlchemy's). Values are stored exactly as the Core
path stores them (`sqlite_moment`).
Postgres keeps the Core path in `store_ingest`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection

# What ingest reads of a stored ticket to decide between new, unchanged, update and refused.
KNOWN = ("id", "source", "external_id", "content_hash", "status", "revision")
# Every column ingest writes on a ticket row, in statement order.
_WRITTEN = (
    "source",
    "external_id",
    "workflow",
    "created_at",
    "updated_at",
    "status",
    "queue",
    "priority",
    "due_at",
    "confidence",
    "exception_code",
    "risk_tier",
    "title",
    "revision",
    "content_hash",
    "payload",
    "change_seq",
)
_LOOKUP_KEYS = 400  # (source, external_id) pairs per lookup: 800 parameters, far below SQLite's limit


def _insert(table: str, columns: Sequence[str]) -> str:
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"


_INSERT_TICKET = _insert("tickets", _WRITTEN)
_UPDATE_TICKET = f"UPDATE tickets SET {', '.join(f'{c} = ?' for c in _WRITTEN)} WHERE id = ?"
_INSERT_PII = _insert("ticket_pii", ("ticket_id", "revision", "content_hash", "fields", "recorded_at"))


def sqlite_moment(value: datetime | None) -> str | None:
    """A datetime as the store's SQLite datetime columns hold it, "2026-05-31 23:07:51.000000":
    the text SQLAlchemy's UTCDateTime writes there (a test compares the two)."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError(f"naive datetime would be ambiguous in the store: {value!r}")
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.replace(tzinfo=None).isoformat(" ", "microseconds")


def known_tickets(conn: Connection, keys: list[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
    """{key: id, source, external_id, content_hash, status, revision} of the stored ones."""
    known: dict[tuple[str, str], dict[str, Any]] = {}
    for start in range(0, len(keys), _LOOKUP_KEYS):
        part = keys[start : start + _LOOKUP_KEYS]
        pairs = ", ".join(["(?, ?)"] * len(part))
        # Not "IN (VALUES ...)" nor "IN ((?, ?), ...)": for those SQLite scans the whole table
        # (quadratic over a large ingest); a subquery's rows are looked up in the unique index.
        statement = (
            f"SELECT {', '.join(KNOWN)} FROM tickets WHERE (source, external_id) IN "
            f"(SELECT column1, column2 FROM (VALUES {pairs}))"
        )
        flat = tuple(value for key in part for value in key)
        for row in conn.exec_driver_sql(statement, flat):
            known[(row[1], row[2])] = dict(zip(KNOWN, row, strict=True))
    return known


_pick_written = itemgetter(*_WRITTEN)
_MOMENT_AT = [i for i, c in enumerate(_WRITTEN) if c in ("created_at", "updated_at", "due_at")]


def _values(row: dict[str, Any], now: datetime, now_text: str | None) -> list[Any]:
    values = list(_pick_written(row))
    for i in _MOMENT_AT:
        moment = values[i]
        # Every row of a chunk has the same updated_at: converted once.
        values[i] = now_text if moment is now else sqlite_moment(moment)
    return values


def write_tickets(
    conn: Connection,
    new_rows: dict[tuple[str, str], dict[str, Any]],
    updates: dict[int, dict[str, Any]],
    now: datetime,
) -> list[tuple[int, tuple[str, str], dict[str, Any]]]:
    """Insert the new rows and update the changed ones (each row carries its change_seq, and
    `now` as updated_at); (id, key, row) of every write."""
    stored: list[tuple[int, tuple[str, str], dict[str, Any]]] = []
    now_text = sqlite_moment(now)
    if new_rows:
        rows = [tuple(_values(row, now, now_text)) for row in new_rows.values()]
        conn.exec_driver_sql(_INSERT_TICKET, rows)
        ids = _ids_by_change_seq(conn, [row["change_seq"] for row in new_rows.values()])
        stored += [(ids[row["change_seq"]], key, row) for key, row in new_rows.items()]
    if updates:
        rows = [(*_values(values, now, now_text), ticket_id) for ticket_id, values in updates.items()]
        conn.exec_driver_sql(_UPDATE_TICKET, rows)
        stored += [(ticket_id, (v["source"], v["external_id"]), v) for ticket_id, v in updates.items()]
    return stored


def _ids_by_change_seq(conn: Connection, seqs: Sequence[int]) -> dict[int, int]:
    """{change_seq: id} of the rows just inserted: executemany returns no ids, but each new row
    holds a change_seq of its own (taken under the change lock, so no other row has it)."""
    statement = "SELECT change_seq, id FROM tickets WHERE change_seq BETWEEN ? AND ?"
    return {seq: ticket_id for seq, ticket_id in conn.exec_driver_sql(statement, (min(seqs), max(seqs)))}


def insert_personal_values(conn: Connection, rows: list[dict[str, Any]], recorded_at: datetime) -> None:
    """`ticket_pii` rows, all recorded at the same moment."""
    at = sqlite_moment(recorded_at)
    conn.exec_driver_sql(
        _INSERT_PII, [(r["ticket_id"], r["revision"], r["content_hash"], r["fields"], at) for r in rows]
    )
