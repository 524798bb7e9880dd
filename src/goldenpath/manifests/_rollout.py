"""Argo Rollouts: a ``Rollout`` (canary or blue-green) and the canary's ``AnalysisTemplate``.

Spec: https://argoproj.github.io/argo-rollouts/features/canary/ (``setWeight``, ``pause``,
``analysis`` steps; NGINX traffic routing through a stable Ingress and a canary Service) and
https://argoproj.github.io/argo-rollouts/analysis/prometheus/. The analysis reads the NGINX
ingress controller's per-Service metrics, so it needs no instrumentation in the service:
error rate = 5xx / all requests of the canary Service, and the canary's p99 latency over the
stable's.
"""

from __future__ import annotations

import math
from typing import Any

from goldenpath.manifests.target import RenderTarget
from goldenpath.workloads.model import Analysis, CanaryStep, Workload

__all__ = ["analysis_template", "rollout_strategy"]

API_VERSION = "argoproj.io/v1alpha1"


def _seconds(value: float) -> str:
    return f"{max(1, math.ceil(value))}s"


def _step(step: CanaryStep, template: str, service: str) -> dict[str, Any]:
    if step.set_weight is not None:
        return {"setWeight": step.set_weight}
    if step.pause is not None:
        if math.isinf(step.pause):
            return {"pause": {}}  # until `platform deploy promote` (kubectl argo rollouts promote)
        return {"pause": {"duration": _seconds(step.pause)}}
    return {
        "analysis": {
            "templates": [{"templateName": template}],
            "args": [
                {"name": "canary-service", "value": f"{service}-canary"},
                {"name": "stable-service", "value": service},
            ],
        }
    }


def rollout_strategy(workload: Workload, *, exposed: bool) -> dict[str, Any]:
    """``spec.strategy`` of the Rollout: ``canary`` (steps from ``deployment.steps``; NGINX
    traffic routing on the stable Ingress when ``exposed``, else replica-weighted) or
    ``blueGreen`` (preview Service ``<service>-preview``; auto-promotion only when
    ``rollback: automatic``)."""
    name = workload.name
    policy = workload.deployment
    if policy.strategy == "blue-green":
        return {
            "blueGreen": {
                "activeService": name,
                "previewService": f"{name}-preview",
                "autoPromotionEnabled": policy.rollback == "automatic",
            }
        }
    steps = [_step(s, f"{name}-canary", name) for s in policy.steps]
    canary: dict[str, Any] = {
        "stableService": name,
        "canaryService": f"{name}-canary",
        "maxSurge": policy.max_surge,
        "maxUnavailable": 0,
        "steps": steps,
    }
    if exposed:
        canary["trafficRouting"] = {"nginx": {"stableIngress": name}}
    return {"canary": canary}


def _analysis(workload: Workload) -> Analysis:
    found = [s.analysis for s in workload.deployment.steps if s.analysis is not None]
    return found[0] if found else Analysis()


def analysis_template(
    workload: Workload, target: RenderTarget, metadata: dict[str, Any]
) -> dict[str, Any]:
    """The ``AnalysisTemplate`` ``<service>-canary``: error rate and p99 latency ratio.

    Thresholds come from the first analysis step (``maxErrorRate``, ``maxLatencyRatio``,
    ``interval`` seconds, ``count`` measurements, all must pass: ``failureLimit: 0``).
    """
    a = _analysis(workload)
    ns = target.namespace
    canary = f'namespace="{ns}",service="{{{{args.canary-service}}}}"'
    stable = f'namespace="{ns}",service="{{{{args.stable-service}}}}"'
    window = _seconds(max(a.interval, 60.0))
    requests = "nginx_ingress_controller_requests"
    errors = (
        f'sum(rate({requests}{{{canary},status=~"5.."}}[{window}])) / '
        f"clamp_min(sum(rate({requests}{{{canary}}}[{window}])), 1e-9)"
    )
    hist = "nginx_ingress_controller_request_duration_seconds_bucket"

    def p99(selector: str) -> str:
        return f"histogram_quantile(0.99, sum by (le) (rate({hist}{{{selector}}}[{window}])))"

    latency = f"{p99(canary)} / clamp_min({p99(stable)}, 1e-9)"

    def metric(name: str, query: str, condition: str) -> dict[str, Any]:
        return {
            "name": name,
            "interval": _seconds(a.interval),
            "count": a.count,
            "failureLimit": 0,
            "successCondition": condition,
            "provider": {"prometheus": {"address": target.prometheus_address, "query": query}},
        }

    return {
        "apiVersion": API_VERSION,
        "kind": "AnalysisTemplate",
        "metadata": {**metadata, "name": f"{workload.name}-canary"},
        "spec": {
            "args": [{"name": "canary-service"}, {"name": "stable-service"}],
            "metrics": [
                metric("error-rate", errors, f"result[0] <= {a.max_error_rate}"),
                metric(
                    "p99-latency-ratio",
                    latency,
                    # no canary traffic in the window = NaN: not a failure
                    f"isNaN(result[0]) || result[0] <= {a.max_latency_ratio}",
                ),
            ],
        },
    }
