"""Reads: entities with their relations, facets, errors, ancestry (pages: ``store.pages``).

Every list is bounded (:data:`goldenpath.catalog.filters.MAX_PAGE_SIZE`). Entities are served
as JSON bytes: the stored document with its ``relations`` array spliced in, never parsed and
re-serialised on the hot paths; the dict forms parse those bytes.

Source: https://backstage.io/docs/features/software-catalog/software-catalog-api
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy import Connection

from goldenpath.catalog.filters import FilterSet
from goldenpath.catalog.model import Entity
from goldenpath.catalog.store.pages import Page, count_matching, query_page, where_clause
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
    "entities_json_by_refs",
    "entity_by_ref",
    "entity_by_uid",
    "entity_json_by_ref",
    "entity_json_by_uid",
    "facet_counts",
    "list_errors",
    "parent_ref_of",
    "query_page",
    "stitch_json",
    "version",
]

E = catalog_entities.c
S = catalog_search.c
R = catalog_relations.c


@lru_cache(maxsize=65536)
def _target_fragment(target: str) -> bytes:
    """``"targetRef":…,"target":{…}`` of one relation target (a pure function, memoised)."""
    kind, _, rest = target.partition(":")
    namespace, _, name = rest.partition("/")
    body = {"targetRef": target, "target": {"kind": kind, "namespace": namespace, "name": name}}
    return orjson.dumps(body)[1:-1]


@lru_cache(maxsize=1024)
def _type_prefix(type_: str) -> bytes:
    return b'{"type":' + orjson.dumps(type_) + b","


def _relations_json(conn: Connection, refs: Sequence[str]) -> dict[str, bytes]:
    """Backstage-shaped ``relations`` JSON arrays of each ref (as source), sorted, deduplicated."""
    parts: dict[str, list[bytes]] = {}
    rows: set[tuple[str, str, str]] = set()
    for i in range(0, len(refs), 500):
        # sorted and deduplicated here: cheaper than a temporary B-tree in the database
        result = conn.execute(
            sa.select(R.source_entity_ref, R.type, R.target_entity_ref).where(
                R.source_entity_ref.in_(refs[i : i + 500])
            )
        )
        rows.update(map(tuple, result.all()))
    for source, type_, target in sorted(rows):
        parts.setdefault(source, []).append(_type_prefix(type_) + _target_fragment(target) + b"}")
    return {source: b"[" + b",".join(items) + b"]" for source, items in parts.items()}


def _splice(text: str, relations: bytes) -> bytes:
    """The stored entity JSON with ``"relations": …`` added, without parsing it."""
    raw = text.encode()
    if raw.endswith(b"}") and len(raw) > 2 and b'"relations"' not in raw:
        return raw[:-1] + b',"relations":' + relations + b"}"
    entity = orjson.loads(raw)  # unusual shape: take the slow, certain path
    entity["relations"] = orjson.loads(relations)
    return orjson.dumps(entity)


def stitch_json(conn: Connection, rows: Sequence[Any]) -> list[bytes]:
    """Entity JSON documents (bytes, ``relations`` attached) from ``(entity_ref, json)`` rows."""
    relations = _relations_json(conn, [r[0] for r in rows])
    return [_splice(text, relations.get(ref, b"[]")) for ref, text in rows]


def _stitch(conn: Connection, rows: Sequence[Any]) -> list[Entity]:
    """Entities (dicts) from ``(entity_ref, entity json)`` rows, with ``relations`` attached."""
    return [orjson.loads(doc) for doc in stitch_json(conn, rows)]


def entity_json_by_ref(conn: Connection, ref: str) -> bytes | None:
    """The JSON document of the entity with lower-cased ref ``ref``, or ``None``."""
    rows = conn.execute(sa.select(E.entity_ref, E.entity).where(E.entity_ref == ref)).all()
    return stitch_json(conn, rows)[0] if rows else None


def entity_json_by_uid(conn: Connection, uid: str) -> bytes | None:
    """The JSON document of the entity whose ``metadata.uid`` is ``uid``, or ``None``."""
    rows = conn.execute(sa.select(E.entity_ref, E.entity).where(E.entity_id == uid)).all()
    return stitch_json(conn, rows)[0] if rows else None


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
    rows: list[Any] = []
    for i in range(0, len(refs), 500):
        rows.extend(
            conn.execute(
                sa.select(E.entity_ref, E.entity).where(E.entity_ref.in_(refs[i : i + 500]))
            ).all()
        )
    return {r[0]: doc for r, doc in zip(rows, stitch_json(conn, rows), strict=True)}


def entities_by_refs(conn: Connection, refs: Sequence[str]) -> dict[str, Entity]:
    """Entities by lower-cased ref (missing refs are absent from the result)."""
    return {ref: orjson.loads(doc) for ref, doc in entities_json_by_refs(conn, refs).items()}


def parent_ref_of(conn: Connection, ref: str) -> str | None:
    """The ref of the Location entity that emitted ``ref`` (``None`` for a root)."""
    return conn.execute(sa.select(E.parent_ref).where(E.entity_ref == ref)).scalar()


def version(conn: Connection) -> int:
    """The catalog's write counter (see ``catalog_state``)."""
    return int(
        conn.execute(sa.select(catalog_state.c.version).where(catalog_state.c.id == 1)).scalar()
        or 0
    )


def facet_counts(conn: Connection, facet: str, filters: FilterSet) -> list[dict[str, Any]]:
    """``[{"value", "count"}]`` for one facet (original-case values, most frequent first)."""
    key = facet.lower()
    where = where_clause(conn, filters, None) if filters else None
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
