"""The resource-type registry: ``postgres`` and ``redis`` built in, more from plugins.

A plugin package adds a type with an entry point in the group ``goldenpath.resource_types``
whose object is a :class:`~goldenpath.resources.model.ResourceType` (or a callable returning
one)::

    [project.entry-points."goldenpath.resource_types"]
    mysql = "my_plugin.types:MYSQL"

A type only becomes claimable in an environment when a composition for it matches that
environment (see :mod:`goldenpath.resources.compositions`). A plugin type with the name of a
built-in one is ignored (built-ins cannot be shadowed by an installed package); a broken entry
point is skipped with a warning rather than taking the platform down.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from importlib import metadata as importlib_metadata
from typing import Any

from goldenpath.errors import InvalidInput
from goldenpath.resources.model import ResourceType

__all__ = ["BUILTIN_TYPES", "ENTRY_POINT_GROUP", "SIZES", "TypeRegistry", "load_types"]

_log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "goldenpath.resource_types"
#: size classes in order, smallest first
SIZES: tuple[str, ...] = ("small", "medium", "large")

POSTGRES = ResourceType(
    name="postgres",
    description="PostgreSQL 15 database with its own role (a database in the platform's "
    "managed cluster locally; CloudNativePG or Crossplane on Kubernetes)",
    sizes={
        "small": {"connection_limit": 20, "storage_quota_mb": 1024},
        "medium": {"connection_limit": 50, "storage_quota_mb": 10240},
        "large": {"connection_limit": 200, "storage_quota_mb": 102400},
    },
    backups=True,
)
REDIS = ResourceType(
    name="redis",
    description="Redis cache with a password (one supervised redis-server per claim locally)",
    sizes={
        "small": {"maxmemory_mb": 64},
        "medium": {"maxmemory_mb": 256},
        "large": {"maxmemory_mb": 1024},
    },
    backups=False,
)
BUILTIN_TYPES: tuple[ResourceType, ...] = (POSTGRES, REDIS)


class TypeRegistry:
    """Resource types by name (built-ins first, then plugins)."""

    def __init__(self, types: Iterable[ResourceType]) -> None:
        self._types: dict[str, ResourceType] = {}
        for kind in types:
            self._types.setdefault(kind.name, kind)

    def all(self) -> list[ResourceType]:
        """Every type, by name."""
        return [self._types[name] for name in sorted(self._types)]

    def get(self, name: str) -> ResourceType:
        """Type ``name``.

        Raises:
            InvalidInput: unknown type, listing the valid ones.
        """
        found = self._types.get(name)
        if found is None:
            valid = sorted(self._types)
            raise InvalidInput(
                f"type: unknown resource type {name!r}; valid types: {', '.join(valid)}",
                details={"errors": [{"path": "type", "message": f"one of {', '.join(valid)}"}]},
            )
        return found

    def size(self, kind: ResourceType, size: str) -> Mapping[str, Any]:
        """The defaults of size class ``size`` of ``kind``.

        Raises:
            InvalidInput: unknown size, listing the valid ones.
        """
        found = kind.sizes.get(size)
        if found is None:
            valid = list(kind.sizes)
            raise InvalidInput(
                f"size: unknown size {size!r} for {kind.name}; valid sizes: {', '.join(valid)}",
                details={"errors": [{"path": "size", "message": f"one of {', '.join(valid)}"}]},
            )
        return found


def _plugin_types() -> list[ResourceType]:
    found: list[ResourceType] = []
    for entry in importlib_metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            obj = entry.load()
            kind = obj() if callable(obj) and not isinstance(obj, ResourceType) else obj
        except Exception:
            _log.warning("resource type entry point %s failed to load", entry.name, exc_info=True)
            continue
        if not isinstance(kind, ResourceType):
            _log.warning("resource type entry point %s is not a ResourceType", entry.name)
            continue
        found.append(kind)
    return found


def load_types(extra: Iterable[ResourceType] = ()) -> TypeRegistry:
    """The registry: built-ins, then ``extra`` (tests, embedding), then entry points."""
    return TypeRegistry([*BUILTIN_TYPES, *extra, *_plugin_types()])
