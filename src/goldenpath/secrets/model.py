"""Secret records and input checks: ``SecretScope``, ``SecretMeta``, ``RotationResult``.

Pure data, no IO. A secret is addressed by its name (environment-variable style,
``^[A-Z_][A-Z0-9_]*$``) and its scope (a service and/or an environment; ``None`` = all). Each
``set`` adds a version; metadata never carries the value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from goldenpath.errors import InvalidInput

__all__ = [
    "MAX_VALUE_BYTES",
    "RotationOutcome",
    "RotationResult",
    "SecretMeta",
    "SecretScope",
    "check_name",
    "check_scope",
    "check_value",
]

#: the largest value a secret may hold (UTF-8 bytes)
MAX_VALUE_BYTES = 64 * 1024

_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_MAX_NAME = 200
_MAX_SERVICE = 63
_MAX_ENVIRONMENT = 40


@dataclass(frozen=True, slots=True)
class SecretScope:
    """Where a secret applies. ``None`` = every service / every environment.

    Precedence when a process's environment is resolved (later wins): global <
    environment-only < service-only < service+environment.
    """

    service: str | None = None
    environment: str | None = None

    def describe(self) -> str:
        """Human form for messages: ``service api, environment dev`` or ``global``."""
        parts = []
        if self.service is not None:
            parts.append(f"service {self.service}")
        if self.environment is not None:
            parts.append(f"environment {self.environment}")
        return ", ".join(parts) or "global (all services, all environments)"

    def to_dict(self) -> dict[str, str | None]:
        """``{"service": …, "environment": …}`` (JSON shape)."""
        return {"service": self.service, "environment": self.environment}


@dataclass(frozen=True, slots=True)
class SecretMeta:
    """One version of a secret, without its value.

    Attributes:
        name: ``DATABASE_URL`` style.
        scope: where it applies.
        version: 1, 2, … per (name, scope).
        updated_at: aware UTC time this version was written.
        updated_by: who wrote it (a user name, ``system``, …).
        key_id: the master key id that wraps this version's data key (``vault`` for Vault).
        source: ``user`` | ``generated`` | ``resource:<claim name>`` (decides how it rotates).
    """

    name: str
    scope: SecretScope
    version: int
    updated_at: datetime
    updated_by: str
    key_id: str
    source: str

    def to_dict(self) -> dict[str, object]:
        """JSON shape (camelCase, ISO-8601 UTC times); never a value."""
        return {
            "name": self.name,
            "service": self.scope.service,
            "environment": self.scope.environment,
            "version": self.version,
            "updatedAt": self.updated_at.isoformat().replace("+00:00", "Z"),
            "updatedBy": self.updated_by,
            "keyId": self.key_id,
            "source": self.source,
        }


RotationOutcome = Literal["new-value", "re-encrypted", "skipped"]


@dataclass(frozen=True, slots=True)
class RotationResult:
    """What :meth:`SecretService.rotate` did to one secret.

    Attributes:
        outcome: ``new-value`` (generated or rotated at its source: the value changed),
            ``re-encrypted`` (a user secret: same value under a fresh data key and the current
            master key), ``skipped`` (nothing could rotate it; ``message`` says why).
        meta: the new version (the old one when skipped).
        previous_version: the version before rotation.
    """

    name: str
    scope: SecretScope
    outcome: RotationOutcome
    previous_version: int
    meta: SecretMeta
    message: str

    @property
    def value_changed(self) -> bool:
        """True when the secret has a new value (its consumers need a redeploy)."""
        return self.outcome == "new-value"

    def to_dict(self) -> dict[str, object]:
        """JSON shape; never a value."""
        return {
            "name": self.name,
            "service": self.scope.service,
            "environment": self.scope.environment,
            "outcome": self.outcome,
            "valueChanged": self.value_changed,
            "previousVersion": self.previous_version,
            "version": self.meta.version,
            "message": self.message,
        }


def check_name(name: object) -> str:
    """Return ``name`` when it is an environment-variable style secret name.

    Raises:
        InvalidInput: naming the rule and a corrected suggestion.
    """
    if not isinstance(name, str) or not name or len(name) > _MAX_NAME or not _NAME.match(name):
        shown = name if isinstance(name, str) else type(name).__name__
        hint = re.sub(r"[^A-Z0-9_]", "_", shown.upper()) if isinstance(name, str) else ""
        if hint and hint[0].isdigit():
            hint = "_" + hint
        fix = f" (e.g. {hint[:_MAX_NAME]!r})" if hint and _NAME.match(hint) else ""
        raise InvalidInput(
            f"secret name {shown!r} is invalid: use upper-case letters, digits and '_', not "
            f"starting with a digit, at most {_MAX_NAME} characters{fix}",
            details={"field": "name"},
        )
    return name


def _check_label(value: str | None, field: str, limit: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit or not _LABEL.match(value):
        raise InvalidInput(
            f"{field} {value!r} is not a DNS label: use lower-case letters, digits and '-', "
            f"at most {limit} characters (e.g. 'my-api')",
            details={"field": field},
        )
    return value


def check_scope(scope: SecretScope) -> SecretScope:
    """Return ``scope`` when its service/environment are DNS labels (or ``None``).

    Raises:
        InvalidInput: naming the field.
    """
    if not isinstance(scope, SecretScope):
        raise InvalidInput(f"scope must be a SecretScope, not {type(scope).__name__}")
    _check_label(scope.service, "service", _MAX_SERVICE)
    _check_label(scope.environment, "environment", _MAX_ENVIRONMENT)
    return scope


def check_value(name: str, value: object) -> bytes:
    """The UTF-8 bytes of ``value`` when it is a string of at most 64 KiB.

    Raises:
        InvalidInput: naming the secret (never showing the value).
    """
    if not isinstance(value, str):
        raise InvalidInput(
            f"secret {name}: the value must be a string, not {type(value).__name__}",
            details={"field": "value"},
        )
    if "\x00" in value:
        raise InvalidInput(
            f"secret {name}: the value contains a NUL character, which an environment "
            "variable cannot carry; store it base64-encoded",
            details={"field": "value"},
        )
    data = value.encode("utf-8")
    if len(data) > MAX_VALUE_BYTES:
        raise InvalidInput(
            f"secret {name}: the value is {len(data)} bytes; at most {MAX_VALUE_BYTES} bytes "
            "(64 KiB) are allowed — store large material (certificates bundles, files) elsewhere "
            "and keep a reference here",
            details={"field": "value"},
        )
    return data
