"""Portal pages: deployments across services, and a Component's operational tabs.

- ``GET /deployments?environment=`` — every deployed service per environment
  (:meth:`DeployService.overview`: version serving, traffic split, ready replicas, URL) and
  the latest deployments of all services.
- ``GET /catalog/{ns}/{kind}/{name}/deployments`` — the service's deployment history (the
  page's first table, newest first), the current traffic split per version in each
  environment (a bar with one labelled segment per version taking traffic; versions no
  record wants read ``draining`` or ``stopped``), and Promote / Abort / Roll back buttons —
  Roll back is enabled only when :meth:`DeployService.rollback` would find something to
  return to, with that target or the reason it cannot shown as text beside it.
- ``POST …/deployments/{environment}/{promote|abort|rollback}`` (CSRF) — the same service
  calls as the API with ``actor=viewer.user``, allowed when ``viewer.can_act_on(spec.owner)``
  (otherwise the buttons are disabled with the reason, and a POST gets a 403 page saying
  who may); then 303 back to the tab with a notice (or the tab with the error, 409/404).
- ``GET …/environments`` — environments where the service runs: URLs, versions, replicas.
- ``GET …/resources`` — the claims the service consumes (or owns), with the *names* of the
  secrets holding their outputs — never values.
- ``GET …/secrets`` — the service's secrets: names, scopes, versions, sources, who changed
  them when — never values.

The entity tab bar is ``_entity_tabs.html``; the header ``_entity_header.html``.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from goldenpath.catalog.refs import parse_entity_ref
from goldenpath.deploy._rollback import rollback_source
from goldenpath.deploy.records import TERMINAL
from goldenpath.deploy.service import ServiceStatus
from goldenpath.errors import Forbidden, InvalidInput, NotFound, PlatformError
from goldenpath.portal.session import CsrfDep, Viewer, ViewerDep, services_of
from goldenpath.portal.web import render

__all__ = ["OPERATIONS", "router", "traffic_split", "version_rows"]

router = APIRouter(include_in_schema=False)

_ENTITY = "/catalog/{namespace}/{kind}/{name}"
#: the buttons of the Deployments tab
OPERATIONS = ("promote", "abort", "rollback")


def _entity(request: Request, namespace: str, kind: str, name: str) -> dict[str, Any]:
    """The Component (404 page when missing; a non-Component has no operational tabs)."""
    entity: dict[str, Any] = services_of(request).catalog.get_entity_by_ref(
        f"{kind}:{namespace}/{name}"
    )
    if str(entity.get("kind", "")).lower() != "component":
        raise NotFound(
            f"{kind}:{namespace}/{name} is a {entity.get('kind')}; deployments, environments, "
            "resources and secrets are tabs of Components"
        )
    return entity


def _service(entity: dict[str, Any]) -> str:
    return str((entity.get("metadata") or {}).get("name") or "").lower()


def _owner(entity: dict[str, Any]) -> str | None:
    owner = (entity.get("spec") or {}).get("owner")
    if not owner:
        return None
    try:
        return str(parse_entity_ref(str(owner), default_kind="group")).lower()
    except InvalidInput:
        return str(owner)


def _permission(viewer: Viewer, owner: str | None) -> str | None:
    """Why ``viewer`` may not operate this service (None when they may)."""
    if viewer.can_act_on(owner):
        return None
    if viewer.role == "viewer":
        return f"You are signed in as {viewer.user} with the viewer role, which may only read."
    return (
        f"Only members of {owner or 'the owning group'} and admins may promote, abort or "
        f"roll back this service; you are {viewer.user}."
    )


def _statuses(request: Request, service: str) -> list[Any]:
    try:
        found: list[Any] = services_of(request).deploy.status(service)
    except NotFound:
        return []
    return found


def _tab(
    request: Request,
    template: str,
    entity: dict[str, Any],
    tab: str,
    context: dict[str, Any],
    *,
    status_code: int = 200,
) -> HTMLResponse:
    meta = entity.get("metadata") or {}
    base = {
        "title": f"{meta.get('title') or meta.get('name')} — {tab.capitalize()}",
        "nav": "catalog",
        "entity": entity,
        "tab": tab,
        "service": _service(entity),
        "entity_path": "/catalog/{}/{}/{}".format(
            meta.get("namespace") or "default", str(entity.get("kind")).lower(), meta.get("name")
        ),
    }
    return render(request, template, {**base, **context}, status_code=status_code)


# --------------------------------------------------------------------------- overview


@router.get("/deployments", response_class=HTMLResponse)
def deployments_list(
    request: Request,
    viewer: ViewerDep,
    environment: Annotated[str | None, Query(max_length=63)] = None,
) -> HTMLResponse:
    """Every deployed service per environment plus the latest deployments (module doc)."""
    deploy = services_of(request).deploy
    environments = [e.name for e in deploy.list_environments()]
    chosen = environment if environment in environments else None
    statuses = deploy.overview(chosen)
    return render(
        request,
        "deployments_list.html",
        {
            "title": "Deployments",
            "nav": "deployments",
            "statuses": statuses,
            "rows": {(s.service, s.environment): version_rows(s) for s in statuses},
            "traffic": {(s.service, s.environment): traffic_split(s) for s in statuses},
            "recent": deploy.history(environment=chosen, limit=50),
            "environments": environments,
            "environment": chosen or "",
        },
    )


# --------------------------------------------------------------------------- deployments tab


def _controls(request: Request, statuses: list[Any]) -> dict[str, dict[str, Any]]:
    """Per environment which buttons apply: promote (paused), abort (in flight), rollback
    (see :func:`_rollback_plan`), and ``rollback_note``: where a rollback returns to, or why
    it cannot (shown as text next to the button)."""
    controls: dict[str, dict[str, Any]] = {}
    for status in statuses:
        active = next((d for d in status.recent if d.id == status.active_id), None)
        in_flight = active is not None and active.state not in TERMINAL
        if active is not None and not in_flight:
            # the target was read just before the record finished (it frees the target in
            # the same transaction): what serves now is not known from this read
            target, note = None, f"{active.version} just finished in {status.environment}; reload."
        else:
            target, note = _rollback_plan(request, status, in_flight=in_flight)
        controls[status.environment] = {
            "promote": in_flight and active is not None and active.state == "paused",
            "abort": in_flight,
            "rollback": target is not None,
            "rollback_note": note,
        }
    return controls


def _rollback_plan(request: Request, status: ServiceStatus, *, in_flight: bool) -> tuple[Any, str]:
    """``(deployment a rollback returns to, note)`` or ``(None, why not)`` — the rule of
    :meth:`DeployService.rollback`: something succeeded here, nothing is in flight, an earlier
    successful deployment with another release exists (``rollback_source``) and, outside
    kubernetes environments, its release is still on this machine."""
    services = services_of(request)
    env = status.environment
    if status.stable_id is None:
        return None, f"Nothing has succeeded in {env} yet, so there is nothing to roll back."
    if in_flight:
        return None, f"d{status.active_id} is in flight in {env}; promote or abort it first."
    try:
        current = services.deploy.get_deployment(status.stable_id)
        old = rollback_source(services.engine, current, None)
    except NotFound:
        return None, (
            f"Nothing earlier to return to: no successful deployment in {env} before "
            f"d{status.stable_id} has another release."
        )
    drivers = {e.name: e.driver for e in services.deploy.list_environments()}
    if drivers.get(env) != "kubernetes" and (
        old.release_id is None
        or services.deploy.driver.release(old.service, old.release_id) is None
    ):
        return None, (
            f"The release of {old.version} is no longer on this machine; deploy its commit "
            f"again with platform deploy --env {env} --ref {old.sha or old.ref}."
        )
    commit = f" (commit {old.sha[:8]})" if old.sha else ""
    return old, f"Returns {env} to {old.version}{commit}."


def version_rows(status: ServiceStatus) -> list[dict[str, Any]]:
    """The versions of one :class:`ServiceStatus` as the tab shows them: ``{version, state,
    sha, weight, phase, replicas}`` — ``phase`` ``serving`` (a record wants replicas and it
    takes traffic: text ``ready/desired replicas ready``), ``standby`` (a record wants
    replicas, no traffic yet — a new version starting or waiting for promotion), ``draining``
    (no record wants it, replicas still up, no new traffic) or ``stopped`` (only a 0 % weight
    is left)."""
    rows = []
    for v in status.versions:
        weight = status.weights.get(v["version"])
        running = [r for r in v["replicas"] if r.state != "stopped"]
        if v["desired"] > 0:
            phase = "serving" if weight else "standby"
            replicas = f"{v['ready']}/{v['desired']} replicas ready"
        elif running:
            n = len(running)
            phase = "draining"
            replicas = f"no new traffic; {n} replica{'s' if n != 1 else ''} stopping"
        else:
            phase, replicas = "stopped", "no replicas running"
        rows.append(
            {
                "version": v["version"],
                "state": v["state"],
                "sha": v["sha"],
                "weight": weight,
                "phase": phase,
                "replicas": replicas,
            }
        )
    listed = {row["version"] for row in rows}
    for version, weight in status.weights.items():
        if version not in listed:
            rows.append(
                {
                    "version": version,
                    "state": None,
                    "sha": None,
                    "weight": weight,
                    "phase": "stopped",
                    "replicas": "no replicas running",
                }
            )
    return rows


def traffic_split(status: ServiceStatus) -> list[tuple[str, int]]:
    """``[(version, percent)]`` of the versions that take traffic (weight > 0)."""
    return [(v, int(w)) for v, w in status.weights.items() if w and int(w) > 0]


def _deployments_tab(
    request: Request,
    viewer: Viewer,
    entity: dict[str, Any],
    *,
    notice: str | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    service = _service(entity)
    # history first: a deployment it shows finished is finished in the statuses read after
    history = services_of(request).deploy.history(service=service, limit=100)
    statuses = _statuses(request, service)
    return _tab(
        request,
        "deployments_tab.html",
        entity,
        "deployments",
        {
            "history": history,
            "statuses": statuses,
            "controls": _controls(request, statuses),
            "rows": {s.environment: version_rows(s) for s in statuses},
            "traffic": {s.environment: traffic_split(s) for s in statuses},
            "refused": _permission(viewer, _owner(entity)),
            "owner": _owner(entity),
            "notice": notice,
            "error": error,
        },
        status_code=status_code,
    )


@router.get(_ENTITY + "/deployments", response_class=HTMLResponse)
def deployments_tab(
    request: Request,
    namespace: str,
    kind: str,
    name: str,
    viewer: ViewerDep,
    notice: Annotated[str | None, Query(max_length=300)] = None,
) -> HTMLResponse:
    """History, traffic split and the operation buttons (module doc)."""
    entity = _entity(request, namespace, kind, name)
    return _deployments_tab(request, viewer, entity, notice=notice)


@router.post(_ENTITY + "/deployments/{environment}/{operation}", response_model=None)
def operate(
    request: Request,
    namespace: str,
    kind: str,
    name: str,
    environment: str,
    operation: str,
    viewer: CsrfDep,
) -> Response:
    """Promote, abort or roll back the service in ``environment`` (module doc)."""
    entity = _entity(request, namespace, kind, name)
    if operation not in OPERATIONS:
        raise NotFound(f"unknown operation {operation!r}; use one of {', '.join(OPERATIONS)}")
    refused = _permission(viewer, _owner(entity))
    if refused is not None:
        raise Forbidden(refused)
    deploy = services_of(request).deploy
    service = _service(entity)
    try:
        if operation == "promote":
            d = deploy.promote(service, environment, actor=viewer.user)
            notice = f"{d.version} promoted in {environment}"
        elif operation == "abort":
            d = deploy.abort(service, environment, actor=viewer.user)
            notice = f"{d.version} aborted in {environment}; traffic is back on the stable version"
        else:
            d = deploy.rollback(service, environment, actor=viewer.user)
            notice = f"rollback to d{d.rollback_of} recorded as deployment {d.id} in {environment}"
    except PlatformError as e:
        return _deployments_tab(request, viewer, entity, error=e.message, status_code=e.status)
    meta = entity.get("metadata") or {}
    path = "/catalog/{}/{}/{}/deployments".format(
        meta.get("namespace") or "default", str(entity.get("kind")).lower(), meta.get("name")
    )
    return RedirectResponse(f"{path}?notice={quote(notice)}", status_code=303)


# --------------------------------------------------------------------------- other tabs


@router.get(_ENTITY + "/environments", response_class=HTMLResponse)
def environments_tab(
    request: Request, namespace: str, kind: str, name: str, viewer: ViewerDep
) -> HTMLResponse:
    """Environments where the service runs: URLs, versions and replicas (module doc)."""
    entity = _entity(request, namespace, kind, name)
    deploy = services_of(request).deploy
    known = {e.name: e for e in deploy.list_environments()}
    statuses = _statuses(request, _service(entity))
    return _tab(
        request,
        "environments_tab.html",
        entity,
        "environments",
        {
            "statuses": statuses,
            "environments": known,
            "rows": {s.environment: version_rows(s) for s in statuses},
        },
    )


@router.get(_ENTITY + "/resources", response_class=HTMLResponse)
def resources_tab(
    request: Request, namespace: str, kind: str, name: str, viewer: ViewerDep
) -> HTMLResponse:
    """The service's claims with the names of their output secrets (module doc)."""
    entity = _entity(request, namespace, kind, name)
    service = _service(entity)
    owner = _owner(entity)
    claims = [
        c
        for c in services_of(request).resources.list()
        if service in c.consumers or (owner is not None and c.owner == owner and not c.consumers)
    ]
    return _tab(request, "resources_tab.html", entity, "resources", {"claims": claims})


@router.get(_ENTITY + "/secrets", response_class=HTMLResponse)
def secrets_tab(
    request: Request, namespace: str, kind: str, name: str, viewer: ViewerDep
) -> HTMLResponse:
    """The service's secrets: names and versions only (module doc)."""
    entity = _entity(request, namespace, kind, name)
    service = _service(entity)
    secrets = services_of(request).secrets
    metas = secrets.list(service=service, all_scopes=True)
    return _tab(
        request,
        "secrets_tab.html",
        entity,
        "secrets",
        {"secrets": [m for m in metas if m.scope.service == service]},
    )
