"""``ResourceService``: self-service resources — claim, provision, connect, back up, delete.

The use cases behind ``/api/resources/v1`` and ``platform db …`` (Crossplane's claim →
composition model). A claim (:class:`ClaimRequest`) names a resource type and size class;
the composition chosen for the environment's driver says what to provision; the connection
outputs (``host port database username password url``) become secrets in the environment's
scope named ``<CLAIM>_<KEY>`` (``ORDERS_DB_URL``), with source ``resource:<claim>`` so that
``platform secrets rotate`` rotates the password at its source (``ALTER ROLE … PASSWORD``).

Concurrency: provisioning a claim holds the lease ``resources:<env>/<name>``
(:mod:`goldenpath.store.leases`) and ``resources_claims`` has a unique (environment, name), so
concurrent creates of one name provision one resource; each waits for the other and returns
the same claim. The policy ``guard`` runs before anything changes.
"""

from __future__ import annotations

import logging
import secrets as pysecrets
import uuid
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine

from goldenpath.errors import Conflict, InvalidInput, NotFound, PlatformError, Unavailable
from goldenpath.resources import _backups, _checks, _provision, _rotation, kubernetes, store
from goldenpath.resources.compositions import Composition, CompositionSet, load_compositions
from goldenpath.resources.model import (
    Backup,
    Claim,
    ClaimRequest,
    ResourceType,
    output_secret_names,
    secret_prefix,
    validate_claim_name,
)
from goldenpath.resources.types import TypeRegistry, load_types
from goldenpath.secrets.service import SecretScope
from goldenpath.settings import Settings

if TYPE_CHECKING:
    from goldenpath.drivers.local.postgres import ManagedPostgres
    from goldenpath.drivers.local.redis import ManagedRedis
    from goldenpath.secrets.service import SecretMeta, SecretService
    from goldenpath.workloads.model import ResourceRequest

__all__ = ["MASK", "ClaimRequest", "ResourceService"]

_log = logging.getLogger(__name__)

#: what a masked password looks like in outputs
MASK = "********"
_SOURCE = _rotation.SOURCE

_Claims = list[Claim]
_Backups = list[Backup]
_Manifests = list[dict[str, Any]]
Guard = Callable[[Mapping[str, Any]], None]
EnvironmentInfo = Callable[[str], Mapping[str, Any]]


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _default_environment(name: str) -> Mapping[str, Any]:
    return {"driver": "local", "production": name == "production"}


