"""Workload ⇄ JSON-able dict (stored on each deployment record). Private: use the model methods."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from goldenpath.workloads.model import (
    Analysis,
    Build,
    CanaryStep,
    Container,
    DeploymentPolicy,
    Monitoring,
    Probe,
    ResourceRequest,
    Runtime,
    Workload,
)

__all__ = ["workload_from_dict", "workload_to_dict"]


def _step_to_dict(step: CanaryStep) -> dict[str, Any]:
    if step.set_weight is not None:
        return {"set_weight": step.set_weight}
    if step.pause is not None:
        return {"pause": None if math.isinf(step.pause) else step.pause}
    assert step.analysis is not None
    return {"analysis": asdict(step.analysis)}


def _step_from_dict(data: Mapping[str, Any]) -> CanaryStep:
    if "set_weight" in data:
        return CanaryStep(set_weight=int(data["set_weight"]))
    if "pause" in data:
        pause = data["pause"]
        return CanaryStep(pause=math.inf if pause is None else float(pause))
    return CanaryStep(analysis=Analysis(**data["analysis"]))


def _container_to_dict(c: Container) -> dict[str, Any]:
    out = asdict(c)
    out["command"] = list(c.command)
    out["env"] = dict(c.env)
    return out


def _container_from_dict(data: Mapping[str, Any]) -> Container:
    probes = {k: Probe(**data[k]) if data.get(k) else None for k in ("readiness", "liveness")}
    return Container(
        name=data["name"],
        image=data["image"],
        command=tuple(data.get("command", ())),
        env=dict(data.get("env", {})),
        cpu=data.get("cpu"),
        memory=data.get("memory"),
        **probes,
    )


def workload_to_dict(w: Workload) -> dict[str, Any]:
    """JSON-able snake_case dict; tuples become lists, an indefinite pause ``None``."""
    build = asdict(w.build)
    build["extra_packages"] = list(w.build.extra_packages)
    build["command"] = None if w.build.command is None else list(w.build.command)
    deployment = asdict(w.deployment)
    deployment["steps"] = [_step_to_dict(s) for s in w.deployment.steps]
    return {
        "name": w.name,
        "team": w.team,
        "tier": w.tier,
        "description": w.description,
        "language": w.language,
        "framework": w.framework,
        "build": build,
        "command": list(w.command),
        "port": w.port,
        "readiness": asdict(w.readiness),
        "liveness": asdict(w.liveness),
        "env": dict(w.env),
        "runtime": asdict(w.runtime),
        "resources": {
            k: {"name": r.name, "type": r.type, "size": r.size, "params": dict(r.params)}
            for k, r in w.resources.items()
        },
        "monitoring": asdict(w.monitoring),
        "deployment": deployment,
        "dependencies": list(w.dependencies),
        "environments": {k: dict(v) for k, v in w.environments.items()},
        "source": w.source,
        "format": w.format,
        "containers": {k: _container_to_dict(c) for k, c in w.containers.items()},
    }


def workload_from_dict(data: Mapping[str, Any]) -> Workload:
    """Inverse of :func:`workload_to_dict`."""
    b = dict(data["build"])
    b["extra_packages"] = tuple(b.get("extra_packages", ()))
    b["command"] = None if b.get("command") is None else tuple(b["command"])
    d = dict(data["deployment"])
    d["steps"] = tuple(_step_from_dict(s) for s in d.get("steps", ()))
    return Workload(
        name=data["name"],
        team=data.get("team"),
        tier=data.get("tier"),
        description=data.get("description"),
        language=data.get("language"),
        framework=data.get("framework"),
        build=Build(**b),
        command=tuple(data["command"]),
        port=int(data["port"]),
        readiness=Probe(**data["readiness"]),
        liveness=Probe(**data["liveness"]),
        env=dict(data.get("env", {})),
        runtime=Runtime(**data["runtime"]),
        resources={k: ResourceRequest(**r) for k, r in data.get("resources", {}).items()},
        monitoring=Monitoring(**data["monitoring"]),
        deployment=DeploymentPolicy(**d),
        dependencies=tuple(data.get("dependencies", ())),
        environments={k: dict(v) for k, v in data.get("environments", {}).items()},
        source=data["source"],
        format=data["format"],
        containers={k: _container_from_dict(c) for k, c in data.get("containers", {}).items()},
    )
