"""Stitching: each entity's ``relations`` array, stored with the entity and spliced into reads.

Backstage keeps a stitched copy of every entity (``final_entities``) so a read is one row.
Here the entity row keeps its ``relations`` JSON array (``catalog_entities.relations``): a read
splices it into the stored document without touching ``catalog_relations``. NULL means
*stale*: a relation with that entity as source was added or removed since it was stitched.
Readers then build the array from ``catalog_relations`` (never a wrong answer, only a slower
one), and the writer's :func:`stitch_stale` pass, at the end of each write transaction,
stores it again.

Every change to ``catalog_relations`` goes through the catalog's writes, which call
:func:`mark_sources_stale` for the entities whose relation rows they add or delete (before
deleting them: a cascade takes them with the entity). Relations are sorted by type and
target in code-point order and deduplicated, as the API returns them.

Source: https://backstage.io/docs/features/software-catalog/life-of-an-entity#stitching
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import partial
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy import Connection

from goldenpath.catalog.store import compiled
from goldenpath.catalog.store.tables import catalog_entities, catalog_relations

__all__ = [
    "TooManyRelations",
    "arrays_of",
    "mark_all_stale",
    "mark_refs_stale",
    "mark_sources_stale",
    "relations_json",
    "stitch_json",
    "stitch_stale",
]

E = catalog_entities.c
R = catalog_relations.c

#: entities stitched per statement batch by :func:`stitch_stale`
_STITCH_BATCH = 1000
_CHUNK = 500
#: how a stored array's relations are counted for a reader's budget (one per object)
_RELATION_MARK = b'{"type"'


class TooManyRelations(Exception):
    """The entities have more relation rows than the caller's budget (``max_relations``)."""


def _relation_json(type_: str, target: str) -> bytes:
    """``{"type":…,"targetRef":…,"target":{…}}`` of one relation.

    Not memoised: a page's targets are mostly new, and a cache miss (eviction included)
    costs four times the ``orjson.dumps``.
    """
    kind, _, rest = target.partition(":")
    namespace, _, name = rest.partition("/")
    target_parts = {"kind": kind, "namespace": namespace, "name": name}
    return orjson.dumps({"type": type_, "targetRef": target, "target": target_parts})


def _relations_of(size: int, limited: bool) -> sa.Select[Any]:
    stmt = sa.select(R.source_entity_ref, R.type, R.target_entity_ref).where(
        compiled.in_list(R.source_entity_ref, "r", size)
    )
    return stmt.limit(sa.bindparam("budget", type_=sa.Integer)) if limited else stmt


def relations_json(
    conn: Connection, refs: Sequence[str], max_rows: int | None = None
) -> dict[str, bytes]:
    """Backstage-shaped ``relations`` JSON arrays of each ref (as source), from
    ``catalog_relations``: sorted by type and target, deduplicated (one index-only scan per
    ref: ``ix_catalog_relations_source_type_target``). Refs without relations are absent.

    Raises:
        TooManyRelations: more than ``max_rows`` relation rows (nothing more is read).
    """
    rows: set[tuple[str, str, str]] = set()
    limited = max_rows is not None
    for start in range(0, len(refs), compiled.IN_MAX):
        chunk = list(refs[start : start + compiled.IN_MAX])
        size = compiled.bucket(len(chunk))
        stmt = compiled.statement(
            conn, ("relations", size, limited), partial(_relations_of, size, limited)
        )
        params = compiled.in_params("r", chunk, size)
        if max_rows is not None:
            params["budget"] = max_rows - len(rows) + 1
        found = compiled.fetch(conn, stmt, params)
        if max_rows is not None and len(rows) + len(found) > max_rows:
            raise TooManyRelations(f"more than {max_rows} relations")
        rows.update(found)
    return arrays_of(rows)


def arrays_of(rows: Iterable[tuple[str, str, str]]) -> dict[str, bytes]:
    """The stored ``relations`` JSON array of each source, from ``(source, type, target)``
    relation rows: deduplicated, sorted by type and target (code-point order, whatever the
    database's collation). What :func:`relations_json` returns for rows read from the table,
    and what a first bulk load stores from the rows it is writing."""
    # each pair as one "type NUL target" string, sorted per source: the order of
    # (type, target) tuples (NUL sorts first; refs and types hold none), without a tuple per
    # row for the garbage collector to track — 0.73M rows of a 100k load: ~1.5 s, where
    # sorting all the tuples at once took ~7 s
    by_source: dict[str, list[str]] = {}
    for source, type_, target in rows:
        pairs = by_source.get(source)
        if pairs is None:
            by_source[source] = pairs = []
        pairs.append(f"{type_}\0{target}")
    return {
        source: b"["
        + b",".join(_relation_json(*pair.split("\0", 1)) for pair in sorted(set(pairs)))
        + b"]"
        for source, pairs in by_source.items()
    }


