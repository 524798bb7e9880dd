"""Backstage catalog query syntax: filters, ordering, field projection, opaque cursors (pure).

Filters (https://backstage.io/docs/features/software-catalog/software-catalog-api#filtering):
``filter=kind=component,spec.type=service`` — several ``filter`` parameters are OR'ed, the
comma-separated parts of one are AND'ed; the same key twice in one filter means "any of";
a key without ``=`` means "the field exists"; keys and values compare case-insensitively;
``relations.<type>=<ref>`` matches relations.

Cursors are opaque to clients: base64url of a small JSON object carrying the query (filters,
full text, order) and the keyset position of the last row served, so the next page is a
``WHERE (value, ref) > (…)`` range scan instead of an ``OFFSET``.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from goldenpath.errors import InvalidInput

__all__ = [
    "MAX_PAGE_SIZE",
    "Condition",
    "Cursor",
    "FilterSet",
    "Order",
    "decode_cursor",
    "encode_cursor",
    "fulltext_terms",
    "parse_filters",
    "parse_order",
    "project",
]

#: no list the catalog serves is longer than this
MAX_PAGE_SIZE = 500


@dataclass(frozen=True, slots=True)
class Condition:
    """``key`` (lower-cased dotted path) is one of ``values`` (lower-cased); ``None``: exists."""

    key: str
    values: tuple[str, ...] | None


#: OR of AND-groups of conditions; empty = everything
FilterSet = tuple[tuple[Condition, ...], ...]


@dataclass(frozen=True, slots=True)
class Order:
    """Sort by ``field`` (lower-cased dotted path), ascending unless ``descending``."""

    field: str
    descending: bool = False


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a page ends and which query it belongs to (decoded from the opaque string)."""

    filters: FilterSet
    full_text: str | None
    order: Order | None
    last_value: str | None
    last_ref: str


def _parse_one(text: str) -> tuple[Condition, ...]:
    merged: dict[str, list[str] | None] = {}
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        key, eq, value = part.partition("=")
        key = key.strip().lower()
        if not key:
            raise InvalidInput(
                f'filter "{text}" has a part without a key; write key=value, e.g. kind=component'
            )
        if not eq:
            merged.setdefault(key, None)
            continue
        existing = merged.get(key)
        values = existing if existing is not None else []
        values.append(value.strip().lower())
        merged[key] = values
    return tuple(
        Condition(k, None if v is None else tuple(dict.fromkeys(v))) for k, v in merged.items()
    )


def parse_filters(
    filters: Iterable[str] | Mapping[str, Any] | Sequence[Mapping[str, Any]] | None,
) -> FilterSet:
    """Parse Backstage filter parameters into an OR of AND-groups.

    Args:
        filters: ``["kind=component,spec.type=service", "kind=api"]`` (query-string form), or a
            mapping ``{"kind": "component", "spec.type": ["service", "website"]}`` / a list of
            such mappings (the JSON form of ``POST /entities/by-query``). ``None``/empty = all.

    Raises:
        InvalidInput: a part has no key (``=service``), or a value is not a string.
    """
    if not filters:
        return ()
    if isinstance(filters, Mapping):
        filters = [filters]
    groups: list[tuple[Condition, ...]] = []
    for item in filters:
        group = _parse_one(item) if isinstance(item, str) else _parse_mapping(item)
        if group:
            groups.append(group)
    return tuple(groups)


def _parse_mapping(item: Mapping[str, Any]) -> tuple[Condition, ...]:
    out = []
    for key, value in item.items():
        if value is None or value is True:
            out.append(Condition(str(key).lower(), None))
            continue
        values = value if isinstance(value, list | tuple) else [value]
        if not all(isinstance(v, str) for v in values):
            raise InvalidInput(f'filter value for "{key}" must be a string or a list of strings')
        out.append(Condition(str(key).lower(), tuple(v.lower() for v in values)))
    return tuple(out)


def parse_order(order: str | Sequence[str] | Sequence[Order] | None) -> Order | None:
    """Parse ``"metadata.name"``, ``"metadata.name,desc"``, ``"desc:metadata.name"``.

    Only the first order field is used (the entity ref is always the tie-breaker).

    Raises:
        InvalidInput: the direction is neither ``asc`` nor ``desc``.
    """
    if not order:
        return None
    first = order if isinstance(order, str) else order[0]
    if isinstance(first, Order):
        return first
    text = first.strip()
    field, direction = text, "asc"
    if ":" in text and text.split(":", 1)[0].lower() in ("asc", "desc"):
        direction, field = text.split(":", 1)
    elif "," in text:
        field, direction = text.rsplit(",", 1)
    direction = direction.strip().lower()
    if direction not in ("asc", "desc"):
        raise InvalidInput(
            f'order "{text}" has direction "{direction}"; use asc or desc, e.g. metadata.name,asc'
        )
    if not field.strip():
        raise InvalidInput(f'order "{text}" names no field; e.g. metadata.name,asc')
    return Order(field.strip().lower(), direction == "desc")


def _filters_to_json(filters: FilterSet) -> list[list[list[Any]]]:
    return [[[c.key, None if c.values is None else list(c.values)] for c in g] for g in filters]


def encode_cursor(cursor: Cursor) -> str:
    """Serialise ``cursor`` into the opaque URL-safe string clients pass back."""
    data = {
        "f": _filters_to_json(cursor.filters),
        "q": cursor.full_text,
        "o": None if cursor.order is None else [cursor.order.field, cursor.order.descending],
        "v": cursor.last_value,
        "r": cursor.last_ref,
    }
    return base64.urlsafe_b64encode(orjson.dumps(data)).decode("ascii").rstrip("=")


def decode_cursor(text: str) -> Cursor:
    """Parse a cursor produced by :func:`encode_cursor`.

    Raises:
        InvalidInput: the string was not produced by this catalog (truncated, edited, …).
    """
    try:
        data = orjson.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        filters = tuple(
            tuple(Condition(str(k), None if v is None else tuple(v)) for k, v in group)
            for group in data["f"]
        )
        order = None if data["o"] is None else Order(str(data["o"][0]), bool(data["o"][1]))
        return Cursor(filters, data["q"], order, data["v"], str(data["r"]))
    except (binascii.Error, ValueError, KeyError, TypeError, IndexError) as e:
        raise InvalidInput(
            "cursor is malformed: pass back the nextCursor of a previous page unchanged"
        ) from e


_WORD = re.compile(r"[^\W_]+", re.UNICODE)


def fulltext_terms(text: str | None) -> list[str]:
    """Lower-cased word tokens of a full-text query (punctuation separates words)."""
    return [w.lower() for w in _WORD.findall(text or "")][:16]


def project(entity: Mapping[str, Any], fields: Sequence[str] | str | None) -> dict[str, Any]:
    """Keep only the dotted ``fields`` of ``entity`` (Backstage's ``fields=metadata.name,kind``).

    Missing paths are left out; ``None``/empty returns the entity unchanged (as a dict).
    """
    if not fields:
        return dict(entity)
    if isinstance(fields, str):
        fields = [f for f in fields.split(",") if f.strip()]
    out: dict[str, Any] = {}
    for field in fields:
        parts = field.strip().split(".")
        node: Any = entity
        for part in parts:
            if not isinstance(node, Mapping) or part not in node:
                break
            node = node[part]
        else:
            target = out
            for part in parts[:-1]:
                target = target.setdefault(part, {})
            target[parts[-1]] = node
    return out
