"""Envelope and entity-schema checks (Backstage's ``EntityEnvelope`` and ``Entity`` schemas).

The envelope is what is needed to give a document a ref: ``apiVersion``, ``kind`` and
``metadata.name`` as non-empty strings. The entity schema then fixes the types of every
well-known root and ``metadata`` field (``SchemaValidEntityPolicy``).

Source: https://backstage.io/docs/features/software-catalog/descriptor-format
"""

from __future__ import annotations

import re
from typing import Any

from goldenpath.catalog.model import EntityError

__all__ = ["check_annotations_object", "check_entity_schema", "check_envelope"]

_ROOT_FIELDS = frozenset({"apiVersion", "kind", "metadata", "spec", "relations", "status"})
_STATUS_LEVELS = ("info", "warning", "error")
_RELATION_TYPE = re.compile(r"^\w+$")


def _str_error(path: str, value: Any, stage: str) -> EntityError | None:
    if not isinstance(value, str):
        return EntityError(path, f"{path} must be a string, not {_type(value)}", stage)
    if not value:
        return EntityError(path, f"{path} must not be empty", stage)
    return None


def _type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return f"a number ({value})"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def check_envelope(data: dict[str, Any]) -> list[EntityError]:
    """Backstage's envelope check (stage ``envelope``): required, non-empty string fields.

    Returns:
        Errors like ``apiVersion: <root> must have required property 'apiVersion'``; empty when
        the document has ``apiVersion``, ``kind`` and ``metadata.name`` (and a string
        ``metadata.namespace`` if any).
    """
    errors: list[EntityError] = []
    for field in ("apiVersion", "kind", "metadata"):
        if field not in data:
            errors.append(
                EntityError(
                    field,
                    f"<root> must have required property '{field}': add `{field}:` to the document",
                    "envelope",
                )
            )
    for field in ("apiVersion", "kind"):
        if field in data and (err := _str_error(field, data[field], "envelope")):
            errors.append(err)
    metadata = data.get("metadata")
    if "metadata" in data:
        if not isinstance(metadata, dict):
            errors.append(
                EntityError(
                    "metadata", f"metadata must be an object, not {_type(metadata)}", "envelope"
                )
            )
        elif "name" not in metadata:
            errors.append(
                EntityError(
                    "metadata.name",
                    "/metadata must have required property 'name': set metadata.name",
                    "envelope",
                )
            )
        else:
            for field in ("name", "namespace"):
                if field in metadata and (
                    err := _str_error(f"metadata.{field}", metadata[field], "envelope")
                ):
                    errors.append(err)
    return errors


def check_annotations_object(metadata: dict[str, Any]) -> EntityError | None:
    """``metadata.annotations`` must be a mapping (``null``/absent is fine), as in Backstage."""
    annotations = metadata.get("annotations")
    if annotations is None or isinstance(annotations, dict):
        return None
    return EntityError(
        "metadata.annotations",
        "metadata.annotations must be a valid object (a mapping of key: value), "
        f"not {_type(annotations)}",
        "envelope",
    )


def check_entity_schema(entity: dict[str, Any]) -> list[EntityError]:
    """The ``Entity`` JSON schema (``SchemaValidEntityPolicy``, stage ``policy``).

    Checks root fields (only apiVersion/kind/metadata/spec/relations/status), ``metadata``
    field types (labels/annotations values are strings, tags a list of non-empty strings,
    links objects with a ``url``), ``spec`` an object, ``relations``/``status`` shapes.
    """
    errors: list[EntityError] = []
    for key in entity:
        if key not in _ROOT_FIELDS:
            errors.append(
                EntityError(
                    key,
                    "Malformed envelope, <root> must NOT have additional properties: "
                    f"remove `{key}` "
                    "(allowed: apiVersion, kind, metadata, spec)",
                    "policy",
                )
            )
    errors.extend(_check_metadata(entity["metadata"]))
    if "spec" in entity and not isinstance(entity["spec"], dict):
        errors.append(
            EntityError("spec", f"spec must be an object, not {_type(entity['spec'])}", "policy")
        )
    if "relations" in entity:
        errors.extend(_check_relations(entity["relations"]))
    if "status" in entity:
        errors.extend(_check_status(entity["status"]))
    return errors