class ResourceService:
    """Claims, their provisioning, outputs, backups and deletion.

    Args:
        engine: the store (tables of migration ``0008_resources``).
        settings: ``resources`` (compositions dir, backup dir and retention) and ``home``.
        secrets: where connection outputs go; a rotator for ``resource:`` is registered.
        postgres, redis: the local driver's managed data services.
        guard: policy check on provision (raises to deny), called with ``{"action":
            "provision", "environment": {"name", "production"}, "resource": {"name", "type",
            "size", "backups"}, "owner": {"ref"}, "actor"}`` before anything changes.
        environments: environment name → ``{"driver": "local"|"kubernetes", "production":
            bool}`` (raises NotFound for an unknown one); default: every environment is
            local and ``production`` is the production one.
        clock: aware UTC now.
        types: extra resource types (besides built-ins and entry points).
    """

    def __init__(
        self,
        *,
        engine: Engine,
        settings: Settings,
        secrets: SecretService,
        postgres: ManagedPostgres,
        redis: ManagedRedis,
        guard: Guard | None = None,
        environments: EnvironmentInfo | None = None,
        clock: Callable[[], datetime] = _utcnow,
        types: Sequence[ResourceType] = (),
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.secrets = secrets
        self.postgres = postgres
        self.redis = redis
        self.guard = guard
        self._environment_info = environments or _default_environment
        self.clock = clock
        self.registry: TypeRegistry = load_types(types)
        self._holder = f"resources-{uuid.uuid4().hex[:12]}"
        secrets.register_rotator(_SOURCE, self._rotate)

    # -- catalogue ---------------------------------------------------------------------

    def types(self) -> list[ResourceType]:
        """Every resource type with its size classes."""
        return self.registry.all()

    def compositions(self) -> CompositionSet:
        """Built-in compositions plus the compositions directory (re-read on each call, so
        a platform team's new file takes effect without a restart).

        Raises:
            InvalidInput: a composition file is invalid (names the file and field).
        """
        directory = self.settings.resources.compositions_dir or self.settings.home / "compositions"
        return load_compositions(directory)

    # -- claims ------------------------------------------------------------------------

    def create(self, req: ClaimRequest, *, actor: str) -> Claim:
        """Provision ``req`` (idempotent for the same name, type and size).

        Returns the claim, ``ready`` (local) or ``provisioning`` (Kubernetes: manifests were
        rendered for the driver, see :meth:`manifests`).

        Raises:
            InvalidInput: bad name, unknown type or size (lists the valid ones), no
                composition for the environment.
            Conflict: the name exists with another type or size (names both).
            NotFound: unknown environment (from ``environments``).
            Unavailable: the data service cannot be started; the claim is ``failed`` and a
                later create retries it.
            PlatformError: whatever ``guard`` raises to deny (nothing changed).
        """
        name = validate_claim_name(req.name)
        kind = self.registry.get(req.type)
        defaults = self.registry.size(kind, req.size)
        env = self._environment_info(req.environment)
        driver = str(env.get("driver", "local"))
        comp = self.compositions().select(
            type=kind.name, size=req.size, environment=req.environment, driver=driver
        )
        existing = store.find_claim(self.engine, name, req.environment)
        if existing is not None and existing.state != "deleted":
            _checks.same_spec(existing, req)
        self._check_guard(req, kind, env, actor)
        if existing is not None and existing.state == "ready":
            self._note_consumer(existing, req.service)
            return store.load_claim(self.engine, name, req.environment)
        with _checks.claim_lease(self.engine, self._holder, req.environment, name):
            claim = self._claim_row(req, comp, actor)
            if claim.state != "ready":
                claim = self._provision(claim, comp, defaults, driver, actor)
        self._note_consumer(claim, req.service)
        return store.load_claim(self.engine, name, req.environment)

    def ensure_for_workload(
        self,
        service: str,
        environment: str,
        requests: Sequence[ResourceRequest],
        *,
        owner: str | None,
        actor: str,
    ) -> dict[str, dict[str, str]]:
        """Provision a workload's resources and return their outputs by resource name.

        Score semantics: a request with ``params.id`` is the shared resource of that id
        (same type and class across workloads = one resource); without one it is private to
        the workload, claimed as ``<service>-<name>``. Ready local resources are re-ensured
        (the cluster restarted, the role's password matches the secret). Returns ``{"db":
        {"host", "port", "database", "username", "password", "url"}}`` (values revealed: the
        deploy injects them as ``DATABASE_URL`` etc.).

        Raises:
            as :meth:`create`; InvalidInput when a request's ``id`` is not a claim name.
        """
        found: dict[str, dict[str, str]] = {}
        for request in requests:
            shared = request.params.get("id")
            claim_name = str(shared) if shared else f"{service}-{request.name}"
            validate_claim_name(claim_name, field_name=f"resources.{request.name}")
            params = {k: v for k, v in request.params.items() if k != "id"}
            req = ClaimRequest(
                name=claim_name,
                type=request.type,
                size=request.size or "small",
                environment=environment,
                owner=owner,
                params=params,
                service=service,
            )
            claim = self.create(req, actor=actor)
            comp = self._composition(claim)
            if comp.provision_kind == "kubernetes-manifests":
                found[request.name] = self._reference_outputs(claim, comp)
                continue
            self._reensure(claim, comp)
            found[request.name] = self.outputs(claim.name, environment=environment, reveal=True)
        return found

    def list(
        self, *, environment: str | None = None, type: str | None = None, usage: bool = False
    ) -> _Claims:
        """Claims (not deleted) by environment and name; ``usage`` measures each ready
        postgres database's size (``used_bytes``; one query each)."""
        found = store.list_claims(self.engine, environment=environment, type=type)
        return [self._with_usage(c) for c in found] if usage else found

    def get(self, name: str, *, environment: str) -> Claim:
        """One claim with its measured size.

        Raises:
            NotFound: no such claim (or it was deleted).
        """
        return self._with_usage(store.load_claim(self.engine, name, environment))

    def outputs(self, name: str, *, environment: str, reveal: bool) -> dict[str, str]:
        """The claim's connection outputs; the password (also inside ``url``) is masked
        unless ``reveal``.

        Raises:
            NotFound: no such claim; Conflict: it is not ready (no outputs yet).
        """
        claim = store.load_claim(self.engine, name, environment)
        if claim.state != "ready" or not claim.outputs_ref:
            raise Conflict(
                f"resource {name!r} in {environment} is {claim.state}: no connection outputs yet"
                + (f" ({claim.message})" if claim.message else ""),
                details={"name": name, "environment": environment, "state": claim.state},
            )
        scope = SecretScope(environment=environment)
        cut = len(secret_prefix(name)) + 1
        values = {
            secret[cut:].lower(): self.secrets.get(secret, scope=scope)
            for secret in claim.outputs_ref
        }
        if reveal:
            return values
        password = values.get("password")
        masked = {k: v for k, v in values.items() if k != "password"}
        if password:
            masked = {k: v.replace(password, MASK) for k, v in masked.items()}
            masked["password"] = MASK
        return masked

    def manifests(self, name: str, *, environment: str) -> _Manifests:
        """The Kubernetes manifests of a claim whose composition renders them.

        Raises:
            NotFound: no such claim; InvalidInput: its composition is a local one.
        """
        claim = store.load_claim(self.engine, name, environment)
        comp = self._composition(claim)
        kind = self.registry.get(claim.type)
        return kubernetes.render(
            comp,
            name=claim.name,
            environment=environment,
            size=claim.size,
            defaults=self.registry.size(kind, claim.size),
            namespace=claim.params.get("namespace"),
        )

    def release_consumer(self, service: str, *, environment: str, name: str | None = None) -> int:
        """Forget that ``service`` uses claim ``name`` (or every claim in ``environment``),
        e.g. when the service is torn down; returns how many were released."""
        count = 0
        for claim in store.list_claims(self.engine, environment=environment):
            if (name is None or claim.name == name) and service in claim.consumers:
                count += store.remove_consumer(self.engine, claim.id, service)
        return count

    # -- backups -----------------------------------------------------------------------

    def backup(self, name: str, *, environment: str, actor: str, reason: str = "manual") -> Backup:
        """Dump the claim's database (``pg_dump -Fc``) into its backup directory, then drop
        the oldest beyond ``settings.resources.backup_retention``.

        Raises:
            NotFound: no such claim; InvalidInput: the type has no backups (redis) or the
            directory is unwritable; Unavailable: disk full / the dump failed. Older backups
            are intact in every failure.
        """
        claim = _checks.ready_claim(self.engine, name, environment, "back up")
        database = _checks.local_database(self.engine, self.registry, claim)
        return _backups.take(
            self.engine,
            self.settings,
            self.postgres,
            claim=claim,
            database=database,
            actor=actor,
            reason=reason,
            now=self.clock(),
        )

    def backups(self, name: str, *, environment: str) -> _Backups:
        """The claim's backups, newest first (also those of a deleted claim)."""
        if store.find_claim(self.engine, name, environment) is None:
            store.load_claim(self.engine, name, environment)  # raises NotFound
        return store.list_backups(self.engine, name, environment)

    def restore(self, name: str, backup_id: str, *, environment: str, actor: str) -> None:
        """Restore backup ``backup_id`` into the claim's database (``pg_restore --clean``).

        Raises:
            NotFound: no such claim or backup (lists the ids); Unavailable: the restore failed.
        """
        claim = _checks.ready_claim(self.engine, name, environment, "restore")
        database = _checks.local_database(self.engine, self.registry, claim)
        backup = _backups.find(self.engine, claim, backup_id)
        _log.info("restoring %s/%s from backup %s (by %s)", environment, name, backup_id, actor)
        self.postgres.restore(database, Path(backup.path), role=database)

    def delete(
        self, name: str, *, environment: str, actor: str, force: bool = False
    ) -> Backup | None:
        """Delete a claim: a final backup first (postgres), then drop the database or
        instance, delete the output secrets, mark the claim ``deleted``.

        Returns the final backup (None for types without backups or a never-ready claim).

        Raises:
            NotFound: no such claim. Conflict: services still use it (named) and not
            ``force``. A failed final backup stops the deletion (nothing dropped).
        """
        claim = store.load_claim(self.engine, name, environment)
        if claim.consumers and not force:
            raise Conflict(
                f"resource {name!r} in {environment} is used by {', '.join(claim.consumers)}; "
                "remove it from their platform.yaml and redeploy, or delete with force",
                details={"consumers": claim.consumers},
            )
        with _checks.claim_lease(self.engine, self._holder, environment, name):
            claim = store.load_claim(self.engine, name, environment)
            final = None
            kind = self.registry.get(claim.type)
            resource = store.resource_of(self.engine, claim.id)
            if kind.backups and claim.state == "ready" and "database" in resource:
                final = self.backup(name, environment=environment, actor=actor, reason="final")
            self._drop(claim, resource)
            scope = SecretScope(environment=environment)
            for secret in claim.outputs_ref:
                with suppress(NotFound):
                    self.secrets.delete(secret, scope=scope, actor=actor)
            store.clear_consumers(self.engine, claim.id)
            store.transition(
                self.engine,
                claim,
                "deleted",
                now=self.clock(),
                message=f"deleted by {actor}",
                values={"outputs_ref": []},
            )
        return final

    # -- internals ---------------------------------------------------------------------

    def _check_guard(
        self, req: ClaimRequest, kind: ResourceType, env: Mapping[str, Any], actor: str
    ) -> None:
        if self.guard is not None:
            self.guard(_checks.guard_input(req, kind, env, actor))

    def _claim_row(self, req: ClaimRequest, comp: Composition, actor: str) -> Claim:
        now = self.clock()
        values: dict[str, Any] = {
            "name": req.name,
            "environment": req.environment,
            "type": req.type,
            "size": req.size,
            "composition": comp.name,
            "message": "provisioning",
            "owner": req.owner,
            "params": dict(req.params),
            "outputs_ref": [],
            "resource": {},
            "created_at": now,
            "created_by": actor,
            "updated_at": now,
        }
        existing = store.find_claim(self.engine, req.name, req.environment)
        if existing is None:
            store.insert_claim(self.engine, values)
            existing = store.find_claim(self.engine, req.name, req.environment)
            assert existing is not None
            return existing
        if existing.state == "ready":
            _checks.same_spec(existing, req)
            return existing
        if existing.state != "provisioning":  # deleted → reclaimed; failed → retried
            if existing.state == "failed":
                _checks.same_spec(existing, req)
            fixed = {"name", "environment"} | (
                {"created_at", "created_by"} if existing.state == "failed" else set()
            )
            keep = {k: v for k, v in values.items() if k not in fixed}
            return store.transition(
                self.engine, existing, "provisioning", now=now, message="provisioning", values=keep
            )
        return existing

    def _password(self, claim: Claim) -> str:
        secret = output_secret_names(claim.name)["password"]
        try:
            return self.secrets.get(secret, scope=SecretScope(environment=claim.environment))
        except NotFound:
            return pysecrets.token_urlsafe(24)

    def _provision(
        self,
        claim: Claim,
        comp: Composition,
        defaults: Mapping[str, Any],
        driver: str,
        actor: str,
    ) -> Claim:
        params = comp.parameters(claim.size, defaults)
        quota = params.get("storage_quota_mb")
        if driver == "kubernetes" or comp.provision_kind == "kubernetes-manifests":
            rendered = self.manifests_for(comp, claim, defaults)
            return store.transition(
                self.engine,
                claim,
                "provisioning",
                now=self.clock(),
                message=f"rendered {len(rendered)} manifest(s) for the Kubernetes driver",
                values={"resource": {"manifests": len(rendered), "storage_quota_mb": quota}},
            )
        try:
            facts = self._run_provisioner(claim, comp, params)
            outputs = comp.render_outputs({**facts, "claim": claim.name, "name": claim.name,
                                           "environment": claim.environment})  # fmt: skip
            names = output_secret_names(claim.name, tuple(outputs))
            self.secrets.set_many(
                {names[key]: value for key, value in outputs.items()},
                scope=SecretScope(environment=claim.environment),
                actor=actor,
                source=f"{_SOURCE}{claim.name}",
            )
        except PlatformError as e:
            self._fail(claim, e.message)
            raise
        except Exception as e:
            self._fail(claim, f"{type(e).__name__} while provisioning")
            raise Unavailable(
                f"provisioning {claim.type} {claim.name!r} failed ({type(e).__name__}); the "
                "claim is marked failed and the next create retries it"
            ) from e
        return store.transition(
            self.engine,
            claim,
            "ready",
            now=self.clock(),
            message="ready",
            values={"outputs_ref": [names[k] for k in outputs], "resource": facts["resource"]},
        )

    def manifests_for(
        self, comp: Composition, claim: Claim, defaults: Mapping[str, Any]
    ) -> _Manifests:
        """Render ``comp`` for ``claim`` (Kubernetes compositions only)."""
        return kubernetes.render(
            comp,
            name=claim.name,
            environment=claim.environment,
            size=claim.size,
            defaults=defaults,
            namespace=claim.params.get("namespace"),
        )

    def _run_provisioner(
        self, claim: Claim, comp: Composition, params: Mapping[str, Any]
    ) -> dict[str, Any]:
        password = self._password(claim)
        common: dict[str, Any] = {
            "environment": claim.environment,
            "name": claim.name,
            "parameters": params,
            "password": password,
            "source": comp.source,
        }
        if comp.provision_kind == "local-postgres":
            return _provision.provision_postgres(self.postgres, **common)
        if comp.provision_kind == "local-redis":
            return _provision.provision_redis(self.redis, **common)
        raise InvalidInput(f"{comp.source}: spec.provision.kind {comp.provision_kind} is not local")

    def _fail(self, claim: Claim, message: str) -> None:
        try:
            store.transition(self.engine, claim, "failed", now=self.clock(), message=message)
        except Conflict:
            _log.warning("claim %s/%s moved while failing it", claim.environment, claim.name)

    def _reensure(self, claim: Claim, comp: Composition) -> None:
        """Re-run the provisioner of a ready local claim with its current password."""
        kind = self.registry.get(claim.type)
        params = comp.parameters(claim.size, self.registry.size(kind, claim.size))
        self._run_provisioner(claim, comp, params)

    @staticmethod
    def _reference_outputs(claim: Claim, comp: Composition) -> dict[str, str]:
        """A Kubernetes claim's outputs: references (``secretKeyRef:<secret>/<key>``) to the
        connection Secret the operator writes, for the Kubernetes driver to wire."""
        return comp.render_outputs(
            {
                "name": claim.name,
                "claim": claim.name,
                "environment": claim.environment,
                "namespace": claim.params.get("namespace") or claim.environment,
                "database": "app",
                "username": "app",
            }
        )

    def _composition(self, claim: Claim) -> Composition:
        comp = self.compositions().get(claim.composition)
        if comp is None:
            raise InvalidInput(
                f"resource {claim.name!r} was provisioned by composition {claim.composition}, "
                "which no longer exists; restore its file in the compositions directory"
            )
        return comp

    def _note_consumer(self, claim: Claim, service: str | None) -> None:
        if service:
            store.add_consumer(self.engine, claim.id, service, now=self.clock())

    def _with_usage(self, claim: Claim) -> Claim:
        if claim.state != "ready" or claim.type != "postgres":
            return claim
        database = store.resource_of(self.engine, claim.id).get("database")
        if not database:
            return claim
        try:
            used = self.postgres.database_size(str(database))
        except PlatformError:
            return claim
        return replace(claim, used_bytes=int(used))

    def _drop(self, claim: Claim, resource: Mapping[str, Any]) -> None:
        if "database" in resource:
            self.postgres.drop_database(str(resource["database"]), role=str(resource["role"]))
        elif "instance" in resource:
            self.redis.remove(str(resource["instance"]))

    def _rotate(self, meta: SecretMeta) -> Mapping[str, str]:
        return _rotation.rotate(self, meta)
