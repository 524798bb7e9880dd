"""``VaultSecretStore``: secrets kept in HashiCorp Vault's KV version 2 engine (via ``hvac``).

Selected by ``secrets.backend: vault`` with ``vault_url``, ``vault_token`` and ``vault_mount``.
Vault encrypts at rest and versions each path itself; this class maps the platform's names
and scopes onto paths and back::

    <mount>/goldenpath/<service or _all>/<environment or _all>/<NAME>
    data: {"value": "...", "source": "user|generated|resource:<claim>", "updated_by": "..."}

Scope labels are DNS labels, so ``_all`` cannot collide with a real service or environment.
Differences from the local backend: ``put_many`` is not atomic (Vault has no multi-path
transactions; writes go in order and stop at the first failure); master-key rotation is
Vault's own (``vault operator rotate``); listing and redaction read every path (Vault has no
query language), so they cost one request per secret.

Not tested against a live Vault (none can be installed on the build machine): tests cover
path mapping, configuration errors, an unreachable server, and hvac against an in-process
fake of the KV v2 endpoints (``test_secrets_fake_vault_boundary``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from goldenpath.errors import InvalidInput, PlatformError, Unauthorized, Unavailable
from goldenpath.secrets.backend import NewVersion, ScopeFilter
from goldenpath.secrets.model import SecretMeta, SecretScope
from goldenpath.settings import Settings

__all__ = ["ALL", "PREFIX", "VaultSecretStore", "parse_path", "secret_path"]

PREFIX = "goldenpath"
ALL = "_all"
_T = TypeVar("_T")


def secret_path(name: str, scope: SecretScope) -> str:
    """KV path of ``name`` in ``scope`` (relative to the mount)."""
    return f"{PREFIX}/{scope.service or ALL}/{scope.environment or ALL}/{name}"


def parse_path(path: str) -> tuple[str, SecretScope]:
    """Inverse of :func:`secret_path`.

    Raises:
        InvalidInput: ``path`` is not a platform secret path.
    """
    parts = path.split("/")
    if len(parts) != 4 or parts[0] != PREFIX:
        raise InvalidInput(f"{path!r} is not a goldenpath secret path ({PREFIX}/<svc>/<env>/NAME)")
    service, environment = (None if p == ALL else p for p in parts[1:3])
    return parts[3], SecretScope(service=service, environment=environment)


def _parse_time(text: str | None) -> datetime:
    """Vault's RFC 3339 times (nanoseconds) as aware UTC datetimes."""
    if not text:
        return datetime.fromtimestamp(0, UTC)
    head, _, frac = text.rstrip("Z").partition(".")
    stamp = datetime.fromisoformat(head).replace(tzinfo=UTC)
    return stamp.replace(microsecond=int((frac + "000000")[:6])) if frac else stamp


