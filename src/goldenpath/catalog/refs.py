"""Entity references: ``[<kind>:][<namespace>/]<name>`` and compound ``{kind, namespace, name}``.

Parsing follows Backstage's ``parseEntityRef`` (``@backstage/catalog-model`` 1.10): the first
``:`` separates the kind unless a ``/`` comes before it, the first ``/`` separates the namespace,
and every present part must be non-empty. Stringification follows ``stringifyEntityRef``, which
lower-cases all three parts: that string is the identity used for storage and lookup.

Source: https://backstage.io/docs/features/software-catalog/references
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from goldenpath.errors import InvalidInput

__all__ = ["DEFAULT_NAMESPACE", "EntityRef", "parse_entity_ref", "ref_of"]

DEFAULT_NAMESPACE = "default"


@dataclass(frozen=True, slots=True)
class EntityRef:
    """A fully qualified reference to one entity; the parts keep their original case.

    Attributes:
        kind: e.g. ``Component`` (as written).
        namespace: e.g. ``default``.
        name: e.g. ``petstore``.
    """

    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        """``kind:namespace/name`` fully lower-cased, like Backstage's ``stringifyEntityRef``."""
        return self.key()

    def key(self) -> str:
        """The lower-cased ``kind:namespace/name`` used as identity for storage and lookup."""
        return f"{self.kind}:{self.namespace}/{self.name}".lower()

    def display(self) -> str:
        """``kind:namespace/name`` keeping the case of namespace and name (kind lower-cased)."""
        return f"{self.kind.lower()}:{self.namespace}/{self.name}"


def _split(ref: str) -> tuple[str | None, str | None, str]:
    colon = ref.find(":")
    slash = ref.find("/")
    if slash != -1 and slash < colon:
        colon = -1
    kind = None if colon == -1 else ref[:colon]
    namespace = None if slash == -1 else ref[colon + 1 : slash]
    name = ref[max(colon + 1, slash + 1) :]
    if kind == "" or namespace == "" or name == "":
        raise InvalidInput(
            f'Entity reference "{ref}" was not on the form [<kind>:][<namespace>/]<name>'
        )
    return kind, namespace, name


def _textual(ref: Any) -> str:
    try:
        return json.dumps(ref, separators=(",", ":"), default=str)
    except (TypeError, ValueError):
        return repr(ref)


def parse_entity_ref(
    ref: str | Mapping[str, Any],
    *,
    default_kind: str | None = None,
    default_namespace: str | None = DEFAULT_NAMESPACE,
) -> EntityRef:
    """Parse a string or compound entity reference, filling in the given defaults.

    Args:
        ref: ``"component:default/petstore"``, ``"petstore"``, ``"group:team-a"`` … or a
            mapping with ``kind``/``namespace``/``name`` (each optional except ``name``).
        default_kind: kind used when the reference has none (``None`` = a kind is required).
        default_namespace: namespace used when the reference has none (falsy → ``default``).

    Returns:
        The :class:`EntityRef`, parts in their original case.

    Raises:
        InvalidInput: empty reference; a present part is empty (``Entity reference "x:" was not
            on the form [<kind>:][<namespace>/]<name>``); no kind and no default kind; a
            non-string part in the compound form.
    """
    if not ref:
        raise InvalidInput("Entity reference must not be empty")
    namespace_default = default_namespace or DEFAULT_NAMESPACE
    kind: str | None
    namespace: str | None
    name: str | None
    if isinstance(ref, str):
        kind, namespace, name = _split(ref)
    elif isinstance(ref, Mapping):
        kind, namespace, name = ref.get("kind"), ref.get("namespace"), ref.get("name")
        for part, value in (("kind", kind), ("namespace", namespace), ("name", name)):
            if value is not None and not isinstance(value, str):
                raise InvalidInput(f"Entity reference {_textual(ref)} has a non-string {part}")
    else:
        raise InvalidInput(
            f"Entity reference {_textual(ref)} must be a string of the form "
            "[<kind>:][<namespace>/]<name> or a {kind, namespace, name} mapping"
        )
    kind = kind if kind is not None else default_kind
    namespace = namespace if namespace is not None else namespace_default
    if not kind:
        raise InvalidInput(
            f"Entity reference {_textual(ref)} had missing or empty kind "
            '(e.g. did not start with "component:" or similar)'
        )
    if not namespace:
        raise InvalidInput(f"Entity reference {_textual(ref)} had missing or empty namespace")
    if not name:
        raise InvalidInput(f"Entity reference {_textual(ref)} had missing or empty name")
    return EntityRef(kind, namespace, name)


def ref_of(entity: Mapping[str, Any]) -> EntityRef:
    """The reference of an entity: ``kind``, ``metadata.namespace`` (or default), ``metadata.name``.

    Raises:
        InvalidInput: ``kind`` or ``metadata.name`` is missing or not a string.
    """
    kind = entity.get("kind")
    metadata = entity.get("metadata")
    metadata = metadata if isinstance(metadata, Mapping) else {}
    name = metadata.get("name")
    namespace = metadata.get("namespace") or DEFAULT_NAMESPACE
    if not isinstance(kind, str) or not kind:
        raise InvalidInput("entity has no kind: set the root field `kind` (e.g. Component)")
    if not isinstance(name, str) or not name:
        raise InvalidInput("entity has no name: set `metadata.name`")
    if not isinstance(namespace, str):
        raise InvalidInput("`metadata.namespace` must be a string")
    return EntityRef(kind, namespace, name)
