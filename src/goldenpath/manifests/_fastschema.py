"""A fast "is it valid?" check compiled from the Kubernetes JSON schemas.

The schemas kubernetes-validate ships use a handful of keywords (``type``, ``properties``,
``additionalProperties``, ``required``, ``items``, ``enum``, ``oneOf``, ``$ref``); this
compiles them into nested closures, which is ~20 times faster than the general jsonschema
validator. It only answers valid/invalid: an invalid object is re-checked with jsonschema
for the full error list. A schema using any other assertion keyword raises
:class:`Unsupported` and the caller falls back to jsonschema, so the check never says
"valid" where jsonschema would not. ``format`` is an annotation (jsonschema checks it only
with a format checker, which kubernetes-validate does not use).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["Check", "Compiler", "Unsupported"]

Check = Callable[[Any], bool]

_REF_PREFIXES = ("/api/_definitions.json#/$defs/", "#/$defs/")
_HANDLED = frozenset(
    {"type", "properties", "additionalProperties", "required", "items", "enum", "oneOf", "$ref"}
)
_ANNOTATIONS = frozenset({"description", "format", "$schema", "$id", "title", "default"})


class Unsupported(Exception):
    """The schema uses a keyword this compiler does not implement."""


def _is_integer(v: Any) -> bool:
    if isinstance(v, bool):
        return False
    return isinstance(v, int) or (isinstance(v, float) and v.is_integer())


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


_TYPES: dict[str, Check] = {
    "string": lambda v: isinstance(v, str),
    "integer": _is_integer,
    "number": _is_number,
    "boolean": lambda v: isinstance(v, bool),
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "null": lambda v: v is None,
}


def _type_check(declared: Any) -> Check:
    names = [declared] if isinstance(declared, str) else list(declared)
    try:
        checks = [_TYPES[n] for n in names]
    except (KeyError, TypeError) as e:
        raise Unsupported(f"type {declared!r}") from e
    if len(checks) == 1:
        return checks[0]
    return lambda v: any(c(v) for c in checks)


class Compiler:
    """Compiles schemas whose ``$ref`` point into one ``_definitions.json`` ``$defs``."""

    def __init__(self, definitions: Mapping[str, Any]) -> None:
        self._defs: Mapping[str, Any] = definitions.get("$defs", {})
        self._memo: dict[str, Check] = {}

    def _ref(self, ref: str) -> Check:
        prefix = next((p for p in _REF_PREFIXES if ref.startswith(p)), None)
        name = ref[len(prefix) :] if prefix is not None else ""
        if name not in self._defs:
            raise Unsupported(f"$ref {ref}")
        found = self._memo.get(name)
        if found is not None:
            return found
        cell: list[Check] = []
        self._memo[name] = lambda v: cell[0](v)  # recursive definitions
        compiled = self.compile(self._defs[name])
        cell.append(compiled)
        self._memo[name] = compiled
        return compiled

    def compile(self, schema: Any) -> Check:
        """A predicate equal to jsonschema Draft 2020-12 validity for ``schema``.

        Raises:
            Unsupported: a keyword outside the handled set.
        """
        if schema is True or schema == {}:
            return lambda v: True
        if schema is False:
            return lambda v: False
        if not isinstance(schema, Mapping):
            raise Unsupported(repr(schema))
        for key in schema:
            if key not in _HANDLED and key not in _ANNOTATIONS and not key.startswith("x-"):
                raise Unsupported(key)
        checks: list[Check] = []
        if "type" in schema:
            checks.append(_type_check(schema["type"]))
        if "$ref" in schema:
            checks.append(self._ref(schema["$ref"]))
        if "enum" in schema:
            checks.append(_enum(schema["enum"]))
        if "oneOf" in schema:
            options = [self.compile(s) for s in schema["oneOf"]]
            checks.append(lambda v: sum(1 for o in options if o(v)) == 1)
        obj = self._object(schema)
        if obj is not None:
            checks.append(obj)
        if "items" in schema:
            item = self.compile(schema["items"])
            checks.append(lambda v: not isinstance(v, list) or all(item(x) for x in v))
        if len(checks) == 1:
            return checks[0]
        return lambda v: all(c(v) for c in checks)

    def _object(self, schema: Mapping[str, Any]) -> Check | None:
        if not any(k in schema for k in ("properties", "additionalProperties", "required")):
            return None
        props = {k: self.compile(s) for k, s in schema.get("properties", {}).items()}
        extra = schema.get("additionalProperties", True)
        closed = extra is False
        extra_check = None if extra is True or closed else self.compile(extra)
        required = tuple(schema.get("required", ()))

        def check(v: Any) -> bool:
            if not isinstance(v, dict):
                return True
            for key, value in v.items():
                prop = props.get(key)
                if prop is None:
                    if closed or (extra_check is not None and not extra_check(value)):
                        return False
                elif not prop(value):
                    return False
            return all(r in v for r in required)

        return check


def _enum(values: Any) -> Check:
    if not isinstance(values, list) or not all(isinstance(x, str) for x in values):
        raise Unsupported("enum of non-strings")
    allowed = frozenset(values)
    return lambda v: isinstance(v, str) and v in allowed
