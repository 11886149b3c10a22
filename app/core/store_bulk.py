"""Statements over a page of rows. On Postgres: set-based, from rows COPYed into a temp table.

`executemany` runs one INSERT or UPDATE per row (pipelined, but the server still executes each
row as a statement of its own), and an IN list renders one parameter per value, so its text
differs from page to page and is parsed again each time. On Postgres a page instead goes in with
COPY (psycopg writes its rows in C) to a temporary table of its columns, and one INSERT … SELECT
or UPDATE … FROM applies it: about half the time for the same rows. Array parameters (unnest) would
spare the temp table, but psycopg quotes array items in Python, which costs more than the
statements. Row security, constraints and triggers still apply to every row, as they would to
single-row statements (COPY goes to the temp table only, which has none of them).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import (
    ARRAY,
    BinaryExpression,
    Column,
    Connection,
    Table,
    any_,
    bindparam,
    exc,
    func,
    insert,
    update,
)


def is_postgres(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"


def among(conn: Connection, column: Column[Any], values: Iterable[Any]) -> BinaryExpression[bool]:
    """`column IN (values)`; on Postgres `column = ANY(array)`, one parameter whatever the count."""
    values = list(values)
    if is_postgres(conn):
        return column == any_(bindparam(None, values, type_=ARRAY(column.type)))
    return column.in_(values)


def pairs(keys: Iterable[tuple[Any, Any]], first: Column[Any], second: Column[Any]) -> Any:
    """Postgres: the (first, second) pairs as a table of two columns named like those, from
    unnest() of two array parameters."""
    keys = list(keys)
    return (
        func.unnest(
            bindparam(None, [a for a, _ in keys], type_=ARRAY(first.type)),
            bindparam(None, [b for _, b in keys], type_=ARRAY(second.type)),
        )
        .table_valued(first.name, second.name)
        .render_derived(name="wanted")
    )


def insert_rows(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """INSERT the rows (every one with the same keys, each a column); on Postgres in one statement."""
    if not _set_based(conn):
        conn.execute(insert(table), list(rows))
        return
    names = ", ".join(_quoted(conn, rows[0]))
    staged = _stage(conn, table, rows)
    conn.exec_driver_sql(f"INSERT INTO {_quote(conn, table.name)} ({names}) SELECT {names} FROM {staged}")


def update_rows(conn: Connection, table: Table, key: str, rows: Sequence[dict[str, Any]]) -> None:
    """UPDATE table SET <the other keys> WHERE <key> = row[key], for every row (on Postgres in
    one statement). Each row must name a different key, as each would be its own UPDATE."""
    if not _set_based(conn):
        # executemany; bindparams named b_… as a bindparam may not take a column's own name
        conn.execute(
            update(table)
            .where(table.c[key] == bindparam(f"b_{key}"))
            .values({name: bindparam(f"b_{name}") for name in rows[0] if name != key}),
            [{f"b_{name}": value for name, value in row.items()} for row in rows],
        )
        return
    sets = ", ".join(f"{name} = v.{name}" for name in _quoted(conn, rows[0]) if name != _quote(conn, key))
    staged = _stage(conn, table, rows)
    conn.exec_driver_sql(
        f"UPDATE {_quote(conn, table.name)} AS t SET {sets} FROM {staged} AS v "
        f"WHERE t.{_quote(conn, key)} = v.{_quote(conn, key)}"
    )


def _set_based(conn: Connection) -> bool:
    """Postgres, and this login may create temp tables (a hardened database may revoke TEMPORARY
    from PUBLIC: then executemany, as before). Asked once per connection."""
    if not is_postgres(conn):
        return False
    info = conn.connection.info
    if "signoff_may_stage" not in info:
        info["signoff_may_stage"] = bool(
            conn.exec_driver_sql("SELECT has_database_privilege(current_database(), 'TEMPORARY')").scalar()
        )
    return info["signoff_may_stage"]


def _stage(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> str:
    """COPY the rows into an empty temp table of their columns; returns its name. The table is
    made once per connection and emptied at commit (so a later page finds it empty)."""
    names = list(rows[0])
    columns = [table.c[name] for name in names]
    staged = f"signoff_rows_{table.name}_{zlib.crc32(','.join(names).encode()):08x}"
    definition = ", ".join(f"{_quote(conn, c.name)} {c.type.compile(dialect=conn.dialect)}" for c in columns)
    # No parameters: one round trip for both (simple query protocol). DELETE, for a second
    # page of the same columns in one transaction.
    conn.exec_driver_sql(
        f"CREATE TEMP TABLE IF NOT EXISTS {staged} ({definition}) ON COMMIT DELETE ROWS; DELETE FROM {staged}"
    )
    statement = f"COPY {staged} ({', '.join(_quoted(conn, names))}) FROM STDIN"
    processors = [c.type.dialect_impl(conn.dialect).bind_processor(conn.dialect) for c in columns]
    try:
        with conn.connection.driver_connection.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(
                    [
                        process(row[name]) if process else row[name]
                        for name, process in zip(names, processors, strict=True)
                    ]
                )
    except conn.dialect.loaded_dbapi.Error as error:
        # As SQLAlchemy would have raised it, so the store's error translation applies.
        raise exc.DBAPIError.instance(statement, None, error, conn.dialect.loaded_dbapi.Error) from error
    return staged


def _quoted(conn: Connection, names: Iterable[str]) -> list[str]:
    return [_quote(conn, name) for name in names]


def _quote(conn: Connection, name: str) -> str:
    return conn.dialect.identifier_preparer.quote(name)
