"""``SecretService``: the secrets use cases the API, the CLI (through the API), deploy and
resources call.

Issue 5 ("Secrets"): versioned secrets per service and environment, encrypted at rest with
envelope encryption (:mod:`~goldenpath.secrets.envelope`, master keys in
:mod:`~goldenpath.secrets.keyring`, never in the database) or kept in HashiCorp Vault
(``secrets.backend: vault``); rotation (generated values, credentials rotated at their source
by a registered rotator, re-encryption of user values); master-key rotation; redaction of
every known value from text such as logs.

Scopes resolve for a process in this order, later wins: global < environment-only <
service-only < service+environment.
"""

from __future__ import annotations

import logging
import re
import secrets as _random
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from goldenpath.errors import InvalidInput, NotFound
from goldenpath.secrets._redact import Redactor
from goldenpath.secrets._rotation import Rotator, rotate_each
from goldenpath.secrets.backend import NewVersion, ScopeFilter, SecretBackend
from goldenpath.secrets.keyring import ENV_VAR, MasterKeyMissing, key_file_path, load_keyring
from goldenpath.secrets.model import (
    RotationResult,
    SecretMeta,
    SecretScope,
    check_name,
    check_scope,
    check_value,
)
from goldenpath.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy import Engine

__all__ = [
    "MasterKeyMissing",
    "RotationResult",
    "Rotator",
    "SecretMeta",
    "SecretScope",
    "SecretService",
]

_log = logging.getLogger(__name__)

_SOURCE = re.compile(r"^(user|generated|resource:[A-Za-z0-9][A-Za-z0-9._/-]{0,180})$")


_Metas = list[SecretMeta]
_Results = list[RotationResult]


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _check_source(source: str) -> str:
    if not isinstance(source, str) or not _SOURCE.match(source):
        raise InvalidInput(
            f"source {source!r} is invalid: use 'user', 'generated' or 'resource:<claim name>'",
            details={"field": "source"},
        )
    return source


def _check_actor(actor: str) -> str:
    if not isinstance(actor, str) or not actor.strip():
        raise InvalidInput("actor: say who changes the secret (a user or 'system')")
    return actor


def _make_backend(engine: Engine, settings: Settings) -> SecretBackend:
    if settings.secrets.backend == "vault":
        from goldenpath.secrets.vault import VaultSecretStore

        return VaultSecretStore(settings=settings)
    from goldenpath.secrets.store import LocalSecretStore, stored_key_ids

    ring = load_keyring(settings, create=False)
    if ring is None:
        in_use = stored_key_ids(engine)
        if in_use:  # rows exist but the key file is gone: never mint a new key over them
            kid = in_use[0]
            raise MasterKeyMissing(
                f"master key {kid!r} is missing: set {ENV_VAR} (as '{kid}:<base64>') or "
                f"restore {key_file_path(settings)}; stored secrets are wrapped with it and "
                "cannot be read without it",
                details={"keyId": kid},
            )
        ring = load_keyring(settings, create=True)
        assert ring is not None
    return LocalSecretStore(engine=engine, keyring=ring)


