"""Score ``score.dev/v1b1`` → :class:`Workload`.

Mapping (docs/workloads.md, "Score files"): ``metadata.name`` → name; the container named
like the workload, else the first, is the main one: its ``command`` + ``args`` → command
(empty = the image's default), ``variables`` → env (placeholders verbatim), probes'
``httpGet.path`` → probes (none or ``exec`` → TCP connect), ``resources.limits`` (else
``requests``) → runtime cpu/memory; ``service.ports`` → port (first port's ``targetPort``
or ``port``); ``resources`` → :class:`ResourceRequest` (``class`` → size), and those of
type ``service`` also → dependencies. Every container is kept in ``Workload.containers``.
"""

from __future__ import annotations

from typing import Any

from goldenpath.workloads._check import Ctx
from goldenpath.workloads._score_check import check_score
from goldenpath.workloads._yaml import YamlFile
from goldenpath.workloads.model import (
    Build,
    Container,
    DeploymentPolicy,
    Monitoring,
    Probe,
    ResourceRequest,
    Runtime,
    Workload,
)

__all__ = ["parse_score"]

DEFAULT_PORT = 8080


def _probe(raw: Any) -> Probe | None:
    if not raw:
        return None
    http = raw.get("httpGet")
    return Probe(path=http["path"] or "/") if http else Probe(path=None)


def _container(name: str, raw: dict[str, Any]) -> Container:
    resources = raw.get("resources") or {}
    limits = {**(resources.get("requests") or {}), **(resources.get("limits") or {})}
    return Container(
        name=name,
        image=raw["image"],
        command=(*raw.get("command", ()), *raw.get("args", ())),
        env=dict(raw.get("variables") or {}),
        readiness=_probe(raw.get("readinessProbe")),
        liveness=_probe(raw.get("livenessProbe")),
        cpu=limits.get("cpu"),
        memory=limits.get("memory"),
    )


def _port(doc: dict[str, Any], main: dict[str, Any]) -> int:
    ports = (doc.get("service") or {}).get("ports") or {}
    for port in ports.values():
        return int(port.get("targetPort", port["port"]))
    for key in ("readinessProbe", "livenessProbe"):
        http = (main.get(key) or {}).get("httpGet")
        if http:
            return int(http["port"])
    return DEFAULT_PORT


def parse_score(doc: YamlFile) -> Workload:
    """Check ``doc`` against Score v1b1 and map it (see the module docstring).

    Raises:
        WorkloadError: the first Score rule broken, with file, line and field.
    """
    data = check_score(Ctx(doc.source, doc.line), doc.data)
    name = data["metadata"]["name"]
    raw_containers: dict[str, Any] = data["containers"]
    containers = {n: _container(n, c) for n, c in raw_containers.items()}
    main_name = name if name in containers else next(iter(containers))
    main = containers[main_name]
    resources = {
        key: ResourceRequest(
            name=key, type=r["type"], size=r.get("class"), params=dict(r.get("params") or {})
        )
        for key, r in (data.get("resources") or {}).items()
    }
    annotations = data["metadata"].get("annotations") or {}
    return Workload(
        name=name,
        team=None,
        tier=None,
        description=annotations.get("description"),
        language=None,
        framework=None,
        build=Build(kind=None, image=main.image),
        command=main.command,
        port=_port(data, raw_containers[main_name]),
        readiness=main.readiness or Probe(path=None),
        liveness=main.liveness or Probe(path=None),
        env=dict(main.env),
        runtime=Runtime(cpu=main.cpu, memory=main.memory),
        resources=resources,
        monitoring=Monitoring(),
        deployment=DeploymentPolicy(),
        dependencies=tuple(k for k, r in resources.items() if r.type == "service"),
        environments={},
        source=doc.source,
        format="score",
        containers=containers,
    )
