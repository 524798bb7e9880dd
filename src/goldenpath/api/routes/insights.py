"""``/api/insights/v1/*``: DORA metrics, platform metrics, scorecards, maturity, incidents,
imported deployments and the developer-satisfaction survey (issue 8).

JSON is camelCase; errors are RFC 9457 problems. Any token may read; opening/resolving
incidents, the Alertmanager webhook and importing deployments need a member or admin token;
any signed-in token (viewers too) may answer the survey. ``window`` is ``<n>d``, ``<n>w`` or
``<n>h`` (``90d``, ``12w``, ``24h``; whole days, 1 day to 3 years), default ``90d``.

- ``GET /dora?service&team&system&window`` → the DORA report (``{scope, window, deploymentFrequency,
  leadTimeForChanges, changeFailureRate, timeToRestore, reworkRate, level, weekly}``); at most
  one of ``service`` (name), ``team`` (Group ref), ``system`` (System ref); none = organisation
- ``GET /platform?window`` → platform metrics (time to first deploy, self-service rate,
  golden-path adoption, MTTR)
- ``GET /scorecards?entityRef`` → ``[ScorecardResult]`` (every Component without entityRef)
- ``GET /scorecards/summary`` → ``[{scorecard, title, levels: {level: n}, none, total}]``
- ``GET /maturity`` → the organisation's maturity stage and what the next one misses
- ``GET /incidents?service&state&limit`` → ``[Incident]`` newest first
- ``POST /incidents`` ``{title, service?, severity?, rootCause?}`` → 201 the Incident
  (``rootCause``: a deployment id (digits) or a commit sha)
- ``GET /incidents/{id}``; ``POST /incidents/{id}/resolve`` → the Incident (409 when resolved)
- ``POST /alertmanager`` (Alertmanager webhook v4 payload) → ``{incidents: [Incident]}``
- ``POST /deployments`` ``{events: [{id, service, environment, sha, committedAt?, finishedAt,
  status: success|failure, kind?}]}`` (or the bare list) → ``{accepted, duplicates, errors}``
- ``POST /survey`` ``{score: 0-10, comment?}`` → 201; ``GET /survey?window`` → NPS results

Alertmanager: point a receiver at the webhook with a member token (``platform auth token
create --role member``) sent as a bearer token::

    receivers:
      - name: goldenpath
        webhook_configs:
          - url: https://platform.example.com/api/insights/v1/alertmanager
            send_resolved: true
            http_config:
              authorization:
                type: Bearer
                credentials_file: /etc/alertmanager/goldenpath-token

A firing alert opens an incident (one per alert fingerprint), its ``resolved`` notification
resolves it; the service comes from the ``service``, ``app`` or ``job`` label.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from goldenpath.api.deps import PrincipalDep, ReaderDep, Services, ServicesDep
from goldenpath.api.ids import RowId
from goldenpath.api.routes._insights_gauges import register_insights_gauges
from goldenpath.api.routes._insights_summaries import scorecard_overview
from goldenpath.errors import InvalidInput

__all__ = [
    "DEFAULT_WINDOW",
    "PREFIX",
    "parse_root_cause",
    "parse_window",
    "register_gauges",
    "router",
    "window_days",
]

PREFIX = "/api/insights/v1"
DEFAULT_WINDOW = "90d"
router = APIRouter(prefix=PREFIX, tags=["insights"])

_WINDOW = re.compile(r"^\s*(\d{1,5})\s*([hdw])\s*$", re.IGNORECASE)
_UNIT_HOURS = {"h": 1, "d": 24, "w": 24 * 7}
_MAX_WINDOW = timedelta(days=3 * 366)
_SHA = re.compile(r"^[0-9a-f]{7,64}$")


def parse_window(text: str | None, *, field: str = "window") -> timedelta:
    """Parse a window like ``90d``, ``12w`` or ``24h`` (default :data:`DEFAULT_WINDOW`).

    Raises:
        InvalidInput: not ``<n>h|d|w``, zero, or longer than three years; names ``field``.
    """
    value = DEFAULT_WINDOW if text is None or not text.strip() else text
    match = _WINDOW.match(value)
    window = (
        timedelta(hours=int(match.group(1)) * _UNIT_HOURS[match.group(2).lower()])
        if match
        else None
    )
    if window is None or not timedelta(0) < window <= _MAX_WINDOW:
        raise InvalidInput(
            f"{field}: {value!r} is not a window on the form <n>d, <n>w or <n>h between 1h and "
            "3 years (e.g. 90d, 12w, 24h)",
            details={"errors": [{"path": field, "message": "expected <n>d, <n>w or <n>h"}]},
        )
    return window


def window_days(text: str | None, *, field: str = "window") -> int:
    """:func:`parse_window` in whole days (``24h`` → 1, ``12w`` → 84).

    Raises:
        InvalidInput: as :func:`parse_window`, or not a whole number of days (``36h``).
    """
    window = parse_window(text, field=field)
    days, rest = divmod(window, timedelta(days=1))
    if rest or days < 1:
        raise InvalidInput(
            f"{field}: {text!r} is not a whole number of days; metrics are kept per day, so use "
            "multiples of 24h (e.g. 24h, 48h) or days/weeks (7d, 12w)",
            details={"errors": [{"path": field, "message": "expected whole days"}]},
        )
    return int(days)


def parse_root_cause(value: str | int | None) -> str | int | None:
    """A root cause as given by people: a deployment id (``42``) or a commit sha (7-64 hex).

    Returns the id as an int, the sha lower-cased, or None.

    Raises:
        InvalidInput: anything else, naming ``rootCause``.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    text = str(value).strip().lower()
    if text.isdigit() and len(text) < 7:
        return int(text)
    if _SHA.match(text):
        return text
    raise InvalidInput(
        f"rootCause: {value!r} is neither a deployment id (e.g. 42) nor a commit sha "
        "(7 to 64 hex digits)",
        details={"errors": [{"path": "rootCause", "message": "expected a deployment id or sha"}]},
    )


