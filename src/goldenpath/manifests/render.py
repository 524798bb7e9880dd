"""One service in one environment → every Kubernetes object, in apply order.

:func:`render_service` joins the workload's objects (:mod:`goldenpath.manifests.workload`),
its observability objects (:mod:`goldenpath.manifests.observability`), any ``extra`` objects
and the manifests of its ``postgres`` resources (the Kubernetes compositions of
:mod:`goldenpath.resources.kubernetes`), sorted like kustomize's legacy order so that
namespaced prerequisites (ServiceAccount, Service) come before the workloads using them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from goldenpath.manifests import observability
from goldenpath.manifests._resources import database_objects
from goldenpath.manifests.target import RenderTarget
from goldenpath.manifests.workload import workload_objects
from goldenpath.resources.compositions import CompositionSet
from goldenpath.workloads.model import Workload

__all__ = ["KIND_ORDER", "render_service", "sort_objects"]

KIND_ORDER = (
    "Namespace",
    "ResourceQuota",
    "StorageClass",
    "CustomResourceDefinition",
    "ServiceAccount",
    "PodSecurityPolicy",
    "Role",
    "ClusterRole",
    "RoleBinding",
    "ClusterRoleBinding",
    "ConfigMap",
    "Secret",
    "Endpoints",
    "Service",
    "LimitRange",
    "PriorityClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "Deployment",
    "StatefulSet",
    "CronJob",
    "PodDisruptionBudget",
)
"""Kinds applied first, in this order (kustomize ``resid`` legacy order); other kinds follow
by kind name, then ``MutatingWebhookConfiguration`` and ``ValidatingWebhookConfiguration``."""

_LAST = ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration")
_FIRST_INDEX = {kind: i for i, kind in enumerate(KIND_ORDER)}


def _key(obj: Mapping[str, Any]) -> tuple[int, str, str, str, str]:
    kind = str(obj.get("kind", ""))
    meta = obj.get("metadata") or {}
    if kind in _FIRST_INDEX:
        rank = _FIRST_INDEX[kind]
    elif kind in _LAST:
        rank = len(KIND_ORDER) + 1 + _LAST.index(kind)
    else:
        rank = len(KIND_ORDER)
    ranked_kind = "" if rank != len(KIND_ORDER) else kind
    return (
        rank,
        ranked_kind,
        str(obj.get("apiVersion", "")),
        str(meta.get("namespace", "")),
        str(meta.get("name", "")),
    )


def sort_objects(objects: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """``objects`` in apply order (see :data:`KIND_ORDER`), then by apiVersion, namespace and
    name; stable for equal keys."""
    return sorted(objects, key=_key)


def render_service(
    workload: Workload,
    target: RenderTarget,
    *,
    image: str | None = None,
    secret_names: Sequence[str] = (),
    extra: Iterable[dict[str, Any]] = (),
    consumers: Sequence[str] = (),
    version: str | None = None,
    compositions: CompositionSet | None = None,
) -> list[dict[str, Any]]:
    """Every object of ``workload`` in ``target``, sorted (see :func:`sort_objects`).

    Args:
        workload, target, image, secret_names, consumers, version, compositions: as
            :func:`goldenpath.manifests.workload.workload_objects`.
        extra: more objects to include as they are (e.g. a team's own manifests).

    Raises:
        InvalidInput: something cannot be rendered (workload source and field named), or no
            Kubernetes composition serves a ``postgres`` resource in the environment.
        goldenpath.workloads.WorkloadError: invalid environment overrides.
    """
    # overrides applied once; the parts below then see no overrides left to apply
    workload = dataclasses.replace(workload.for_environment(target.environment), environments={})
    objects = workload_objects(
        workload,
        target,
        image=image,
        secret_names=secret_names,
        consumers=consumers,
        version=version,
        compositions=compositions,
    )
    objects.extend(observability.objects(workload, target))
    objects.extend(extra)
    objects.extend(database_objects(workload, target, compositions=compositions))
    return sort_objects(objects)