def _splice(text: str, relations: bytes) -> bytes:
    """The stored entity JSON with ``"relations": …`` added, without parsing it."""
    raw = text.encode()
    if raw.endswith(b"}") and len(raw) > 2 and b'"relations"' not in raw:
        return raw[:-1] + b',"relations":' + relations + b"}"
    entity = orjson.loads(raw)  # unusual shape: take the slow, certain path
    entity["relations"] = orjson.loads(relations)
    return orjson.dumps(entity)


def stitch_json(
    conn: Connection, rows: Sequence[Any], *, max_relations: int | None = None
) -> list[bytes]:
    """Entity JSON documents (bytes, ``relations`` attached) from ``(entity_ref, json,
    stored relations or None)`` rows; stale (None) ones are stitched from the relation rows.

    Raises:
        TooManyRelations: the entities have more than ``max_relations`` relations.
    """
    stored = {r[0]: r[2].encode() for r in rows if r[2] is not None}
    if max_relations is not None:
        counted = sum(v.count(_RELATION_MARK) for v in stored.values())
        if counted > max_relations:
            raise TooManyRelations(f"more than {max_relations} relations")
        max_relations -= counted
    stale = [r[0] for r in rows if r[2] is None]
    live = relations_json(conn, stale, max_relations) if stale else {}
    return [_splice(text, stored.get(ref) or live.get(ref, b"[]")) for ref, text, *_ in rows]


def mark_sources_stale(conn: Connection, originating_ids: Sequence[str]) -> None:
    """Mark stale every entity that is the source of a relation row originating from these
    entities (``metadata.uid``): call it before deleting such rows and after adding them."""
    for start in range(0, len(originating_ids), _CHUNK):
        chunk = list(originating_ids[start : start + _CHUNK])
        sources = (
            sa.select(R.source_entity_ref)
            .where(R.originating_row_id.in_(sa.select(E.id).where(E.entity_id.in_(chunk))))
            .scalar_subquery()
        )
        # every source row is updated, stale or not: on PostgreSQL that takes its row lock,
        # so two writers touching one source restitch it one after the other
        conn.execute(
            catalog_entities.update().where(E.entity_ref.in_(sources)).values(relations=None)
        )


def mark_refs_stale(conn: Connection, refs: Iterable[str]) -> None:
    """Mark stale the entities with these refs (refs without an entity are ignored)."""
    chosen = sorted(set(refs))
    for start in range(0, len(chosen), _CHUNK):
        chunk = chosen[start : start + _CHUNK]
        conn.execute(
            catalog_entities.update().where(E.entity_ref.in_(chunk)).values(relations=None)
        )


def mark_all_stale(conn: Connection) -> None:
    """Mark every entity stale (after a bulk load, which rewrites most relations)."""
    conn.execute(catalog_entities.update().where(E.relations.is_not(None)).values(relations=None))


def _stale_rows() -> sa.Select[Any]:
    # FOR UPDATE (PostgreSQL; SQLite has one writer at a time): a row another writer is
    # stitching is waited for and, stitched by then, skipped — never overwritten with an
    # array computed before that writer committed
    return (
        sa.select(E.id, E.entity_ref)
        .where(E.relations.is_(None), E.id > sa.bindparam("after", type_=sa.Integer))
        .order_by(E.id)
        .limit(_STITCH_BATCH)
        .with_for_update()
    )


def stitch_stale(conn: Connection) -> int:
    """Store the relations of every stale entity (in the caller's transaction); returns how
    many were stitched. Reads the stale rows in id order through the partial index of stale
    rows (a keyset: each batch starts after the last, whatever the planner's statistics), so
    it costs nothing when none are stale."""
    update = (
        catalog_entities.update()
        .where(E.id == sa.bindparam("row_id"))
        .values(relations=sa.bindparam("stitched"))
    )
    done, after = 0, 0
    while True:
        rows = conn.execute(_stale_rows(), {"after": after}).all()
        if not rows:
            return done
        arrays = relations_json(conn, [ref for _, ref in rows])
        conn.execute(
            update,
            [{"row_id": i, "stitched": arrays.get(ref, b"[]").decode()} for i, ref in rows],
        )
        done += len(rows)
        after = rows[-1][0]
