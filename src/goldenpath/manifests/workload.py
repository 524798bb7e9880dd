"""A :class:`~goldenpath.workloads.Workload` in one environment → its Kubernetes objects.

Pure: no IO, plain dicts out (``apiVersion``/``kind``/``metadata``/``spec``), ready for YAML.
What is rendered (issue 6 "Rendering", docs/kubernetes.md):

- ``ServiceAccount`` (``automountServiceAccountToken: false``);
- ``Deployment`` (rolling) or an Argo Rollouts ``Rollout`` (canary, blue-green) plus the
  canary's ``AnalysisTemplate`` and a ``<service>-canary`` / ``<service>-preview`` Service;
- ``Service`` (ClusterIP, the workload's port, target port ``http``);
- ``Ingress`` with TLS (cert-manager ``cluster-issuer`` annotation, ``tls`` block, host
  ``<service>.<environment>.<domain>``) — always for ``platform.yaml``, for Score only when
  the workload declares a ``route`` or ``dns`` resource (Score's way of asking to be exposed);
- ``HorizontalPodAutoscaler`` (``autoscaling/v2``, CPU 70 %, min = replicas, max =
  max(3 * replicas, 3)); ``PodDisruptionBudget`` (``minAvailable: 1``) when replicas > 1;
- ``NetworkPolicy`` ``<service>-default-deny`` (ingress to the service's pods denied) and
  ``<service>-allow`` (from the ingress controller's namespace and from declared consumers);
- ``ExternalSecret`` (``external-secrets.io/v1beta1``) ``<service>-secrets`` for
  ``secret_names``, mounted with ``envFrom`` — names only, never values.

Every object carries the Kubernetes recommended labels and ``backstage.io/kubernetes-id``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from goldenpath.errors import InvalidInput
from goldenpath.manifests import _rollout
from goldenpath.manifests._pod import PORT_NAME, labels, pod_template, selector
from goldenpath.manifests.target import RenderTarget
from goldenpath.resources.compositions import CompositionSet
from goldenpath.workloads.model import Workload

__all__ = ["default_image", "exposed", "workload_objects"]

_SECRET_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
_EXPOSED_BY = frozenset({"route", "dns"})


def default_image(workload: Workload, target: RenderTarget, version: str) -> str:
    """The image the platform builds: ``<image_registry>/<service>:<version>``."""
    return f"{target.image_registry}/{workload.name}:{version}"


def _version(image: str | None) -> str:
    if image is None:
        return "latest"
    last = image.rsplit("/", 1)[-1]
    if "@" in last:
        return last.rsplit("@", 1)[1].replace("sha256:", "")[:12]
    return last.rsplit(":", 1)[1] if ":" in last else "latest"


def _image(workload: Workload, target: RenderTarget, image: str | None, version: str) -> str:
    if image is not None:
        return image
    declared = workload.build.image
    if workload.format == "score" and declared and declared != ".":
        return declared  # Score containers' images as given
    return default_image(workload, target, version)


class _Meta:
    def __init__(self, workload: Workload, target: RenderTarget, version: str) -> None:
        self.labels = labels(workload, target, version)
        self.namespace = target.namespace

    def __call__(self, name: str, **annotations: str) -> dict[str, Any]:
        meta: dict[str, Any] = {
            "name": name,
            "namespace": self.namespace,
            "labels": dict(self.labels),
        }
        if annotations:
            meta["annotations"] = dict(annotations)
        return meta


def _check(workload: Workload) -> None:
    if workload.runtime.replicas < 1:
        raise InvalidInput(
            f"{workload.source}: spec.runtime.replicas: {workload.runtime.replicas} cannot be "
            "rendered for Kubernetes (an HPA needs at least 1); set replicas ≥ 1"
        )
    if workload.deployment.strategy == "canary" and not workload.deployment.steps:
        raise InvalidInput(
            f"{workload.source}: spec.deployment.steps: a canary needs at least one step"
        )


def workload_objects(
    workload: Workload,
    target: RenderTarget,
    *,
    image: str | None = None,
    secret_names: Sequence[str] = (),
    consumers: Sequence[str] = (),
    version: str | None = None,
    compositions: CompositionSet | None = None,
) -> list[dict[str, Any]]:
    """The workload's own objects in ``target`` (see the module docstring), unsorted.

    Args:
        workload: as loaded; ``environments[target.environment]`` overrides are applied here.
        target: where it goes.
        image: the built image; default ``<image_registry>/<service>:<version>`` (Score:
            the main container's image when it is not ``.``).
        secret_names: names of the service's secrets (values stay in the secret store).
        consumers: services that list this one in ``dependencies`` (allowed by the
            NetworkPolicy).
        version: ``app.kubernetes.io/version``; default the image tag (``latest``).
        compositions: resource compositions (default: the built-in ones).

    Raises:
        InvalidInput: something that cannot be rendered; the message names the workload
            source and field. goldenpath.workloads.WorkloadError: invalid overrides.
    """
    workload = workload.for_environment(target.environment)
    _check(workload)
    version = version or _version(image if image is not None else workload.build.image)
    img = _image(workload, target, image, version)
    meta = _Meta(workload, target, version)
    name = workload.name
    objects: list[dict[str, Any]] = [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": meta(name),
            "automountServiceAccountToken": False,
        }
    ]
    env_from: list[dict[str, Any]] = []
    if secret_names:
        objects.append(_external_secret(workload, target, meta, secret_names))
        env_from.append({"secretRef": {"name": f"{name}-secrets"}})
    template = pod_template(
        workload,
        target,
        image=img,
        version=version,
        env_from=env_from,
        compositions=compositions,
    )
    objects.extend(_controller(workload, target, meta, template))
    objects.append(_service(workload, target, meta, name))
    objects.extend(_ingress(workload, target, meta))
    objects.extend(_scaling(workload, target, meta))
    objects.extend(_network_policies(workload, target, meta, consumers))
    return objects


def _controller(
    workload: Workload, target: RenderTarget, meta: _Meta, template: dict[str, Any]
) -> list[dict[str, Any]]:
    policy = workload.deployment
    spec: dict[str, Any] = {
        "replicas": workload.runtime.replicas,
        "revisionHistoryLimit": 5,
        "selector": {"matchLabels": selector(workload, target)},
        "template": template,
    }
    if policy.strategy == "rolling":
        spec["progressDeadlineSeconds"] = max(1, int(policy.progress_deadline))
        spec["strategy"] = {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxSurge": policy.max_surge, "maxUnavailable": 0},
        }
        return [
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": meta(workload.name),
                "spec": spec,
            }
        ]
    spec["progressDeadlineSeconds"] = max(1, int(policy.progress_deadline))
    spec["strategy"] = _rollout.rollout_strategy(workload, exposed=exposed(workload))
    second = "canary" if policy.strategy == "canary" else "preview"
    out = [
        {
            "apiVersion": _rollout.API_VERSION,
            "kind": "Rollout",
            "metadata": meta(workload.name),
            "spec": spec,
        },
        _service(workload, target, meta, f"{workload.name}-{second}"),
    ]
    if policy.strategy == "canary" and any(s.analysis for s in policy.steps):
        out.append(_rollout.analysis_template(workload, target, meta(workload.name)))
    return out


def _service(workload: Workload, target: RenderTarget, meta: _Meta, name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta(name),
        "spec": {
            "type": "ClusterIP",
            "selector": selector(workload, target),
            "ports": [
                {
                    "name": PORT_NAME,
                    "port": workload.port,
                    "targetPort": PORT_NAME,
                    "protocol": "TCP",
                }
            ],
        },
    }


def _route_path(workload: Workload) -> str:
    for request in workload.resources.values():
        path = request.params.get("path") if request.type == "route" else None
        if isinstance(path, str) and path.startswith("/"):
            return path
    return "/"


def exposed(workload: Workload) -> bool:
    """True when the workload gets an Ingress (see the module docstring)."""
    return workload.format != "score" or any(
        r.type in _EXPOSED_BY for r in workload.resources.values()
    )


def _ingress(workload: Workload, target: RenderTarget, meta: _Meta) -> list[dict[str, Any]]:
    if not exposed(workload):
        return []
    host = target.host(workload.name)
    backend = {"service": {"name": workload.name, "port": {"name": PORT_NAME}}}
    return [
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "Ingress",
            "metadata": meta(
                workload.name, **{"cert-manager.io/cluster-issuer": target.cluster_issuer}
            ),
            "spec": {
                "ingressClassName": target.ingress_class,
                "tls": [{"hosts": [host], "secretName": f"{workload.name}-tls"}],
                "rules": [
                    {
                        "host": host,
                        "http": {
                            "paths": [
                                {
                                    "path": _route_path(workload),
                                    "pathType": "Prefix",
                                    "backend": backend,
                                }
                            ]
                        },
                    }
                ],
            },
        }
    ]


def _scaling(workload: Workload, target: RenderTarget, meta: _Meta) -> list[dict[str, Any]]:
    replicas = workload.runtime.replicas
    rollout = workload.deployment.strategy != "rolling"
    objects: list[dict[str, Any]] = [
        {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": meta(workload.name),
            "spec": {
                "scaleTargetRef": {
                    "apiVersion": _rollout.API_VERSION if rollout else "apps/v1",
                    "kind": "Rollout" if rollout else "Deployment",
                    "name": workload.name,
                },
                "minReplicas": replicas,
                "maxReplicas": max(replicas * 3, 3),
                "metrics": [
                    {
                        "type": "Resource",
                        "resource": {
                            "name": "cpu",
                            "target": {"type": "Utilization", "averageUtilization": 70},
                        },
                    }
                ],
            },
        }
    ]
    if replicas > 1:
        objects.append(
            {
                "apiVersion": "policy/v1",
                "kind": "PodDisruptionBudget",
                "metadata": meta(workload.name),
                "spec": {
                    "minAvailable": 1,
                    "selector": {"matchLabels": selector(workload, target)},
                },
            }
        )
    return objects


def _network_policies(
    workload: Workload, target: RenderTarget, meta: _Meta, consumers: Sequence[str]
) -> list[dict[str, Any]]:
    pods = {"matchLabels": selector(workload, target)}
    sources: list[dict[str, Any]] = [
        {
            "namespaceSelector": {
                "matchLabels": {"kubernetes.io/metadata.name": target.ingress_namespace}
            }
        }
    ]
    names = sorted(set(consumers))
    if names:
        sources.append(
            {
                "podSelector": {
                    "matchExpressions": [
                        {"key": "app.kubernetes.io/name", "operator": "In", "values": names}
                    ]
                }
            }
        )
    return [
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": meta(f"{workload.name}-default-deny"),
            "spec": {"podSelector": pods, "policyTypes": ["Ingress"]},
        },
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": meta(f"{workload.name}-allow"),
            "spec": {
                "podSelector": pods,
                "policyTypes": ["Ingress"],
                "ingress": [{"from": sources, "ports": [{"port": PORT_NAME, "protocol": "TCP"}]}],
            },
        },
    ]


def _external_secret(
    workload: Workload, target: RenderTarget, meta: _Meta, secret_names: Sequence[str]
) -> dict[str, Any]:
    for secret in secret_names:
        if not _SECRET_KEY.match(secret):
            raise InvalidInput(
                f"{workload.source}: secrets: {secret!r} cannot be a Kubernetes Secret key; "
                "use letters, digits, '-', '_' and '.'"
            )
    name = f"{workload.name}-secrets"
    key = f"{target.environment}/{workload.name}"
    return {
        "apiVersion": "external-secrets.io/v1beta1",
        "kind": "ExternalSecret",
        "metadata": meta(name),
        "spec": {
            "refreshInterval": "1h",
            "secretStoreRef": {"kind": "ClusterSecretStore", "name": target.external_secret_store},
            "target": {"name": name, "creationPolicy": "Owner"},
            "data": [
                {"secretKey": s, "remoteRef": {"key": key, "property": s}}
                for s in sorted(set(secret_names))
            ],
        },
    }
