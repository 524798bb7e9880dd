"""Labels, containers and the pod template (pod security baseline, probes, resources)."""

from __future__ import annotations

import math
import re
from typing import Any

from goldenpath.manifests._env import container_env, unescape
from goldenpath.manifests._resources import conventional_env
from goldenpath.manifests.target import RenderTarget
from goldenpath.resources.compositions import CompositionSet
from goldenpath.workloads.model import Container, Probe, Workload

__all__ = ["PORT_NAME", "label_value", "labels", "pod_template", "selector"]

PORT_NAME = "http"
_BAD = re.compile(r"[^A-Za-z0-9._-]")
_DEFAULT_REQUESTS = {"cpu": "100m", "memory": "128Mi"}
_TMP_VOLUME = "tmp"
_LOOPBACK = re.compile(r"^127\.0\.0\.1(?=:|$)")


def label_value(text: str) -> str:
    """``text`` as a valid label value (≤ 63 of ``[A-Za-z0-9._-]``, alphanumeric ends)."""
    cleaned = _BAD.sub("-", text)[:63].strip("-._")
    return cleaned or "unknown"


def selector(workload: Workload, target: RenderTarget) -> dict[str, str]:
    """The immutable selector labels: name and instance."""
    return {
        "app.kubernetes.io/name": workload.name,
        "app.kubernetes.io/instance": label_value(f"{workload.name}-{target.environment}"),
    }


def labels(workload: Workload, target: RenderTarget, version: str) -> dict[str, str]:
    """Kubernetes recommended labels plus Backstage's ``backstage.io/kubernetes-id``."""
    return {
        **selector(workload, target),
        "app.kubernetes.io/version": label_value(version),
        "app.kubernetes.io/component": label_value(workload.tier or "service"),
        "app.kubernetes.io/part-of": label_value(workload.team or workload.name),
        "app.kubernetes.io/managed-by": "goldenpath",
        "backstage.io/kubernetes-id": workload.name,
        "goldenpath.dev/environment": label_value(target.environment),
    }


def _probe(probe: Probe, *, liveness: bool) -> dict[str, Any]:
    action: dict[str, Any]
    if probe.path is None:
        action = {"tcpSocket": {"port": PORT_NAME}}
    else:
        action = {"httpGet": {"path": probe.path, "port": PORT_NAME}}
    timing = (
        {"initialDelaySeconds": 10, "periodSeconds": 10, "failureThreshold": 3}
        if liveness
        else {"periodSeconds": 5, "failureThreshold": 3}
    )
    return {**action, "timeoutSeconds": max(1, math.ceil(probe.timeout)), **timing}


def _resources(cpu: str | None, memory: str | None) -> dict[str, Any]:
    declared = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v is not None}
    out: dict[str, Any] = {"requests": {**_DEFAULT_REQUESTS, **declared}}
    if declared:
        out["limits"] = dict(declared)
    return out


_SECURITY = {
    "runAsNonRoot": True,
    "readOnlyRootFilesystem": True,
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}


def _command(workload: Workload, argv: tuple[str, ...]) -> list[str]:
    """``argv`` with ``$PORT`` filled in; for ``platform.yaml`` a loopback bind address (the
    local driver's defaults, ``--host 127.0.0.1``, ``--bind 127.0.0.1:$PORT``) becomes
    ``0.0.0.0``: in a pod the Service reaches the container on the pod IP."""
    port = str(workload.port)
    out = [unescape(a).replace("${PORT}", port).replace("$PORT", port) for a in argv]
    if workload.format == "platform.yaml":
        out = [_LOOPBACK.sub("0.0.0.0", a) if a.startswith("127.0.0.1") else a for a in out]
    return out


def _main_container(
    workload: Workload,
    target: RenderTarget,
    image: str,
    env_from: list[dict[str, Any]],
    compositions: CompositionSet | None,
) -> dict[str, Any]:
    env = dict(workload.env)
    prefix = "spec.env"
    main = _main_name(workload)
    if workload.format == "platform.yaml":
        env.setdefault("PORT", str(workload.port))
    else:
        prefix = f"containers.{main}.variables"
    out: dict[str, Any] = {
        "name": main,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "ports": [{"name": PORT_NAME, "containerPort": workload.port, "protocol": "TCP"}],
        "env": container_env(
            workload,
            target,
            env,
            field_prefix=prefix,
            compositions=compositions,
            preset=conventional_env(workload, target, compositions=compositions),
        ),
        "resources": _resources(workload.runtime.cpu, workload.runtime.memory),
        "readinessProbe": _probe(workload.readiness, liveness=False),
        "livenessProbe": _probe(workload.liveness, liveness=True),
        "securityContext": dict(_SECURITY),
        "volumeMounts": [{"name": _TMP_VOLUME, "mountPath": "/tmp"}],
    }
    if workload.command:
        out["command"] = _command(workload, workload.command)
    if env_from:
        out["envFrom"] = env_from
    if not out["env"]:
        del out["env"]
    return out


def _sidecar(
    workload: Workload,
    target: RenderTarget,
    container: Container,
    image: str,
    compositions: CompositionSet | None,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": container.name,
        "image": image if container.image == "." else container.image,
        "imagePullPolicy": "IfNotPresent",
        "env": container_env(
            workload,
            target,
            container.env,
            field_prefix=f"containers.{container.name}.variables",
            compositions=compositions,
        ),
        "resources": _resources(container.cpu, container.memory),
        "securityContext": dict(_SECURITY),
        "volumeMounts": [{"name": _TMP_VOLUME, "mountPath": "/tmp"}],
    }
    if container.command:
        out["command"] = _command(workload, container.command)
    if not out["env"]:
        del out["env"]
    return out


def _main_name(workload: Workload) -> str:
    if not workload.containers:
        return workload.name
    return (
        workload.name if workload.name in workload.containers else next(iter(workload.containers))
    )


def pod_template(
    workload: Workload,
    target: RenderTarget,
    *,
    image: str,
    version: str,
    env_from: list[dict[str, Any]],
    compositions: CompositionSet | None = None,
) -> dict[str, Any]:
    """The pod template: every container (the main one first), pod security baseline.

    Score containers other than the main one keep their own image (``.`` = the built
    ``image``), command, variables and limits; their probes are not rendered (a probe needs
    a port and Score ports belong to the workload).
    """
    main = _main_name(workload)
    containers = [_main_container(workload, target, image, env_from, compositions)]
    for name, container in workload.containers.items():
        if name != main:
            containers.append(_sidecar(workload, target, container, image, compositions))
    return {
        "metadata": {"labels": labels(workload, target, version)},
        "spec": {
            "serviceAccountName": workload.name,
            "automountServiceAccountToken": False,
            "securityContext": {
                "runAsNonRoot": True,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containers": containers,
            "volumes": [{"name": _TMP_VOLUME, "emptyDir": {}}],
        },
    }
