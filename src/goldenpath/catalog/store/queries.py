"""Reads: entities with their relations, filtered/ordered keyset pages, facets, errors, ancestry.

Every list is bounded (:data:`goldenpath.catalog.filters.MAX_PAGE_SIZE`). Filters become
``IN`` sub-selects on the indexed search and relations tables; ``kind``, ``metadata.name`` and
``metadata.namespace`` use the entity table's own columns. Pages are keyset ranges on
``(sort value, entity_ref)``, never ``OFFSET``.

Source: https://backstage.io/docs/features/software-catalog/software-catalog-api
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy import ColumnElement, Connection

from goldenpath.catalog.filters import Condition, Cursor, FilterSet, Order, fulltext_terms
from goldenpath.catalog.model import Entity
from goldenpath.catalog.store.tables import (
    catalog_entities,
    catalog_errors,
    catalog_relations,
    catalog_search,
    catalog_state,
)

__all__ = [
    "Page",
    "count_matching",
    "dangling_relations",
    "entities_by_refs",
    "entity_by_ref",
    "entity_by_uid",
    "facet_counts",
    "list_errors",
    "parent_ref_of",
    "query_page",
    "version",
]

E = catalog_entities.c
S = catalog_search.c
R = catalog_relations.c
_COLUMNS = {"kind": E.kind, "metadata.name": E.name, "metadata.namespace": E.namespace}


@dataclass(slots=True)
class Page:
    """One page of entities: ``items``, the total matching, and the keyset end (if more)."""

    items: list[Entity]
    total_items: int
    last: tuple[str | None, str] | None  # (sort value, entity_ref) of the last item, when more


def _relations_for(conn: Connection, refs: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """Backstage-shaped relations of each ref (where it is the source), sorted, deduplicated."""
    out: dict[str, list[dict[str, Any]]] = {}
    rows: set[tuple[str, str, str]] = set()
    for i in range(0, len(refs), 500):
        chunk = list(refs[i : i + 500])
        result = conn.execute(
            sa.select(R.source_entity_ref, R.type, R.target_entity_ref).where(
                R.source_entity_ref.in_(chunk)
            )
        )
        rows.update(map(tuple, result.cursor.fetchall()) if result.cursor else ())
    for source, type_, target in sorted(rows):
        kind, _, rest = target.partition(":")
        namespace, _, name = rest.partition("/")
        out.setdefault(source, []).append(
            {
                "type": type_,
                "targetRef": target,
                "target": {"kind": kind, "namespace": namespace, "name": name},
            }
        )
    return out


def _stitch(conn: Connection, rows: Sequence[Any]) -> list[Entity]:
    """Entities from ``(entity_ref, entity json)`` rows, with ``relations`` attached."""
    relations = _relations_for(conn, [r[0] for r in rows])
    out = []
    for ref, text in rows:
        entity = orjson.loads(text)
        entity["relations"] = relations.get(ref, [])
        out.append(entity)
    return out


def entity_by_ref(conn: Connection, ref: str) -> Entity | None:
    """The entity with lower-cased ref ``ref``, or ``None``."""
    row = conn.execute(sa.select(E.entity_ref, E.entity).where(E.entity_ref == ref)).first()
    return _stitch(conn, [row])[0] if row else None


def entity_by_uid(conn: Connection, uid: str) -> Entity | None:
    """The entity whose ``metadata.uid`` is ``uid``, or ``None``."""
    row = conn.execute(sa.select(E.entity_ref, E.entity).where(E.entity_id == uid)).first()
    return _stitch(conn, [row])[0] if row else None


def entities_by_refs(conn: Connection, refs: Sequence[str]) -> dict[str, Entity]:
    """Entities by lower-cased ref (missing refs are absent from the result)."""
    rows: list[Any] = []
    for i in range(0, len(refs), 500):
        rows.extend(
            conn.execute(
                sa.select(E.entity_ref, E.entity).where(E.entity_ref.in_(refs[i : i + 500]))
            )
        )
    return {e_ref: ent for (e_ref, _), ent in zip(rows, _stitch(conn, rows), strict=True)}


def parent_ref_of(conn: Connection, ref: str) -> str | None:
    """The ref of the Location entity that emitted ``ref`` (``None`` for a root)."""
    return conn.execute(sa.select(E.parent_ref).where(E.entity_ref == ref)).scalar()


def version(conn: Connection) -> int:
    """The catalog's write counter (see ``catalog_state``)."""
    return int(
        conn.execute(sa.select(catalog_state.c.version).where(catalog_state.c.id == 1)).scalar()
        or 0
    )


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


def _where(
    conn: Connection, filters: FilterSet, full_text: str | None, *, probe: bool = False
) -> ColumnElement[bool]:
    clauses: list[ColumnElement[bool]] = []
    make = _probe if probe else _condition
    if filters:
        clauses.append(sa.or_(*(sa.and_(*(make(c) for c in g)) for g in filters)))
    terms = fulltext_terms(full_text)
    if terms and conn.dialect.name == "sqlite":
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


#: above this many matches, pages walk the ref index and probe each row instead of
#: materialising the matching set and sorting it
_DENSE = 2000


