"""Resource records as data: claims, backups, resource types, the claim state machine.

Pure dataclasses and checks, no IO. Vocabulary follows Crossplane: a developer writes a
*claim* (``type``, size *class*, ``params``, ``environment``, owner); the platform matches it
to a *composition* (:mod:`goldenpath.resources.compositions`) that says what the
environment's driver provisions and which connection *outputs* it publishes. Outputs are
stored as secrets (names in :attr:`Claim.outputs_ref`), never in a claim.

Wire shapes (``to_dict``) are camelCase JSON with ISO-8601 UTC times.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from goldenpath.errors import Conflict, InvalidInput

__all__ = [
    "ALLOWED",
    "OUTPUT_KEYS",
    "STATES",
    "Backup",
    "Claim",
    "ClaimRequest",
    "ClaimState",
    "ResourceType",
    "check_transition",
    "iso",
    "output_secret_names",
    "secret_prefix",
    "validate_claim_name",
]

ClaimState = Literal["provisioning", "ready", "failed", "deleted"]
STATES: tuple[str, ...] = ("provisioning", "ready", "failed", "deleted")

#: allowed claim state changes (FROM → TO); ``None`` = a new claim. Everything else: Conflict.
ALLOWED: Mapping[str | None, frozenset[str]] = {
    None: frozenset({"provisioning"}),
    "provisioning": frozenset({"provisioning", "ready", "failed", "deleted"}),
    "ready": frozenset({"provisioning", "ready", "deleted"}),
    "failed": frozenset({"provisioning", "deleted"}),
    "deleted": frozenset({"provisioning"}),
}

#: connection outputs every local composition publishes, in this order
OUTPUT_KEYS: tuple[str, ...] = ("host", "port", "database", "username", "password", "url")

_NAME = re.compile(r"^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$")


def iso(value: datetime | None) -> str | None:
    """``value`` as ISO-8601 with a ``Z`` suffix for UTC, or None."""
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def validate_claim_name(name: str, *, field_name: str = "name") -> str:
    """Return ``name`` when it is a claim name: 1-63 characters, lower-case letters, digits
    and ``-``, starting with a letter and not ending with ``-`` (a DNS label that also makes
    valid secret names ``<NAME>_URL``).

    Raises:
        InvalidInput: naming the field and an example.
    """
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidInput(
            f"{field_name}: {name!r} is not a resource name; use 1-63 lower-case letters, "
            "digits and '-', starting with a letter (e.g. orders-db)",
            details={"errors": [{"path": field_name, "message": "expected ^[a-z][a-z0-9-]*$"}]},
        )
    return name


def secret_prefix(claim: str) -> str:
    """The secret-name prefix of ``claim``'s outputs: upper-cased, ``-`` → ``_``."""
    return claim.upper().replace("-", "_")


def output_secret_names(claim: str, keys: tuple[str, ...] = OUTPUT_KEYS) -> dict[str, str]:
    """``{output key: secret name}``, e.g. ``{"url": "ORDERS_DB_URL", …}``."""
    prefix = secret_prefix(claim)
    return {key: f"{prefix}_{key.upper()}" for key in keys}


def check_transition(from_state: str | None, to_state: str) -> None:
    """Refuse a claim state change :data:`ALLOWED` does not list.

    Raises:
        Conflict: naming both states and the ones ``from_state`` may move to.
    """
    allowed = ALLOWED.get(from_state, frozenset())
    if to_state not in allowed:
        raise Conflict(
            f"a claim cannot move from {from_state or 'nothing'} to {to_state}; "
            f"allowed: {', '.join(sorted(allowed)) or 'none'}",
            details={"from": from_state, "to": to_state},
        )


@dataclass(frozen=True)
class ResourceType:
    """A kind of resource developers can claim (``postgres``, ``redis`` …).

    ``sizes`` maps a size class to its defaults (``{"small": {"connection_limit": 20,
    "storage_quota_mb": 1024}}``); compositions may override them per class.
    ``backups``: whether the type supports ``backup``/``restore``.
    """

    name: str
    description: str
    sizes: Mapping[str, Mapping[str, Any]]
    backups: bool = False

    def to_dict(self) -> dict[str, Any]:
        """``{name, description, sizes: {class: {...}}, backups}``."""
        return {
            "name": self.name,
            "description": self.description,
            "sizes": {k: dict(v) for k, v in self.sizes.items()},
            "backups": self.backups,
        }


@dataclass(frozen=True)
class ClaimRequest:
    """What a developer asks for: a ``type`` of resource in a size class, in an environment.

    ``service``: the workload that declared it (recorded as a consumer), or None for a
    claim made directly (``platform db create``). ``params`` are type-specific, verbatim.
    """

    name: str
    type: str
    size: str = "small"
    environment: str = "dev"
    owner: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    service: str | None = None


@dataclass(frozen=True)
class Claim:
    """A claim as recorded (never carries secret values).

    ``composition``: the ``metadata.name`` of the composition that provisioned it;
    ``outputs_ref``: the secret names of its connection outputs (scope: the environment);
    ``consumers``: services that declared it. ``storage_quota_mb`` is the size class's
    quota; ``used_bytes`` the size measured now (filled only when asked for; None otherwise).
    """

    id: int
    name: str
    type: str
    size: str
    environment: str
    owner: str | None
    composition: str
    state: ClaimState
    message: str
    outputs_ref: list[str]
    created_at: datetime
    created_by: str
    updated_at: datetime
    consumers: list[str]
    params: Mapping[str, Any] = field(default_factory=dict)
    storage_quota_mb: int | None = None
    used_bytes: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """camelCase JSON: ``{id, name, type, size, environment, owner, composition, state,
        message, outputsRef, consumers, params, storageQuotaMb, usedBytes, createdAt,
        createdBy, updatedAt}``."""
        return {
            "id": self.id,
            "name": self.name,
            "type": self.type,
            "size": self.size,
            "environment": self.environment,
            "owner": self.owner,
            "composition": self.composition,
            "state": self.state,
            "message": self.message,
            "outputsRef": list(self.outputs_ref),
            "consumers": list(self.consumers),
            "params": dict(self.params),
            "storageQuotaMb": self.storage_quota_mb,
            "usedBytes": self.used_bytes,
            "createdAt": iso(self.created_at),
            "createdBy": self.created_by,
            "updatedAt": iso(self.updated_at),
        }


@dataclass(frozen=True)
class Backup:
    """One backup file of a claim's database (``pg_dump`` custom format).

    ``id``: sortable, e.g. ``20261204T135600123456Z``; ``reason``: ``manual`` or ``final``
    (taken by ``delete``); ``size_bytes`` of the file.
    """

    id: str
    claim: str
    environment: str
    path: str
    size_bytes: int
    created_at: datetime
    created_by: str
    reason: str = "manual"

    def to_dict(self) -> dict[str, Any]:
        """``{id, claim, environment, path, sizeBytes, createdAt, createdBy, reason}``."""
        return {
            "id": self.id,
            "claim": self.claim,
            "environment": self.environment,
            "path": self.path,
            "sizeBytes": self.size_bytes,
            "createdAt": iso(self.created_at),
            "createdBy": self.created_by,
            "reason": self.reason,
        }
