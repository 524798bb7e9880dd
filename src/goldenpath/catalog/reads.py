"""The catalog's read use cases (mixed into :class:`~goldenpath.catalog.service.CatalogService`).

Gets by ref/uid/refs, ancestry, errors, dangling relations; pages and facets come from
:class:`~goldenpath.catalog.pagereads.PageReads`. Entities are served as JSON documents
(bytes) on the API's paths; the dict forms parse them.

The ``try_*`` variants answer only when the work is known to be small and bounded whatever
the catalog's size (an API can then serve them on its event loop) and return ``None``
otherwise; the caller then uses the plain method, from a worker thread.

Source: https://backstage.io/docs/features/software-catalog/software-catalog-api
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import orjson

from goldenpath.catalog import filters as qf
from goldenpath.catalog import refs
from goldenpath.catalog.model import Entity
from goldenpath.catalog.pagereads import (
    FAST_LIMIT,
    FAST_RELATIONS,
    EntityPage,
    PageReads,
    clamp_limit,
    projected,
)
from goldenpath.catalog.store import compiled, queries, stitch, writes
from goldenpath.catalog.store.tables import catalog_entities
from goldenpath.errors import InvalidInput, NotFound

__all__ = ["FAST_LIMIT", "FAST_RELATIONS", "CatalogReads", "EntityPage", "clamp_limit", "ref_key"]


class CatalogReads(PageReads):
    """Read use cases over ``self.engine`` (pages and facets: :class:`PageReads`)."""

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
        found = self._one(queries.entity_json_by_ref, key, None, f"entity {key} does not exist")
        assert found is not None
        return found

    def try_get_entity_json_by_ref(self, ref: str | Mapping[str, Any]) -> bytes | None:
        """:meth:`get_entity_json_by_ref` when the entity has at most ``fast_relations``
        relation rows (and, on PostgreSQL, is not locked for long), else None. Raises like it."""
        key = ref_key(ref)
        return self._one(
            queries.entity_json_by_ref, key, self.fast_relations, f"entity {key} does not exist"
        )

    def get_entity_by_uid(self, uid: str) -> Entity:
        """The entity whose ``metadata.uid`` is ``uid``. Raises NotFound."""
        return orjson.loads(self.get_entity_json_by_uid(uid))

    def get_entity_json_by_uid(self, uid: str) -> bytes:
        """Like :meth:`get_entity_by_uid`, as a JSON document (bytes). Raises NotFound."""
        found = self._one(queries.entity_json_by_uid, uid, None, f"no entity has uid {uid}")
        assert found is not None
        return found

    def try_get_entity_json_by_uid(self, uid: str) -> bytes | None:
        """:meth:`get_entity_json_by_uid` when the entity has at most ``fast_relations``
        relation rows (and, on PostgreSQL, is not locked for long), else None. Raises NotFound."""
        return self._one(
            queries.entity_json_by_uid, uid, self.fast_relations, f"no entity has uid {uid}"
        )

    def _one(
        self,
        get: Callable[..., bytes | None],
        key: str,
        max_relations: int | None,
        missing: str,
    ) -> bytes | None:
        """``get(conn, key)``; None when over the relations budget. Raises NotFound(missing)."""
        try:
            with self._connect(fast=max_relations is not None) as conn:
                found = get(conn, key, max_relations=max_relations)
        except (stitch.TooManyRelations, compiled.Contended):
            return None
        if found is None:
            raise NotFound(missing)
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
        return [projected(found[k], fields) if k in found else None for k in keys]

    def delete_entity_by_uid(self, uid: str) -> None:
        """Delete one entity (it comes back at the next refresh if its location still has it).

        Raises:
            NotFound: no entity has that uid.
        """
        t = catalog_entities
        with self.engine.begin() as conn:
            stitch.mark_sources_stale(conn, [uid])
            if not conn.execute(t.delete().where(t.c.entity_id == uid)).rowcount:
                raise NotFound(f"no entity has uid {uid}")
            stitch.stitch_stale(conn)
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


def ref_key(ref: str | Mapping[str, Any]) -> str:
    """Lower-cased ``kind:namespace/name`` of a string or compound ref. Raises InvalidInput."""
    return refs.parse_entity_ref(ref).key()