class VaultSecretStore:
    """The ``vault`` backend (see the module docstring).

    Args:
        settings: ``secrets.vault_url`` (required), ``vault_token``, ``vault_mount``.
        client: an ``hvac.Client`` (default: built from the settings).

    Raises:
        InvalidInput: ``vault_url`` is not set.
    """

    name = "vault"

    def __init__(self, *, settings: Settings, client: Any | None = None) -> None:
        cfg = settings.secrets
        if not cfg.vault_url and client is None:
            raise InvalidInput(
                "secrets.backend is 'vault' but secrets.vault_url is not set; set "
                "GOLDENPATH_SECRETS__VAULT_URL (e.g. http://127.0.0.1:8200) and "
                "GOLDENPATH_SECRETS__VAULT_TOKEN, or use backend 'local'"
            )
        if client is None:
            import hvac

            client = hvac.Client(url=cfg.vault_url, token=cfg.vault_token, timeout=10)
        self.client = client
        self.url = cfg.vault_url or "vault"
        self.mount = cfg.vault_mount
        self._kv = client.secrets.kv.v2

    def _call(self, what: str, fn: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
        import hvac.exceptions as hx
        import requests

        try:
            return fn(*args, mount_point=self.mount, **kwargs)
        except (hx.Unauthorized, hx.Forbidden) as e:
            raise Unauthorized(
                f"Vault at {self.url} refused to {what} (permission denied); check "
                "GOLDENPATH_SECRETS__VAULT_TOKEN and its policy on mount "
                f"{self.mount!r}"
            ) from e
        except (
            hx.VaultDown,
            hx.BadGateway,
            hx.InternalServerError,
            requests.RequestException,
        ) as e:
            raise Unavailable(
                f"Vault at {self.url} is unreachable or sealed ({type(e).__name__}); start or "
                "unseal it, or check GOLDENPATH_SECRETS__VAULT_URL"
            ) from e
        except hx.VaultError as e:
            raise Unavailable(f"Vault at {self.url}: cannot {what}: {type(e).__name__}") from e

    def _list(self, path: str) -> list[str]:
        import hvac.exceptions as hx

        try:
            found = self._call(f"list {path}", self._kv.list_secrets, path=path)
        except Unavailable as e:
            if isinstance(e.__cause__, hx.InvalidPath):
                return []
            raise
        return [str(k) for k in found.get("data", {}).get("keys", [])]

    def _read(self, path: str, version: int | None = None) -> tuple[SecretMeta, str] | None:
        import hvac.exceptions as hx

        try:
            found = self._call(
                f"read {path}",
                self._kv.read_secret_version,
                path=path,
                version=version,
                raise_on_deleted_version=True,
            )
        except Unavailable as e:
            if isinstance(e.__cause__, hx.InvalidPath):
                return None
            raise
        data, meta = found["data"]["data"], found["data"]["metadata"]
        name, scope = parse_path(path)
        return (
            SecretMeta(
                name=name,
                scope=scope,
                version=int(meta["version"]),
                updated_at=_parse_time(meta.get("created_time")),
                updated_by=str(data.get("updated_by", "unknown")),
                key_id="vault",
                source=str(data.get("source", "user")),
            ),
            str(data["value"]),
        )

    def _paths(self, where: ScopeFilter) -> Iterator[str]:
        services = [where.service or ALL] if where.exact or where.service else None
        for svc in services or [s.rstrip("/") for s in self._list(PREFIX + "/")]:
            base = f"{PREFIX}/{svc}"
            envs = [where.environment or ALL] if where.exact or where.environment else None
            for env in envs or [e.rstrip("/") for e in self._list(base + "/")]:
                for name in self._list(f"{base}/{env}/"):
                    if not name.endswith("/"):
                        yield f"{base}/{env}/{name}"

    # -- SecretBackend -----------------------------------------------------------------

    def check_keys(self) -> None:
        """Vault answers and the token is valid (Unavailable / Unauthorized otherwise)."""
        if not self._call("check the token", lambda mount_point: self.client.is_authenticated()):
            raise Unauthorized(
                f"Vault at {self.url} rejected the token; set GOLDENPATH_SECRETS__VAULT_TOKEN"
            )

    def put_many(
        self, items: Sequence[NewVersion], *, actor: str, now: datetime
    ) -> list[SecretMeta]:
        """Write each item as a new KV version, in order (not atomic across items)."""
        out = []
        for item in items:
            path = secret_path(item.name, item.scope)
            doc = {"value": item.value, "source": item.source, "updated_by": actor}
            done = self._call(
                f"write {path}", self._kv.create_or_update_secret, path=path, secret=doc
            )
            meta = done.get("data", {})
            out.append(
                SecretMeta(
                    name=item.name,
                    scope=item.scope,
                    version=int(meta.get("version", 0)),
                    updated_at=_parse_time(meta.get("created_time")) if meta else now,
                    updated_by=actor,
                    key_id="vault",
                    source=item.source,
                )
            )
        return out

    def read(self, name: str, scope: SecretScope) -> tuple[SecretMeta, str] | None:
        """Newest version of one secret and its value."""
        return self._read(secret_path(name, scope))

    def read_many(self, scopes: Sequence[SecretScope]) -> list[tuple[SecretMeta, str]]:
        """Newest version and value of every secret in each scope."""
        out = []
        for scope in scopes:
            where = ScopeFilter(scope.service, scope.environment, exact=True)
            for path in self._paths(where):
                found = self._read(path)
                if found is not None:
                    out.append(found)
        return out

    def latest(self, where: ScopeFilter) -> list[SecretMeta]:
        """Newest version of each secret ``where`` selects."""
        found = [self._read(path) for path in self._paths(where)]
        metas = [f[0] for f in found if f is not None]
        return sorted(
            metas, key=lambda m: (m.scope.service or "", m.scope.environment or "", m.name)
        )

    def versions(self, name: str, scope: SecretScope) -> list[SecretMeta]:
        """Every live version, newest first."""
        path = secret_path(name, scope)
        out = []
        for version in sorted(self._version_numbers(path), reverse=True):
            try:
                found = self._read(path, version)
            except PlatformError:
                continue  # deleted or destroyed version
            if found is not None:
                out.append(found[0])
        return out

    def _version_numbers(self, path: str) -> list[int]:
        import hvac.exceptions as hx

        try:
            meta = self._call(f"read metadata of {path}", self._kv.read_secret_metadata, path=path)
        except Unavailable as e:
            if isinstance(e.__cause__, hx.InvalidPath):
                return []
            raise
        return [int(v) for v in meta.get("data", {}).get("versions", {})]

    def delete(self, name: str, scope: SecretScope) -> int:
        """Delete the path with all its versions and metadata; returns the versions removed."""
        path = secret_path(name, scope)
        count = len(self._version_numbers(path))
        if count:
            self._call(f"delete {path}", self._kv.delete_metadata_and_all_versions, path=path)
        return count

    def change_token(self) -> object:
        """(path, current version) of every secret: changes with any write or delete."""
        return self._current_versions()

    def _current_versions(self) -> tuple[tuple[str, int], ...]:
        return tuple(
            (path, max(self._version_numbers(path), default=0))
            for path in self._paths(ScopeFilter(exact=False))
        )

    def all_values(self) -> tuple[object, list[str]]:
        """The change token and every live value of every version."""
        token = self._current_versions()
        values: list[str] = []
        for path, _current in token:
            for version in self._version_numbers(path):
                try:
                    found = self._read(path, version)
                except PlatformError:
                    continue
                if found is not None:
                    values.append(found[1])
        return token, values

    def rewrap(self, *, rotate: bool) -> int:
        """Not applicable: Vault keeps its own keyring."""
        raise InvalidInput(
            "the vault backend keeps its own encryption keys; rotate them with "
            "`vault operator rotate`"
        )
