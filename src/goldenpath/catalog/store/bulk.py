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

import sqlalchemy as sa
from sqlalchemy import Connection

__all__ = ["insert_rows"]


def _sqlite_value(value: Any) -> Any:
    # SQLAlchemy's SQLite DateTime stores the UTC wall clock as text in this exact format
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")
    return value


def insert_rows(
    conn: Connection, table: sa.Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """Insert ``rows`` (tuples or lists ordered like ``columns``) into ``table``, fast as the
    driver can."""
    if not rows:
        return
    names = ", ".join(columns)
    if conn.dialect.name == "sqlite":
        has_dt = any(isinstance(v, datetime) for v in rows[0])
        data = [tuple(_sqlite_value(v) for v in r) for r in rows] if has_dt else list(rows)
        marks = ", ".join("?" for _ in columns)
        conn.exec_driver_sql(f"INSERT INTO {table.name} ({names}) VALUES ({marks})", data)
        return
    if conn.dialect.driver == "psycopg":
        raw = conn.connection.driver_connection
        assert raw is not None
        with raw.cursor() as cur, cur.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    conn.execute(table.insert(), [dict(zip(columns, r, strict=True)) for r in rows])