def _check_metadata(metadata: dict[str, Any]) -> list[EntityError]:
    errors: list[EntityError] = []
    for field in ("uid", "etag", "name", "namespace", "title"):
        if field in metadata and (
            err := _str_error(f"metadata.{field}", metadata[field], "policy")
        ):
            errors.append(err)
    description = metadata.get("description")
    if "description" in metadata and not isinstance(description, str):
        errors.append(
            EntityError(
                "metadata.description",
                f"metadata.description must be a string, not {_type(description)}; quote it",
                "policy",
            )
        )
    for field in ("labels", "annotations"):
        if field not in metadata:
            continue
        value = metadata[field]
        if not isinstance(value, dict):
            errors.append(
                EntityError(
                    f"metadata.{field}",
                    f"metadata.{field} must be an object, not {_type(value)}",
                    "policy",
                )
            )
            continue
        for key, item in value.items():
            if key and not isinstance(item, str):
                errors.append(
                    EntityError(
                        f"metadata.{field}.{key}",
                        f"metadata.{field}.{key} must be a string, not {_type(item)}; "
                        "quote the value",
                        "policy",
                    )
                )
    if "tags" in metadata:
        errors.extend(_check_string_list("metadata.tags", metadata["tags"]))
    if "links" in metadata:
        errors.extend(_check_links(metadata["links"]))
    return errors


def _check_string_list(path: str, value: Any) -> list[EntityError]:
    if not isinstance(value, list):
        return [EntityError(path, f"{path} must be an array, not {_type(value)}", "policy")]
    return [
        err for i, item in enumerate(value) if (err := _str_error(f"{path}.{i}", item, "policy"))
    ]


def _check_links(links: Any) -> list[EntityError]:
    if not isinstance(links, list):
        return [
            EntityError(
                "metadata.links", f"metadata.links must be an array, not {_type(links)}", "policy"
            )
        ]
    errors: list[EntityError] = []
    for i, link in enumerate(links):
        path = f"metadata.links.{i}"
        if not isinstance(link, dict):
            errors.append(EntityError(path, f"{path} must be an object with a url", "policy"))
            continue
        if "url" not in link:
            errors.append(
                EntityError(f"{path}.url", f"{path} must have required property 'url'", "policy")
            )
        for field in ("url", "title", "icon", "type"):
            if field in link and (err := _str_error(f"{path}.{field}", link[field], "policy")):
                errors.append(err)
    return errors


def _check_relations(relations: Any) -> list[EntityError]:
    if not isinstance(relations, list):
        return [
            EntityError(
                "relations", f"relations must be an array, not {_type(relations)}", "policy"
            )
        ]
    errors: list[EntityError] = []
    for i, rel in enumerate(relations):
        path = f"relations.{i}"
        if not isinstance(rel, dict) or not {"type", "targetRef"} <= rel.keys():
            errors.append(
                EntityError(path, f"{path} must be an object with type and targetRef", "policy")
            )
            continue
        extra = set(rel) - {"type", "targetRef", "target"}
        if extra:
            errors.append(
                EntityError(
                    path, f"{path} must NOT have additional properties {sorted(extra)}", "policy"
                )
            )
        if not isinstance(rel["type"], str) or not _RELATION_TYPE.match(rel["type"]):
            errors.append(
                EntityError(f"{path}.type", f"{path}.type must be a word (e.g. ownedBy)", "policy")
            )
        if err := _str_error(f"{path}.targetRef", rel["targetRef"], "policy"):
            errors.append(err)
    return errors


def _check_status(status: Any) -> list[EntityError]:
    if not isinstance(status, dict):
        return [EntityError("status", f"status must be an object, not {_type(status)}", "policy")]
    items = status.get("items", [])
    if not isinstance(items, list):
        return [EntityError("status.items", "status.items must be an array", "policy")]
    errors: list[EntityError] = []
    for i, item in enumerate(items):
        path = f"status.items.{i}"
        ok = (
            isinstance(item, dict)
            and isinstance(item.get("type"), str)
            and bool(item["type"])
            and item.get("level") in _STATUS_LEVELS
            and isinstance(item.get("message"), str)
        )
        if not ok:
            errors.append(
                EntityError(
                    path, f"{path} must have type, level (info|warning|error) and message", "policy"
                )
            )
    return errors
