"""What a deployment needs besides its build: a policy decision, its resources, its secrets.

DESIGN.md's data flow: "policy checks the request → resources provisions the database (claim
→ composition → driver) → secrets injects credentials → deploy records a Deployment and hands
it to the environment's driver". :class:`Provisioner` is that middle part for
:class:`~goldenpath.deploy.service.DeployService`; each collaborator is optional (``None``:
that part is skipped), so the deploy domain runs without them in tests.

- :meth:`Provisioner.check` — the ``deploy`` policy decision, before anything is recorded
  (input document: docs/policy.md).
- :meth:`Provisioner.process_env` — provisions the workload's resources (idempotent, Score
  semantics) and returns the environment its processes get: the service's secrets (global <
  environment < service < service+environment), the conventional variables of its resources
  (``DATABASE_URL`` and ``PGHOST``… for ``database:``/resource ``db`` of type postgres,
  ``REDIS_URL`` for a redis one, ``<NAME>_URL``/``_HOST``/``_PORT``/… for every resource),
  then the spec's own ``env`` with ``${resources.<name>.<output>}`` placeholders resolved.
  Values are secrets: they are never stored in deployment records, logs or messages; the
  result is cached in memory per deployment id (a redeploy after a rotation is a new id).
"""

from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from goldenpath.deploy.records import Target
from goldenpath.errors import InvalidInput, NotFound, PlatformError
from goldenpath.workloads.model import ResourceRequest, Workload

__all__ = ["OwnerLookup", "Provisioner", "policy_input"]

OwnerLookup = Callable[[str], Mapping[str, Any]]
"""Owner ref (``group:default/team-a``) → ``{"ref", "exists", "kind"}`` (from the catalog)."""

_PLACEHOLDER = re.compile(r"\$\{resources\.([a-z0-9-]+)\.([A-Za-z0-9_]+)\}")
_log = logging.getLogger(__name__)
_CACHE_SIZE = 256
#: ``SecretMeta.source`` prefix of a resource's connection outputs (goldenpath.resources)
RESOURCE_SOURCE = "resource:"


def _owner_ref(workload: Workload) -> str | None:
    if not workload.team:
        return None
    return workload.team if ":" in workload.team else f"group:default/{workload.team}"


