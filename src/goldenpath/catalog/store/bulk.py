"""Bulk inserts below the SQL expression layer: ``executemany`` on SQLite, ``COPY`` on PostgreSQL.

Building a parameter dict per row through SQLAlchemy's compiler costs more than SQLite's own
insert; at 100k entities (millions of search rows) that is the difference between seconds
and minutes. Rows are plain tuples in the order of ``columns``; the statement runs inside the
caller's transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy import Connection

__all__ = ["insert_keyed_json_rows", "insert_rows"]


def _sqlite_value(value: Any) -> Any:
    # SQLAlchemy's SQLite DateTime stores the UTC wall clock as text in this exact format
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")
    return value


def _sqlite_rows(rows: Sequence[Sequence[Any]]) -> Sequence[Sequence[Any]]:
    """Datetimes as SQLite text (each distinct value formatted once); rows without any as-is."""
    if not any(isinstance(v, datetime) for v in rows[0]):
        return rows
    memo: dict[datetime, str] = {}

    def convert(v: Any) -> Any:
        if not isinstance(v, datetime):
            return v
        text = memo.get(v)
        if text is None:
            text = memo[v] = _sqlite_value(v)
        return text

    return [tuple(map(convert, r)) for r in rows]


def insert_rows(
    conn: Connection, table: sa.Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """Insert ``rows`` (tuples or lists ordered like ``columns``) into ``table``, fast as the
    driver can."""
    if not rows:
        return
    names = ", ".join(columns)
    if conn.dialect.name == "sqlite":
        data = _sqlite_rows(rows)
        marks = ", ".join("?" for _ in columns)
        # the raw DBAPI cursor: no per-row parameter checks, lists are fine; same transaction
        raw = conn.connection.driver_connection
        assert raw is not None
        cursor = raw.cursor()
        try:
            cursor.executemany(f"INSERT INTO {table.name} ({names}) VALUES ({marks})", data)
        finally:
            cursor.close()
        return
    if conn.dialect.driver == "psycopg":
        raw = conn.connection.driver_connection
        assert raw is not None
        with raw.cursor() as cur, cur.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    conn.execute(table.insert(), [dict(zip(columns, r, strict=True)) for r in rows])


def insert_keyed_json_rows(
    conn: Connection,
    table: sa.Table,
    columns: Sequence[str],
    keyed: Sequence[tuple[int, bytes]],
) -> None:
    """Insert rows given per key: each ``(key, blob)`` is an integer for ``columns[0]`` and a
    JSON array of arrays (orjson bytes) holding the values of ``columns[1:]`` for it.

    The blobs are decoded here, a batch at a time, and inserted by :func:`insert_rows`.
    (SQLite reading the JSON itself — ``json_each`` over one object keyed by the integers —
    was slower: the 1.55M search rows of 100k entities took 2.2-2.3 s that way against 1.8 s
    decoded and bound by ``executemany``; PostgreSQL's ``json_array_elements`` was no faster
    than ``COPY`` either: 22 s vs 19 s for the 3.2M rows of 100k entities.)
    """
    rows = [(k, *r) for k, b in keyed if len(b) > 2 for r in orjson.loads(b)]  # "[]": none
    insert_rows(conn, table, columns, rows)
