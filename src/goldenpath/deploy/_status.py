"""What ``platform status SERVICE`` shows: per environment, the URLs, the traffic split, each
running version with its replicas, and the recent deployments. Private helper of
:mod:`goldenpath.deploy.service` (which re-exports :class:`ServiceStatus`)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from goldenpath.deploy import store
from goldenpath.deploy.records import Deployment, Target
from goldenpath.drivers.base import ReplicaStatus, RuntimeDriver, ServiceUrls
from goldenpath.errors import NotFound

__all__ = ["ServiceStatus", "service_status"]

_VERSION = re.compile(r"^d(\d+)$")


@dataclass(frozen=True)
class ServiceStatus:
    """One service in one environment, as the store wants it and the driver sees it.

    ``versions``: ``[{version, deploymentId, releaseId, sha, state, replicas:
    [ReplicaStatus], ready, desired}]`` for every version with replicas or a record wanting
    it (stable first); ``weights`` version → percent as applied; ``recent`` the newest
    deployments (≤ 5); ``stable_id`` / ``active_id`` from the target.
    """

    service: str
    environment: str
    urls: ServiceUrls | None
    weights: Mapping[str, int]
    versions: list[dict[str, Any]]
    recent: list[Deployment]
    stable_id: int | None = None
    active_id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """camelCase JSON: ``{service, environment, urls: {http, https, direct} | null,
        weights, stableId, activeId, versions: [{version, deploymentId, releaseId, sha,
        state, ready, desired, replicas: [{replica, state, pid, port, restarts, message}]}],
        recent: [Deployment.to_dict() without workload]}``."""
        urls = None
        if self.urls is not None:
            urls = {"http": self.urls.http, "https": self.urls.https, "direct": self.urls.direct}
        versions = []
        for v in self.versions:
            replicas = [
                {
                    "replica": r.replica,
                    "state": r.state,
                    "pid": r.pid,
                    "port": r.port,
                    "restarts": r.restarts,
                    "message": r.message,
                }
                for r in v["replicas"]
            ]
            versions.append(
                {**{k: val for k, val in v.items() if k != "replicas"}, "replicas": replicas}
            )
        recent = []
        for d in self.recent:
            body = d.to_dict()
            body.pop("workload", None)
            recent.append(body)
        return {
            "service": self.service,
            "environment": self.environment,
            "urls": urls,
            "weights": dict(self.weights),
            "stableId": self.stable_id,
            "activeId": self.active_id,
            "versions": versions,
            "recent": recent,
        }


def _desired(d: Deployment | None) -> int:
    if d is None:
        return 0
    runtime = d.workload.get("runtime") or {}
    try:
        return max(1, int(runtime.get("replicas") or 1))
    except (TypeError, ValueError):
        return 1


def service_status(engine: Any, driver: RuntimeDriver, target: Target) -> ServiceStatus:
    """Assemble the :class:`ServiceStatus` of ``target`` from the store and the driver."""
    service, environment = target.service, target.environment
    replicas = driver.replicas(environment, service)
    by_version: dict[str, list[ReplicaStatus]] = {}
    for r in replicas:
        by_version.setdefault(r.version, []).append(r)
    ids = {target.stable_id, target.active_id} - {None}
    for version in by_version:
        match = _VERSION.match(version)
        if match:
            ids.add(int(match.group(1)))
    records: dict[str, Deployment] = {}
    for deployment_id in sorted(i for i in ids if i is not None):
        try:
            record = store.get_deployment(engine, deployment_id)
        except NotFound:  # a foreign version label: shown without a record
            continue
        records[record.version] = record
    order = [f"d{target.stable_id}"] if target.stable_id else []
    order += sorted((set(records) | set(by_version)) - set(order), key=_version_key)
    versions = []
    for version in order:
        d = records.get(version)
        mine = sorted(by_version.get(version, []), key=lambda r: r.replica)
        versions.append(
            {
                "version": version,
                "deploymentId": d.id if d else None,
                "releaseId": d.release_id if d else None,
                "sha": d.sha if d else None,
                "state": d.state if d else None,
                "ready": sum(1 for r in mine if r.state == "ready"),
                "desired": _desired(d)
                if d and (d.id == target.stable_id or d.id == target.active_id)
                else 0,
                "replicas": mine,
            }
        )
    recent = store.list_deployments(engine, service=service, environment=environment, limit=5)
    return ServiceStatus(
        service=service,
        environment=environment,
        urls=driver.urls(environment, service),
        weights=dict(target.weights),
        versions=versions,
        recent=recent,
        stable_id=target.stable_id,
        active_id=target.active_id,
    )


def _version_key(version: str) -> tuple[int, str]:
    match = _VERSION.match(version)
    return (int(match.group(1)) if match else 1 << 62, version)
