"""Derived search data of an entity: flattened leaf rows and the full-text document.

Follows Backstage's ``buildEntitySearch``: every leaf path of the entity, lower-cased
(``metadata.name``, ``spec.type``, ``metadata.annotations.backstage.io/techdocs-ref``, arrays
as repeated keys: ``metadata.tags``), values lower-cased next to their original spelling;
values longer than :data:`MAX_VALUE_LENGTH` are kept as ``NULL`` (the key still "exists").
Relations are not flattened here: ``relations.<type>`` filters read the relations table.
Nor is ``metadata.uid`` (:data:`COLUMN_ONLY_KEYS`): the entity table's ``entity_id`` column
holds it, so filters, ordering and facets on it read that column (migration
``0014_catalog_search_uid``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from goldenpath.catalog.store.tables import MAX_VALUE_LENGTH

__all__ = ["COLUMN_ONLY_KEYS", "MAX_ROWS_PER_ENTITY", "full_text_document", "search_rows"]

#: an entity with a huge spec (templates) does not get more search rows than this
MAX_ROWS_PER_ENTITY = 400
#: leaf keys with no search rows: a column of the entity table answers them (``where.COLUMNS``)
#: — one unique value per entity, whose 100k search rows cost a bulk load 1.1-1.4 s to store
COLUMN_ONLY_KEYS = frozenset({"metadata.uid"})
_TEXTUAL_TYPES = {str, int, float}
_SKIPPED = {"relations", "status", "metadata.etag", *COLUMN_ONLY_KEYS}


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if value is True or value is False:
        return "true" if value else "false"
    return value if type(value) is str else str(value)


def search_rows(entity: Mapping[str, Any]) -> list[tuple[str, str | None, str | None]]:
    """``(key, value, original_value)`` rows for one entity; keys and values lower-cased.

    ``metadata.namespace`` is always present (``default`` when absent), like Backstage. At most
    :data:`MAX_ROWS_PER_ENTITY` rows; duplicates (same key and value) are dropped.
    """
    rows: list[tuple[str, str | None, str | None]] = []
    seen: set[tuple[str, str | None]] = set()
    metadata = entity.get("metadata") or {}
    if "namespace" not in metadata:
        rows.append(("metadata.namespace", "default", "default"))
        seen.add(("metadata.namespace", "default"))
    stack: list[tuple[str, Any]] = [("", entity)]
    while stack and len(rows) < MAX_ROWS_PER_ENTITY:
        path, node = stack.pop()
        kind = type(node)
        if kind is dict or (kind is not list and isinstance(node, Mapping)):
            prefix = f"{path}." if path else ""
            for k, v in node.items():
                key = f"{prefix}{k}".lower()
                if key not in _SKIPPED and len(key) <= 200:
                    stack.append((key, v))
            continue
        if kind is list:
            stack.extend((path, item) for item in node)
            continue
        original = node if kind is str else _text(node)
        if original is not None and len(original) > MAX_VALUE_LENGTH:
            original = None
        value = None if original is None else original.lower()
        if (path, value) not in seen:
            seen.add((path, value))
            rows.append((path, value, original))
    return rows


def full_text_document(entity: Mapping[str, Any]) -> str:
    """The text full-text search matches: name, title, description, tags and owner."""
    metadata = entity.get("metadata") or {}
    spec = entity.get("spec") or {}
    parts: list[Any] = [
        metadata.get("name"),
        metadata.get("title"),
        metadata.get("description"),
        spec.get("owner") if isinstance(spec, Mapping) else None,
    ]
    tags = metadata.get("tags")
    if isinstance(tags, list):
        parts.extend(tags)
    return " ".join(
        p if type(p) is str else str(p) for p in parts if type(p) in _TEXTUAL_TYPES and p != ""
    )