def register_gauges(services: Services) -> None:
    """Add the insights gauges to the app's metrics registry (once, from the app factory)."""
    register_insights_gauges(services.metrics.registry, services.insights)


WindowParam = Annotated[str, Query(description="<n>d, <n>w or <n>h, e.g. 90d")]


@router.get("/dora", summary="DORA four keys + rework rate with weekly trend")
def dora(
    svc: ServicesDep,
    _who: ReaderDep,
    service: Annotated[str | None, Query(max_length=253)] = None,
    team: Annotated[str | None, Query(max_length=300, description="Group ref")] = None,
    system: Annotated[str | None, Query(max_length=300, description="System ref")] = None,
    window: WindowParam = DEFAULT_WINDOW,
) -> dict[str, Any]:
    """The DoraReport of a service, team, system or the organisation; 400 when more than one
    scope is given or the window is malformed."""
    scopes = {k: v for k, v in {"service": service, "team": team, "system": system}.items() if v}
    if len(scopes) > 1:
        raise InvalidInput(
            f"give at most one of service, team and system (got {', '.join(sorted(scopes))})",
            details={"errors": [{"path": k, "message": "one scope only"} for k in scopes]},
        )
    report = svc.insights.dora(
        service=service or None,
        team=team or None,
        system=system or None,
        window_days=window_days(window),
    )
    result: dict[str, Any] = report.to_dict()
    return result


@router.get("/platform", summary="Platform metrics: time to first deploy, adoption, MTTR")
def platform(svc: ServicesDep, _who: ReaderDep, window: WindowParam = DEFAULT_WINDOW) -> Any:
    """``{timeToFirstDeploy, timeToFirstDeployPerDeveloper, selfServiceRate,
    goldenPathAdoption, mttrSeconds}``."""
    return svc.insights.platform_metrics(window_days=window_days(window))


@router.get("/scorecards", summary="Scorecard results per entity")
def scorecards(
    svc: ServicesDep,
    _who: ReaderDep,
    entityRef: Annotated[str | None, Query(max_length=300)] = None,
) -> list[dict[str, Any]]:
    """``[ScorecardResult]`` of one entity, or of every Component without ``entityRef``."""
    return [r.to_dict() for r in svc.insights.scorecards.evaluate(entityRef)]


@router.get("/scorecards/summary", summary="Entities per scorecard level")
def scorecards_summary(svc: ServicesDep, _who: ReaderDep) -> list[dict[str, Any]]:
    """``[{scorecard, title, levels: {Bronze: n, ...}, none, total}]``, one per scorecard;
    ``levels`` counts the entities whose highest level held is that one."""
    return scorecard_overview(svc.insights.scorecards)[0]


@router.get("/maturity", summary="The organisation's platform maturity stage")
def maturity(svc: ServicesDep, _who: ReaderDep) -> Any:
    """``{level, levelName, stages: [{name, reached, evidence, missing}], next}``."""
    return svc.insights.maturity()


