"""Schemas of API definitions as bounded trees, and local ``$ref`` resolution (for ``apidocs``).

:func:`schema` expands a JSON Schema (OpenAPI/AsyncAPI flavour) into :class:`SchemaNode` s to at
most :data:`MAX_DEPTH` levels and :data:`MAX_NODES` nodes; a ``$ref`` cycle stops at the
repeated reference; references outside the document are named, not fetched.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

__all__ = [
    "MAX_DEPTH",
    "MAX_NODES",
    "Budget",
    "Resolver",
    "SchemaNode",
    "dig",
    "has_children",
    "ref_name",
    "schema",
    "text",
    "type_of",
]

#: schema trees stop expanding below this depth …
MAX_DEPTH = 6
#: … and after this many nodes per schema shown
MAX_NODES = 300


@dataclass(slots=True)
class SchemaNode:
    """One schema (or property) in a rendered tree.

    ``name``: property name ("" at a root); ``type``: ``string``, ``object``, ``array of
    Pet`` …; ``ref``: the referenced schema's name when it came from a ``$ref``; ``note``:
    why expansion stopped (cycle, depth, external reference) or ``""``.
    """

    name: str = ""
    type: str = ""
    description: str = ""
    required: bool = False
    ref: str = ""
    format: str = ""
    enum: list[str] = field(default_factory=list)
    note: str = ""
    children: list[SchemaNode] = field(default_factory=list)


def dig(doc: Any, *keys: str) -> Any:
    """``doc[k1][k2]…``, or None where a level is missing or not a mapping."""
    for key in keys:
        if not isinstance(doc, Mapping):
            return None
        doc = doc.get(key)
    return doc


def text(value: Any) -> str:
    """``value`` as display text (None → "")."""
    return value if isinstance(value, str) else "" if value is None else str(value)


class Resolver:
    """Local ``$ref`` resolution (JSON pointers into the document), with error collection."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        self.errors: list[str] = []

    def deref(self, value: Any, depth: int = 0) -> tuple[Any, str]:
        """``(target, ref)`` following ``$ref`` chains (≤ 20); ``ref`` is the last ref seen."""
        ref = ""
        while isinstance(value, Mapping) and isinstance(value.get("$ref"), str) and depth < 20:
            ref = value["$ref"]
            if not ref.startswith("#"):
                return None, ref
            value = self.pointer(ref)
            depth += 1
        return value, ref

    def pointer(self, ref: str) -> Any:
        node: Any = self.doc
        for raw in ref[1:].split("/")[1:]:
            part = raw.replace("~1", "/").replace("~0", "~")
            if isinstance(node, Mapping) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                if len(self.errors) < 50:
                    self.errors.append(f"$ref {ref} points at nothing in the definition")
                return None
        return node


def ref_name(ref: str) -> str:
    """The last segment of a ``$ref`` (``#/components/schemas/Pet`` → ``Pet``)."""
    return ref.rsplit("/", 1)[-1] if ref else ""


class Budget:
    """Nodes expanded so far for one schema shown (against :data:`MAX_NODES`)."""

    def __init__(self) -> None:
        self.nodes = 0


def schema(
    resolver: Resolver,
    raw: Any,
    *,
    name: str = "",
    required: bool = False,
    seen: tuple[str, ...] = (),
    depth: int = 0,
    budget: Budget | None = None,
) -> SchemaNode:
    """A bounded tree of ``raw`` (a schema object or ``$ref``)."""
    budget = budget or Budget()
    budget.nodes += 1
    value, ref = resolver.deref(raw)
    node = SchemaNode(name=name, required=required, ref=ref_name(ref))
    if ref and not ref.startswith("#"):
        node.note = f"external reference {ref} (not resolved here)"
        return node
    if ref and ref in seen:
        node.type, node.note = "object", "recursive reference"
        return node
    if not isinstance(value, Mapping):
        node.type = text(value) if isinstance(value, str) else ""
        return node
    seen = (*seen, ref) if ref else seen
    node.description = text(value.get("description") or value.get("title"))
    node.format = text(value.get("format"))
    if isinstance(value.get("enum"), list):
        node.enum = [text(v) for v in value["enum"][:50]]
    node.type = type_of(value)
    if depth >= MAX_DEPTH or budget.nodes >= MAX_NODES:
        if has_children(value):
            node.note = "not expanded further"
        return node
    child = partial(schema, resolver, depth=depth + 1, budget=budget, seen=seen)
    if node.type.startswith("array"):
        items, item_ref = resolver.deref(value.get("items"))
        if item_ref:
            node.type = f"array of {ref_name(item_ref)}"
        if isinstance(items, Mapping) and has_children(items):
            node.children.append(child(value.get("items"), name="[items]"))
        elif isinstance(items, Mapping):
            node.type = f"array of {type_of(items) or 'any'}" if not item_ref else node.type
    props = value.get("properties")
    raw_needed = value.get("required")
    needed: list[Any] = raw_needed if isinstance(raw_needed, list) else []
    if isinstance(props, Mapping):
        for key, sub in props.items():
            if budget.nodes >= MAX_NODES:
                node.note = "more properties not shown"
                break
            node.children.append(child(sub, name=str(key), required=key in needed))
    for combo in ("allOf", "oneOf", "anyOf"):
        parts = value.get(combo)
        if isinstance(parts, list):
            for i, sub in enumerate(parts[:20]):
                label = f"{combo}[{i}]"
                node.children.append(child(sub, name=label))
    extra = value.get("additionalProperties")
    if isinstance(extra, Mapping) and extra:
        node.children.append(child(extra, name="{additional}"))
    return node


def has_children(value: Mapping[str, Any]) -> bool:
    """Whether a schema has parts to expand (properties, items, combinators)."""
    return any(k in value for k in ("properties", "items", "allOf", "oneOf", "anyOf"))


def type_of(value: Mapping[str, Any]) -> str:
    """The display type of a schema (``string``, ``string | null``, ``object``, ``oneOf``)."""
    t = value.get("type")
    if isinstance(t, list):
        return " | ".join(text(x) for x in t)
    if t:
        return text(t)
    if "properties" in value:
        return "object"
    for combo in ("allOf", "oneOf", "anyOf"):
        if combo in value:
            return combo
    return ""
