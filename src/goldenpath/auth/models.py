"""Data shapes of the auth domain: roles, tokens, the authenticated principal, audit entries."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any

__all__ = ["AuditEntry", "Principal", "Role", "TokenCreated", "TokenRead"]

TOKEN_PREFIX = "gp_"


class Role(enum.StrEnum):
    """What a token may do.

    ``admin``: everything, including managing tokens. ``member``: read and write the catalog
    (and later: deploy). ``viewer``: read-only (``GET``/``HEAD`` requests only).
    """

    ADMIN = "admin"
    MEMBER = "member"
    VIEWER = "viewer"


@dataclass(frozen=True, slots=True)
class TokenRead:
    """A stored token without its secret.

    ``owner`` is the entity ref of the User the token belongs to (``user:default/admin``).
    Times are timezone-aware UTC; ``expires_at``/``revoked_at``/``last_used_at`` may be None.
    """

    id: str
    name: str
    owner: str
    role: Role
    created_at: datetime
    last_used_at: datetime | None = None
    expires_at: datetime | None = None
    revoked_at: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        """JSON shape used by ``GET /api/auth/tokens`` (ISO-8601 times, no secret)."""
        return {
            "id": self.id,
            "name": self.name,
            "owner": self.owner,
            "role": self.role.value,
            "createdAt": _iso(self.created_at),
            "lastUsedAt": _iso(self.last_used_at),
            "expiresAt": _iso(self.expires_at),
            "revokedAt": _iso(self.revoked_at),
        }


@dataclass(frozen=True, slots=True)
class TokenCreated:
    """A freshly created token: the only moment the secret ``token`` is ever available."""

    token: str
    info: TokenRead


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the owner ref of the presented token, its role and token id."""

    user: str
    role: Role
    token_id: str
    token_name: str

    def can_write(self) -> bool:
        """True for ``admin`` and ``member``; viewers may only read."""
        return self.role in (Role.ADMIN, Role.MEMBER)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One audit row: who did what to which target, with which outcome (an HTTP status)."""

    id: int
    at: datetime
    actor: str | None
    token_id: str | None
    action: str
    target: str
    outcome: int

    def to_json(self) -> dict[str, Any]:
        """JSON shape used by ``GET /api/audit``."""
        return {
            "id": self.id,
            "at": _iso(self.at),
            "actor": self.actor,
            "tokenId": self.token_id,
            "action": self.action,
            "target": self.target,
            "outcome": self.outcome,
        }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
