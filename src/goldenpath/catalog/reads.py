"""The catalog's read use cases (mixed into :class:`~goldenpath.catalog.service.CatalogService`).

Gets by ref/uid/refs, filtered and full-text pages with cursors, facets, ancestry, errors,
dangling relations. ``totalItems`` and facet counts are cached per process, keyed by the
catalog's write counter (``catalog_state.version``), so any write anywhere invalidates them.

Source: https://backstage.io/docs/features/software-catalog/software-catalog-api
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import orjson
from sqlalchemy import Connection, Engine

from goldenpath.catalog import filters as qf
from goldenpath.catalog import refs
from goldenpath.catalog.model import Entity
from goldenpath.catalog.store import pages, queries, writes
from goldenpath.catalog.store.tables import catalog_entities
from goldenpath.errors import InvalidInput, NotFound

__all__ = ["CatalogReads", "EntityPage", "clamp_limit", "ref_key"]

_CACHE_SIZE = 512


@dataclass(slots=True)
class EntityPage:
    """A page of ``query_entities``: Backstage's ``{items, totalItems, pageInfo}``.

    ``items``: entity dicts from ``query_entities``, JSON documents (bytes) from
    ``query_entities_json``.
    """

    items: list[Any]
    total_items: int
    next_cursor: str | None = None
    prev_cursor: str | None = None
    page_info: dict[str, str] = field(default_factory=dict)


class CatalogReads:
    """Read use cases over ``self.engine``."""

    engine: Engine

    def __init__(self) -> None:
        # counts and facets keyed by the catalog's write counter: any write invalidates them
        self._cache: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
        self._cache_lock = threading.Lock()

    def _cached(self, version: int, key: tuple[Any, ...], compute: Callable[[], Any]) -> Any:
        """``compute()``, memoised per catalog ``version`` (read once per request)."""
        full = (version, *key)
        with self._cache_lock:
            if full in self._cache:
                self._cache.move_to_end(full)
                return self._cache[full]
        value = compute()
        with self._cache_lock:
            self._cache[full] = value
            while len(self._cache) > _CACHE_SIZE:
                self._cache.popitem(last=False)
        return value

    def get_entity_by_ref(self, ref: str | Mapping[str, Any]) -> Entity:
        """The entity (with ``relations`` and ``status``); ``ref`` is case-insensitive.

        Raises:
            InvalidInput: ``ref`` is not ``kind:[namespace/]name``.
            NotFound: no such entity.
        """
        return orjson.loads(self.get_entity_json_by_ref(ref))

    def get_entity_json_by_ref(self, ref: str | Mapping[str, Any]) -> bytes:
        """Like :meth:`get_entity_by_ref`, as the JSON document (bytes) the API sends as is.

        Raises:
            InvalidInput: ``ref`` is not ``kind:[namespace/]name``.
            NotFound: no such entity.
        """
        key = ref_key(ref)
        with self.engine.connect() as conn:
            found = queries.entity_json_by_ref(conn, key)
        if found is None:
            raise NotFound(f"entity {key} does not exist")
        return found

    def get_entity_by_uid(self, uid: str) -> Entity:
        """The entity whose ``metadata.uid`` is ``uid``. Raises NotFound."""
        return orjson.loads(self.get_entity_json_by_uid(uid))

    def get_entity_json_by_uid(self, uid: str) -> bytes:
        """Like :meth:`get_entity_by_uid`, as a JSON document (bytes). Raises NotFound."""
        with self.engine.connect() as conn:
            found = queries.entity_json_by_uid(conn, uid)
        if found is None:
            raise NotFound(f"no entity has uid {uid}")
        return found

    def get_entities_by_refs(
        self, entity_refs: Sequence[str], *, fields: Sequence[str] | str | None = None
    ) -> list[Entity | None]:
        """Entities in the order of ``entity_refs``; ``None`` where a ref does not exist.

        Raises:
            InvalidInput: more than 500 refs, or a malformed ref.
        """
        docs = self.get_entities_json_by_refs(entity_refs, fields=fields)
        return [None if d is None else orjson.loads(d) for d in docs]

    def get_entities_json_by_refs(
        self, entity_refs: Sequence[str], *, fields: Sequence[str] | str | None = None
    ) -> list[bytes | None]:
        """Like :meth:`get_entities_by_refs`, as JSON documents (bytes).

        Raises:
            InvalidInput: more than 500 refs, or a malformed ref.
        """
        if len(entity_refs) > qf.MAX_PAGE_SIZE:
            raise InvalidInput(f"at most {qf.MAX_PAGE_SIZE} entityRefs per request")
        keys = [ref_key(r) for r in entity_refs]
        with self.engine.connect() as conn:
            found = queries.entities_json_by_refs(conn, list(dict.fromkeys(keys)))
        return [_projected(found[k], fields) if k in found else None for k in keys]

    def query_entities(
        self,
        *,
        filters: Any = None,
        full_text: str | None = None,
        order: Any = None,
        limit: int = 20,
        cursor: str | None = None,
        fields: Sequence[str] | str | None = None,
    ) -> EntityPage:
        """One page of entities matching Backstage filters and full text, with a next cursor.

        ``cursor`` (from a previous page) carries the query; other query arguments are then
        ignored, as in Backstage. ``limit`` is clamped to 1…500.

        Raises:
            InvalidInput: malformed filter, order or cursor.
        """
        page = self.query_entities_json(
            filters=filters,
            full_text=full_text,
            order=order,
            limit=limit,
            cursor=cursor,
            fields=fields,
        )
        docs: list[Any] = page.items
        page.items = [orjson.loads(doc) for doc in docs]
        return page

    def query_entities_json(
        self,
        *,
        filters: Any = None,
        full_text: str | None = None,
        order: Any = None,
        limit: int = 20,
        cursor: str | None = None,
        fields: Sequence[str] | str | None = None,
    ) -> EntityPage:
        """Like :meth:`query_entities`, with ``items`` as JSON documents (bytes) to send as is.

        Raises:
            InvalidInput: malformed filter, order or cursor.
        """
        if cursor:
            c = qf.decode_cursor(cursor)
            flt, text, ordering, after = c.filters, c.full_text, c.order, c
        else:
            flt, text, ordering = qf.parse_filters(filters), full_text, qf.parse_order(order)
            after = None
        with self.engine.connect() as conn:
            version = queries.version(conn)
            page = None
            if after is None and ordering is None and flt and not text:
                page = self._first_page_of_small_set(conn, version, flt, clamp_limit(limit))
            if page is None:
                kind = pages.single_kind(flt)
                scope_filter = ((qf.Condition("kind", (kind,)),),) if kind else ()
                page = queries.query_page(
                    conn,
                    filters=flt,
                    full_text=text,
                    order=ordering,
                    limit=clamp_limit(limit),
                    after=after,
                    total=self._count(conn, version, flt, text),
                    scope=self._count(conn, version, scope_filter, None),
                )
            docs = queries.stitch_json(conn, page.rows)
        next_cursor = None
        if page.last is not None:
            next_cursor = qf.encode_cursor(qf.Cursor(flt, text, ordering, *page.last))
        items: list[Any] = [_projected(d, fields) for d in docs]
        info = {"nextCursor": next_cursor} if next_cursor else {}
        return EntityPage(items, page.total_items, next_cursor, None, info)

    def _first_page_of_small_set(
        self, conn: Connection, version: int, flt: qf.FilterSet, limit: int
    ) -> pages.Page | None:
        """A first page without counting first, when the filter's count is not cached yet and
        it matches few entities (their sorted refs are the count); None otherwise."""
        key = (version, "count", flt, None)
        with self._cache_lock:
            if key in self._cache:
                return None
        refs = pages.small_set(conn, flt)
        if refs is None:
            return None
        with self._cache_lock:
            self._cache[key] = len(refs)
        return pages.page_of_refs(conn, refs, limit)

    def _count(self, conn: Connection, version: int, flt: qf.FilterSet, text: str | None) -> int:
        """``count_matching``, cached until the catalog's next write."""
        count: int = self._cached(
            version, ("count", flt, text), partial(queries.count_matching, conn, flt, text)
        )
        return count

    def facets(
        self, *, facets: Iterable[str], filters: Any = None
    ) -> dict[str, list[dict[str, Any]]]:
        """``{facet: [{"value", "count"}]}`` over the entities matching ``filters``.

        Values keep their original case (Backstage); at most 500 values per facet, most
        frequent first; at most 50 facets per call.

        Raises:
            InvalidInput: more than 50 facets, or malformed filters.
        """
        names = list(dict.fromkeys(facets))
        if len(names) > 50:
            raise InvalidInput("at most 50 facets per request")
        flt = qf.parse_filters(filters)
        out: dict[str, list[dict[str, Any]]] = {}
        with self.engine.connect() as conn:
            version = queries.version(conn)
            for name in names:
                counts = self._cached(
                    version,
                    ("facet", name.lower(), flt),
                    partial(queries.facet_counts, conn, name, flt),
                )
                out[name] = [dict(c) for c in counts[: qf.MAX_PAGE_SIZE]]
        return out

    def delete_entity_by_uid(self, uid: str) -> None:
        """Delete one entity (it comes back at the next refresh if its location still has it).

        Raises:
            NotFound: no entity has that uid.
        """
        t = catalog_entities
        with self.engine.begin() as conn:
            if not conn.execute(t.delete().where(t.c.entity_id == uid)).rowcount:
                raise NotFound(f"no entity has uid {uid}")
            writes.bump_version(conn)

    def ancestry(self, ref: str | Mapping[str, Any]) -> dict[str, Any]:
        """Backstage's ancestry: ``{rootEntityRef, items: [{entity, parentEntityRefs}]}``.

        Follows the Location entities that emitted the entity up to the generated Location of
        its registered location. Raises NotFound.
        """
        key = ref_key(ref)
        items: list[dict[str, Any]] = []
        seen: set[str] = set()
        current: str | None = key
        with self.engine.connect() as conn:
            while current and current not in seen:
                seen.add(current)
                entity = queries.entity_by_ref(conn, current)
                if entity is None:
                    if not items:
                        raise NotFound(f"entity {key} does not exist")
                    break
                parent = queries.parent_ref_of(conn, current)
                items.append({"entity": entity, "parentEntityRefs": [parent] if parent else []})
                current = parent
        return {"rootEntityRef": key, "items": items}

    def list_errors(
        self,
        *,
        location_id: str | None = None,
        limit: int = qf.MAX_PAGE_SIZE,
        after: int | None = None,
    ) -> list[dict[str, Any]]:
        """Processing errors ``{id, location_id, source, index, entityRef, stage, path, message}``.

        Keyset pages by error ``id``: pass the last ``id`` seen as ``after``.
        """
        with self.engine.connect() as conn:
            return queries.list_errors(
                conn, location_id=location_id, after_id=after, limit=clamp_limit(limit)
            )

    def list_dangling_relations(self, *, limit: int = qf.MAX_PAGE_SIZE) -> list[dict[str, str]]:
        """Relations ``{source, type, target}`` whose target entity does not exist."""
        with self.engine.connect() as conn:
            return queries.dangling_relations(conn, limit=clamp_limit(limit))


def _projected(doc: bytes, fields: Sequence[str] | str | None) -> bytes:
    """``doc`` unchanged, or re-serialised keeping only ``fields`` (Backstage's projection)."""
    return orjson.dumps(qf.project(orjson.loads(doc), fields)) if fields else doc


def clamp_limit(limit: int) -> int:
    """``limit`` bounded to 1…:data:`~goldenpath.catalog.filters.MAX_PAGE_SIZE`."""
    return max(1, min(int(limit), qf.MAX_PAGE_SIZE))


def ref_key(ref: str | Mapping[str, Any]) -> str:
    """Lower-cased ``kind:namespace/name`` of a string or compound ref. Raises InvalidInput."""
    return refs.parse_entity_ref(ref).key()
