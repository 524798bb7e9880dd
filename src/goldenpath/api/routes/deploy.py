"""``/api/deploy/v1/*``: deployments, promote / abort / rollback, service status and logs.

JSON is camelCase (``Deployment.to_dict()``); errors are RFC 9457 problems. Any token may
read; deploying, promoting, aborting and rolling back need a member or admin token.

- ``POST /deployments`` ``{environment, repo?, ref?, specPath?, spec?, canary?, strategy?}``
  → 202 the new Deployment (``pending``; the reconciler drives it), ``Location`` header
- ``POST /render`` (the body of ``POST /deployments``) → ``{service, environment, objects,
  errors}``: the Kubernetes objects, validated; records nothing (viewers may call it)
- ``POST /diff`` (the body of ``POST /deployments``) → ``{changes: [{kind, name, change,
  diff}]}`` against a kubernetes environment's GitOps repository (read-only)
- ``POST /pipelines`` ``{spec, specPath?, system: github|gitlab}`` → ``{system, files}``: the
  service's CI/CD pipeline files (read-only)
- ``GET /deployments?service&environment&limit&before`` → ``[Deployment]``, newest first
  (the next page: ``before=<last id>``)
- ``GET /deployments/{id}`` → the Deployment
- ``GET /deployments/{id}/eventstream?after=N`` → ``text/event-stream`` of its transitions
  until terminal or paused (``_deploy_streams``)
- ``POST /services/{service}/environments/{env}/promote`` ``{full?}`` → the Deployment
- ``POST /services/{service}/environments/{env}/abort`` → the Deployment
- ``POST /services/{service}/environments/{env}/rollback`` ``{to?}`` → 202 the new Deployment
- ``GET /services/{service}/status?environment`` → ``[ServiceStatus]``, one per environment
- ``GET /services/{service}/environments/{env}/logs?since&limit&follow`` → ``[{at, version,
  replica, stream, text}]``; with ``follow=true`` a ``text/event-stream`` (or
  ``application/x-ndjson`` when the ``Accept`` header asks for it)
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.concurrency import run_in_threadpool

from goldenpath.api.deps import PrincipalDep, ReaderDep, ServicesDep
from goldenpath.api.ids import MAX_ID, RowId, last_event_id
from goldenpath.api.routes import _deploy_params, _deploy_streams, _ownership
from goldenpath.deploy.service import DeployRequest
from goldenpath.errors import InvalidInput
from goldenpath.manifests import pipelines as ci
from goldenpath.workloads import parse_workload

__all__ = ["PREFIX", "router"]

PREFIX = "/api/deploy/v1"
router = APIRouter(prefix=PREFIX, tags=["deploy"])
_STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


class DeploymentInput(BaseModel):
    """Body of ``POST /deployments``: a git ``repo`` (URL or absolute path) at ``ref`` with
    the spec at ``specPath`` inside it, and/or the ``spec`` text itself (package builds)."""

    model_config = ConfigDict(extra="forbid")

    environment: str = Field(default="dev", min_length=1, max_length=63)
    repo: str | None = Field(default=None, min_length=1, max_length=4096)
    ref: str = Field(default="HEAD", min_length=1, max_length=255)
    specPath: str = Field(default="platform.yaml", min_length=1, max_length=1024)
    spec: str | None = Field(default=None, min_length=1, max_length=1_000_000)
    canary: int | None = Field(default=None, ge=1, le=100, description="first weight, percent")
    strategy: Literal["rolling", "canary", "blue-green"] | None = None

    @field_validator("canary", mode="before")
    @classmethod
    def _percent(cls, value: Any) -> Any:
        """Accept ``"10%"`` as well as ``10``."""
        if isinstance(value, str) and value.strip().endswith("%"):
            return value.strip()[:-1].strip()
        return value


class PromoteInput(BaseModel):
    """Body of ``promote``: ``full`` skips the remaining steps (straight to 100 %)."""

    model_config = ConfigDict(extra="forbid")
    full: bool = False


class RollbackInput(BaseModel):
    """Body of ``rollback``: ``to`` = the deployment id whose release to bring back
    (default: the one before the current stable deployment)."""

    model_config = ConfigDict(extra="forbid")
    to: int | None = Field(default=None, ge=1)


def _accepted(doc: dict[str, Any]) -> JSONResponse:
    location = f"{PREFIX}/deployments/{doc['id']}"
    return JSONResponse(doc, status_code=202, headers={"Location": location})


def _request(body: DeploymentInput) -> DeployRequest:
    """The :class:`DeployRequest` of a body; 400 naming ``repo`` when it has no repo and no
    spec."""
    if body.repo is None and body.spec is None:
        raise InvalidInput(
            "repo: give the service's git repository (URL or absolute path), or the spec text "
            "in 'spec' for a published-package build",
            details={"errors": [{"path": "repo", "message": "repo or spec is required"}]},
        )
    return DeployRequest(
        environment=body.environment,
        repo=body.repo,
        ref=body.ref,
        spec_path=body.specPath,
        spec_text=body.spec,
        canary=body.canary,
        strategy=body.strategy,
    )


@router.post("/deployments", status_code=202, summary="Deploy a service to an environment")
def create_deployment(body: DeploymentInput, svc: ServicesDep, who: PrincipalDep) -> JSONResponse:
    """202 the new Deployment; 400 naming the field, 403 when a member's groups do not own
    the service, 409 when one is already in flight."""
    request = _request(body)
    _ownership.require_deploy_owner(svc, who, request)
    return _accepted(svc.deploy.deploy(request, actor=who.user).to_dict())


@router.post("/render", summary="Render a service's Kubernetes objects for an environment")
def render(body: DeploymentInput, svc: ServicesDep, _who: ReaderDep) -> dict[str, Any]:
    """``{service, environment, objects, errors}``: what a deploy of the spec (``spec``
    text, or ``repo``/``ref``/``specPath``) to ``environment`` on Kubernetes would apply,
    every object validated against the Kubernetes schemas; nothing is recorded."""
    return svc.deploy.render(_request(body)).to_dict()


@router.post("/diff", summary="What a deploy would change in a kubernetes environment")
def diff(body: DeploymentInput, svc: ServicesDep, _who: ReaderDep) -> dict[str, Any]:
    """``{changes: [{kind, name, change, diff}]}`` against the environment's GitOps
    repository; records nothing (viewers may call it)."""
    return {"changes": svc.deploy.diff(_request(body))}


class PipelineInput(BaseModel):
    """Body of ``POST /pipelines``: the workload ``spec`` text and the CI ``system``."""

    model_config = ConfigDict(extra="forbid")

    spec: str = Field(min_length=1, max_length=1_000_000)
    specPath: str = Field(default="platform.yaml", min_length=1, max_length=1024)
    system: Literal["github", "gitlab"] = "github"


@router.post("/pipelines", summary="Render a service's CI/CD pipeline files")
def pipelines(body: PipelineInput, _who: ReaderDep) -> dict[str, Any]:
    """``{system, files: {path: text}}``: seed 003's pipeline (build, test, security scan,
    deploy to staging, canary to production) for GitHub Actions or GitLab CI; records
    nothing."""
    workload = parse_workload(body.spec, source=body.specPath)
    render_files = ci.github_actions if body.system == "github" else ci.gitlab_ci
    return {"system": body.system, "files": render_files(workload)}


@router.get("/deployments", summary="Deployments, newest first")
def list_deployments(
    svc: ServicesDep,
    _who: ReaderDep,
    service: str | None = None,
    environment: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    before: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="ids below this (paging)")
    ] = None,
) -> list[dict[str, Any]]:
    """``[Deployment]`` newest first; the next page is ``before=<last id>``."""
    found = svc.deploy.history(
        service=service, environment=environment, limit=limit, before_id=before
    )
    return [d.to_dict() for d in found]


@router.get("/deployments/{deployment_id}", summary="One deployment")
def get_deployment(deployment_id: RowId, svc: ServicesDep, _who: ReaderDep) -> dict[str, Any]:
    """The Deployment with its transitions; 404 for an unknown id."""
    return svc.deploy.get_deployment(deployment_id).to_dict()


@router.get(
    "/deployments/{deployment_id}/eventstream",
    summary="A deployment's state transitions as server-sent events",
)
async def deployment_eventstream(
    deployment_id: RowId,
    request: Request,
    svc: ServicesDep,
    _who: ReaderDep,
    after: Annotated[
        int | None, Query(ge=0, le=MAX_ID, description="last transition id seen")
    ] = None,
) -> StreamingResponse:
    """``text/event-stream``: ``transition`` / ``progress`` events, then ``end`` (the
    Deployment) once it is terminal or paused; resume with ``?after=`` or ``Last-Event-ID``."""
    await run_in_threadpool(svc.deploy.get_deployment, deployment_id)  # 404 before streaming
    if after is None:
        after = last_event_id(request.headers.get("last-event-id"))
    return StreamingResponse(
        _deploy_streams.deployment_events(request, svc, deployment_id, after),
        media_type="text/event-stream",
        headers=_STREAM_HEADERS,
    )


_TARGET = "/services/{service}/environments/{environment}"


@router.post(f"{_TARGET}/promote", summary="Promote a paused or progressing rollout")
def promote(
    service: str,
    environment: str,
    svc: ServicesDep,
    who: PrincipalDep,
    body: PromoteInput | None = None,
) -> dict[str, Any]:
    """The Deployment in flight, moved on; 409 when nothing is in flight."""
    full = body.full if body is not None else False
    _ownership.require_owner(svc, who, service, action="promote")
    return svc.deploy.promote(service, environment, actor=who.user, full=full).to_dict()


@router.post(f"{_TARGET}/abort", summary="Abort the rollout in flight")
def abort(service: str, environment: str, svc: ServicesDep, who: PrincipalDep) -> dict[str, Any]:
    """The aborted Deployment (traffic back on the stable version); 409 when none in flight."""
    _ownership.require_owner(svc, who, service, action="abort")
    return svc.deploy.abort(service, environment, actor=who.user).to_dict()


@router.post(f"{_TARGET}/rollback", status_code=202, summary="Roll back to an earlier release")
def rollback(
    service: str,
    environment: str,
    svc: ServicesDep,
    who: PrincipalDep,
    body: RollbackInput | None = None,
) -> JSONResponse:
    """202 the new ``rollback`` Deployment; 404 for an unknown ``to``, 409 when none fits."""
    to = body.to if body is not None else None
    _ownership.require_owner(svc, who, service, action="roll back")
    return _accepted(svc.deploy.rollback(service, environment, actor=who.user, to=to).to_dict())


@router.get("/services", summary="Every deployed service per environment")
def services_overview(
    svc: ServicesDep, _who: ReaderDep, environment: str | None = None
) -> list[dict[str, Any]]:
    """``[ServiceStatus]`` of every service deployed (to ``environment`` only, when given)."""
    return [status.to_dict() for status in svc.deploy.overview(environment)]


@router.get("/services/{service}/status", summary="A service's versions, health and URLs")
def service_status(
    service: str, svc: ServicesDep, _who: ReaderDep, environment: str | None = None
) -> list[dict[str, Any]]:
    """``[ServiceStatus]``: per environment the URLs, weights, versions with replicas and
    readiness, and the recent deployments."""
    return [status.to_dict() for status in svc.deploy.status(service, environment)]


@router.get(f"{_TARGET}/logs", summary="A service's logs (all replicas, in time order)")
async def service_logs(
    service: str,
    environment: str,
    request: Request,
    svc: ServicesDep,
    _who: ReaderDep,
    since: Annotated[
        str | None, Query(description="a duration (30s, 5m, 1h, 2d) or an ISO-8601 time")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100_000, description="at most the last N lines")] = 1000,
    follow: bool = False,
) -> Any:
    """``[{at, version, replica, stream, text}]``; ``follow=true`` streams (SSE, or NDJSON
    when ``Accept: application/x-ndjson``) for up to ``MAX_STREAM_SECONDS``."""
    start = _deploy_params.parse_since(since, now=datetime.now(UTC))
    if not follow:
        lines = await run_in_threadpool(
            _deploy_streams.read_logs, svc, service, environment, start, limit
        )
        return [_deploy_streams.line_dict(line) for line in lines]
    await run_in_threadpool(svc.deploy.status, service, environment)  # 404 before streaming
    sse = "application/x-ndjson" not in request.headers.get("accept", "")
    body = _deploy_streams.log_stream(
        request, svc, service, environment, since=start, limit=limit, sse=sse
    )
    media = "text/event-stream" if sse else "application/x-ndjson"
    return StreamingResponse(body, media_type=media, headers=_STREAM_HEADERS)
