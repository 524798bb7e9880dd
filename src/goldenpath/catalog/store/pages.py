"""Filtered, ordered keyset pages of entities: which rows, in which order (no stitching).

Filters become sub-selects on the indexed search and relations tables (``store.where``);
``kind``, ``metadata.name``, ``metadata.namespace`` and ``metadata.uid`` use the entity
table's own columns.
Pages are keyset ranges on ``(sort value, entity_ref)``, never ``OFFSET``.

Two plans for pages in ``entity_ref`` order, chosen from the (cached) number of matches:

- **walk** (dense matches): read the ``entity_ref`` index — the ``(kind, entity_ref)`` index
  when the filter fixes one kind — in windows from the cursor and probe each row's conditions;
  it reads about ``limit / density`` rows and stops;
- **set** (sparse matches): collect the matching refs through the indexes of the conditions,
  sort *only the refs* in a sub-select and read the documents of the page's refs alone
  (sorting whole JSON documents is what made a page of a few thousand matches cost tens of
  milliseconds); one statement, so one round trip on PostgreSQL (0.3-0.8 ms less a page
  than refs, then documents, measured at 10k).

The walk is chosen when it reads fewer rows than :data:`WALK_SET_RATIO` times the number of
matches (and at most :data:`WALK_MAX_ROWS`). Measured on SQLite at 10k and 100k entities: a
walk reads an index row in ~5 µs; the set plan collects each row of its most selective
condition in ~2 µs, and there are at least as many as there are matches. So a team's ~70
components (a walk of 4,400-55,000 rows, 20-310 ms) are a set (0.4-0.9 ms), and
``spec.type=service,spec.lifecycle=production`` (1,753 of 5,990 components at 10k, set
12 ms) is a walk of ~170 rows (1 ms).

The statements of both plans are compiled once per filter shape and run on the driver's
cursor (``store.compiled``); pages sorted by another field go through SQLAlchemy.

Source: https://backstage.io/docs/features/software-catalog/software-catalog-api
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import sqlalchemy as sa
from sqlalchemy import ColumnElement, Connection

from goldenpath.catalog.filters import Condition, Cursor, FilterSet, Order
from goldenpath.catalog.store import compiled
from goldenpath.catalog.store.tables import catalog_entities, catalog_search
from goldenpath.catalog.store.where import (
    COLUMNS,
    Shape,
    clause,
    params_of,
    shape_of,
    where_clause,
)

__all__ = [
    "ROW_COLUMNS",
    "SMALL_SET_MAX",
    "WALK_MAX_ROWS",
    "WALK_SET_RATIO",
    "Page",
    "Row",
    "bounded",
    "count_matching",
    "documents",
    "first_page_of_small_set",
    "query_page",
    "scope_filter",
    "single_kind",
    "walk_rows",
    "where_clause",
]

E = catalog_entities.c
S = catalog_search.c

#: the walk is chosen when it is expected to read at most this many index rows …
WALK_MAX_ROWS = 4000
#: … and fewer than this many per match (walk ~5 µs a row, set ~2 µs a match: measured)
WALK_SET_RATIO = 0.5
_WINDOW_MAX = 20_000
#: a filter with at most this many matches is served from its sorted refs, counted on the way
SMALL_SET_MAX = 2000


#: a stored entity as pages read it: ``(entity_ref, entity JSON, stitched relations JSON or
#: None when stale)`` — what ``stitch.stitch_json`` turns into documents
Row = tuple[str, str, str | None]
#: the columns of a :data:`Row`
ROW_COLUMNS = (E.entity_ref, E.entity, E.relations)


@dataclass(slots=True)
class Page:
    """One page: :data:`Row` s in page order, the total matching, and the keyset end
    ``(sort value, entity_ref)`` of the last row when more follow."""

    rows: list[Row]
    total_items: int
    last: tuple[str | None, str] | None


def _sort_column(order: Order | None) -> ColumnElement[Any] | None:
    if order is None:
        return None
    if order.field in COLUMNS:
        return COLUMNS[order.field]
    return (
        sa.select(sa.func.min(S.value))
        .where(S.entity_row_id == E.id, S.key == order.field)
        .scalar_subquery()
    )


def _after(
    value: ColumnElement[Any], order: Order, last: tuple[str | None, str]
) -> ColumnElement[bool]:
    last_value, last_ref = last
    if last_value is None:
        return sa.and_(value.is_(None), E.entity_ref > last_ref)
    beyond = value < last_value if order.descending else value > last_value
    return sa.or_(beyond, sa.and_(value == last_value, E.entity_ref > last_ref), value.is_(None))


def count_matching(conn: Connection, filters: FilterSet, full_text: str | None) -> int:
    """How many entities match (``totalItems``)."""
    where, params = where_clause(conn, filters, full_text)
    stmt = sa.select(sa.func.count()).select_from(catalog_entities).where(where)
    return int(conn.execute(stmt, params).scalar_one())


def query_page(
    conn: Connection,
    *,
    filters: FilterSet,
    full_text: str | None,
    order: Order | None,
    limit: int,
    after: Cursor | None,
    total: int | None = None,
    scope: int | None = None,
) -> Page:
    """One keyset page of entities matching ``filters`` and ``full_text``, sorted by ``order``.

    Args:
        total: ``totalItems`` when the caller knows it (cached), else it is counted.
        scope: how many entities the walk would read through if nothing were filtered out —
            the entities of the one kind the filter fixes (:func:`single_kind`), else all —
            cached by the caller; with ``total`` it gives the density that picks the plan
            (see the module docstring). Counted when missing.
    """
    if total is None:
        total = count_matching(conn, filters, full_text)
    rows: list[Row]
    sort_values: list[Any] | None = None
    if _walks(filters, full_text, order, limit, total, scope):
        if scope is None:
            scope = count_matching(conn, scope_filter(filters), None)
        rows = _walk(conn, filters, limit + 1, after, total, scope, single_kind(filters))
    elif order is None:
        rows = _set_rows(conn, filters, full_text, limit + 1, after)
    else:
        keys = _sorted_keys(conn, filters, full_text, order, limit + 1, after)
        found = {r[0]: r for r in documents(conn, [k[0] for k in keys])}
        keys = [k for k in keys if k[0] in found]
        rows = [found[k[0]] for k in keys]
        sort_values = [k[1] for k in keys]
    last = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = (None if sort_values is None else sort_values[limit - 1], rows[-1][0])
    return Page(rows, int(total), last)


def _walks(
    filters: FilterSet,
    full_text: str | None,
    order: Order | None,
    limit: int,
    total: int,
    scope: int | None,
) -> bool:
    """Walk when the rows read to fill a page (``limit * scope / total``) stay few, both
    absolutely and against the matches the set plan would collect (module docstring).

    Full text is matched as a set (FTS5 cannot probe one row cheaply), and ordered pages sort.
    """
    if order is not None or full_text or not filters or total <= 0:
        return False
    if scope is None:
        return total > WALK_MAX_ROWS
    rows = (limit + 1) * scope / total
    return rows <= WALK_MAX_ROWS and rows <= WALK_SET_RATIO * total


def bounded(
    filters: FilterSet,
    full_text: str | None,
    order: Order | None,
    limit: int,
    total: int,
    scope: int | None,
) -> bool:
    """Whether a page costs a bounded amount of work whatever the catalog's size.

    True for unfiltered pages (the ref index, in order), set plans over at most
    :data:`SMALL_SET_MAX` matches and walks (about :data:`WALK_MAX_ROWS` index rows); False
    for full text and ordered pages, which collect and sort every match. A filtered page
    needs ``scope`` (:func:`scope_filter`'s count, not bounded to take) to choose between
    walk and set — a set plan over large conditions costs ~6 ms at 10k where the walk costs
    ~1 — unless all its matches fit on the page.
    """
    if order is not None or full_text:
        return False
    if not filters:
        return True
    if scope is None:
        return total <= limit + 1
    return total <= SMALL_SET_MAX or _walks(filters, None, None, limit, total, scope)


def scope_filter(filters: FilterSet) -> FilterSet:
    """What a walk reads through: the entities of the one kind ``filters`` fixes, else all."""
    kind = single_kind(filters)
    return ((Condition("kind", (kind,)),),) if kind else ()


def _set_rows(
    conn: Connection, filters: FilterSet, full_text: str | None, n: int, after: Cursor | None
) -> list[Row]:
    """The first ``n`` matches after the cursor in one statement: their refs are sorted in a
    sub-select, alone, and only those rows are read (one round trip fewer than refs, then
    documents)."""
    shape = shape_of(filters, full_text)
    dialect = conn.dialect.name

    def build() -> sa.Select[Any]:
        refs = sa.select(E.entity_ref).where(clause(dialect, shape))
        if after is not None:
            refs = refs.where(E.entity_ref > sa.bindparam("after", type_=sa.String))
        window = refs.order_by(E.entity_ref).limit(sa.bindparam("n", type_=sa.Integer))
        page = window.subquery()
        return (
            sa.select(*ROW_COLUMNS)
            .where(E.entity_ref.in_(sa.select(page.c.entity_ref)))
            .order_by(E.entity_ref)
        )

    stmt = compiled.statement(conn, ("set-rows", shape, after is not None), build)
    params = params_of(filters, full_text, dialect) | {"n": n}
    if after is not None:
        params["after"] = after.last_ref
    return list(compiled.fetch(conn, stmt, params))


def _sorted_keys(
    conn: Connection,
    filters: FilterSet,
    full_text: str | None,
    order: Order,
    n: int,
    after: Cursor | None,
) -> list[Any]:
    """``(entity_ref, sort value)`` of the first ``n`` matches after the cursor."""
    where, params = where_clause(conn, filters, full_text)
    value = _sort_column(order)
    assert value is not None
    value = value.label("sort_value")
    stmt = sa.select(E.entity_ref, value).where(where)
    if after is not None:
        stmt = stmt.where(_after(value, order, (after.last_value, after.last_ref)))
    stmt = stmt.order_by(value.is_(None), value.desc() if order.descending else value, E.entity_ref)
    return list(conn.execute(stmt.limit(n), params).all())


def documents(conn: Connection, refs: Sequence[str]) -> list[Row]:
    """:data:`Row` of each existing ref of ``refs``, in the order given."""
    found: dict[str, Row] = {}
    for start in range(0, len(refs), compiled.IN_MAX):
        chunk = list(refs[start : start + compiled.IN_MAX])
        size = compiled.bucket(len(chunk))
        stmt = compiled.statement(conn, ("documents", size), partial(_documents_of, size))
        for row in compiled.fetch(conn, stmt, compiled.in_params("r", chunk, size)):
            found[row[0]] = row
    return [found[ref] for ref in refs if ref in found]


def _documents_of(size: int) -> sa.Select[Any]:
    return sa.select(*ROW_COLUMNS).where(compiled.in_list(E.entity_ref, "r", size))


def single_kind(filters: FilterSet) -> str | None:
    """The one kind every match must have (``kind=x`` in a single filter group), if any."""
    if len(filters) != 1:
        return None
    kinds = [c.values for c in filters[0] if c.key == "kind" and c.values is not None]
    return kinds[0][0] if len(kinds) == 1 and len(kinds[0]) == 1 else None


def _walk(
    conn: Connection,
    filters: FilterSet,
    n: int,
    after: Cursor | None,
    total: int,
    scope: int,
    kind: str | None,
) -> list[Row]:
    """The first ``n`` matches after the cursor, reading the ref index in growing windows.

    The first window is one statement (:func:`walk_rows`: its bounds are sub-selects). When
    it holds too few matches, the walk goes on from the last match (or the cursor) in
    windows twice as large, each read first (:func:`_window`) and then probed between its
    first and last refs — bounds both statements agree on, so under concurrent writes no
    row is returned twice or skipped (a window's end read on its own, in a later snapshot
    than the rows, could be either side of the one the rows statement used).
    """
    density = max(total / max(scope, 1), 1e-3)
    window = _first_window(max(2 * n, int(n / density * 1.5)))
    dialect = conn.dialect.name
    shape = shape_of(filters, None)
    params = params_of(filters, None, dialect)
    last = after.last_ref if after is not None else None
    first = compiled.statement(
        conn,
        ("walk-first", shape, kind is not None, last is not None, window),
        partial(
            walk_rows, dialect, shape, kind=kind is not None, after=last is not None, size=window
        ),
    )
    found: list[Any] = compiled.fetch(conn, first, params | {"kind": kind, "last": last, "n": n})
    if found:
        last = found[-1][0]
    between = compiled.statement(
        conn, ("walk-between", shape), partial(_walk_between, dialect, shape)
    )
    while len(found) < n:
        window = min(_WINDOW_MAX, window * 2)
        refs = _window(conn, kind, last, window)
        if not refs:
            break
        found.extend(
            compiled.fetch(
                conn, between, params | {"lo": refs[0], "hi": refs[-1], "n": n - len(found)}
            )
        )
        last = refs[-1]
    return found


def _window_refs(*, kind: bool, after: bool) -> sa.Select[Any]:
    """The refs (of ``:kind`` when ``kind``) after ``:last`` (when ``after``), in ref order."""
    stmt = sa.select(E.entity_ref)
    if kind:
        stmt = stmt.where(E.kind == sa.bindparam("kind", type_=sa.String))
    if after:
        stmt = stmt.where(E.entity_ref > sa.bindparam("last", type_=sa.String))
    return stmt.order_by(E.entity_ref)


def _probe_range(
    dialect: str, shape: Shape, lo: ColumnElement[Any], hi: ColumnElement[Any]
) -> sa.Select[Any]:
    """The first ``:n`` rows with ``lo <= entity_ref <= hi`` that pass the filter's per-row
    probes, in ref order."""
    return (
        sa.select(*ROW_COLUMNS)
        .where(E.entity_ref >= lo, E.entity_ref <= hi, clause(dialect, shape, probe=True))
        .order_by(E.entity_ref)
        .limit(sa.bindparam("n", type_=sa.Integer))
    )


def _first_window(rows: int) -> int:
    """The size of a walk's first window for ``rows`` expected: the next power of two, at
    most :data:`_WINDOW_MAX` — a few statement texts, each with its size written in."""
    size = 1 << max(rows - 1, 1).bit_length()
    return min(size, _WINDOW_MAX)


def walk_rows(dialect: str, shape: Shape, *, kind: bool, after: bool, size: int) -> sa.Select[Any]:
    """A walk's first statement: the first ``:n`` matches in the next ``size`` refs (of
    ``:kind`` when ``kind``) after ``:last`` (when ``after``), in ref order. The window's
    first and last refs are sub-selects, so the planner sees a bounded range of the ref
    index, in one round trip (reading the window's refs first took two).

    ``size`` is written into the SQL and the first ref is a ``min()``: with either as a
    parameter, PostgreSQL's generic plan guessed 10 % of the kind's rows for it, costed
    above the custom plans, and it planned the statement again on every execution
    (~0.3 ms; ``pg_prepared_statements.custom_plans``).
    """
    refs = _window_refs(kind=kind, after=after)
    window = refs.limit(sa.literal_column(str(int(size)))).subquery()
    first = refs.with_only_columns(sa.func.min(E.entity_ref)).order_by(None)
    end = sa.select(sa.func.max(window.c.entity_ref))
    return _probe_range(dialect, shape, first.scalar_subquery(), end.scalar_subquery())


def _walk_between(dialect: str, shape: Shape) -> sa.Select[Any]:
    """A later window of a walk, between refs ``:lo`` and ``:hi`` read before."""
    lo = sa.bindparam("lo", type_=sa.String)
    return _probe_range(dialect, shape, lo, sa.bindparam("hi", type_=sa.String))


def _window(conn: Connection, kind: str | None, last: str | None, size: int) -> list[str]:
    """The next ``size`` refs (of ``kind``, when given) after ``last``, in ref order."""

    def build() -> sa.Select[Any]:
        window = _window_refs(kind=kind is not None, after=last is not None)
        return window.limit(sa.bindparam("size", type_=sa.Integer))

    stmt = compiled.statement(conn, ("walk-window", kind is not None, last is not None), build)
    params: dict[str, Any] = {"size": size, "kind": kind, "last": last}
    return [r[0] for r in compiled.fetch(conn, stmt, params)]


def first_page_of_small_set(conn: Connection, filters: FilterSet, limit: int) -> Page | None:
    """The first page of a filter with at most :data:`SMALL_SET_MAX` matches, with its
    ``totalItems``, in one statement; None when it has more.

    At most ``SMALL_SET_MAX + 1`` matching refs are collected, unsorted (the work stays
    bounded however many match: sorting every match of a dense filter first cost ~220 ms at
    100k), then counted and numbered by window functions, and only the first ``limit`` rows
    are read: one round trip where collecting the sorted refs, then reading the page's
    documents, took two.
    """
    shape = shape_of(filters, None)
    dialect = conn.dialect.name

    def build() -> sa.Select[Any]:
        refs = (
            sa.select(E.entity_ref)
            .where(clause(dialect, shape))
            .limit(sa.bindparam("n", type_=sa.Integer))
            .subquery()
        )
        ranked = sa.select(
            refs.c.entity_ref,
            sa.func.count().over().label("total"),
            sa.func.row_number().over(order_by=refs.c.entity_ref).label("position"),
        ).subquery()
        return (
            sa.select(*ROW_COLUMNS, ranked.c.total)
            .join_from(catalog_entities, ranked, ranked.c.entity_ref == E.entity_ref)
            .where(ranked.c.position <= sa.bindparam("page", type_=sa.Integer))
            .order_by(E.entity_ref)
        )

    stmt = compiled.statement(conn, ("small-first-page", shape), build)
    params = params_of(filters, None, dialect) | {"n": SMALL_SET_MAX + 1, "page": limit}
    found = compiled.fetch(conn, stmt, params)
    total = int(found[0][3]) if found else 0
    if total > SMALL_SET_MAX:
        return None
    rows: list[Row] = [(r[0], r[1], r[2]) for r in found]
    last = (None, rows[-1][0]) if total > limit else None
    return Page(rows, total, last)