def policy_input(
    workload: Workload,
    environment: str,
    *,
    production: bool,
    actor: str,
    owner: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """The ``deploy`` policy input (docs/policy.md): environment, service facts, owner, actor.

    Images: the container images a Score file names (``[]`` for builds from source).
    """
    ref = _owner_ref(workload)
    return {
        "action": "deploy",
        "environment": {"name": environment, "production": production},
        "service": {
            "name": workload.name,
            "owner": ref,
            "tier": workload.tier,
            "replicas": workload.runtime.replicas,
            "cpu": workload.runtime.cpu,
            "memory": workload.runtime.memory,
            "images": sorted({c.image for c in workload.containers.values() if c.image}),
            "slo": workload.monitoring.slo,
            "network_policy": True,  # always generated (docs/kubernetes.md)
            "resources": [
                {"name": r.name, "type": r.type, "size": r.size, "backups": True}
                for r in workload.resources.values()
            ],
        },
        "owner": dict(owner) if owner is not None else {"ref": ref, "exists": False, "kind": None},
        "actor": actor,
    }


def _conventional(name: str, request: ResourceRequest, out: Mapping[str, str]) -> dict[str, str]:
    prefix = re.sub(r"[^A-Z0-9]", "_", name.upper())
    env = {f"{prefix}_{key.upper()}": value for key, value in out.items()}
    if request.type == "postgres" and name == "db":
        env["DATABASE_URL"] = out.get("url", "")
        pg = {"host": "PGHOST", "port": "PGPORT", "database": "PGDATABASE"}
        pg |= {"username": "PGUSER", "password": "PGPASSWORD"}
        env |= {var: out[key] for key, var in pg.items() if key in out}
    if request.type == "redis":
        env.setdefault("REDIS_URL", out.get("url", ""))
    return env


@dataclass
class Provisioner:
    """Policy, resources and secrets for deployments (module doc); any part may be None.

    Attributes:
        resources: a :class:`goldenpath.resources.service.ResourceService`.
        secrets: a :class:`goldenpath.secrets.service.SecretService`.
        policy: a :class:`goldenpath.policy.service.PolicyService`.
        owners: looks an owner ref up in the catalog (policy's ``owner`` facts).
    """

    resources: Any = None
    secrets: Any = None
    policy: Any = None
    owners: OwnerLookup | None = None
    _cache: OrderedDict[int, dict[str, str]] = field(default_factory=OrderedDict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def check(
        self, workload: Workload, environment: str, *, production: bool, actor: str
    ) -> list[str]:
        """Enforce the ``deploy`` policies; returns the warnings (``rule: message``).

        Raises:
            PolicyDenied: a ``deny`` rule matched (the message names each rule and its fix).
        """
        if self.policy is None:
            return []
        ref = _owner_ref(workload)
        owner = self.owners(ref) if (self.owners is not None and ref) else None
        decision = self.policy.enforce(
            "deploy",
            policy_input(workload, environment, production=production, actor=actor, owner=owner),
            actor=actor,
            subject=f"service {workload.name} in {environment}",
        )
        return [f"{w.rule}: {w.message}" for w in decision.warnings]

    def check_placeholders(self, workload: Workload) -> None:
        """Refuse ``${resources…}`` placeholders when no resource service is configured.

        Raises:
            InvalidInput: naming the variable and the placeholder (never a value).
        """
        if self.resources is not None:
            return
        for name, value in sorted(workload.env.items()):
            found = _PLACEHOLDER.search(value)
            if found:
                raise InvalidInput(
                    f"{workload.source}: env variable {name} uses {found.group(0)}, but this "
                    "server provisions no resources; set the value directly",
                    details={"field": f"spec.run.env.{name}", "source": workload.source},
                )

    def rotated_targets(
        self, rotated: Sequence[Any], targets: Sequence[Target]
    ) -> dict[tuple[str, str], list[str]]:
        """Which deployed services a rotation affects: ``(service, environment)`` → the names
        of their secrets that got a new value.

        ``rotated``: :class:`goldenpath.secrets.model.RotationResult` items. A secret reaches a
        service when its scope covers the service (global, the environment, the service, or
        both); a resource's output (source ``resource:<claim>``) only the claim's consumers.
        Targets with no successful deployment are left out.
        """
        out: dict[tuple[str, str], list[str]] = {}
        for result in rotated:
            if not result.value_changed:
                continue
            scope, source = result.scope, str(result.meta.source)
            for t in targets:
                if t.stable_id is None:
                    continue
                if scope.environment and t.environment != scope.environment:
                    continue
                if scope.service and t.service != scope.service:
                    continue
                if source.startswith(RESOURCE_SOURCE) and not self._consumes(
                    t, source[len(RESOURCE_SOURCE) :]
                ):
                    continue
                out.setdefault((t.service, t.environment), []).append(result.name)
        return out

    def _consumes(self, target: Target, claim: str) -> bool:
        if self.resources is None:
            return False
        try:
            found = self.resources.get(claim, environment=target.environment)
        except NotFound:
            return False
        return target.service in (found.consumers or [])

    def secret_names(self, service: str, environment: str) -> list[str]:
        """Names (never values) of the user secrets ``service`` gets in ``environment``."""
        if self.secrets is None:
            return []
        return sorted(
            self.secrets.resolve(service, environment, exclude_sources=(RESOURCE_SOURCE,))
        )

    def teardown_environment(self, environment: str, *, actor: str) -> list[str]:
        """Delete every resource claimed in ``environment`` (``platform env delete``: a
        database gets its final backup first); returns the names deleted. A claim that
        cannot be deleted is left, with a warning in the log."""
        if self.resources is None:
            return []
        deleted = []
        for claim in self.resources.list(environment=environment):
            try:
                self.resources.delete(claim.name, environment=environment, actor=actor, force=True)
            except PlatformError as e:
                _log.warning("environment %s: resource %s kept: %s", environment, claim.name, e)
                continue
            deleted.append(claim.name)
        with self._lock:
            self._cache.clear()
        return deleted

    def process_env(
        self, deployment_id: int, workload: Workload, environment: str, *, actor: str
    ) -> dict[str, str]:
        """The variables the deployment's processes get (module doc); provisions the
        workload's resources first (idempotent). Cached per ``deployment_id``.

        Raises:
            InvalidInput / Conflict / Unavailable: from provisioning (unknown type or size,
                a name taken by another type, the managed cluster down…).
        """
        with self._lock:
            cached = self._cache.get(deployment_id)
            if cached is not None:
                self._cache.move_to_end(deployment_id)
                return dict(cached)
        env: dict[str, str] = {}
        if self.secrets is not None:
            env |= self.secrets.resolve(
                workload.name, environment, exclude_sources=(RESOURCE_SOURCE,)
            )
        outputs: dict[str, dict[str, str]] = {}
        if self.resources is not None and workload.resources:
            outputs = self.resources.ensure_for_workload(
                workload.name,
                environment,
                list(workload.resources.values()),
                owner=_owner_ref(workload),
                actor=actor,
            )
            for name, out in sorted(outputs.items()):
                env |= _conventional(name, workload.resources[name], out)
        for var, value in workload.env.items():
            env[var] = _resolve(value, outputs, var)
        with self._lock:
            self._cache[deployment_id] = dict(env)
            while len(self._cache) > _CACHE_SIZE:
                self._cache.popitem(last=False)
        return env


def _resolve(value: str, outputs: Mapping[str, Mapping[str, str]], var: str) -> str:
    """``value`` with every ``${resources.<name>.<output>}`` replaced by that output."""

    def output(match: re.Match[str]) -> str:
        resource, key = match.group(1), match.group(2)
        try:
            return outputs[resource][key]
        except KeyError:
            known = ", ".join(sorted(outputs.get(resource, {}))) or "none"
            raise InvalidInput(
                f"env variable {var} uses ${{resources.{resource}.{key}}}: resource "
                f"{resource!r} has no output {key!r} (outputs: {known})"
            ) from None

    return _PLACEHOLDER.sub(output, value)