class SecretService:
    """Secrets: set, read, list, resolve, rotate, redact (see the module docstring).

    Args:
        engine: the store's engine, migrated to ``0006_secrets`` or later.
        settings: the whole settings tree (``secrets``, ``home``).
        clock: returns aware UTC now (tests inject one).
        backend: storage override (tests); default from ``settings.secrets.backend``.

    Raises:
        MasterKeyMissing: a stored data key's master key id is not in the keyring (the
            message names it: ``master key 'k2' is missing: set …MASTER_KEY or restore <file>``).
        SecretIntegrityError: the keyring holds a different key under a stored key id.
        InvalidInput: a malformed key, key file, or a key file readable by group/others.
    """

    def __init__(
        self,
        *,
        engine: Engine,
        settings: Settings,
        clock: Callable[[], datetime] = _utcnow,
        backend: SecretBackend | None = None,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.clock = clock
        self.backend: SecretBackend = backend or _make_backend(engine, settings)
        self.backend.check_keys()
        self._rotators: dict[str, Rotator] = {}
        self._lock = threading.Lock()
        self._redactor = Redactor(self.backend)

    # -- writes ------------------------------------------------------------------------

    def set(
        self,
        name: str,
        value: str,
        *,
        scope: SecretScope = SecretScope(),
        actor: str,
        source: str = "user",
    ) -> SecretMeta:
        """Store ``value`` as the next version of ``name`` in ``scope``; returns its metadata.

        Raises:
            InvalidInput: a bad name (env-var style ``^[A-Z_][A-Z0-9_]*$``), scope, source or
                value (not a string, NUL, over 64 KiB) — the message never shows the value.
        """
        return self.set_many({name: value}, scope=scope, actor=actor, source=source)[0]

    def set_many(
        self,
        values: Mapping[str, str],
        *,
        scope: SecretScope = SecretScope(),
        actor: str,
        source: str = "user",
    ) -> _Metas:
        """Store several secrets of one scope in one transaction (all or none), in order.

        Raises:
            InvalidInput: as :meth:`set`, or ``values`` is empty.
        """
        if not isinstance(values, Mapping) or not values:
            raise InvalidInput("give at least one secret as NAME=VALUE")
        check_scope(scope)
        _check_source(source)
        _check_actor(actor)
        items = []
        for name, value in values.items():
            check_value(check_name(name), value)
            items.append(NewVersion(name=name, scope=scope, value=value, source=source))
        return self.backend.put_many(items, actor=actor, now=self.clock())

    def ensure_generated(
        self, name: str, *, scope: SecretScope = SecretScope(), actor: str = "system"
    ) -> SecretMeta:
        """The newest version of ``name``, creating it with a random value
        (``secrets.token_urlsafe(32)``, source ``generated``) when it does not exist."""
        check_name(name)
        check_scope(scope)
        found = self.backend.read(name, scope)
        if found is not None:
            return found[0]
        return self.set(
            name, _random.token_urlsafe(32), scope=scope, actor=actor, source="generated"
        )

    def delete(self, name: str, *, scope: SecretScope = SecretScope(), actor: str) -> None:
        """Delete every version of ``name`` in ``scope``.

        Raises:
            NotFound: naming the secret and scope.
        """
        check_name(name)
        check_scope(scope)
        _check_actor(actor)
        if self.backend.delete(name, scope) == 0:
            raise self._not_found(name, scope)
        _log.info("secrets: %s deleted %s (%s)", actor, name, scope.describe())

    # -- reads -------------------------------------------------------------------------

    def get(self, name: str, *, scope: SecretScope = SecretScope()) -> str:
        """The newest value of ``name`` in exactly ``scope`` (no fallback to wider scopes).

        Raises:
            NotFound: naming the secret and scope (never a value).
            SecretIntegrityError: the stored row fails authentication.
        """
        check_name(name)
        check_scope(scope)
        found = self.backend.read(name, scope)
        if found is None:
            raise self._not_found(name, scope)
        return found[1]

    def read(self, name: str, *, scope: SecretScope = SecretScope()) -> tuple[SecretMeta, str]:
        """The newest version's metadata and value (one read; for an explicit reveal).

        Raises:
            NotFound: naming the secret and scope.
        """
        check_name(name)
        check_scope(scope)
        found = self.backend.read(name, scope)
        if found is None:
            raise self._not_found(name, scope)
        return found

    def list(
        self,
        *,
        service: str | None = None,
        environment: str | None = None,
        all_scopes: bool = False,
    ) -> _Metas:
        """Metadata of the newest version of each secret (never values).

        ``all_scopes=False``: exactly the scope (``service``, ``environment``), ``None``
        meaning "all". ``all_scopes=True``: every scope, ``service``/``environment`` (when
        given) filtering. Ordered by service, environment, name ("all" first).
        """
        check_scope(SecretScope(service, environment))
        return self.backend.latest(
            ScopeFilter(service=service, environment=environment, exact=not all_scopes)
        )

    def versions(self, name: str, *, scope: SecretScope = SecretScope()) -> _Metas:
        """Every version of one secret, newest first.

        Raises:
            NotFound: the secret does not exist in ``scope``.
        """
        check_name(name)
        check_scope(scope)
        found = self.backend.versions(name, scope)
        if not found:
            raise self._not_found(name, scope)
        return found

    def resolve(
        self, service: str, environment: str, *, exclude_sources: tuple[str, ...] = ()
    ) -> dict[str, str]:
        """The environment a process of ``service`` in ``environment`` gets: name → value.

        Later scopes win: global < environment-only < service-only < service+environment.
        Secrets whose ``source`` starts with one of ``exclude_sources`` are left out (the
        deploy passes ``("resource:",)``: a resource's outputs reach only its consumers).
        """
        check_scope(SecretScope(service, environment))
        order = [
            SecretScope(),
            SecretScope(environment=environment),
            SecretScope(service=service),
            SecretScope(service, environment),
        ]
        rank = {scope: i for i, scope in enumerate(order)}
        found = sorted(self.backend.read_many(order), key=lambda mv: rank[mv[0].scope])
        return {
            meta.name: value
            for meta, value in found
            if not (exclude_sources and meta.source.startswith(exclude_sources))
        }

    # -- rotation ----------------------------------------------------------------------

    def register_rotator(self, source_prefix: str, fn: Rotator) -> None:
        """Rotate secrets whose ``source`` starts with ``source_prefix`` with ``fn``.

        ``fn(meta)`` rotates the credential at its source (e.g. ``ALTER ROLE … PASSWORD``) and
        returns the new values by name (it may return several names of the same scope, e.g.
        ``DB_PASSWORD`` and ``DATABASE_URL``); :meth:`rotate` stores them as new versions.
        The longest matching prefix wins.
        """
        if not source_prefix:
            raise InvalidInput("source_prefix must not be empty (e.g. 'resource:')")
        with self._lock:
            self._rotators[source_prefix] = fn

    def _rotator_for(self, source: str) -> Rotator | None:
        with self._lock:
            matches = [p for p in self._rotators if source.startswith(p)]
            return self._rotators[max(matches, key=len)] if matches else None

    def rotate(
        self,
        name: str | None = None,
        *,
        scope: SecretScope | None = SecretScope(),
        actor: str,
        all: bool = False,
    ) -> _Results:
        """Rotate one secret, or every secret of ``scope`` (``all``; ``scope=None``: every scope).

        ``generated`` secrets get a new random value; secrets whose source has a registered
        rotator are rotated at their source; ``user`` secrets keep their value, re-encrypted
        under a fresh data key and the current master key (the result says so).

        Raises:
            InvalidInput: neither a name nor ``all``, or both.
            NotFound: the named secret does not exist.
            Unavailable: the named secret's source has no rotator registered here.
        """
        _check_actor(actor)
        if (name is None) == (not all):
            raise InvalidInput("rotate: name one secret or pass all (--all), not both")
        if name is not None:
            check_name(name)
            where = scope or SecretScope()
            check_scope(where)
            found = self.backend.read(name, where)
            if found is None:
                raise self._not_found(name, where)
            targets = [found[0]]
        else:
            if scope is not None:
                check_scope(scope)
            targets = self.backend.latest(
                ScopeFilter(
                    service=scope.service if scope else None,
                    environment=scope.environment if scope else None,
                    exact=scope is not None,
                )
            )
        return rotate_each(self, targets, self._rotator_for, actor=actor, strict=name is not None)

    def rotate_master_key(self, *, actor: str) -> int:
        """Make a new master key current and re-wrap every data key under it.

        Key file: a new key id (``k<n+1>``) is added and made current; old ids stay in the
        file until no row uses them, then they are removed. Keyring from
        ``GOLDENPATH_SECRETS__MASTER_KEY``: rows are re-wrapped under its first key.
        Returns the number of rows re-wrapped.

        Raises:
            InvalidInput: the Vault backend (Vault manages its own keys), or an environment
                keyring whose rows already all use its first key.
            MasterKeyMissing: a row's key id is not in the keyring (nothing changes).
        """
        _check_actor(actor)
        ring = getattr(self.backend, "keyring", None)
        if ring is None:
            raise InvalidInput(
                f"the {self.backend.name} backend keeps its own encryption keys; rotate them "
                "there (Vault: `vault operator rotate`)"
            )
        count = self.backend.rewrap(rotate=ring.source == "file")
        if count == 0 and ring.source == "env":
            ring.add_new()  # raises InvalidInput explaining how to rotate an env-held key
        _log.info("secrets: %s rotated the master key to %s (%d rows)", actor, ring.current, count)
        return count

    # -- redaction ---------------------------------------------------------------------

    def redact(self, text: str) -> str:
        """``text`` with every known secret value (any version, ≥ 4 characters) as ``***``.

        Longer values are replaced first (a value containing another is masked whole). The
        set of values is cached until a secret is added or removed.
        """
        return self._redactor.redact(text)

    # -- helpers -----------------------------------------------------------------------

    @staticmethod
    def _not_found(name: str, scope: SecretScope) -> NotFound:
        flags = "".join(
            f" --{flag} {value}"
            for flag, value in (("service", scope.service), ("env", scope.environment))
            if value
        )
        return NotFound(
            f"secret {name} does not exist in scope {scope.describe()}; "
            f"`platform secrets list{flags}` shows the secrets there",
            details={"name": name, **scope.to_dict()},
        )