class IncidentInput(BaseModel):
    """Body of ``POST /incidents``."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=500)
    service: str | None = Field(default=None, min_length=1, max_length=253)
    severity: Literal["sev1", "sev2", "sev3", "sev4"] = "sev2"
    rootCause: str | int | None = Field(
        default=None, description="the deployment id or commit sha that caused it"
    )


def _created(doc: dict[str, Any]) -> JSONResponse:
    headers = {"Location": f"{PREFIX}/incidents/{doc['id']}"}
    return JSONResponse(doc, status_code=201, headers=headers)


@router.get("/incidents", summary="Incidents, newest first")
def list_incidents(
    svc: ServicesDep,
    _who: ReaderDep,
    service: Annotated[str | None, Query(max_length=253)] = None,
    state: Literal["open", "resolved"] | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    """``[Incident]`` newest first."""
    found = svc.insights.list_incidents(service=service, state=state, limit=limit)
    return [i.to_dict() for i in found]


@router.post("/incidents", status_code=201, summary="Open an incident")
def open_incident(body: IncidentInput, svc: ServicesDep, who: PrincipalDep) -> JSONResponse:
    """201 the new Incident with a ``Location`` header; 400 for a malformed root cause."""
    incident = svc.insights.open_incident(
        title=body.title,
        service=body.service,
        severity=body.severity,
        root_cause=parse_root_cause(body.rootCause),
        actor=who.user,
    )
    return _created(incident.to_dict())


@router.get("/incidents/{incident_id}", summary="One incident")
def get_incident(incident_id: RowId, svc: ServicesDep, _who: ReaderDep) -> dict[str, Any]:
    """The Incident; 404 when unknown."""
    result: dict[str, Any] = svc.insights.get_incident(incident_id).to_dict()
    return result


@router.post("/incidents/{incident_id}/resolve", summary="Resolve an incident")
def resolve_incident(incident_id: RowId, svc: ServicesDep, who: PrincipalDep) -> dict[str, Any]:
    """The resolved Incident; 404 when unknown, 409 when already resolved."""
    result: dict[str, Any] = svc.insights.resolve_incident(incident_id, actor=who.user).to_dict()
    return result


@router.post("/alertmanager", summary="Alertmanager webhook receiver (payload version 4)")
def alertmanager(
    svc: ServicesDep,
    _who: PrincipalDep,
    payload: Annotated[dict[str, Any], Body(description="Alertmanager webhook payload")],
) -> dict[str, Any]:
    """``{incidents: [Incident]}`` opened or resolved by the notification; 400 naming the
    field of a malformed payload."""
    return {"incidents": [i.to_dict() for i in svc.insights.alertmanager(payload)]}


class DeploymentEvents(BaseModel):
    """Body of ``POST /deployments``: deployment events from an outside CI/CD system."""

    model_config = ConfigDict(extra="forbid")
    events: list[dict[str, Any]] = Field(max_length=5000)


@router.post("/deployments", summary="Import deployment events from outside the platform")
def import_deployments(
    svc: ServicesDep,
    _who: PrincipalDep,
    body: Annotated[DeploymentEvents | list[dict[str, Any]], Body()],
) -> Any:
    """``{accepted, duplicates, errors: [{index, path, message}]}``; at most 5,000 events."""
    events = body.events if isinstance(body, DeploymentEvents) else body
    if len(events) > 5000:
        raise InvalidInput(
            f"events: {len(events)} events in one request; send at most 5000 per request",
            details={"errors": [{"path": "events", "message": "at most 5000 events"}]},
        )
    return svc.insights.import_deployments(events)


class SurveyInput(BaseModel):
    """Body of ``POST /survey``: the NPS answer (0-10) and an optional comment."""

    model_config = ConfigDict(extra="forbid")
    score: int = Field(ge=0, le=10)
    comment: str | None = Field(default=None, max_length=2000)


@router.post("/survey", status_code=201, summary="Answer the developer-satisfaction survey")
def submit_survey(body: SurveyInput, svc: ServicesDep, who: ReaderDep) -> Any:
    """201 the stored answer; any signed-in token (viewers too) may answer."""
    return svc.insights.submit_survey(user=who.user, score=body.score, comment=body.comment)


@router.get("/survey", summary="Survey results: NPS overall and per week")
def survey_results(svc: ServicesDep, _who: ReaderDep, window: WindowParam = DEFAULT_WINDOW) -> Any:
    """NPS (% promoters - % detractors), counts, weekly results and recent comments."""
    return svc.insights.survey_results(window_days=window_days(window))
