"""Template parameters: rjsf presentation keys, defaults and validation errors.

Private to :mod:`goldenpath.scaffolder.templates`. Defaults are applied the way the
Backstage form (rjsf) fills its state: a missing property gets its ``default``, nested
objects are created when their properties carry defaults, and ``allOf``,
``if``/``then``/``else``, schema ``dependencies`` and the matching ``oneOf``/``anyOf``
branch contribute too. Validation errors become ``{"path": <JSON pointer>, "message",
"keyword"}``.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

import jsonschema

#: keys whose values are data, not schemas: ``ui:*`` keys inside them are kept
_DATA_KEYS = frozenset({"default", "enum", "const", "examples"})


def strip_ui(schema: Any) -> Any:
    """``schema`` without rjsf presentation keys (``ui:*``), recursively (data values kept)."""
    if isinstance(schema, list):
        return [strip_ui(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    return {
        k: (v if k in _DATA_KEYS else strip_ui(v))
        for k, v in schema.items()
        if not (isinstance(k, str) and k.startswith("ui:"))
    }


def _is_secret(prop: Mapping[str, Any]) -> bool:
    return prop.get("ui:field") == "Secret" or prop.get("ui:widget") == "password"


def secret_names(schema: Any, found: set[str]) -> None:
    """Collect property names marked secret anywhere in ``schema`` (any nesting)."""
    if isinstance(schema, list):
        for item in schema:
            secret_names(item, found)
        return
    if not isinstance(schema, dict):
        return
    props = schema.get("properties")
    if isinstance(props, dict):
        found.update(k for k, v in props.items() if isinstance(v, dict) and _is_secret(v))
    for key, value in schema.items():
        if key not in _DATA_KEYS:
            secret_names(value, found)


def _resolve_ref(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if not isinstance(ref, str) or not ref.startswith("#"):
        return schema
    target: Any = root
    for part in ref.lstrip("#").strip("/").split("/"):
        if not part:
            continue
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(target, dict) or part not in target:
            return schema
        target = target[part]
    return target if isinstance(target, dict) else schema


def _valid(schema: Any, data: Any, root: dict[str, Any]) -> bool:
    if not isinstance(schema, dict):
        return True
    scoped = (
        {**schema, "definitions": root.get("definitions", {})} if "definitions" in root else schema
    )
    return jsonschema.Draft7Validator(scoped).is_valid(data)


def _branch(
    branches: list[dict[str, Any]], data: dict[str, Any], root: dict[str, Any], trigger: str | None
) -> dict[str, Any] | None:
    """The ``oneOf``/``anyOf`` branch rjsf would show: under a schema dependency, the one
    whose ``properties[trigger]`` accepts the trigger's value; else the first branch the
    data satisfies (ignoring its ``required``)."""
    if trigger is not None:
        for branch in branches:
            sub = (branch.get("properties") or {}).get(trigger)
            if isinstance(sub, dict) and _valid(sub, data.get(trigger), root):
                return branch
        return None
    for branch in branches:
        if _valid({k: v for k, v in branch.items() if k != "required"}, data, root):
            return branch
    return None


def apply_defaults(
    schema: Any, data: Any, root: dict[str, Any], depth: int = 0, trigger: str | None = None
) -> Any:
    """``data`` with the schema's defaults filled in, as rjsf's form state does.

    Missing properties get their ``default``; nested objects are created when their own
    properties carry defaults; ``allOf``, ``if``/``then``/``else``, ``dependencies`` and the
    first matching ``oneOf``/``anyOf`` branch contribute defaults too.
    """
    if not isinstance(schema, dict) or depth > 32:
        return data
    schema = _resolve_ref(schema, root)
    if data is None and "default" in schema:
        data = copy.deepcopy(schema["default"])
    if isinstance(data, dict):
        props = schema.get("properties")
        if isinstance(props, dict):
            for name, sub in props.items():
                if not isinstance(sub, dict):
                    continue
                filled = apply_defaults(sub, data.get(name), root, depth + 1)
                if name in data or filled not in (None, {}):
                    data[name] = filled
        for sub in schema.get("allOf") or []:
            data = apply_defaults(sub, data, root, depth + 1)
        if isinstance(schema.get("if"), dict):
            branch = schema.get("then") if _valid(schema["if"], data, root) else schema.get("else")
            data = apply_defaults(branch, data, root, depth + 1)
        deps = schema.get("dependencies")
        if isinstance(deps, dict):
            for name, dep in deps.items():
                if name in data and isinstance(dep, dict):
                    data = apply_defaults(dep, data, root, depth + 1, trigger=name)
        for key in ("oneOf", "anyOf"):
            branches = [b for b in schema.get(key) or [] if isinstance(b, dict)]
            match = _branch(branches, data, root, trigger)
            if match is not None:
                data = apply_defaults(match, data, root, depth + 1)
    elif data is None and schema.get("type") == "object" and "properties" in schema:
        filled = apply_defaults(schema, {}, root, depth + 1)
        return filled if filled else None
    return data


def _pointer(parts: Any) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def error_items(error: jsonschema.ValidationError, hidden: set[str]) -> list[dict[str, Any]]:
    """``[{"path": JSON pointer, "message": jsonschema's message, "keyword"}]`` for one
    validation error: a missing required property points at the property itself, a failed
    ``oneOf``/``anyOf`` reports its closest branch, and values of the ``hidden`` (secret)
    properties are shown as ``***``."""
    if error.validator in ("oneOf", "anyOf") and error.context:
        # report the branch that got furthest, like jsonschema's best_match
        best = jsonschema.exceptions.best_match(error.context)
        if best is not None:
            return error_items(best, hidden)
    parts = list(error.absolute_path)
    message = error.message
    if error.validator == "required":
        match = re.search(r"'(.+?)' is a required property", message)
        if match:
            parts.append(match.group(1))
            message = f"'{match.group(1)}' is a required property"
    elif error.validator == "dependencies" and isinstance(error.validator_value, dict):
        match = re.search(r"'(.+?)' is a dependency of", message)
        if match:
            parts.append(match.group(1))
    if any(str(p) in hidden for p in parts) and isinstance(error.instance, str):
        message = message.replace(repr(error.instance), "'***'")
        if error.instance:
            message = message.replace(error.instance, "***")
    return [{"path": _pointer(parts), "message": message, "keyword": error.validator}]
