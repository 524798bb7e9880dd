"""Well-known relations derived from ``spec`` fields, as ``BuiltinKindsEntityProcessor`` does.

Every spec reference yields a symmetric pair (``ownedBy``/``ownerOf`` …). Targets are parsed
with :func:`~goldenpath.catalog.refs.parse_entity_ref` using the field's default kind and the
entity's own namespace; ``dependsOn``/``dependencyOf`` have no default kind, so a kindless
target there is an error (``… had missing or empty kind``). Kinds match case-sensitively, as
in Backstage. ``Template`` (``scaffolder.backstage.io/v1beta3``) contributes its ``spec.owner``.

Source: https://backstage.io/docs/features/software-catalog/well-known-relations
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from goldenpath.catalog.model import Relation
from goldenpath.catalog.refs import EntityRef, parse_entity_ref, ref_of
from goldenpath.errors import InvalidInput

__all__ = ["RELATION_PAIRS", "derive_relations"]

RELATION_PAIRS: dict[str, str] = {
    "ownedBy": "ownerOf",
    "ownerOf": "ownedBy",
    "partOf": "hasPart",
    "hasPart": "partOf",
    "providesApi": "apiProvidedBy",
    "apiProvidedBy": "providesApi",
    "consumesApi": "apiConsumedBy",
    "apiConsumedBy": "consumesApi",
    "dependsOn": "dependencyOf",
    "dependencyOf": "dependsOn",
    "memberOf": "hasMember",
    "hasMember": "memberOf",
    "parentOf": "childOf",
    "childOf": "parentOf",
}

# kind -> (spec field, default kind or None, outgoing relation type)
_RULES: dict[str, tuple[tuple[str, str | None, str], ...]] = {
    "Component": (
        ("owner", "Group", "ownedBy"),
        ("subcomponentOf", "Component", "partOf"),
        ("providesApis", "API", "providesApi"),
        ("consumesApis", "API", "consumesApi"),
        ("dependsOn", None, "dependsOn"),
        ("dependencyOf", None, "dependencyOf"),
        ("system", "System", "partOf"),
    ),
    "API": (("owner", "Group", "ownedBy"), ("system", "System", "partOf")),
    "Resource": (
        ("owner", "Group", "ownedBy"),
        ("dependsOn", None, "dependsOn"),
        ("dependencyOf", None, "dependencyOf"),
        ("system", "System", "partOf"),
    ),
    "User": (("memberOf", "Group", "memberOf"),),
    "Group": (
        ("parent", "Group", "childOf"),
        ("children", "Group", "parentOf"),
        ("members", "User", "hasMember"),
    ),
    "System": (("owner", "Group", "ownedBy"), ("domain", "Domain", "partOf")),
    "Domain": (("owner", "Group", "ownedBy"), ("subdomainOf", "Domain", "partOf")),
}
_TEMPLATE_RULES = (("owner", "Group", "ownedBy"),)


def _rules_for(entity: dict[str, Any]) -> tuple[tuple[str, str | None, str], ...]:
    kind = entity.get("kind")
    if kind == "Template":
        return (
            _TEMPLATE_RULES if entity.get("apiVersion") == "scaffolder.backstage.io/v1beta3" else ()
        )
    return _RULES.get(kind, ()) if isinstance(kind, str) else ()


def derive_relations(entity: dict[str, Any]) -> list[Relation]:
    """All relations the entity's spec implies, both directions, refs lower-cased.

    Args:
        entity: a validated entity (``metadata.namespace`` may be absent: ``default``).

    Returns:
        ``Relation(source, type, target)`` pairs in spec-field order, without duplicates.

    Raises:
        InvalidInput: a target is not a valid reference; the message names the field, e.g.
            ``spec.dependsOn.0: Entity reference "sage-packs" had missing or empty kind …``,
            and ``details["path"]`` holds the field path.
    """
    self_ref = ref_of(entity)
    spec = entity.get("spec")
    if not isinstance(spec, dict):
        return []
    self_key = self_ref.key()
    seen: set[tuple[str, str, str]] = set()
    out: list[Relation] = []
    for field, default_kind, rel_type in _rules_for(entity):
        value = spec.get(field)
        if not value:
            continue
        targets = value if isinstance(value, list) else [value]
        for i, target in enumerate(targets):
            where = f"spec.{field}.{i}" if isinstance(value, list) else f"spec.{field}"
            target_key = _target_key(target, where, default_kind, self_ref.namespace)
            for triple in (
                (self_key, rel_type, target_key),
                (target_key, RELATION_PAIRS[rel_type], self_key),
            ):
                if triple not in seen:
                    seen.add(triple)
                    out.append(Relation(*triple))
    return out


def _target_key(target: Any, where: str, default_kind: str | None, namespace: str) -> str:
    if isinstance(target, str):
        try:
            return _string_target_key(target, default_kind, namespace)
        except InvalidInput:
            pass  # re-parsed below for a message that names the field
    return _parse_target(target, where, default_kind, namespace).key()


@lru_cache(maxsize=65_536)
def _string_target_key(target: str, default_kind: str | None, namespace: str) -> str:
    return parse_entity_ref(target, default_kind=default_kind, default_namespace=namespace).key()


def _parse_target(target: Any, where: str, default_kind: str | None, namespace: str) -> EntityRef:
    if not isinstance(target, str | dict):
        raise InvalidInput(
            f"{where}: expected an entity reference string, not {type(target).__name__}",
            details={"path": where},
        )
    try:
        return parse_entity_ref(target, default_kind=default_kind, default_namespace=namespace)
    except InvalidInput as e:
        hint = ""
        if default_kind is None:
            hint = (
                "; this field has no default kind, write it as kind:name "
                "(e.g. component:my-service)"
            )
        raise InvalidInput(f"{where}: {e.message}{hint}", details={"path": where}) from e
