"""Hot read statements: built with SQLAlchemy once per shape, run on the driver's cursor.

A catalog page runs four or five small statements. Through SQLAlchemy's execution layer
each costs about 0.25 ms of Python (cache key, parameter expansion, result rows) — more
than SQLite needs to answer it. The statements here are built once per *shape* (which
columns, how many values), compiled for the connection's dialect, and then executed with
plain parameters on the DBAPI cursor, inside the connection's current transaction, exactly
as :mod:`goldenpath.catalog.store.bulk` does for writes.

Only ``str``/``int``/``None`` parameters are supported (no bind processors are applied), and
rows come back as the driver's tuples.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import ColumnElement, Connection
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement

from goldenpath.store.engine import BOUNDED_SESSION, READ_LOCK_TIMEOUT_MS, READ_STATEMENT_TIMEOUT_MS

__all__ = [
    "IN_MAX",
    "Contended",
    "Statement",
    "bounded_waits",
    "bucket",
    "end_read",
    "fetch",
    "in_list",
    "in_params",
    "statement",
]

#: values per IN list: longer lists are split into several statements
IN_MAX = 512
#: compiled statements kept per process (shapes and IN-list sizes, per dialect)
_MAX_CACHED = 4096


@dataclass(frozen=True, slots=True)
class Statement:
    """A compiled statement: SQL text in the driver's paramstyle, the parameter names in
    positional order (``None``: the driver takes a mapping), and the values SQLAlchemy bound
    at build time (``LIMIT`` literals and the like)."""

    sql: str
    positions: tuple[str, ...] | None
    defaults: Mapping[str, Any]


_cache: dict[tuple[str, Hashable], Statement] = {}
_lock = threading.Lock()


def statement(conn: Connection, key: Hashable, build: Callable[[], ClauseElement]) -> Statement:
    """The statement ``build()`` returns, compiled for ``conn``'s dialect, memoised by ``key``.

    ``key`` must identify the statement's shape completely: two calls with the same key share
    one SQL text and differ only in parameter values.
    """
    full = (conn.dialect.name, key)
    found = _cache.get(full)
    if found is not None:
        return found
    compiled = build().compile(dialect=conn.dialect)
    assert isinstance(compiled, SQLCompiler)
    # expanding IN lists render at execution time; hot statements bind every value one by one
    assert "POSTCOMPILE" not in compiled.string, "use one bindparam per IN value"
    positions = compiled.positiontup
    defaults = {k: v for k, v in compiled.params.items() if v is not None}
    made = Statement(compiled.string, None if positions is None else tuple(positions), defaults)
    with _lock:
        if len(_cache) >= _MAX_CACHED:
            _cache.clear()
        _cache[full] = made
    return made


def fetch(conn: Connection, stmt: Statement, params: Mapping[str, Any]) -> list[Any]:
    """All rows (driver tuples) of ``stmt`` with ``params`` on ``conn``'s DBAPI connection.

    Raises:
        KeyError: a parameter of the statement has no value and no build-time default.
    """
    values = {**stmt.defaults, **params}
    args: Any = values if stmt.positions is None else [values[n] for n in stmt.positions]
    raw = conn.connection.driver_connection
    assert raw is not None
    cursor = raw.cursor()
    try:
        cursor.execute(stmt.sql, args)
        return list(cursor.fetchall())
    finally:
        cursor.close()


def end_read(conn: Connection) -> None:
    """End a read-only block's transaction with ``COMMIT`` (for reads the same as a rollback).

    psycopg forgets every statement it prepared on a connection when that connection rolls
    back — which is how SQLAlchemy ends a block that did not commit — so reads that ended
    that way were parsed and planned on every request (0.1-0.5 ms a statement). Commits
    SQLAlchemy's transaction when it began one, and the driver's (statements run by
    :func:`fetch` bypass SQLAlchemy); a no-op when neither is open.
    """
    conn.commit()
    conn.connection.commit()


def bucket(count: int) -> int:
    """The IN-list size used for ``count`` values: the next power of two (at least 8), so a
    handful of statement texts serve every list length (unused slots are bound to NULL)."""
    size = 8
    while size < count:
        size *= 2
    return min(size, IN_MAX)


def in_list(column: ColumnElement[Any], prefix: str, size: int) -> ColumnElement[bool]:
    """``column IN (:<prefix>0, …, :<prefix><size-1>)``, one bound parameter per slot."""
    return column.in_([sa.bindparam(f"{prefix}{i}", type_=sa.String) for i in range(size)])


def in_params(prefix: str, values: list[Any], size: int) -> dict[str, Any]:
    """Values for :func:`in_list`: ``values`` then NULLs (which never match) up to ``size``."""
    params: dict[str, Any] = {f"{prefix}{i}": None for i in range(len(values), size)}
    params.update({f"{prefix}{i}": v for i, v in enumerate(values)})
    return params


class Contended(Exception):
    """A read inside :func:`bounded_waits` waited too long for a lock or ran too long."""


@contextmanager
def bounded_waits(conn: Connection) -> Iterator[None]:
    """Bound how long the statements run in the block may wait or run.

    PostgreSQL: ``lock_timeout`` and ``statement_timeout`` (``store.engine``'s
    ``READ_LOCK_TIMEOUT_MS``, ``READ_STATEMENT_TIMEOUT_MS``: a bulk load holds exclusive
    locks while it rebuilds indexes). A read engine's connections carry them for their whole
    session (``store.engine.make_read_engine``); others get them for the rest of the
    transaction (``SET LOCAL``). An expiry raises :class:`Contended`, as does a lost
    connection (the pool discards it when its reset fails; the caller's slow path pings).
    SQLite: nothing to do — WAL readers read their snapshot and never wait for a writer.

    Raises:
        Contended: a lock wait or a statement hit its limit, or the connection broke.
    """
    if conn.dialect.name != "postgresql":
        yield
        return
    raw = conn.connection.driver_connection
    assert raw is not None
    if not conn.connection.info.get(BOUNDED_SESSION):
        with raw.cursor() as cursor:  # set_config(…, true) is SET LOCAL, in one statement
            cursor.execute(
                "SELECT set_config('lock_timeout', %s, true),"
                " set_config('statement_timeout', %s, true)",
                (str(READ_LOCK_TIMEOUT_MS), str(READ_STATEMENT_TIMEOUT_MS)),
            )
    dbapi = conn.dialect.loaded_dbapi
    try:
        yield
    except dbapi.OperationalError as e:  # lock_not_available, query_canceled, a lost server
        raise Contended(str(e)) from e