def count_matching(conn: Connection, filters: FilterSet, full_text: str | None) -> int:
    """How many entities match (``totalItems``)."""
    where = _where(conn, filters, full_text)
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
    population: int | None = None,
) -> Page:
    """One keyset page of entities matching ``filters`` and ``full_text``, sorted by ``order``.

    ``total``: ``totalItems`` when the caller knows it (cached), else it is counted.
    ``population``: how many entities exist (cached by the caller), used to size the windows
    of a dense page: when many entities match, the page walks the ``entity_ref`` index in
    windows and filters each window, so it reads about ``limit / density`` rows instead of
    sorting every match (planners on both backends misjudge this on their own).
    """
    if total is None:
        total = count_matching(conn, filters, full_text)
    # full text is matched as a set (FTS5 cannot probe one row cheaply): sorted path
    if order is None and total > _DENSE and filters and not full_text:
        rows = _dense_rows(conn, filters, full_text, limit + 1, after, total, population)
        value = None
    else:
        rows, value = _sorted_rows(conn, filters, full_text, order, limit + 1, after)
    more = len(rows) > limit
    rows = rows[:limit]
    items = _stitch(conn, [(r[0], r[1]) for r in rows])
    last = None
    if more and rows:
        last = (rows[-1][2] if value is not None else None, rows[-1][0])
    return Page(items, int(total), last)


def _sorted_rows(
    conn: Connection,
    filters: FilterSet,
    full_text: str | None,
    order: Order | None,
    n: int,
    after: Cursor | None,
) -> tuple[list[Any], Any]:
    where = _where(conn, filters, full_text)
    value = _sort_column(order)
    stmt: Any = sa.select(E.entity_ref, E.entity).where(where)
    if value is None:
        if after is not None:
            stmt = stmt.where(E.entity_ref > after.last_ref)
        stmt = stmt.order_by(E.entity_ref)
    else:
        assert order is not None
        value = value.label("sort_value")
        stmt = sa.select(E.entity_ref, E.entity, value).where(where)
        if after is not None:
            stmt = stmt.where(_after(value, order, (after.last_value, after.last_ref)))
        stmt = stmt.order_by(
            value.is_(None), value.desc() if order.descending else value, E.entity_ref
        )
    return list(conn.execute(stmt.limit(n)).all()), value


def _single_kind(filters: FilterSet) -> str | None:
    """The one kind every match must have (``kind=x`` in a single filter group), if any."""
    if len(filters) != 1:
        return None
    kinds = [c.values for c in filters[0] if c.key == "kind" and c.values is not None]
    return kinds[0][0] if len(kinds) == 1 and len(kinds[0]) == 1 else None


def _dense_rows(
    conn: Connection,
    filters: FilterSet,
    full_text: str | None,
    n: int,
    after: Cursor | None,
    total: int,
    population: int | None,
) -> list[Any]:
    if population is None:
        population = count_matching(conn, (), None)
    density = max(total / max(population, 1), 1e-3)
    window = min(20_000, max(2 * n, int(n / density * 1.5)))
    where = _where(conn, filters, full_text, probe=True)
    last = after.last_ref if after is not None else None
    kind = _single_kind(filters)
    found: list[Any] = []
    while len(found) < n:
        refs_stmt = sa.select(E.entity_ref).order_by(E.entity_ref).limit(window)
        if kind is not None:
            refs_stmt = refs_stmt.where(E.kind == kind)
        if last is not None:
            refs_stmt = refs_stmt.where(E.entity_ref > last)
        refs = list(conn.execute(refs_stmt).scalars())
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
        window = min(20_000, window * 2)
    return found


def facet_counts(conn: Connection, facet: str, filters: FilterSet) -> list[dict[str, Any]]:
    """``[{"value", "count"}]`` for one facet (original-case values, most frequent first)."""
    key = facet.lower()
    where = _where(conn, filters, None) if filters else None
    if key.startswith("relations."):
        stmt = (
            sa.select(R.target_entity_ref, sa.func.count(sa.distinct(R.source_entity_ref)))
            .where(sa.func.lower(R.type) == key.split(".", 1)[1])
            .group_by(R.target_entity_ref)
        )
        if where is not None:
            stmt = stmt.where(R.source_entity_ref.in_(sa.select(E.entity_ref).where(where)))
    else:
        stmt = (
            sa.select(S.original_value, sa.func.count())
            .where(S.key == key, S.value.is_not(None))
            .group_by(S.value, S.original_value)
        )
        if where is not None:
            stmt = stmt.where(S.entity_id.in_(sa.select(E.entity_id).where(where)))
    counts = [{"value": v, "count": int(c)} for v, c in conn.execute(stmt)]
    counts.sort(key=lambda f: (-f["count"], f["value"]))
    return counts


def list_errors(
    conn: Connection, *, location_id: str | None, after_id: int | None, limit: int
) -> list[dict[str, Any]]:
    """Processing errors in recording order, ``limit`` of them after error id ``after_id``."""
    c = catalog_errors.c
    stmt = sa.select(catalog_errors).order_by(c.id).limit(limit)
    if location_id is not None:
        stmt = stmt.where(c.location_id == location_id)
    if after_id is not None:
        stmt = stmt.where(c.id > after_id)
    return [
        {
            "id": r.id,
            "location_id": r.location_id,
            "source": r.source,
            "index": r.doc_index,
            "entityRef": r.entity_ref,
            "stage": r.stage,
            "path": r.path,
            "message": r.message,
            "created_at": r.created_at.isoformat(),
        }
        for r in conn.execute(stmt)
    ]


def dangling_relations(
    conn: Connection, *, location_id: str | None = None, limit: int = 500
) -> list[dict[str, str]]:
    """Relations whose target entity does not exist (kept, reported, never fatal)."""
    target = catalog_entities.alias("target")
    stmt = (
        sa.select(R.source_entity_ref, R.type, R.target_entity_ref)
        .distinct()
        .outerjoin(target, target.c.entity_ref == R.target_entity_ref)
        .where(target.c.id.is_(None))
        .order_by(R.source_entity_ref, R.type, R.target_entity_ref)
        .limit(limit)
    )
    if location_id is not None:
        stmt = stmt.where(
            R.originating_entity_id.in_(sa.select(E.entity_id).where(E.location_id == location_id))
        )
    return [{"source": s, "type": t, "target": g} for s, t, g in conn.execute(stmt)]
