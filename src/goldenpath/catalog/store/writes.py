"""Executing a pass's writes: bulk inserts, batched updates, derived rows, stitched relations,
version, statistics."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy import Connection

from goldenpath.catalog.model import Entity, Relation
from goldenpath.catalog.store import bulk, stitch
from goldenpath.catalog.store.derive import Prepared
from goldenpath.catalog.store.search import search_rows
from goldenpath.catalog.store.tables import (
    catalog_entities,
    catalog_relations,
    catalog_search,
    catalog_state,
)

__all__ = ["Writes", "analyze", "apply", "bump_version"]

_CHUNK = 500
_SEARCH_COLUMNS = ("entity_row_id", "key", "value", "original_value")
_RELATION_COLUMNS = ("originating_row_id", "source_entity_ref", "type", "target_entity_ref")
_ROW_ID_SCAN = 4000  # from this many uids on, their row ids are read in one table scan
_READY_BATCH = 5000  # prepared entities whose rows are decoded and inserted at a time
_FTS_INSERT_TRIGGER = "catalog_entities_fts_ai"
_BULK_CACHE_KIB = 262_144  # SQLite page cache while a bulk load builds its indexes


@dataclass(slots=True)
class Writes:
    """Rows a pass will write: entity inserts/updates/deletes and derived-data rewrites."""

    inserts: list[dict[str, Any]] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)
    derived: list[tuple[str, Entity, list[Relation] | None]] = field(default_factory=list)
    deletes: list[str] = field(default_factory=list)
    #: new entities whose rows were derived upstream (a processing worker)
    ready: list[Prepared] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.inserts or self.updates or self.deletes or self.derived or self.ready)


_ANALYZED_TABLES = ("catalog_entities", "catalog_search", "catalog_relations")


def analyze(conn: Connection) -> None:
    """Refresh planner statistics after a bulk load (SQLite: sampled, a few milliseconds);
    on PostgreSQL also ``VACUUM``, so ``conn`` must be in autocommit mode there.

    Without statistics SQLite picks the ``kind`` index for a selective owner filter and scans
    thousands of rows instead of starting from the relation. Without the vacuum PostgreSQL's
    visibility map of the freshly written tables is empty, so every index-only scan still
    visits the table: at 100k entities a page's ref window took 14-16 ms instead of 0.3-0.4 ms
    until autovacuum got round to the tables (measured).
    """
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("PRAGMA analysis_limit=1000")
        for table in _ANALYZED_TABLES:
            conn.exec_driver_sql(f"ANALYZE {table}")
    else:
        conn.exec_driver_sql(f"VACUUM (ANALYZE) {', '.join(_ANALYZED_TABLES)}")


def bump_version(conn: Connection) -> None:
    """Mark the catalog as changed (cached counts and facets of readers become stale)."""
    conn.execute(
        catalog_state.update()
        .where(catalog_state.c.id == 1)
        .values(version=catalog_state.c.version + 1)
    )


_ENTITY_COLUMNS = (
    "entity_id",
    "entity_ref",
    "kind",
    "namespace",
    "name",
    "location_id",
    "location_key",
    "parent_ref",
    "hash",
    "etag",
    "generation",
    "entity",
    "search_text",
    "orphaned_at",
    "created_at",
    "updated_at",
)
#: position of the ref in an entity row tuple
_REF = _ENTITY_COLUMNS.index("entity_ref")


def apply(conn: Connection, writes: Writes, *, rebuild_indexes: bool = False) -> None:
    """Execute ``writes`` in the caller's transaction (bulk inserts, batched updates).

    ``rebuild_indexes``: for loads that at least double the catalog, secondary indexes are
    dropped and rebuilt after the inserts (one sorted build is about twice as fast as
    maintaining them row by row) and, on SQLite, the full-text index is filled by one
    ``INSERT … SELECT`` instead of a trigger per row. DDL is transactional on both backends.
    Ends by storing the relations of every entity left stale (``store.stitch``).

    A bulk load into a store without relation rows (a first import) stores each new entity
    with its stitched relations, built from the rows being written (:func:`_first_arrays`),
    instead of stitching every entity from the table afterwards (100k entities: 11 s of
    row updates on PostgreSQL, 4.7 s on SQLite).
    """
    e = catalog_entities.c
    stitch.mark_sources_stale(conn, writes.deletes)  # their relation rows go with them
    for i in range(0, len(writes.deletes), _CHUNK):
        conn.execute(
            catalog_entities.delete().where(e.entity_id.in_(writes.deletes[i : i + _CHUNK]))
        )
    rows = [tuple(r[c] for c in _ENTITY_COLUMNS) for r in writes.inserts]
    if rebuild_indexes:
        # stitches what is stale before the entity indexes return
        with _bulk_session(conn) as session:
            # read under the session's locks: a concurrent load's rows are committed by now
            arrays = _first_arrays(conn, writes)
            session.all_stale = arrays is None
            if arrays is None:
                _insert_entities_bulk(conn, _ENTITY_COLUMNS, rows)
            else:
                stitched = [(*r, arrays.get(r[_REF], b"[]").decode()) for r in rows]
                _insert_entities_bulk(conn, (*_ENTITY_COLUMNS, "relations"), stitched)
                # entities stored before this load that the new rows give relations
                stitch.mark_refs_stale(conn, arrays.keys() - {r[_REF] for r in rows})
            _apply_updates(conn, writes.updates)
            _apply_derived(conn, writes, mark_stale=False)
        return
    bulk.insert_rows(conn, catalog_entities, _ENTITY_COLUMNS, rows)
    _apply_updates(conn, writes.updates)
    _apply_derived(conn, writes, mark_stale=True)
    stitch.stitch_stale(conn)


def _first_arrays(conn: Connection, writes: Writes) -> dict[str, bytes] | None:
    """Each source's stitched ``relations`` array from the relation rows ``writes`` adds
    (``stitch.arrays_of``), when the store holds no relation row yet — then those rows are
    all there will be; None otherwise (the arrays need the stored rows too)."""
    if conn.execute(sa.select(catalog_relations.c.type).limit(1)).first() is not None:
        return None

    def rows() -> Iterator[tuple[str, str, str]]:
        for _, _, relations in writes.derived:
            for x in relations or ():
                yield x.source, x.type, x.target
        for prepared in writes.ready:
            if len(prepared.relations_json) > 2:
                yield from orjson.loads(prepared.relations_json)

    return stitch.arrays_of(rows())


def _apply_updates(conn: Connection, updates: list[dict[str, Any]]) -> None:
    e = catalog_entities.c
    by_shape: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in updates:
        by_shape.setdefault(tuple(sorted(row)), []).append(row)
    for rows in by_shape.values():
        cols = [c for c in rows[0] if c != "entity_id"]
        stmt = (
            catalog_entities.update()
            .where(e.entity_id == sa.bindparam("b_entity_id"))
            .values({c: sa.bindparam(f"b_{c}") for c in cols})
        )
        conn.execute(stmt, [{f"b_{k}": v for k, v in r.items()} for r in rows])


_BULK_INDEXES = [*catalog_entities.indexes, *catalog_search.indexes, *catalog_relations.indexes]
_PG_FTS_INDEX = (
    "ix_catalog_entities_search_tsv",
    "CREATE INDEX ix_catalog_entities_search_tsv ON catalog_entities USING gin (search_tsv)",
)


@dataclass(slots=True)
class _BulkSession:
    #: stitch every entity at the end (most relations are new, so everything is marked
    #: stale rather than row by row); False: only the entities left stale
    all_stale: bool = True


@contextmanager
def _bulk_session(conn: Connection) -> Iterator[_BulkSession]:
    """Secondary indexes (and, on PostgreSQL, the derived tables' foreign keys) dropped for
    the duration, rebuilt at the end; a larger SQLite cache. Between the relation and the
    entity indexes the stale entities are stitched (``store.stitch``)."""
    sqlite = conn.dialect.name == "sqlite"
    cache = None
    foreign_keys: list[tuple[str, str, str]] = []
    if sqlite:
        cache = conn.exec_driver_sql("PRAGMA cache_size").scalar()
        conn.exec_driver_sql(f"PRAGMA cache_size=-{_BULK_CACHE_KIB}")
        # index builds may sort with a helper thread (processing workers are done by now)
        conn.exec_driver_sql("PRAGMA threads=2")
    else:
        conn.exec_driver_sql(f"DROP INDEX IF EXISTS {_PG_FTS_INDEX[0]}")
        foreign_keys = _drop_derived_foreign_keys(conn)
    for index in _BULK_INDEXES:
        index.drop(conn)
    session = _BulkSession()
    try:
        yield session
        for table, name, definition in foreign_keys:
            # validated by one join over the table: the derived rows must point at entities
            conn.exec_driver_sql(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
        # the relation indexes serve the stitch pass; the entity indexes come after it, so
        # its 100,000 updates do not maintain them
        for index in (*catalog_relations.indexes, *catalog_search.indexes):
            index.create(conn)
        _stitch_after_load(conn, all_stale=session.all_stale)
        for index in catalog_entities.indexes:
            index.create(conn)
        if not sqlite:
            conn.exec_driver_sql(_PG_FTS_INDEX[1])
    finally:
        if cache is not None:
            conn.exec_driver_sql(f"PRAGMA cache_size={int(cache)}")
            conn.exec_driver_sql("PRAGMA threads=0")


#: the tables whose rows point at their entity (``ON DELETE CASCADE``)
_DERIVED_TABLES = (catalog_search.name, catalog_relations.name)


def _drop_derived_foreign_keys(conn: Connection) -> list[tuple[str, str, str]]:
    """Drop the foreign keys of the derived tables (PostgreSQL) and return ``(table, name,
    definition)`` to add them back with: a bulk load's COPY otherwise checks every one of
    its 2.3M rows against ``catalog_entities`` one by one (100k entities: the derived rows
    took 12.7 s with the checks, 3.4 s without, and adding the keys back 0.4 s)."""
    found = conn.exec_driver_sql(
        "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint"
        " WHERE contype = 'f' AND conrelid = ANY (%(tables)s::regclass[]) ORDER BY 1, 2",
        {"tables": list(_DERIVED_TABLES)},
    ).all()
    for table, name, _ in found:
        conn.exec_driver_sql(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    return [(str(t), str(n), str(d)) for t, n, d in found]


def _stitch_after_load(conn: Connection, *, all_stale: bool) -> None:
    if all_stale:
        stitch.mark_all_stale(conn)
    if conn.dialect.name == "postgresql":
        # statistics for the new relation indexes first: without them PostgreSQL scanned the
        # relation table for every batch (100k entities: stitching took 43 s; with them,
        # and the entity indexes built afterwards, 17-18 s)
        conn.exec_driver_sql("ANALYZE catalog_relations")
    stitch.stitch_stale(conn)


def _insert_entities_bulk(
    conn: Connection, columns: Sequence[str], rows: list[tuple[Any, ...]]
) -> None:
    """Insert entity rows (values ordered like ``columns``); on SQLite fill the FTS5 index
    in one statement, not per row."""
    trigger = None
    if conn.dialect.name == "sqlite" and rows:
        trigger = conn.exec_driver_sql(
            "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = ?",
            (_FTS_INSERT_TRIGGER,),
        ).scalar()
    if trigger is None:
        bulk.insert_rows(conn, catalog_entities, columns, rows)
        return
    before = conn.exec_driver_sql("SELECT coalesce(max(id), 0) FROM catalog_entities").scalar()
    conn.exec_driver_sql(f"DROP TRIGGER {_FTS_INSERT_TRIGGER}")
    bulk.insert_rows(conn, catalog_entities, columns, rows)
    conn.exec_driver_sql(
        "INSERT INTO catalog_fts(rowid, search_text) "
        "SELECT id, search_text FROM catalog_entities WHERE id > ?",
        (before,),
    )
    conn.exec_driver_sql(str(trigger))


def _row_ids(conn: Connection, uids: Sequence[str]) -> dict[str, int]:
    """``metadata.uid`` → ``catalog_entities.id`` of the stored entities among ``uids``.

    Many uids (a bulk load's) are looked up in one scan of the table rather than in
    hundreds of ``IN`` lists (100k entities: 0.87 s of round trips on PostgreSQL).
    """
    e = catalog_entities.c
    if len(uids) > _ROW_ID_SCAN:
        wanted = set(uids)
        scan = conn.execute(sa.select(e.entity_id, e.id))
        return {uid: row_id for uid, row_id in scan if uid in wanted}
    out: dict[str, int] = {}
    for i in range(0, len(uids), _CHUNK):
        rows = conn.execute(
            sa.select(e.entity_id, e.id).where(e.entity_id.in_(uids[i : i + _CHUNK]))
        )
        out.update((uid, row_id) for uid, row_id in rows)
    return out


def _apply_derived(conn: Connection, writes: Writes, *, mark_stale: bool) -> None:
    """Rewrite search rows (and relations, when given) of changed entities; add new ones.
    Their rows point at the entity's row id; a changed entity deleted meanwhile (PostgreSQL:
    ``DELETE /entities/by-uid`` committed during a refresh) gets none.
    ``mark_stale``: mark the sources of the relation rows deleted and added stale
    (``store.stitch``); a bulk load marks everything instead."""
    derived, ready = writes.derived, writes.ready
    ids = _row_ids(conn, [*(d[0] for d in derived), *(p.uid for p in ready)])
    changed = [ids[d[0]] for d in derived if d[0] in ids]
    rel_uids = [d[0] for d in derived if d[2] is not None]
    s, r = catalog_search.c, catalog_relations.c
    if mark_stale:
        stitch.mark_sources_stale(conn, rel_uids)
    for i in range(0, len(changed), _CHUNK):
        conn.execute(catalog_search.delete().where(s.entity_row_id.in_(changed[i : i + _CHUNK])))
    rel_changed = [ids[uid] for uid in rel_uids if uid in ids]
    for i in range(0, len(rel_changed), _CHUNK):
        chunk = rel_changed[i : i + _CHUNK]
        conn.execute(catalog_relations.delete().where(r.originating_row_id.in_(chunk)))
    search: list[tuple[int, str, str | None, str | None]] = []
    relations: list[tuple[int, str, str, str]] = []
    for uid, entity, rels in derived:
        row_id = ids.get(uid)
        if row_id is None:
            continue
        search.extend([(row_id, k, v, o) for k, v, o in search_rows(entity)])
        relations.extend((row_id, x.source, x.type, x.target) for x in dict.fromkeys(rels or ()))
    bulk.insert_rows(conn, catalog_search, _SEARCH_COLUMNS, search)
    bulk.insert_rows(conn, catalog_relations, _RELATION_COLUMNS, relations)
    for i in range(0, len(ready), _READY_BATCH):
        batch = ready[i : i + _READY_BATCH]
        bulk.insert_keyed_json_rows(
            conn, catalog_search, _SEARCH_COLUMNS, [(ids[p.uid], p.search_json) for p in batch]
        )
        bulk.insert_keyed_json_rows(
            conn,
            catalog_relations,
            _RELATION_COLUMNS,
            [(ids[p.uid], p.relations_json) for p in batch],
        )
    if mark_stale:
        stitch.mark_sources_stale(conn, [*rel_uids, *(p.uid for p in ready)])
