"""Reads: entities with their relations, facets, errors, ancestry (pages: ``store.pages``).

Every list is bounded (:data:`goldenpath.catalog.filters.MAX_PAGE_SIZE`). Entities are served
as JSON bytes: the stored document with its stored ``relations`` array spliced in
(``store.stitch``), never parsed and re-serialised on the hot paths; the dict forms parse
those bytes.

Source: https://backstage.io/docs/features/software-catalog/software-catalog-api
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy import Connection

from goldenpath.catalog.filters import FilterSet
from goldenpath.catalog.model import Entity
from goldenpath.catalog.store import compiled
from goldenpath.catalog.store.pages import (
    ROW_COLUMNS,
    Page,
    count_matching,
    documents,
    query_page,
)
from goldenpath.catalog.store.search import COLUMN_ONLY_KEYS
from goldenpath.catalog.store.stitch import stitch_json
from goldenpath.catalog.store.tables import (
    catalog_entities,
    catalog_errors,
    catalog_relations,
    catalog_search,
    catalog_state,
)
from goldenpath.catalog.store.where import COLUMNS, where_clause

__all__ = [
    "Page",
    "count_matching",
    "dangling_relations",
    "entities_by_refs",
    "entities_json_by_refs",
    "entity_by_ref",
    "entity_by_uid",
    "entity_json_by_ref",
    "entity_json_by_uid",
    "facet_counts",
    "list_errors",
    "parent_ref_of",
    "query_page",
    "version",
]

E = catalog_entities.c
S = catalog_search.c
R = catalog_relations.c


def _one_by(column: str) -> sa.Select[Any]:
    return sa.select(*ROW_COLUMNS).where(E[column] == sa.bindparam("key", type_=sa.String))


def entity_json_by_ref(
    conn: Connection, ref: str, *, max_relations: int | None = None
) -> bytes | None:
    """The JSON document of the entity with lower-cased ref ``ref``, or ``None``.

    Raises:
        stitch.TooManyRelations: the entity has more than ``max_relations`` relation rows.
    """
    stmt = compiled.statement(conn, ("entity-by", "entity_ref"), partial(_one_by, "entity_ref"))
    rows = compiled.fetch(conn, stmt, {"key": ref})
    return stitch_json(conn, rows, max_relations=max_relations)[0] if rows else None


def entity_json_by_uid(
    conn: Connection, uid: str, *, max_relations: int | None = None
) -> bytes | None:
    """The JSON document of the entity whose ``metadata.uid`` is ``uid``, or ``None``.

    Raises:
        stitch.TooManyRelations: the entity has more than ``max_relations`` relation rows.
    """
    stmt = compiled.statement(conn, ("entity-by", "entity_id"), partial(_one_by, "entity_id"))
    rows = compiled.fetch(conn, stmt, {"key": uid})
    return stitch_json(conn, rows, max_relations=max_relations)[0] if rows else None


def entity_by_ref(conn: Connection, ref: str) -> Entity | None:
    """The entity with lower-cased ref ``ref``, or ``None``."""
    found = entity_json_by_ref(conn, ref)
    return None if found is None else orjson.loads(found)


def entity_by_uid(conn: Connection, uid: str) -> Entity | None:
    """The entity whose ``metadata.uid`` is ``uid``, or ``None``."""
    found = entity_json_by_uid(conn, uid)
    return None if found is None else orjson.loads(found)


def entities_json_by_refs(conn: Connection, refs: Sequence[str]) -> dict[str, bytes]:
    """Entity JSON documents by lower-cased ref (missing refs are absent from the result)."""
    rows = documents(conn, refs)
    return {r[0]: doc for r, doc in zip(rows, stitch_json(conn, rows), strict=True)}


def entities_by_refs(conn: Connection, refs: Sequence[str]) -> dict[str, Entity]:
    """Entities by lower-cased ref (missing refs are absent from the result)."""
    return {ref: orjson.loads(doc) for ref, doc in entities_json_by_refs(conn, refs).items()}


def parent_ref_of(conn: Connection, ref: str) -> str | None:
    """The ref of the Location entity that emitted ``ref`` (``None`` for a root)."""
    return conn.execute(sa.select(E.parent_ref).where(E.entity_ref == ref)).scalar()


def _version() -> sa.Select[Any]:
    return sa.select(catalog_state.c.version).where(catalog_state.c.id == 1)


def version(conn: Connection) -> int:
    """The catalog's write counter (see ``catalog_state``)."""
    rows = compiled.fetch(conn, compiled.statement(conn, ("version",), _version), {})
    return int(rows[0][0] or 0) if rows else 0


def facet_counts(conn: Connection, facet: str, filters: FilterSet) -> list[dict[str, Any]]:
    """``[{"value", "count"}]`` for one facet (original-case values, most frequent first)."""
    key = facet.lower()
    where, params = where_clause(conn, filters, None) if filters else (None, {})
    if key.startswith("relations."):
        stmt = (
            sa.select(R.target_entity_ref, sa.func.count(sa.distinct(R.source_entity_ref)))
            .where(sa.func.lower(R.type) == key.split(".", 1)[1])
            .group_by(R.target_entity_ref)
        )
        if where is not None:
            stmt = stmt.where(R.source_entity_ref.in_(sa.select(E.entity_ref).where(where)))
    elif key in COLUMN_ONLY_KEYS:  # no search rows: the column holds the value as stored
        column = COLUMNS[key]
        stmt = sa.select(column, sa.func.count()).group_by(column)
        if where is not None:
            stmt = stmt.where(where)
    else:
        stmt = (
            sa.select(S.original_value, sa.func.count())
            .where(S.key == key, S.value.is_not(None))
            .group_by(S.value, S.original_value)
        )
        if where is not None:
            stmt = stmt.where(S.entity_row_id.in_(sa.select(E.id).where(where)))
    counts = [{"value": v, "count": int(c)} for v, c in conn.execute(stmt, params)]
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
            R.originating_row_id.in_(sa.select(E.id).where(E.location_id == location_id))
        )
    return [{"source": s, "type": t, "target": g} for s, t, g in conn.execute(stmt)]
