"""The storage port of :class:`~goldenpath.secrets.service.SecretService`: ``SecretBackend``.

Two implementations: :class:`goldenpath.secrets.store.LocalSecretStore` (envelope-encrypted
rows in the platform's store, the default) and :class:`goldenpath.secrets.vault.VaultSecretStore`
(HashiCorp Vault KV version 2). The service validates input, orders scopes, rotates and
redacts; a backend only keeps versions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from goldenpath.secrets.model import SecretMeta, SecretScope

__all__ = ["NewVersion", "ScopeFilter", "SecretBackend"]


@dataclass(frozen=True, slots=True)
class NewVersion:
    """One value to store as the next version of ``name`` in ``scope`` (already checked)."""

    name: str
    scope: SecretScope
    value: str
    source: str


@dataclass(frozen=True, slots=True)
class ScopeFilter:
    """Which secrets a listing returns.

    ``exact``: only the scope (service, environment) itself, ``None`` meaning the "all"
    scope. Not exact: ``None`` matches anything.
    """

    service: str | None = None
    environment: str | None = None
    exact: bool = True


class SecretBackend(Protocol):
    """Versioned secret storage. Every method raises ``goldenpath.errors`` classes only."""

    name: str

    def check_keys(self) -> None:
        """Refuse to start when stored data cannot be opened (e.g. a missing master key)."""

    def put_many(
        self, items: Sequence[NewVersion], *, actor: str, now: datetime
    ) -> list[SecretMeta]:
        """Store each item as its next version, all in one transaction where possible."""

    def read(self, name: str, scope: SecretScope) -> tuple[SecretMeta, str] | None:
        """The newest version and its value, or ``None`` when the secret does not exist."""

    def read_many(self, scopes: Sequence[SecretScope]) -> list[tuple[SecretMeta, str]]:
        """Newest version and value of every secret in each of ``scopes``."""

    def latest(self, where: ScopeFilter) -> list[SecretMeta]:
        """Newest version of each secret ``where`` selects, by scope then name."""

    def versions(self, name: str, scope: SecretScope) -> list[SecretMeta]:
        """Every version of one secret, newest first (empty when it does not exist)."""

    def delete(self, name: str, scope: SecretScope) -> int:
        """Delete every version of one secret; returns how many were removed."""

    def all_values(self) -> tuple[object, list[str]]:
        """(a change token, every stored value of every version) — for redaction."""

    def change_token(self) -> object:
        """A cheap value that changes whenever a version is added or removed."""

    def rewrap(self, *, rotate: bool) -> int:
        """Re-wrap every data key under the current (``rotate``: a new) master key."""
