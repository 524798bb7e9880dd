"""Kubernetes compositions as pure render functions: a claim in, manifests (dicts) out.

Two renderers, chosen by a composition's ``spec.provision.render``:

- ``cnpg-cluster``: a CloudNativePG ``Cluster`` (``postgresql.cnpg.io/v1``: instances, image,
  storage, resources, ``max_connections``, ``bootstrap.initdb`` of the claim's database and
  owner, a Barman object-store backup with a retention policy) and a ``ScheduledBackup``
  (six-field cron, ``backupOwnerReference: self``). CloudNativePG writes the connection to the
  Secret ``<name>-app`` (``username``, ``password``, ``uri`` …).
- ``crossplane-claim``: the developer-facing claim of a platform team's XRD (seed 004:
  ``kind: Database`` with ``spec.parameters.{size, engine, version}`` and
  ``writeConnectionSecretToRef.name: <name>-credentials``).

No IO: the Kubernetes driver writes them to a GitOps repository or applies them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from goldenpath.errors import InvalidInput
from goldenpath.resources.compositions import Composition

__all__ = ["RENDERERS", "labels", "render", "render_cnpg_cluster", "render_crossplane_claim"]

_MANAGED_BY = "goldenpath"


def labels(name: str, environment: str, size: str) -> dict[str, str]:
    """The labels every rendered object carries."""
    return {
        "app.kubernetes.io/managed-by": _MANAGED_BY,
        "goldenpath.dev/claim": name,
        "goldenpath.dev/environment": environment,
        "goldenpath.dev/size": size,
    }


def _meta(name: str, namespace: str, environment: str, size: str) -> dict[str, Any]:
    return {"name": name, "namespace": namespace, "labels": labels(name, environment, size)}


def render_cnpg_cluster(
    *,
    name: str,
    environment: str,
    size: str,
    parameters: Mapping[str, Any],
    namespace: str | None = None,
    database: str = "app",
    owner: str = "app",
) -> list[dict[str, Any]]:
    """A CloudNativePG ``Cluster`` and its ``ScheduledBackup`` for claim ``name``.

    ``parameters`` (a composition's merged per-class values): ``instances`` (default 1),
    ``storage`` (``1Gi``), ``cpu``/``memory`` (requests = limits), ``connection_limit``
    (→ ``max_connections``), ``imageName``, ``backupSchedule`` (six-field cron, seconds first),
    ``retentionPolicy`` (``14d``), ``backupDestination`` (object-store URL; the claim's
    environment/name is appended).
    """
    ns = namespace or environment
    resources: dict[str, Any] = {}
    limits = {k: str(parameters[k]) for k in ("cpu", "memory") if parameters.get(k) is not None}
    if limits:
        resources = {"requests": dict(limits), "limits": dict(limits)}
    destination = str(parameters.get("backupDestination") or "s3://backups").rstrip("/")
    spec: dict[str, Any] = {
        "instances": int(parameters.get("instances", 1)),
        "imageName": str(parameters.get("imageName", "ghcr.io/cloudnative-pg/postgresql:15")),
        "storage": {"size": str(parameters.get("storage", "1Gi"))},
        "postgresql": {
            "parameters": {"max_connections": str(int(parameters.get("connection_limit", 100)))}
        },
        "bootstrap": {"initdb": {"database": database, "owner": owner}},
        "backup": {
            "barmanObjectStore": {"destinationPath": f"{destination}/{environment}/{name}"},
            "retentionPolicy": str(parameters.get("retentionPolicy", "14d")),
        },
    }
    if resources:
        spec["resources"] = resources
    cluster = {
        "apiVersion": "postgresql.cnpg.io/v1",
        "kind": "Cluster",
        "metadata": _meta(name, ns, environment, size),
        "spec": spec,
    }
    scheduled = {
        "apiVersion": "postgresql.cnpg.io/v1",
        "kind": "ScheduledBackup",
        "metadata": _meta(f"{name}-backup", ns, environment, size),
        "spec": {
            "schedule": str(parameters.get("backupSchedule", "0 0 3 * * *")),
            "backupOwnerReference": "self",
            "cluster": {"name": name},
        },
    }
    return [cluster, scheduled]


def render_crossplane_claim(
    *,
    name: str,
    environment: str,
    size: str,
    parameters: Mapping[str, Any],
    namespace: str | None = None,
    database: str = "app",
    owner: str = "app",
) -> list[dict[str, Any]]:
    """A Crossplane claim (seed 004's ``Database``) for claim ``name``.

    ``parameters``: ``apiVersion`` (the XRD's claim group/version, default
    ``platform.example.com/v1alpha1``), ``claimKind`` (``Database``), ``engine``
    (``postgres``), ``version`` (``"15"``). The connection secret is ``<name>-credentials``.
    """
    claim = {
        "apiVersion": str(parameters.get("apiVersion", "platform.example.com/v1alpha1")),
        "kind": str(parameters.get("claimKind", "Database")),
        "metadata": _meta(name, namespace or environment, environment, size),
        "spec": {
            "parameters": {
                "size": size,
                "engine": str(parameters.get("engine", "postgres")),
                "version": str(parameters.get("version", "15")),
            },
            "writeConnectionSecretToRef": {"name": f"{name}-credentials"},
        },
    }
    return [claim]


RENDERERS: Mapping[str, Callable[..., list[dict[str, Any]]]] = {
    "cnpg-cluster": render_cnpg_cluster,
    "crossplane-claim": render_crossplane_claim,
}


def render(
    composition: Composition,
    *,
    name: str,
    environment: str,
    size: str,
    defaults: Mapping[str, Any],
    namespace: str | None = None,
) -> list[dict[str, Any]]:
    """The manifests ``composition`` (``provision.kind: kubernetes-manifests``) renders.

    Raises:
        InvalidInput: the composition is not a Kubernetes one or names an unknown renderer.
    """
    if composition.provision_kind != "kubernetes-manifests":
        raise InvalidInput(
            f"{composition.source}: composition {composition.name} provisions "
            f"{composition.provision_kind}, not kubernetes-manifests"
        )
    which = composition.provision.get("render")
    renderer = RENDERERS.get(str(which))
    if renderer is None:
        raise InvalidInput(
            f"{composition.source}: spec.provision.render: {which!r} is not a renderer; use "
            f"one of {', '.join(RENDERERS)}"
        )
    return renderer(
        name=name,
        environment=environment,
        size=size,
        parameters=composition.parameters(size, defaults),
        namespace=namespace,
    )
