"""``/api/scaffolder/v2/*``: software templates, tasks, their logs (JSON and SSE), dry runs.

Backstage's scaffolder REST shapes (``plugins/scaffolder-backend/src/service/router.ts``):

- ``GET /v2/templates/{namespace}/{kind}/{name}/parameter-schema`` → ``{title, description,
  steps: [{title, description, schema}]}``
- ``GET /v2/actions`` → ``[{id, description, schema: {input, output}, examples}]``
- ``POST /v2/tasks`` ``{templateRef, values, secrets}`` → 201 ``{id}``
- ``GET /v2/tasks`` → ``{tasks, totalTasks}`` (+ goldenpath's ``pageInfo.nextCursor``)
- ``GET /v2/tasks/{id}`` → the task (never its secrets)
- ``GET /v2/tasks/{id}/events?after=N`` → ``[{id, taskId, type, body, createdAt}]``
- ``GET /v2/tasks/{id}/eventstream?after=N`` → ``text/event-stream``: ``event: log`` /
  ``event: completion``, ``id: <event id>``, ``data: <event JSON>``; ends after completion
- ``POST /v2/tasks/{id}/cancel`` → ``{status: "cancelled"}``
- ``POST /v2/dry-run`` ``{template, values, secrets, directoryContents}`` → ``{log,
  directoryContents, output, steps}`` (goldenpath also takes ``templateRef`` instead of
  ``template``, and adds ``status`` and ``error``)

Any token may read; creating, cancelling and dry-running need a member or admin token.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from goldenpath.api.deps import PrincipalDep, ServicesDep
from goldenpath.api.ids import MAX_ID, last_event_id
from goldenpath.auth.models import Role
from goldenpath.scaffolder.tasks import TERMINAL, TaskStatus

__all__ = ["router"]

router = APIRouter(prefix="/api/scaffolder/v2", tags=["scaffolder"])

#: seconds between SSE comment lines that keep idle proxies from closing the stream
KEEPALIVE_INTERVAL = 15.0
#: seconds after which a stream ends even if the task still runs, so a stopping server never
#: waits long on it; clients resume with ``?after=`` or ``Last-Event-ID`` (EventSource does)
MAX_STREAM_SECONDS = 30.0


class TaskInput(BaseModel):
    """Body of ``POST /v2/tasks``."""

    templateRef: str = Field(min_length=1, max_length=700)
    values: dict[str, Any] = Field(default_factory=dict)
    secrets: dict[str, str] | None = None


class DryRunInput(BaseModel):
    """Body of ``POST /v2/dry-run``."""

    template: dict[str, Any] | None = None
    templateRef: str | None = None
    values: dict[str, Any] = Field(default_factory=dict)
    secrets: dict[str, str] | None = None
    directoryContents: list[dict[str, Any]] = Field(default_factory=list)


@router.get(
    "/templates/{namespace}/{kind}/{name}/parameter-schema",
    summary="A template's parameter pages (Backstage)",
)
def parameter_schema(
    namespace: str, kind: str, name: str, svc: ServicesDep, _who: PrincipalDep
) -> dict[str, Any]:
    """``{title, description, steps: [{title, description, schema}]}``; 404 for no template."""
    return svc.scaffolder.get_template(f"{kind}:{namespace}/{name}").parameter_schema()


@router.get("/actions", summary="Installed template actions (Backstage)")
def list_actions(svc: ServicesDep, _who: PrincipalDep) -> list[dict[str, Any]]:
    """``[{id, description, schema: {input, output}, examples, supportsDryRun}]``."""
    return svc.scaffolder.list_actions()


@router.post("/tasks", status_code=201, summary="Run a template (Backstage)")
def create_task(body: TaskInput, svc: ServicesDep, who: PrincipalDep) -> JSONResponse:
    """201 ``{id}``; 400 with ``errors: [{path, message}]`` for values failing the schema."""
    task_id = svc.scaffolder.create_task(
        template_ref=body.templateRef, values=body.values, secrets=body.secrets, user_ref=who.user
    )
    return JSONResponse({"id": task_id}, status_code=201)


@router.get("/tasks", summary="Tasks, newest first (Backstage), paginated")
def list_tasks(
    svc: ServicesDep,
    _who: PrincipalDep,
    createdBy: str | None = None,
    status: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(description="pageInfo.nextCursor of a page")] = None,
) -> dict[str, Any]:
    """``{tasks: [...], totalTasks, pageInfo: {nextCursor?}}``."""
    return svc.scaffolder.list_tasks(
        created_by=createdBy, status=status, limit=limit, cursor=cursor
    )


@router.get("/tasks/{task_id}", summary="One task (Backstage)")
def get_task(task_id: str, svc: ServicesDep, _who: PrincipalDep) -> dict[str, Any]:
    """The task: ``{id, spec, status, createdAt, lastHeartbeatAt, createdBy, …}``."""
    return svc.scaffolder.get_task(task_id)


@router.get("/tasks/{task_id}/events", summary="A task's log events (Backstage)")
def task_events(
    task_id: str,
    svc: ServicesDep,
    _who: PrincipalDep,
    after: Annotated[int | None, Query(ge=0, le=MAX_ID, description="last event id seen")] = None,
) -> list[dict[str, Any]]:
    """Events with ``id > after``, oldest first."""
    return svc.scaffolder.events(task_id, after)


@router.get("/tasks/{task_id}/eventstream", summary="A task's log as server-sent events")
async def task_eventstream(
    task_id: str,
    request: Request,
    svc: ServicesDep,
    _who: PrincipalDep,
    after: Annotated[int | None, Query(ge=0, le=MAX_ID, description="last event id seen")] = None,
) -> StreamingResponse:
    """``text/event-stream`` of the task's events; the stream ends after ``completion`` (or
    after ``MAX_STREAM_SECONDS``: resume from the last ``id`` with ``?after=`` or the
    ``Last-Event-ID`` header)."""
    await run_in_threadpool(svc.scaffolder.get_task, task_id)  # 404 before streaming
    if after is None:
        after = last_event_id(request.headers.get("last-event-id"))
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(
        _stream(request, svc, task_id, after), media_type="text/event-stream", headers=headers
    )


async def _stream(
    request: Request, svc: Any, task_id: str, after: int | None
) -> AsyncIterator[str]:
    last, quiet_since = after, time.monotonic()
    ends = quiet_since + MAX_STREAM_SECONDS
    while time.monotonic() < ends and not await request.is_disconnected():
        events = await run_in_threadpool(svc.scaffolder.wait_events, task_id, last, timeout=1.0)
        for event in events:
            yield _sse(event)
            last = event["id"]
            if event["type"] == "completion":
                return
        if events:
            quiet_since = time.monotonic()
            continue
        task = await run_in_threadpool(svc.scaffolder.get_task, task_id)
        if TaskStatus(task["status"]) in TERMINAL:
            return  # the completion event was before ``after``
        if time.monotonic() - quiet_since > KEEPALIVE_INTERVAL:
            quiet_since = time.monotonic()
            yield ": keep-alive\n\n"


def _sse(event: dict[str, Any]) -> str:
    data = json.dumps(event, ensure_ascii=False, separators=(",", ":"))
    return f"event: {event['type']}\nid: {event['id']}\ndata: {data}\n\n"


@router.post("/tasks/{task_id}/cancel", summary="Cancel a task (Backstage)")
def cancel_task(task_id: str, svc: ServicesDep, who: PrincipalDep) -> dict[str, Any]:
    """``{status: "cancelled"}``; 409 when the task already ended; 403 for others' tasks."""
    return svc.scaffolder.cancel_task(task_id, user_ref=who.user, admin=who.role is Role.ADMIN)


@router.post("/dry-run", summary="Run a template without side effects (Backstage)")
def dry_run(body: DryRunInput, svc: ServicesDep, who: PrincipalDep) -> dict[str, Any]:
    """``{log: [{body}], directoryContents: [{path, base64Content, executable}], output,
    steps, status, error}``."""
    return svc.scaffolder.dry_run(
        template=body.template,
        template_ref=body.templateRef,
        values=body.values,
        secrets=body.secrets,
        user_ref=who.user,
        directory_contents=body.directoryContents,
    )
