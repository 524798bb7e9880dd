"""Portal pages: Create — the template list, a template's form, a task's live log.

- ``GET /create?type=&q=`` — Templates from the catalog (not those of ``spec.type: action``,
  which are on ``/actions``), filterable by type, searchable.
- ``GET /create/{namespace}/{name}`` — the form generated from the template's parameters
  (:mod:`goldenpath.portal.forms`).
- ``POST /create/{namespace}/{name}`` (CSRF) — validated with the scaffolder's own rules
  (errors beside the fields, 400; secrets never echoed); then
  :meth:`ScaffolderService.create_task` with ``user_ref=viewer.user`` → 303 to the task.
  Creating needs a member or admin; an action template on a service needs
  ``viewer.can_act_on(<the service's owner>)`` (403 saying who may).
- ``GET /create/tasks/{id}`` — the task's steps and log. While it runs the log panel
  refreshes itself: htmx polls ``?partial=1`` every second, and without JavaScript a
  ``<meta http-equiv=refresh>`` (in ``<noscript>``) reloads the page. When done: output links
  (repository, catalog entity, the service's deployed URL) and texts.
- ``GET /create/tasks/{id}/events?after=`` — the same log as server-sent events
  (``event: log`` / ``completion``, ``id`` = event id; resumes from ``Last-Event-ID``) until
  the task ends or ``STREAM_SECONDS`` pass.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from goldenpath.api.ids import MAX_ID, last_event_id
from goldenpath.catalog.refs import parse_entity_ref
from goldenpath.errors import Forbidden, InvalidInput, NotFound, PlatformError
from goldenpath.portal import forms
from goldenpath.portal.session import CsrfDep, Viewer, ViewerDep, services_of
from goldenpath.portal.web import render
from goldenpath.scaffolder.templates import TemplateSpec

__all__ = [
    "STREAM_SECONDS",
    "catalog_choices",
    "entity_url",
    "owner_of",
    "router",
    "task_view",
]

router = APIRouter(include_in_schema=False)

#: longest life of one ``/events`` stream (the browser reconnects with Last-Event-ID)
STREAM_SECONDS = 60.0
_MAX_TEMPLATES = 500
_MAX_CHOICES = 500


# --------------------------------------------------------------------------- helpers


def entity_url(ref: str) -> str:
    """The portal page of an entity ref: ``component:default/x`` →
    ``/catalog/default/component/x``."""
    parsed = parse_entity_ref(ref)
    return f"/catalog/{parsed.namespace}/{parsed.kind.lower()}/{parsed.name}"


def catalog_choices(catalog: Any) -> forms.Choices:
    """Picker options from the catalog: entities of the given kinds as ``(ref, title)``,
    sorted by name (at most 500)."""

    def choices(kinds: Sequence[str]) -> list[forms.Option]:
        filters = [f"kind={k.lower()}" for k in kinds] or None
        page = catalog.query_entities(
            filters=filters,
            order="metadata.name",
            limit=_MAX_CHOICES,
            fields=["kind", "metadata.name", "metadata.namespace", "metadata.title"],
        )
        options = []
        for e in page.items:
            meta = e.get("metadata") or {}
            ns = meta.get("namespace") or "default"
            ref = f"{str(e.get('kind')).lower()}:{ns}/{meta.get('name')}"
            label = str(meta.get("title") or meta.get("name"))
            options.append(forms.Option(ref, f"{label} ({ref})" if len(kinds) != 1 else label))
        return options

    return choices


def owner_of(catalog: Any, service: str) -> str | None:
    """``spec.owner`` of the Component ``service`` (ref or name) as a full lower-case ref,
    or None when the catalog has no such Component."""
    try:
        ref = parse_entity_ref(service, default_kind="component")
        entity = catalog.get_entity_by_ref(str(ref))
    except (NotFound, InvalidInput):
        return None
    owner = (entity.get("spec") or {}).get("owner")
    if not owner:
        return None
    return str(parse_entity_ref(str(owner), default_kind="group")).lower()


def _template_type(template: TemplateSpec) -> str:
    return str((template.entity.get("spec") or {}).get("type") or "")


def _load_template(request: Request, namespace: str, name: str) -> TemplateSpec:
    svc = services_of(request)
    template: TemplateSpec = svc.scaffolder.get_template(f"template:{namespace}/{name}")
    return template


def _form_page(
    request: Request,
    template: TemplateSpec,
    namespace: str,
    name: str,
    *,
    values: Mapping[str, Any] | None = None,
    errors: Mapping[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    svc = services_of(request)
    form = forms.build_form(
        template, values=values, errors=errors, choices=catalog_choices(svc.catalog)
    )
    action = _template_type(template) == "action"
    return render(
        request,
        "create_form.html",
        {
            "title": form.title,
            "nav": "actions" if action else "create",
            "form": form,
            "template": template.entity,
            "is_action": action,
            "post_url": f"/create/{namespace}/{name}",
            "refused": _refusal(request, template, {}),
        },
        status_code=status_code,
    )


def _refusal(request: Request, template: TemplateSpec, values: Mapping[str, Any]) -> str | None:
    """Why the signed-in user may not run ``template`` (None when they may)."""
    viewer: Viewer = request.state.viewer
    if not viewer.principal.can_write():
        return (
            f"You are signed in as {viewer.user} with the viewer role, which may only read; "
            "members and admins may run templates."
        )
    service = values.get("service")
    if _template_type(template) == "action" and isinstance(service, str) and service:
        owner = owner_of(services_of(request).catalog, service)
        if not viewer.can_act_on(owner):
            return (
                f"Only members of {owner or 'the owning group'} or admins may run "
                f"{template.name} on {service}; you are {viewer.user}."
            )
    return None


# --------------------------------------------------------------------------- list + form


@router.get("/create", response_class=HTMLResponse)
def create_list(
    request: Request,
    viewer: ViewerDep,
    type: Annotated[str | None, Query(max_length=100)] = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
) -> HTMLResponse:
    """The template list (module doc)."""
    catalog = services_of(request).catalog
    filters = "kind=template" + (f",spec.type={type}" if type else "")
    page = catalog.query_entities(
        filters=[filters], full_text=q or None, order="metadata.name", limit=_MAX_TEMPLATES
    )
    templates = [e for e in page.items if (e.get("spec") or {}).get("type") != "action"]
    facets = catalog.facets(facets=["spec.type"], filters=["kind=template"])
    types = [f for f in facets.get("spec.type", []) if str(f["value"]).lower() != "action"]
    return render(
        request,
        "create_list.html",
        {
            "title": "Create",
            "nav": "create",
            "templates": templates,
            "types": types,
            "type": type or "",
            "q": q or "",
        },
    )


@router.get("/create/tasks/{task_id}", response_class=HTMLResponse)
def task_page(
    request: Request, task_id: str, viewer: ViewerDep, partial: bool = False
) -> HTMLResponse:
    """A task's steps, live log and output links (module doc)."""
    view = task_view(request, task_id)
    template = "create_task_panel.html" if partial else "create_task.html"
    nav = "actions" if view["is_action"] else "create"
    return render(request, template, {"title": f"Task {view['title']}", "nav": nav, **view})


