"""Portal pages: self-service actions — Templates of ``spec.type: action`` and their runs.

- ``GET /actions?service=`` — the action templates (rotate database password, create preview
  environment, run incident runbook, and any a platform team adds); each links to its form
  (``/create/{namespace}/{name}``, pre-filled with ``?service=`` when given) — running one is
  an ordinary scaffolder task, permission-checked on the chosen service's owner.
- ``GET /actions/history?service=&status=`` — recent runs of action templates (newest first,
  from :meth:`ScaffolderService.list_tasks`, filtered to action templates and optionally to
  one service), each linking to its log (``/create/tasks/{id}``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from goldenpath.catalog.refs import parse_entity_ref
from goldenpath.errors import InvalidInput
from goldenpath.portal.session import ViewerDep, services_of
from goldenpath.portal.web import render

__all__ = ["action_runs", "router"]

router = APIRouter(include_in_schema=False)

#: how many tasks the history scans (newest first) to find action runs
SCAN_LIMIT = 1000
_PAGE = 200


def _service_key(value: Any) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return parse_entity_ref(value, default_kind="component").name.lower()
    except InvalidInput:
        return value.lower()


def action_runs(
    scaffolder: Any, *, service: str | None = None, status: str | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    """Runs of action templates, newest first: ``[{id, template, title, service, status,
    createdBy, createdAt, completedAt, error}]`` (at most ``limit``, scanning the newest
    ``SCAN_LIMIT`` tasks). ``service`` (a name or Component ref) keeps runs on that service.

    Raises:
        InvalidInput: unknown ``status``.
    """
    wanted = _service_key(service)
    runs: list[dict[str, Any]] = []
    cursor = None
    scanned = 0
    while scanned < SCAN_LIMIT and len(runs) < limit:
        page = scaffolder.list_tasks(status=status, limit=_PAGE, cursor=cursor)
        for task in page["tasks"]:
            run = _run(task)
            if run is not None and (wanted is None or run["service"] == wanted):
                runs.append(run)
        scanned += len(page["tasks"])
        cursor = page["pageInfo"].get("nextCursor")
        if not cursor:
            break
    return runs[:limit]


def _run(task: Mapping[str, Any]) -> dict[str, Any] | None:
    spec = task.get("spec") or {}
    entity = (spec.get("templateInfo") or {}).get("entity") or {}
    if (entity.get("spec") or {}).get("type") != "action":
        return None
    meta = entity.get("metadata") or {}
    parameters = spec.get("parameters") or {}
    return {
        "id": task["id"],
        "template": meta.get("name"),
        "title": meta.get("title") or meta.get("name"),
        "service": _service_key(parameters.get("service")),
        "environment": parameters.get("environment") or parameters.get("source"),
        "status": task["status"],
        "createdBy": task.get("createdBy"),
        "createdAt": task.get("createdAt"),
        "completedAt": task.get("completedAt"),
        "error": task.get("error"),
    }


@router.get("/actions", response_class=HTMLResponse)
def actions_list(
    request: Request,
    viewer: ViewerDep,
    service: Annotated[str | None, Query(max_length=300)] = None,
) -> HTMLResponse:
    """The action templates and the latest runs (module doc)."""
    svc = services_of(request)
    page = svc.catalog.query_entities(
        filters=["kind=template,spec.type=action"], order="metadata.name", limit=500
    )
    templates = []
    for entity in page.items:
        meta = entity.get("metadata") or {}
        ns = meta.get("namespace") or "default"
        url = f"/create/{ns}/{meta.get('name')}"
        templates.append(
            {"entity": entity, "url": url + (f"?service={service}" if service else "")}
        )
    return render(
        request,
        "actions_list.html",
        {
            "title": "Actions",
            "nav": "actions",
            "templates": templates,
            "service": service or "",
            "runs": action_runs(svc.scaffolder, service=service, limit=10),
        },
    )


@router.get("/actions/history", response_class=HTMLResponse)
def actions_history(
    request: Request,
    viewer: ViewerDep,
    service: Annotated[str | None, Query(max_length=300)] = None,
    status: Annotated[str | None, Query(max_length=20)] = None,
) -> HTMLResponse:
    """Every recent action run with links to its log (module doc)."""
    svc = services_of(request)
    runs = action_runs(svc.scaffolder, service=service, status=status or None, limit=200)
    return render(
        request,
        "actions_history.html",
        {
            "title": "Action runs",
            "nav": "actions",
            "runs": runs,
            "service": service or "",
            "status": status or "",
            "statuses": ["open", "processing", "completed", "failed", "cancelled"],
        },
    )
