"""What the store derives from one entity: content hash, stored JSON, search rows, full text.

Pure functions (no database), so processing workers can run them next to parsing and hand
the writer rows that are ready for ``executemany``/``COPY`` (:class:`Prepared`), instead of
the writer deriving them one entity at a time.

Source: https://backstage.io/docs/features/software-catalog/life-of-an-entity
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from goldenpath.catalog.model import Entity, Relation
from goldenpath.catalog.store.search import full_text_document, search_rows

__all__ = ["Prepared", "content_hash", "etag_of", "finish", "prepare"]


@dataclass(frozen=True, slots=True)
class Prepared:
    """A new entity ready to insert, derived where it was processed.

    ``uid`` is freshly generated: valid only when the ref is new to the store (an update keeps
    the stored uid and re-derives). ``hash`` is the content hash for empty ``status_items``.

    Attributes:
        hash: :func:`content_hash` of the entity as processed (40 hex chars).
        uid: ``metadata.uid`` to give the entity if it is new.
        etag: ``metadata.etag`` for that uid and hash.
        entity_json: the stored entity JSON (uid and etag set, no relations/status).
        search_text: the full-text document (name, title, description, tags, owner).
        search_json: JSON array of the entity's ``catalog_search`` rows ``[key, value,
            original_value]`` (the writer adds the entity's row id, known once it is stored).
        relations_json: JSON array of its ``catalog_relations`` rows ``[source, type,
            target]`` (deduplicated; the writer adds the row id too). Bytes rather than
            millions of small lists between processing and the insert: less memory, no
            garbage-collector scans; the writer decodes them a batch at a time.
    """

    hash: str
    uid: str
    etag: str
    entity_json: str
    search_text: str
    search_json: bytes
    relations_json: bytes

    def to_list(self) -> list[Any]:
        """JSON-ready form without the row blobs (workers send those alongside)."""
        return [self.hash, self.uid, self.etag, self.entity_json, self.search_text]

    @classmethod
    def from_list(cls, data: list[Any], search_json: bytes, relations_json: bytes) -> Prepared:
        """Inverse of :meth:`to_list`, given the row blobs sent alongside."""
        h, uid, etag, entity_json, search_text = data
        return cls(h, uid, etag, entity_json, search_text, search_json, relations_json)


def content_hash(
    entity: Entity,
    relations: Sequence[Relation],
    status_items: list[dict[str, Any]],
    parent_ref: str | None,
    location_key: str | None,
) -> str:
    """SHA-1 over the entity (without uid/etag), its relations, status and parentage."""
    payload = orjson.dumps(
        [
            entity,
            sorted((r.source, r.type, r.target) for r in relations),
            status_items,
            parent_ref,
            location_key,
        ],
        option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS,
    )
    return hashlib.sha1(payload).hexdigest()


def etag_of(uid: str, h: str) -> str:
    """``metadata.etag``: changes whenever the content hash changes."""
    return hashlib.sha1(f"{uid}:{h}".encode()).hexdigest()


def finish(entity: Entity, uid: str, etag: str, status: list[dict[str, Any]]) -> Entity:
    """A shallow copy of ``entity`` as stored: uid/etag set, relations dropped, status items."""
    out = dict(entity)
    out["metadata"] = {**(entity.get("metadata") or {}), "uid": uid, "etag": etag}
    out.pop("relations", None)
    if status:
        out["status"] = {"items": status}
    else:
        out.pop("status", None)
    return out


def prepare(
    entity: Entity,
    relations: Sequence[Relation],
    *,
    parent_ref: str | None,
    location_key: str | None,
) -> Prepared:
    """Everything an insert of ``entity`` needs (no status items), with a fresh uid."""
    h = content_hash(entity, relations, [], parent_ref, location_key)
    uid = str(uuid.uuid4())
    etag = etag_of(uid, h)
    stored = finish(entity, uid, etag, [])
    return Prepared(
        h,
        uid,
        etag,
        orjson.dumps(stored).decode(),
        full_text_document(stored),
        orjson.dumps(search_rows(stored)),
        orjson.dumps([(r.source, r.type, r.target) for r in dict.fromkeys(relations)]),
    )