@router.get("/create/{namespace}/{name}", response_class=HTMLResponse)
def template_form(request: Request, namespace: str, name: str, viewer: ViewerDep) -> HTMLResponse:
    """The template's form; ``?service=`` (or any parameter) pre-fills a field."""
    template = _load_template(request, namespace, name)
    prefill = {k: v for k, v in request.query_params.items() if k != "csrf_token"}
    return _form_page(request, template, namespace, name, values=prefill)


@router.post("/create/{namespace}/{name}", response_model=None)
async def submit_form(
    request: Request, namespace: str, name: str, viewer: ViewerDep, _csrf: CsrfDep
) -> Response:
    """Validate, create the task, 303 to its page; 400 with the errors beside the fields,
    403 when the user may not run it here."""
    form = await request.form()
    submitted = {key: [str(v) for v in form.getlist(key)] for key in form}
    return await run_in_threadpool(_submit, request, namespace, name, viewer, submitted)


def _submit(
    request: Request,
    namespace: str,
    name: str,
    viewer: Viewer,
    submitted: Mapping[str, Sequence[str]],
) -> Response:
    template = _load_template(request, namespace, name)
    values, errors = forms.parse_form(template, submitted)
    shown = _without_secrets(template, values)

    def again(problems: Mapping[str, str], status_code: int) -> Response:
        """The form once more, with what was entered (secrets left out) and the problems."""
        return _form_page(
            request,
            template,
            namespace,
            name,
            values=shown,
            errors=problems,
            status_code=status_code,
        )

    if not errors:
        errors = forms.validate_form(template, values)
    if errors:
        return again(errors, 400)
    refused = _refusal(request, template, values)
    if refused is not None:
        return again({"": refused}, 403)
    try:
        task_id = services_of(request).scaffolder.create_task(
            template_ref=template.ref or f"template:{namespace}/{name}",
            values=values,
            secrets=None,
            user_ref=viewer.user,
        )
    except InvalidInput as e:
        found = {
            str(item.get("path") or "").lstrip("/").split("/")[0]: str(item.get("message"))
            for item in (e.details or {}).get("errors") or []
        }
        return again(found or {"": e.message}, 400)
    except Forbidden as e:  # a scaffold policy said no: show why, keep the form
        return again({"": e.message}, 403)
    return RedirectResponse(f"/create/tasks/{task_id}", status_code=303)


def _without_secrets(template: TemplateSpec, values: Mapping[str, Any]) -> dict[str, Any]:
    hidden = template.secret_parameters()
    return {k: v for k, v in values.items() if k not in hidden}


