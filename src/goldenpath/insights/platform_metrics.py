"""Platform metrics from the seeds: time to first deploy, self-service rate, golden-path
adoption and MTTR, computed (pure) from organisation facts.

Definitions (``docs/insights.md`` repeats them for users):

- **Time to first deploy** (per service): from the service's creation — the earlier of the
  catalog's first sight of the Component and the finish of the scaffolder task that created
  it — to its first successful deployment to the production environment. Median over the
  services created inside the window that have deployed; the ones still waiting are listed
  with ``seconds: null``. Negative spans (a deployment recorded before the catalog saw the
  Component, e.g. an imported service) are dropped.
- **Time to first deploy per new developer**: from a developer's first sign-in or first API
  token to the first successful deployment they triggered (any environment); median over the
  developers first seen inside the window.
- **Self-service rate**: infrastructure requests in the window — resource claims,
  environments created by people, secret rotations (versions after the first) — fulfilled
  with no human approval step, over all of them. Every platform path is automated; a request
  counts as manual only when a policy decision returned an approval rule (a deny or warn
  whose rule name contains ``approval``). No requests → rate null.
- **Golden-path adoption**: services created from a template, on its latest version, and
  shipping through the standard pipeline, each over all services (Components).
- **MTTR** (mean time to restore, seconds): the mean over incidents opened in the window and
  resolved, plus failed production deployments followed by a successful one; null when there
  is neither.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

__all__ = ["platform_metrics"]


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _median(values: Sequence[float]) -> float | None:
    return None if not values else float(statistics.median(values))


def _ratio(part: int, whole: int) -> float | None:
    return None if whole == 0 else round(part / whole, 4)


def _inside(at: datetime | None, window: Mapping[str, Any]) -> bool:
    return at is not None and window["start"] <= at <= window["end"]


def _first_deploys(
    services: Sequence[Mapping[str, Any]], window: Mapping[str, Any]
) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    spans: list[float] = []
    for s in services:
        created, first = s.get("createdAt"), s.get("firstProductionDeployAt")
        if not _inside(created, window):
            continue
        seconds = None if first is None else (first - created).total_seconds()
        if seconds is not None and seconds < 0:
            continue
        if seconds is not None:
            spans.append(seconds)
        rows.append(
            {
                "ref": s.get("ref"),
                "createdAt": _iso(created),
                "firstDeployAt": _iso(first),
                "seconds": seconds,
            }
        )
    return {"medianSeconds": _median(spans), "samples": len(spans), "services": rows}


def _developers(devs: Sequence[Mapping[str, Any]], window: Mapping[str, Any]) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    spans: list[float] = []
    for d in devs:
        seen, first = d.get("firstSeenAt"), d.get("firstDeployAt")
        if not _inside(seen, window):
            continue
        seconds = None if first is None else (first - seen).total_seconds()
        if seconds is not None and seconds < 0:
            seconds = 0.0  # deployed with a token made earlier than the recorded sign-in
        if seconds is not None:
            spans.append(seconds)
        rows.append(
            {
                "user": d.get("user"),
                "firstSeenAt": _iso(seen),
                "firstDeployAt": _iso(first),
                "seconds": seconds,
            }
        )
    return {"medianSeconds": _median(spans), "samples": len(spans), "developers": rows}


def _incident_span(incident: Any) -> tuple[datetime | None, datetime | None]:
    if isinstance(incident, Mapping):
        return incident.get("openedAt"), incident.get("resolvedAt")
    return getattr(incident, "opened_at", None), getattr(incident, "resolved_at", None)


def _parse(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def _mttr(facts: Mapping[str, Any], window: Mapping[str, Any]) -> dict[str, Any]:
    spans = [float(x) for x in facts.get("recoveries") or ()]
    from_deploys = len(spans)
    for incident in facts.get("incidents") or ():
        opened, resolved = (_parse(v) for v in _incident_span(incident))
        if _inside(opened, window) and resolved is not None and opened is not None:
            spans.append(max(0.0, (resolved - opened).total_seconds()))
    return {
        "mttrSeconds": None if not spans else round(statistics.fmean(spans), 3),
        "restores": {"incidents": len(spans) - from_deploys, "failedDeployments": from_deploys},
    }


def platform_metrics(
    facts: Mapping[str, Any], window: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The platform metrics over ``window`` (``{start, end}`` aware datetimes; default
    ``facts["window"]``) from :meth:`goldenpath.insights.facts.FactCollector.org_facts`
    (+ optional ``incidents``: objects with ``opened_at``/``resolved_at`` or dicts with
    ``openedAt``/``resolvedAt``).

    Returns ``{window: {start, end, days}, timeToFirstDeploy: {medianSeconds, samples,
    services: [{ref, createdAt, firstDeployAt, seconds}]}, timeToFirstDeployPerDeveloper:
    {medianSeconds, samples, developers: [...]}, selfServiceRate: {automated, manual, rate,
    byType}, goldenPathAdoption: {fromTemplate, total, rate, onLatestVersion, latestRate,
    standardPipeline, pipelineRate}, mttrSeconds, restores: {incidents, failedDeployments}}``.
    """
    window = window or facts["window"]
    services: Sequence[Mapping[str, Any]] = facts.get("services") or ()
    requests = facts.get("requests") or {}
    total_requests = int(requests.get("total", 0))
    manual = min(int(requests.get("approvalRequired", 0)), total_requests)
    total = len(services)
    from_template = sum(1 for s in services if s.get("fromTemplate"))
    latest = sum(1 for s in services if s.get("onLatestTemplate"))
    pipeline = sum(1 for s in services if s.get("standardPipeline"))
    days = window.get("days") or round((window["end"] - window["start"]).total_seconds() / 86400)
    return {
        "window": {"start": _iso(window["start"]), "end": _iso(window["end"]), "days": days},
        "timeToFirstDeploy": _first_deploys(services, window),
        "timeToFirstDeployPerDeveloper": _developers(facts.get("developers") or (), window),
        "selfServiceRate": {
            "automated": total_requests - manual,
            "manual": manual,
            "rate": _ratio(total_requests - manual, total_requests),
            "byType": {
                k: int(requests.get(k, 0))
                for k in ("resourceClaims", "environments", "secretRotations")
            },
        },
        "goldenPathAdoption": {
            "fromTemplate": from_template,
            "total": total,
            "rate": _ratio(from_template, total),
            "onLatestVersion": latest,
            "latestRate": _ratio(latest, from_template),
            "standardPipeline": pipeline,
            "pipelineRate": _ratio(pipeline, total),
        },
        **_mttr(facts, window),
    }
