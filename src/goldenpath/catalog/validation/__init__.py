"""Catalog entity validation, composed of small checks in Backstage's order.

``envelope`` → (catalog rules, placeholders: see ``processing``) → ``entity schema`` →
``default namespace`` → ``no foreign root fields`` → ``field formats`` → ``kind``.
Every check returns :class:`~goldenpath.catalog.model.EntityError` values (path, message,
stage) instead of raising, so one pass reports every problem of a stage.

Source: https://backstage.io/docs/features/software-catalog/descriptor-format
"""

from __future__ import annotations

from typing import Any

from goldenpath.catalog.model import EntityError
from goldenpath.catalog.validation.envelope import (
    check_annotations_object,
    check_entity_schema,
    check_envelope,
)
from goldenpath.catalog.validation.kinds import BUILTIN_API_VERSIONS, KNOWN_KINDS, check_kind
from goldenpath.catalog.validation.policies import (
    apply_default_namespace,
    check_field_formats,
    check_no_foreign_root_fields,
)

__all__ = [
    "BUILTIN_API_VERSIONS",
    "KNOWN_KINDS",
    "check_annotations_object",
    "check_entity_schema",
    "check_envelope",
    "check_field_formats",
    "check_kind",
    "check_no_foreign_root_fields",
    "enforce_policies",
]


def enforce_policies(entity: dict[str, Any]) -> list[EntityError]:
    """Backstage's default entity policies, in order; stops after the first failing policy.

    Mutates ``entity``: ``metadata.namespace`` defaults to ``default``.

    Returns:
        The errors of the first failing policy (schema, foreign root fields, field formats),
        all with stage ``policy``; empty when the entity passes.
    """
    errors = check_entity_schema(entity)
    if errors:
        return errors
    apply_default_namespace(entity)
    return check_no_foreign_root_fields(entity) or check_field_formats(entity)