# --------------------------------------------------------------------------- task


def _step_states(steps: list[dict[str, Any]], events: list[dict[str, Any]]) -> dict[str, str]:
    states = {str(s.get("id")): "open" for s in steps}
    for event in events:
        body = event.get("body") or {}
        step, status = body.get("stepId"), body.get("status")
        if step in states and status:
            states[step] = str(status)
    return states


def _links(request: Request, task: Mapping[str, Any]) -> list[dict[str, str]]:
    """Output links (empty URLs dropped; entity refs → portal pages) plus, for each
    Component the task produced, the URLs where it is deployed."""
    output = task.get("output") or {}
    links: list[dict[str, str]] = []
    components: list[str] = []
    for link in output.get("links") or []:
        if not isinstance(link, Mapping):
            continue
        title = str(link.get("title") or link.get("url") or link.get("entityRef") or "link")
        ref = link.get("entityRef")
        if isinstance(ref, str) and ref:
            try:
                links.append({"title": title, "url": entity_url(ref)})
            except InvalidInput:
                continue
            if ref.lower().startswith("component:"):
                components.append(parse_entity_ref(ref).name)
        elif isinstance(link.get("url"), str) and link["url"] and link["url"] != "undefined":
            links.append({"title": title, "url": str(link["url"])})
    deploy = services_of(request).deploy
    for component in components:
        try:
            statuses = deploy.status(component)
        except PlatformError:
            continue
        for status in statuses:
            if status.urls is not None:
                links.append(
                    {"title": f"{component} in {status.environment}", "url": status.urls.http}
                )
    return links


def task_view(request: Request, task_id: str) -> dict[str, Any]:
    """Everything the task page shows: ``{task, title, steps: [{id, name, state}], log:
    [{id, step, message, at}], done, status, error, links, texts, is_action, template_url}``.

    Raises:
        NotFound: no such task.
    """
    scaffolder = services_of(request).scaffolder
    task = scaffolder.get_task(task_id)
    events = scaffolder.events(task_id)
    spec = task.get("spec") or {}
    info = spec.get("templateInfo") or {}
    entity = info.get("entity") or {}
    steps = spec.get("steps") or []
    states = _step_states(steps, events)
    done = task["status"] in ("completed", "failed", "cancelled")
    output = task.get("output") or {}
    meta = entity.get("metadata") or {}
    template_url = None
    if info.get("entityRef"):
        ref = parse_entity_ref(str(info["entityRef"]))
        template_url = f"/create/{ref.namespace}/{ref.name}"
    return {
        "task": task,
        "title": str(meta.get("title") or meta.get("name") or task_id),
        "steps": [
            {
                "id": s.get("id"),
                "name": s.get("name") or s.get("action"),
                "state": states.get(str(s.get("id")), "open"),
            }
            for s in steps
        ],
        "log": [
            {
                "id": e["id"],
                "step": (e.get("body") or {}).get("stepId") or "",
                "message": (e.get("body") or {}).get("message") or "",
                "at": e.get("createdAt") or "",
            }
            for e in events
            if e.get("type") == "log"
        ],
        "done": done,
        "status": task["status"],
        "error": task.get("error"),
        "links": _links(request, task) if done else [],
        "texts": [t for t in output.get("text") or [] if isinstance(t, Mapping)] if done else [],
        "is_action": (entity.get("spec") or {}).get("type") == "action",
        "template_url": template_url,
        "task_id": task_id,
    }


def _sse(event: str, event_id: int | None, data: Any) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data)}\n\n"


@router.get("/create/tasks/{task_id}/events")
async def task_events(
    request: Request,
    task_id: str,
    viewer: ViewerDep,
    after: Annotated[int | None, Query(ge=0, le=MAX_ID)] = None,
) -> StreamingResponse:
    """``text/event-stream`` of the task's events (module doc); 404 page for an unknown id."""
    scaffolder = services_of(request).scaffolder
    await run_in_threadpool(scaffolder.get_task, task_id)
    if after is None:
        after = last_event_id(request.headers.get("last-event-id"))
    return StreamingResponse(
        _event_stream(request, scaffolder, task_id, after),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _event_stream(
    request: Request, scaffolder: Any, task_id: str, after: int | None
) -> AsyncIterator[str]:
    deadline = time.monotonic() + STREAM_SECONDS
    while time.monotonic() < deadline:
        if await request.is_disconnected():
            return
        events = await run_in_threadpool(scaffolder.wait_events, task_id, after, timeout=1.0)
        for event in events:
            after = int(event["id"])
            yield _sse(str(event.get("type") or "log"), after, event)
            if event.get("type") == "completion":
                return
        if not events:
            task = await run_in_threadpool(scaffolder.get_task, task_id)
            if task["status"] in ("completed", "failed", "cancelled"):
                return
            yield ": keep-alive\n\n"
        await asyncio.sleep(0)
