"""Per-kind ``spec`` validation for the built-in kinds and ``Template``.

Built-in kinds (Component, API, Resource, System, Domain, Group, User, Location) are accepted
with ``apiVersion`` ``backstage.io/v1alpha1`` or ``backstage.io/v1beta1``; ``Template`` only with
``scaffolder.backstage.io/v1beta3``. Kinds match case-sensitively, as Backstage's validators do:
anything else that is not explicitly allowed gets Backstage's ``No processor recognized the
entity … as valid`` error. Checks are hand-written tables (fast: no schema engine per entity).

Sources: https://backstage.io/docs/features/software-catalog/descriptor-format and
https://backstage.io/docs/features/software-templates/writing-templates
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from goldenpath.catalog.model import EntityError

__all__ = ["BUILTIN_API_VERSIONS", "KNOWN_KINDS", "check_kind"]

BUILTIN_API_VERSIONS = frozenset({"backstage.io/v1alpha1", "backstage.io/v1beta1"})
TEMPLATE_API_VERSIONS = frozenset({"scaffolder.backstage.io/v1beta3"})

Check = Callable[[str, Any], list[EntityError]]


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    names: dict[type, str] = {dict: "object", list: "array", str: "string"}
    return names.get(type(value), type(value).__name__)


def _err(path: str, message: str) -> list[EntityError]:
    return [EntityError(path, message, "kind")]


def _string(min_length: int = 1) -> Check:
    def check(path: str, value: Any) -> list[EntityError]:
        if not isinstance(value, str):
            return _err(path, f"{path} must be string, not {_type_name(value)}")
        if len(value) < min_length:
            return _err(path, f"{path} must NOT have fewer than {min_length} characters")
        return []

    return check


STR = _string(1)
ANY_STR = _string(0)


def _string_or_bool(path: str, value: Any) -> list[EntityError]:
    if isinstance(value, str | bool):
        return []
    return _err(path, f"{path} must be string or boolean, not {_type_name(value)}")


def _array(item: Check) -> Check:
    def check(path: str, value: Any) -> list[EntityError]:
        if not isinstance(value, list):
            return _err(path, f"{path} must be array, not {_type_name(value)}")
        return [e for i, v in enumerate(value) for e in item(f"{path}.{i}", v)]

    return check


def _object(
    fields: dict[str, Check] | None = None,
    required: tuple[str, ...] = (),
    extra: Check | None = None,
) -> Check:
    fields = fields or {}

    def check(path: str, value: Any) -> list[EntityError]:
        if not isinstance(value, dict):
            return _err(path, f"{path} must be object, not {_type_name(value)}")
        errors = [
            EntityError(f"{path}.{name}", f"{path} must have required property '{name}'", "kind")
            for name in required
            if name not in value
        ]
        for name, item in value.items():
            sub = fields.get(name, extra)
            if sub is not None:
                errors.extend(sub(f"{path}.{name}", item))
        return errors

    return check


def _enum(*allowed: str) -> Check:
    def check(path: str, value: Any) -> list[EntityError]:
        if value in allowed:
            return []
        return _err(
            path, f"{path} must be equal to one of the allowed values: {', '.join(allowed)}"
        )

    return check


OBJ = _object()
STRS = _array(STR)
_PROFILE = _object({"displayName": STR, "email": STR, "picture": STR})
_PERMISSIONS = _object({"tags": _array(ANY_STR)})


def _parameters(path: str, value: Any) -> list[EntityError]:
    item = _object({"backstage:permissions": _PERMISSIONS})
    if isinstance(value, list):
        return _array(item)(path, value)
    if isinstance(value, dict):
        return item(path, value)
    return _err(path, f"{path} must be an object or an array of objects, not {_type_name(value)}")


_DECORATORS = _array(_object({"id": ANY_STR, "input": OBJ}))
_TEMPLATE_SPEC = _object(
    {
        "type": STR,
        "owner": STR,
        "lifecycle": STR,
        "parameters": _parameters,
        "secrets": _object({"schema": OBJ}),
        "presentation": _object(
            {
                "buttonLabels": _object(
                    {k: ANY_STR for k in ("backButtonText", "createButtonText", "reviewButtonText")}
                )
            }
        ),
        "EXPERIMENTAL_recovery": _object({"EXPERIMENTAL_strategy": ANY_STR}),
        "formDecorators": _DECORATORS,
        "EXPERIMENTAL_formDecorators": _DECORATORS,
        "steps": _array(
            _object(
                {
                    "id": ANY_STR,
                    "name": ANY_STR,
                    "action": ANY_STR,
                    "input": OBJ,
                    "if": _string_or_bool,
                    "backstage:permissions": _PERMISSIONS,
                },
                required=("action",),
            )
        ),
        "output": _object(
            {
                "links": _array(
                    _object(
                        {
                            "if": _string_or_bool,
                            "title": STR,
                            "url": STR,
                            "entityRef": STR,
                            "icon": STR,
                        }
                    )
                ),
                "text": _array(
                    _object({"if": _string_or_bool, "title": STR, "icon": STR, "content": ANY_STR})
                ),
            },
            extra=ANY_STR,
        ),
    },
    required=("type", "steps"),
)

_SPECS: dict[str, Check] = {
    "Component": _object(
        {
            "type": STR,
            "lifecycle": STR,
            "owner": STR,
            "system": STR,
            "subcomponentOf": STR,
            "providesApis": STRS,
            "consumesApis": STRS,
            "dependsOn": STRS,
        },
        required=("type", "lifecycle", "owner"),
    ),
    "API": _object(
        {"type": STR, "lifecycle": STR, "owner": STR, "system": STR, "definition": STR},
        required=("type", "lifecycle", "owner", "definition"),
    ),
    "Resource": _object(
        {"type": STR, "owner": STR, "dependsOn": STRS, "system": STR}, required=("type", "owner")
    ),
    "System": _object({"owner": STR, "domain": STR, "type": STR}, required=("owner",)),
    "Domain": _object({"owner": STR, "subdomainOf": STR, "type": STR}, required=("owner",)),
    "Group": _object(
        {"type": STR, "profile": _PROFILE, "parent": STR, "children": STRS, "members": STRS},
        required=("type", "children"),
    ),
    "User": _object({"profile": _PROFILE, "memberOf": STRS}, required=("memberOf",)),
    "Location": _object(
        {"type": STR, "target": STR, "targets": STRS, "presence": _enum("required", "optional")}
    ),
}

KNOWN_KINDS = frozenset({*_SPECS, "Template"})


def check_kind(entity: dict[str, Any], *, allow_unknown: bool = False) -> list[EntityError]:
    """Validate ``spec`` for the entity's kind and apiVersion (stage ``kind``).

    Args:
        entity: an entity that passed the envelope, schema and policy checks.
        allow_unknown: accept kinds that are not built in (catalog rules allowed them
            explicitly); only the envelope and policies apply to them.

    Returns:
        Errors with ``spec.…`` paths; ``No processor recognized …`` when the kind/apiVersion
        pair is not one this catalog validates.
    """
    kind, api_version = entity["kind"], entity["apiVersion"]
    if kind == "Template" and api_version in TEMPLATE_API_VERSIONS:
        check = _TEMPLATE_SPEC
    elif kind in _SPECS and api_version in BUILTIN_API_VERSIONS:
        check = _SPECS[kind]
    elif allow_unknown and kind not in KNOWN_KINDS and kind.lower() not in _LOWER_KNOWN:
        return []
    else:
        return _err("kind", _not_recognized(entity))
    if "spec" not in entity:
        return _err("spec", "<root> must have required property 'spec': add a spec mapping")
    return check("spec", entity["spec"])


_LOWER_KNOWN = frozenset(k.lower() for k in KNOWN_KINDS)


def _not_recognized(entity: dict[str, Any]) -> str:
    kind, api_version = entity["kind"], entity["apiVersion"]
    metadata = entity["metadata"]
    ref = f"{kind}:{metadata.get('namespace') or 'default'}/{metadata['name']}".lower()
    hint = ""
    if kind == "Template":
        hint = " (Template needs apiVersion scaffolder.backstage.io/v1beta3)"
    elif kind in _SPECS:
        hint = (
            f" ({kind} needs apiVersion backstage.io/v1alpha1 or backstage.io/v1beta1, "
            f"not {api_version})"
        )
    elif kind.lower() in _LOWER_KNOWN:
        hint = " (kinds are case-sensitive: write e.g. Component, API, Group)"
    return (
        f"No processor recognized the entity {ref} as valid, possibly caused by a foreign kind "
        f"or apiVersion{hint}"
    )
