"""`signoff export decisions`: every decision as a `signoff.decision/1` JSON line, oldest change
first, streamed.

A million decisions must export in seconds, so each line is written straight from the page's raw
columns: no SQLAlchemy type processing, no `Decision`, no record dict, no json.loads of the AI
output. The text is the same as `json.dumps(decision.to_record(), ensure_ascii=False,
separators=(",", ":"))` (tests compare the two):

- strings go through the json module's own string encoder (ensure_ascii=False);
- `ai` is spliced as stored: the column only ever holds canonical JSON (`rows.decision_values`),
  which is exactly what loading and dumping it again would give (compact, keys already in order);
- `decided_at` is formatted as `to_rfc3339` does (UTC, milliseconds, 'Z'), from SQLite's text or
  the datetime Postgres returns.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import datetime
from json.encoder import encode_basestring  # the C encoder when available; ensure_ascii=False
from typing import Any, TextIO

from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from app.core.domain import DECISION_SCHEMA, to_rfc3339
from app.core.store import Store
from app.core.store_errors import translate_errors

PAGE = 5000

# Keyset paging by change_seq: each page is one short read (the SQLite store uses a rollback
# journal, where a reader holding the file for the whole export would keep writers out).
_PAGE_SQL = text(
    "SELECT decision_id, source, external_id, workflow, action, reason_code, note, reviewer, role, "
    "decided_at, client_id, ai, status, change_seq FROM decisions "
    "WHERE change_seq > :after ORDER BY change_seq LIMIT :limit"
)
_HEAD = '{"schema":' + encode_basestring(DECISION_SCHEMA) + ',"decision_id":'


def write_decisions(store: Store, out: TextIO, *, page: int = PAGE) -> int:
    """Write every decision to `out` as JSON Lines; returns how many."""
    count = 0
    for rows in _pages(store, page):
        out.write("".join(map(_line, rows)))
        count += len(rows)
    out.flush()
    return count


def _pages(store: Store, page: int) -> Iterator[list[Any]]:
    after = 0
    while True:
        with translate_errors(store.url), store.engine.connect() as conn:
            params = {"after": after, "limit": page}
            if conn.dialect.name == "sqlite":
                rows = _sqlite_page(conn, params)
            else:
                rows = conn.execute(_PAGE_SQL, params).all()
        if not rows:
            return
        yield rows
        after = rows[-1][13]


def _sqlite_page(conn: Connection, params: dict[str, int]) -> list[Any]:
    """One page as plain tuples from the sqlite3 cursor: a SQLAlchemy Row per decision costs a
    third as much again as SQLite's own decoding. Errors are wrapped as SQLAlchemy would, so
    translate_errors reports them the same way."""
    cursor = conn.connection.cursor()
    try:
        return cursor.execute(_PAGE_SQL.text, params).fetchall()
    except sqlite3.Error as error:
        raise DBAPIError.instance(_PAGE_SQL.text, params, error, sqlite3.Error) from error
    finally:
        cursor.close()


def _line(row: Any) -> str:
    s = encode_basestring
    (decision_id, source, external_id, workflow, action, reason_code, note, reviewer, role,
     decided_at, client_id, ai, status, _seq) = row  # fmt: skip
    return (
        f"{_HEAD}{s(decision_id)},"
        f'"source":{s(source)},"external_id":{s(external_id)},"workflow":{s(workflow)},'
        f'"action":{s(action)},"reason_code":{s(reason_code)},'
        f'"note":{"null" if note is None else s(note)},"reviewer":{s(reviewer)},"role":{s(role)},'
        f'"decided_at":{s(_rfc3339(decided_at))},"client_id":{s(client_id)},'
        f'"ai":{ai},"status":{s(status)}}}\n'
    )


def _rfc3339(value: Any) -> str:
    """`to_rfc3339` of the column as the driver returns it."""
    if isinstance(value, str):
        # SQLAlchemy writes SQLite datetimes as naive UTC 'YYYY-MM-DD HH:MM:SS.ffffff': cut
        # to milliseconds (to_rfc3339 truncates too) without parsing.
        if len(value) == 26 and value[10] == " " and value[19] == ".":
            return f"{value[:10]}T{value[11:23]}Z"
        value = datetime.fromisoformat(value)  # other text: as UTCDateTime reads it
    return to_rfc3339(value)
