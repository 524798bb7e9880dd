"""Observability objects of a workload: ServiceMonitor, SLO PrometheusRule, Grafana dashboard.

What a service's ``monitoring`` section (seed 003: ``alerts``, ``dashboard``, ``slo``) renders to
on Kubernetes, for the Prometheus Operator (``monitoring.coreos.com/v1``) and Grafana's
dashboard sidecar:

- a ``ServiceMonitor`` scraping ``/metrics`` on the Service's ``http`` port, always;
- with ``monitoring.slo``: a ``PrometheusRule`` holding the SLO's recording rules and, unless
  ``monitoring.alerts`` is false, the multi-window multi-burn-rate alerts, named and labelled
  as Sloth generates them (see :mod:`goldenpath.manifests._slo`); the SLI is the 5xx ratio of
  ``http_requests_total`` (the golden-path services' counter, labels ``method``, ``route``,
  ``status``) with the probe routes and ``/metrics`` left out;
- with ``monitoring.dashboard``: a ``ConfigMap`` labelled ``grafana_dashboard: "1"`` holding the
  dashboard JSON (built with grafana-foundation-sdk, :mod:`goldenpath.manifests._dashboard`).

Page alerts carry ``severity: critical`` in production targets and ``severity: warning``
elsewhere; ticket alerts ``severity: warning``. Pure functions, no IO.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from goldenpath.manifests import _dashboard, _pod, _slo
from goldenpath.manifests.target import RenderTarget
from goldenpath.workloads.model import Workload

__all__ = [
    "METRICS_PATH",
    "METRICS_PORT",
    "alert_name",
    "dashboard_config_map",
    "objects",
    "prometheus_rule",
    "rule_groups",
    "service_monitor",
    "sli",
]

METRICS_PATH = "/metrics"
"""Where the golden-path services expose Prometheus metrics."""

METRICS_PORT = _pod.PORT_NAME
"""The Service port name the ServiceMonitor scrapes."""


def _metadata(workload: Workload, target: RenderTarget, name: str) -> dict[str, Any]:
    # the workload's own labels (see _pod.labels) without a version: these objects do not
    # change with the image, so a new version does not rewrite them
    meta_labels = {
        k: v
        for k, v in _pod.labels(workload, target, "").items()
        if k != "app.kubernetes.io/version"
    }
    return {"name": name, "namespace": target.namespace, "labels": meta_labels}


def _ignored_routes(workload: Workload) -> str:
    paths = {METRICS_PATH}
    for probe in (workload.readiness, workload.liveness):
        if probe.path:
            paths.add(probe.path.split("?", 1)[0])
    return "|".join(re.escape(p).replace("\\", "\\\\") for p in sorted(paths))


def service_monitor(workload: Workload, target: RenderTarget) -> dict[str, Any]:
    """The ``ServiceMonitor`` scraping ``/metrics`` on the ``http`` port every 30 s.

    It selects the workload's Services (the main one and, for Argo Rollouts, the canary or
    preview one) by their selector labels in the target namespace. ``jobLabel`` makes
    Prometheus's ``job`` the workload name for all of them, and a relabeling sets ``service``
    to the workload name too: a pod behind both Services (a finished rollout) then yields two
    identical targets, which Prometheus scrapes once, so rates are not counted twice.
    """
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": _metadata(workload, target, workload.name),
        "spec": {
            "jobLabel": "app.kubernetes.io/name",
            "selector": {"matchLabels": _pod.selector(workload, target)},
            "namespaceSelector": {"matchNames": [target.namespace]},
            "endpoints": [
                {
                    "port": METRICS_PORT,
                    "path": METRICS_PATH,
                    "interval": "30s",
                    "scheme": "http",
                    "relabelings": [
                        {
                            "action": "replace",
                            "targetLabel": "service",
                            "replacement": workload.name,
                        }
                    ],
                }
            ],
        },
    }


def sli(workload: Workload, target: RenderTarget) -> _slo.Sli:
    """The availability SLI: 5xx responses over all responses of ``http_requests_total``.

    Scoped to the Service's ``job`` and ``namespace``; the probe paths and ``/metrics`` are
    left out so kubelet and Prometheus traffic does not dilute the ratio.
    """
    sel = (
        f'job="{workload.name}", namespace="{target.namespace}", '
        f'route!~"{_ignored_routes(workload)}"'
    )
    return _slo.Sli(
        error_query=f'sum(rate(http_requests_total{{{sel}, status=~"5.."}}[{{window}}]))',
        total_query=f"sum(rate(http_requests_total{{{sel}}}[{{window}}]))",
    )


def alert_name(workload: Workload) -> str:
    """The SLO alerts' name: the workload name in PascalCase + ``HighErrorRate``.

    ``payment-api`` → ``PaymentApiHighErrorRate`` (Sloth's examples' convention).
    """
    words = re.split(r"[^A-Za-z0-9]+", workload.name)
    camel = "".join(w[:1].upper() + w[1:] for w in words if w)
    if not camel or camel[0].isdigit():
        camel = "Service" + camel
    return f"{camel}HighErrorRate"


def rule_groups(workload: Workload, target: RenderTarget) -> list[dict[str, Any]]:
    """The rule groups of the workload's SLO; ``[]`` without ``monitoring.slo``.

    The same list is a Prometheus rule file's ``groups`` (``promtool check rules``) and the
    ``spec.groups`` of :func:`prometheus_rule`. Alerts only when ``monitoring.alerts``.
    """
    monitoring = workload.monitoring
    if monitoring.slo is None:
        return []
    extra = {"owner": workload.team} if workload.team else {}
    page_severity = "critical" if target.production else "warning"
    return _slo.slo_rule_groups(
        service=workload.name,
        slo_percent=monitoring.slo,
        sli=sli(workload, target),
        alert_name=alert_name(workload) if monitoring.alerts else None,
        scope={"namespace": target.namespace},
        labels=extra,
        severity_labels={
            "page": {**extra, "severity": page_severity},
            "ticket": {**extra, "severity": "warning"},
        },
    )


def prometheus_rule(workload: Workload, target: RenderTarget) -> dict[str, Any] | None:
    """The ``PrometheusRule`` ``<name>-slo`` with :func:`rule_groups`; ``None`` without an SLO."""
    groups = rule_groups(workload, target)
    if not groups:
        return None
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": _metadata(workload, target, f"{workload.name}-slo"),
        "spec": {"groups": groups},
    }


def dashboard_config_map(workload: Workload, target: RenderTarget) -> dict[str, Any] | None:
    """The ``ConfigMap`` ``<name>-dashboard`` for Grafana's sidecar; ``None`` if no dashboard.

    Labelled ``grafana_dashboard: "1"`` (the sidecar's default label); data key
    ``<name>.json``; annotation ``grafana_folder`` = the team when known.
    """
    if not workload.monitoring.dashboard:
        return None
    slo = workload.monitoring.slo
    text = _dashboard.dashboard_json(
        workload.name,
        target.namespace,
        workload.team,
        None if slo is None else _slo.decimal_text(Decimal(str(slo))),
        _ignored_routes(workload),
    )
    metadata = _metadata(workload, target, f"{workload.name}-dashboard")
    metadata["labels"]["grafana_dashboard"] = "1"
    if workload.team:
        metadata["annotations"] = {"grafana_folder": workload.team}
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata,
        "data": {f"{workload.name}.json": text},
    }


def objects(workload: Workload, target: RenderTarget) -> list[dict[str, Any]]:
    """Every observability object of ``workload`` in ``target``, in a fixed order.

    ``environments[target.environment]`` overrides are applied first, as ``workload_objects``
    does (applying them twice is harmless). Order: ServiceMonitor, PrometheusRule (with an
    SLO), dashboard ConfigMap (with ``monitoring.dashboard``). Each is a fresh plain dict.

    Raises:
        goldenpath.workloads.WorkloadError: the environment's overrides are invalid.
    """
    workload = workload.for_environment(target.environment)
    found = [
        service_monitor(workload, target),
        prometheus_rule(workload, target),
        dashboard_config_map(workload, target),
    ]
    return [o for o in found if o is not None]
