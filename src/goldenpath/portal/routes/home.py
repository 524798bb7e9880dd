"""Portal pages: home — my services, my team's deployments, what needs attention, health.

``GET /`` (signed in) shows:

- **My services**: Components owned by the viewer's groups or the viewer
  (``relations.ownedBy``), at most ``MAX_SERVICES``;
- **Recent deployments** of those services (newest first, at most ``MAX_DEPLOYMENTS``);
- **Needs attention**: services whose latest deployment in an environment failed, recent
  policy denials of the viewer's services or actions, open incidents and services that hold
  no level of a scorecard (when the insights service exists);
- **Platform health**: database (reachable, migrated), deploy reconciler, router — the
  facts ``/readyz`` checks plus the runtime's.

Every section degrades to a short note when its source fails; the page always renders.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from alembic.runtime.migration import MigrationContext
from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool

from goldenpath import processes
from goldenpath.api.deps import Services
from goldenpath.errors import PlatformError
from goldenpath.portal.session import Viewer, ViewerDep, services_of
from goldenpath.portal.web import entity_url, render

__all__ = ["MAX_DEPLOYMENTS", "MAX_SERVICES", "HomeData", "gather", "router"]

router = APIRouter(include_in_schema=False)
_log = logging.getLogger(__name__)

MAX_SERVICES = 50
MAX_DEPLOYMENTS = 10
_HISTORY_PER_SERVICE = 5
_MAX_DENIALS = 5
_MAX_SCORED = 10


@dataclass(slots=True)
class HomeData:
    """What the home page shows (see the module doc); ``notes`` explains missing parts."""

    services: list[dict[str, Any]] = field(default_factory=list)
    deployments: list[Any] = field(default_factory=list)
    attention: list[dict[str, Any]] = field(default_factory=list)
    health: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _owned_filter(viewer: Viewer) -> str:
    owners = [*viewer.groups, viewer.user]
    return "kind=component," + ",".join(f"relations.ownedBy={ref}" for ref in owners)


def _services(svc: Services, viewer: Viewer) -> list[dict[str, Any]]:
    page = svc.catalog.query_entities(
        filters=[_owned_filter(viewer)],
        order=["metadata.name"],
        limit=MAX_SERVICES,
        fields=["kind", "metadata", "spec"],
    )
    found = []
    for entity in page.items:
        meta, spec = entity.get("metadata") or {}, entity.get("spec") or {}
        found.append(
            {
                "name": meta.get("name"),
                "title": meta.get("title") or meta.get("name"),
                "description": meta.get("description"),
                "type": spec.get("type"),
                "lifecycle": spec.get("lifecycle"),
                "owner": spec.get("owner"),
                "url": entity_url(entity),
            }
        )
    return found


def _deployments(svc: Services, names: list[str]) -> list[Any]:
    recent: list[Any] = []
    for name in names[:MAX_SERVICES]:
        recent.extend(svc.deploy.history(service=name, limit=_HISTORY_PER_SERVICE))
    recent.sort(key=lambda d: (d.created_at, d.id), reverse=True)
    return recent


def _failed(deployments: list[Any]) -> list[dict[str, Any]]:
    """The services whose latest deployment in an environment failed."""
    latest: dict[tuple[str, str], Any] = {}
    for d in deployments:  # newest first
        latest.setdefault((d.service, d.environment), d)
    return [
        {
            "kind": "Failed deployment",
            "text": f"{d.service} in {d.environment}: deployment #{d.id} failed"
            + (f" — {d.message}" if d.message else ""),
            "url": entity_url(f"component:default/{d.service}") + "/deployments",
            "at": d.finished_at or d.updated_at,
            "state": "failed",
        }
        for d in latest.values()
        if d.state == "failed"
    ]


def _denials(svc: Services, viewer: Viewer, names: set[str]) -> list[dict[str, Any]]:
    found = []
    for decision in svc.policy.decisions(allowed=False, limit=50):
        subject = decision.subject or ""
        mine = decision.actor == viewer.user or any(
            subject.split(" ")[:2] == [kind, name]
            for name in names
            for kind in ("service", "component")
        )
        if not mine:
            continue
        reason = "; ".join(v.message for v in decision.denials[:2])
        found.append(
            {
                "kind": "Policy denial",
                "text": f"{decision.action} of {subject or 'a request'} denied: {reason}",
                "url": None,
                "at": decision.at,
                "state": "denied",
            }
        )
        if len(found) >= _MAX_DENIALS:
            break
    return found


def _insights(svc: Services, names: list[str]) -> list[dict[str, Any]]:
    insights = getattr(svc, "insights", None)
    if insights is None:
        return []
    found: list[dict[str, Any]] = []
    mine = set(names)
    for incident in insights.list_incidents(state="open", limit=100):
        if incident.service in mine:
            found.append(
                {
                    "kind": "Open incident",
                    "text": f"{incident.service}: {incident.title} ({incident.severity})",
                    "url": entity_url(f"component:default/{incident.service}"),
                    "at": incident.opened_at,
                    "state": "open",
                }
            )
    scorecards: Any = getattr(insights, "scorecards", None)
    for name in names[:_MAX_SCORED] if scorecards is not None else []:
        for result in scorecards.evaluate(f"component:default/{name}"):
            if result.level is None:
                missing = ", ".join(result.missing[:3]) or "its rules"
                found.append(
                    {
                        "kind": "Scorecard",
                        "text": f"{name} holds no level of {result.scorecard}: fix {missing}",
                        "url": entity_url(f"component:default/{name}") + "/scorecard",
                        "at": None,
                        "state": "failed",
                    }
                )
    return found


def _health(svc: Services, expected: set[str]) -> list[dict[str, Any]]:
    rows = []
    try:
        with svc.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            current = set(MigrationContext.configure(conn).get_current_heads())
        ok = current == expected
        detail = f"revision {', '.join(sorted(current))}" + ("" if ok else " (restart to migrate)")
        rows.append({"name": "Database", "state": "ok" if ok else "failed", "detail": detail})
    except Exception as e:  # the page reports it; internals stay in the log
        _log.warning("home: database check failed: %s", type(e).__name__)
        rows.append({"name": "Database", "state": "failed", "detail": "unreachable"})
    interval = svc.settings.deploy.reconcile_interval
    running = bool(getattr(svc.deploy.reconciler, "running", False))
    if interval <= 0:
        rows.append({"name": "Deploy reconciler", "state": "off", "detail": "switched off"})
    else:
        rows.append(
            {
                "name": "Deploy reconciler",
                "state": "ok" if running else "failed",
                "detail": f"every {interval:g}s" if running else "not running",
            }
        )
    routers = [
        r
        for r in processes.read_all(svc.settings.home / "run")
        if r.role == "router" and processes.is_alive(r)
    ]
    rows.append(
        {
            "name": "Router",
            "state": "ok" if routers else "idle",
            "detail": f"HAProxy pid {routers[0].pid}"
            if routers
            else "not started (starts with the first deployment)",
        }
    )
    return rows


def _section(data: HomeData, label: str, work: Any, *args: Any) -> Any:
    try:
        return work(*args)
    except PlatformError as e:
        data.notes.append(f"{label}: {e.message}")
    except Exception:
        _log.exception("home page: %s failed", label)
        data.notes.append(f"{label}: unavailable (see the server log)")
    return None


def gather(svc: Services, viewer: Viewer, expected_revisions: set[str]) -> HomeData:
    """Everything the home page shows for ``viewer`` (blocking: database reads)."""
    data = HomeData()
    data.services = _section(data, "My services", _services, svc, viewer) or []
    names = [str(s["name"]) for s in data.services]
    recent = _section(data, "Deployments", _deployments, svc, names) or []
    data.deployments = recent[:MAX_DEPLOYMENTS]
    data.attention.extend(_failed(recent))
    data.attention.extend(_section(data, "Policy", _denials, svc, viewer, set(names)) or [])
    data.attention.extend(_section(data, "Insights", _insights, svc, names) or [])
    data.health = _section(data, "Health", _health, svc, expected_revisions) or []
    return data


@router.get("/")
async def home(request: Request, viewer: ViewerDep) -> Response:
    """The home page of the signed-in viewer."""
    svc = services_of(request)
    expected: set[str] = getattr(request.app.state, "head_revisions", set())
    data = await run_in_threadpool(gather, svc, viewer, expected)
    return render(request, "home.html", {"title": "Home", "nav": "home", "home": data})
