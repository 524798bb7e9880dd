"""Filtered, ordered keyset pages of entities: which rows, in which order (no stitching).

Filters become sub-selects on the indexed search and relations tables; ``kind``,
``metadata.name`` and ``metadata.namespace`` use the entity table's own columns. Pages are
keyset ranges on ``(sort value, entity_ref)``, never ``OFFSET``.

Two plans for pages in ``entity_ref`` order, chosen from the (cached) number of matches:

- **walk** (many matches): read the ``entity_ref`` index — the ``(kind, entity_ref)`` index
  when the filter fixes one kind — in windows from the cursor and probe each row's conditions;
  it reads about ``limit / density`` rows and stops;
- **set** (few matches): collect the matching refs through the indexes of the conditions,
  sort *only the refs* and fetch the documents of the page afterwards (sorting whole JSON
  documents is what made a page of a few thousand matches cost tens of milliseconds).

Source: https://backstage.io/docs/features/software-catalog/software-catalog-api
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy import ColumnElement, Connection

from goldenpath.catalog.filters import Condition, Cursor, FilterSet, Order, fulltext_terms
from goldenpath.catalog.store.tables import catalog_entities, catalog_relations, catalog_search

__all__ = [
    "SMALL_SET_MAX",
    "WALK_MAX_ROWS",
    "Page",
    "count_matching",
    "page_of_refs",
    "query_page",
    "single_kind",
    "small_set",
    "where_clause",
]

E = catalog_entities.c
S = catalog_search.c
R = catalog_relations.c
_COLUMNS = {"kind": E.kind, "metadata.name": E.name, "metadata.namespace": E.namespace}

#: the walk is chosen when it is expected to read at most this many index rows
WALK_MAX_ROWS = 4000
_WINDOW_MAX = 20_000
#: a filter with at most this many matches is served from its sorted refs, counted on the way
SMALL_SET_MAX = 2000


@dataclass(slots=True)
class Page:
    """One page: ``rows`` of ``(entity_ref, stored entity JSON)`` in page order, the total
    matching, and the keyset end ``(sort value, entity_ref)`` of the last row when more follow."""

    rows: list[tuple[str, str]]
    total_items: int
    last: tuple[str | None, str] | None


def _probe(cond: Condition) -> ColumnElement[bool]:
    """Per-row ``EXISTS`` form of a condition: cheap when walking entities in ref order.

    Column conditions are wrapped (``kind || ''``) so no index serves them: the planner then
    walks the ``entity_ref`` index in order and stops after one page, instead of collecting
    every match through the ``kind`` index and sorting them.
    """
    if cond.key in _COLUMNS:
        if cond.values is None:
            return sa.true()
        return (_COLUMNS[cond.key] + sa.literal("")).in_(cond.values)
    if cond.key.startswith("relations."):
        return _condition(cond)
    sub = sa.select(sa.literal(1)).where(S.entity_id == E.entity_id, S.key == cond.key)
    if cond.values is not None:
        sub = sub.where(S.value.in_(cond.values))
    return sub.exists()


def _condition(cond: Condition) -> ColumnElement[bool]:
    if cond.key in _COLUMNS:
        column = _COLUMNS[cond.key]
        return sa.true() if cond.values is None else column.in_(cond.values)
    if cond.key.startswith("relations."):
        rel_type = cond.key.split(".", 1)[1]
        sub = sa.select(R.source_entity_ref).where(sa.func.lower(R.type) == rel_type)
        if cond.values is not None:
            sub = sub.where(R.target_entity_ref.in_(cond.values))
        return E.entity_ref.in_(sub)
    sub = sa.select(S.entity_id).where(S.key == cond.key)
    if cond.values is not None:
        sub = sub.where(S.value.in_(cond.values))
    return E.entity_id.in_(sub)


def where_clause(
    conn: Connection, filters: FilterSet, full_text: str | None, *, probe: bool = False
) -> ColumnElement[bool]:
    """The ``WHERE`` of ``filters`` and ``full_text`` over ``catalog_entities``.

    ``probe``: per-row ``EXISTS`` forms (for walks) instead of set sub-selects. Built clauses
    are memoised (they are immutable): building one costs more than running a page query.
    """
    return _where(conn.dialect.name, filters, full_text, probe)


@lru_cache(maxsize=512)
def _where(
    dialect: str, filters: FilterSet, full_text: str | None, probe: bool
) -> ColumnElement[bool]:
    clauses: list[ColumnElement[bool]] = []
    make = _probe if probe else _condition
    if filters:
        clauses.append(sa.or_(*(sa.and_(*(make(c) for c in g)) for g in filters)))
    terms = fulltext_terms(full_text)
    if terms and dialect == "sqlite":
        match = " ".join(f'"{t}"*' for t in terms)
        clauses.append(
            E.id.in_(
                sa.text("SELECT rowid FROM catalog_fts WHERE catalog_fts MATCH :fts")
                .bindparams(fts=match)
                .columns(sa.column("rowid"))
            )
        )
    elif terms:
        query = " & ".join(f"{t}:*" for t in terms)
        clauses.append(
            sa.literal_column("catalog_entities.search_tsv").bool_op("@@")(
                sa.func.to_tsquery("simple", query)
            )
        )
    return sa.and_(sa.true(), *clauses)


def _sort_column(order: Order | None) -> ColumnElement[Any] | None:
    if order is None:
        return None
    if order.field in _COLUMNS:
        return _COLUMNS[order.field]
    return (
        sa.select(sa.func.min(S.value))
        .where(S.entity_id == E.entity_id, S.key == order.field)
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
    where = where_clause(conn, filters, full_text)
    stmt = sa.select(sa.func.count()).select_from(catalog_entities).where(where)
    return int(conn.execute(stmt).scalar_one())


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
    rows: list[Any]
    if _walks(filters, full_text, order, limit, total, scope):
        kind = single_kind(filters)
        if scope is None:
            scope = count_matching(conn, ((Condition("kind", (kind,)),),) if kind else (), None)
        rows, value = _walk(conn, filters, limit + 1, after, total, scope, kind), None
    else:
        keys, value = _sorted_keys(conn, filters, full_text, order, limit + 1, after)
        rows = _documents(conn, keys)
    more = len(rows) > limit
    rows = rows[:limit]
    last = None
    if more and rows:
        last = (rows[-1][2] if value is not None else None, rows[-1][0])
    return Page([(r[0], r[1]) for r in rows], int(total), last)


def _walks(
    filters: FilterSet,
    full_text: str | None,
    order: Order | None,
    limit: int,
    total: int,
    scope: int | None,
) -> bool:
    """Walk when the rows read to fill a page (``limit * scope / total``) stay few.

    Full text is matched as a set (FTS5 cannot probe one row cheaply), and ordered pages sort.
    """
    if order is not None or full_text or not filters or total <= 0:
        return False
    if scope is None:
        return total > WALK_MAX_ROWS
    return (limit + 1) * scope / total <= WALK_MAX_ROWS


def _sorted_keys(
    conn: Connection,
    filters: FilterSet,
    full_text: str | None,
    order: Order | None,
    n: int,
    after: Cursor | None,
) -> tuple[list[Any], Any]:
    """``(entity_ref, sort value?)`` of the first ``n`` matches after the cursor (refs only)."""
    where = where_clause(conn, filters, full_text)
    value = _sort_column(order)
    stmt: Any
    if value is None:
        stmt = sa.select(E.entity_ref).where(where)
        if after is not None:
            stmt = stmt.where(E.entity_ref > after.last_ref)
        stmt = stmt.order_by(E.entity_ref)
    else:
        assert order is not None
        value = value.label("sort_value")
        stmt = sa.select(E.entity_ref, value).where(where)
        if after is not None:
            stmt = stmt.where(_after(value, order, (after.last_value, after.last_ref)))
        stmt = stmt.order_by(
            value.is_(None), value.desc() if order.descending else value, E.entity_ref
        )
    return list(conn.execute(stmt.limit(n)).all()), value


def _documents(conn: Connection, keys: Sequence[Any]) -> list[Any]:
    """``(entity_ref, entity JSON, sort value?)`` for ``keys`` (``(ref, value?)``), same order."""
    if not keys:
        return []
    stmt = sa.select(E.entity_ref, E.entity).where(E.entity_ref.in_([k[0] for k in keys]))
    found: dict[str, str] = {ref: doc for ref, doc in conn.execute(stmt).all()}
    return [(k[0], found[k[0]], *k[1:]) for k in keys if k[0] in found]


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
) -> list[Any]:
    """The first ``n`` matches after the cursor, reading the ref index in growing windows."""
    density = max(total / max(scope, 1), 1e-3)
    window = min(_WINDOW_MAX, max(2 * n, int(n / density * 1.5)))
    where = where_clause(conn, filters, None, probe=True)
    last = after.last_ref if after is not None else None
    found: list[Any] = []
    while len(found) < n:
        refs_stmt = sa.select(E.entity_ref).order_by(E.entity_ref).limit(window)
        if kind is not None:
            refs_stmt = refs_stmt.where(E.kind == kind)
        if last is not None:
            refs_stmt = refs_stmt.where(E.entity_ref > last)
        refs = conn.execute(refs_stmt).scalars().all()
        if not refs:
            break
        found.extend(
            conn.execute(
                sa.select(E.entity_ref, E.entity)
                .where(E.entity_ref >= refs[0], E.entity_ref <= refs[-1], where)
                .order_by(E.entity_ref)
                .limit(n - len(found))
            ).all()
        )
        last = refs[-1]
        window = min(_WINDOW_MAX, window * 2)
    return found


def small_set(conn: Connection, filters: FilterSet) -> list[str] | None:
    """Every ref matching ``filters`` in ref order when there are at most ``SMALL_SET_MAX``,
    else None: one query gives a sparse filter's first page and its ``totalItems``."""
    stmt = sa.select(E.entity_ref).where(where_clause(conn, filters, None))
    refs = conn.execute(stmt.order_by(E.entity_ref).limit(SMALL_SET_MAX + 1)).scalars().all()
    return None if len(refs) > SMALL_SET_MAX else list(refs)


def page_of_refs(conn: Connection, refs: Sequence[str], limit: int) -> Page:
    """The first page of ``refs`` (all the matches, in ref order), from :func:`small_set`."""
    rows = _documents(conn, [(r,) for r in refs[:limit]])
    last = (None, rows[-1][0]) if len(refs) > limit and rows else None
    return Page([(r[0], r[1]) for r in rows], len(refs), last)
