"""Portal pages: Insights — DORA metrics with weekly charts, platform metrics, maturity,
team views, scorecards, the developer-satisfaction survey and an entity's scorecard tab.

- ``GET /insights?window=90d`` — the organisation: a card per DORA key (value, level, the
  weekly-trend chart with its data table), rework rate, platform metrics, the maturity
  stage and what the next one misses, open incidents, survey NPS, links to every team.
- ``GET /insights/teams/{namespace}/{name}?window=`` — one team (Group): its DORA cards, its
  services with their scorecard levels, their open incidents.
- ``GET /insights/scorecards?scorecard=&level=`` — entities per level (a bar chart per
  scorecard) and a table of entities, filterable by scorecard and level.
- ``GET /survey`` — the NPS question (0-10) + a comment, and the results over time;
  ``POST /survey`` (CSRF) stores the answer as the signed-in user, then 303 back.
- ``GET /catalog/{namespace}/{kind}/{name}/scorecard`` — the entity's scorecards: level held,
  next level, every rule per level with pass/fail (scheduled rules show their start date).

Every page needs a signed-in viewer (any role; the survey too). The pages call the same
service methods as ``/api/insights/v1``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from goldenpath.api.routes import insights as insights_api
from goldenpath.api.routes._insights_summaries import scorecard_overview
from goldenpath.errors import InvalidInput
from goldenpath.portal.charts import weekly_chart
from goldenpath.portal.routes import _insights_views as views
from goldenpath.portal.session import CsrfDep, ViewerDep, services_of
from goldenpath.portal.web import render

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

_MAX_TEAMS = 500
_MAX_TEAM_SERVICES = 200
_MAX_ROWS = 500
_ENTITY_FIELDS = ["kind", "metadata.name", "metadata.namespace", "metadata.title", "spec"]

WindowQuery = Annotated[str, Query(max_length=16)]


def _window(value: str) -> tuple[str, int]:
    """(the window text, its days); InvalidInput (a 400 page) when malformed."""
    return value, insights_api.window_days(value)


def _teams(catalog: Any) -> list[dict[str, str]]:
    page = catalog.query_entities(
        filters={"kind": "group"},
        order="metadata.name",
        limit=_MAX_TEAMS,
        fields=["kind", "metadata.name", "metadata.namespace", "metadata.title", "spec.type"],
    )
    teams = []
    for entity in page.items:
        meta = entity.get("metadata") or {}
        namespace = meta.get("namespace") or "default"
        teams.append(
            {
                "name": str(meta.get("name")),
                "title": str(meta.get("title") or meta.get("name")),
                "type": str((entity.get("spec") or {}).get("type") or ""),
                "url": f"/insights/teams/{namespace}/{meta.get('name')}",
            }
        )
    return teams


@router.get("/insights", response_class=HTMLResponse)
def dashboard(request: Request, viewer: ViewerDep, window: WindowQuery = "90d") -> HTMLResponse:
    """The organisation's insights (module doc)."""
    text, days = _window(window)
    svc = services_of(request)
    insights = svc.insights
    report = insights.dora(window_days=days).to_dict()
    return render(
        request,
        "insights_dashboard.html",
        {
            "title": "Insights",
            "nav": "insights",
            "window": text,
            "windows": views.WINDOWS,
            "report": report,
            "cards": views.dora_cards(report),
            "platform": views.platform_rows(insights.platform_metrics(window_days=days)),
            "maturity": insights.maturity(),
            "incidents": insights.list_incidents(state="open", limit=20),
            "survey": insights.survey_results(window_days=days),
            "teams": _teams(svc.catalog),
        },
    )


@router.get("/insights/teams/{namespace}/{name}", response_class=HTMLResponse)
def team(
    request: Request, namespace: str, name: str, viewer: ViewerDep, window: WindowQuery = "90d"
) -> HTMLResponse:
    """One team's insights (module doc); 404 page when the Group does not exist."""
    text, days = _window(window)
    svc = services_of(request)
    ref = views.team_ref(namespace, name)
    group = svc.catalog.get_entity_by_ref(ref)
    report = svc.insights.dora(team=ref, window_days=days).to_dict()
    page = svc.catalog.query_entities(
        filters={"kind": "component", "relations.ownedBy": ref},
        order="metadata.name",
        limit=_MAX_TEAM_SERVICES,
        fields=_ENTITY_FIELDS,
    )
    services = []
    for entity in page.items:
        meta = entity.get("metadata") or {}
        entity_ref = f"component:{meta.get('namespace') or 'default'}/{meta.get('name')}".lower()
        services.append(
            {
                "name": meta.get("name"),
                "title": meta.get("title") or meta.get("name"),
                "url": views.entity_page(entity_ref),
                "results": svc.insights.scorecards.evaluate(entity_ref),
            }
        )
    names = {s["name"] for s in services}
    incidents = [
        i for i in svc.insights.list_incidents(state="open", limit=500) if i.service in names
    ]
    meta = group.get("metadata") or {}
    return render(
        request,
        "insights_team.html",
        {
            "title": f"Insights: {meta.get('title') or meta.get('name')}",
            "nav": "insights",
            "group": group,
            "team_ref": ref,
            "window": text,
            "windows": views.WINDOWS,
            "report": report,
            "cards": views.dora_cards(report),
            "services": services,
            "incidents": incidents,
        },
    )


@router.get("/insights/scorecards", response_class=HTMLResponse)
def scorecards(
    request: Request,
    viewer: ViewerDep,
    scorecard: Annotated[str | None, Query(max_length=200)] = None,
    level: Annotated[str | None, Query(max_length=100)] = None,
) -> HTMLResponse:
    """Levels summary and the table of entities (module doc)."""
    summaries, results = scorecard_overview(services_of(request).insights.scorecards)
    rows = views.rows_for(results, scorecard=scorecard or None, level=level or None)
    return render(
        request,
        "insights_scorecards.html",
        {
            "title": "Scorecards",
            "nav": "insights",
            "summaries": [(s, views.level_chart(s)) for s in summaries],
            "rows": rows[:_MAX_ROWS],
            "total_rows": len(rows),
            "max_rows": _MAX_ROWS,
            "scorecard": scorecard or "",
            "level": level or "",
            "entity_page": views.entity_page,
        },
    )


def _survey_page(
    request: Request, *, status_code: int = 200, error: str | None = None, **form: Any
) -> HTMLResponse:
    results = services_of(request).insights.survey_results(window_days=180)
    weekly = results.get("weekly") or []
    weeks = [str(w.get("weekStart")) for w in weekly]
    charts = [
        weekly_chart(
            "nps", "NPS", weeks, [w.get("nps") for w in weekly], unit="score", kind="line"
        ),
        weekly_chart(
            "responses", "Answers", weeks, [w.get("responses") for w in weekly], kind="bar"
        ),
    ]
    return render(
        request,
        "survey.html",
        {
            "title": "Developer survey",
            "nav": "insights",
            "results": results,
            "charts": charts,
            "error": error,
            "thanks": request.query_params.get("thanks") == "1",
            "score": form.get("score", ""),
            "comment": form.get("comment", ""),
        },
        status_code=status_code,
    )


@router.get("/survey", response_class=HTMLResponse)
def survey(request: Request, viewer: ViewerDep) -> HTMLResponse:
    """The survey form and its results (module doc)."""
    return _survey_page(request)


@router.post("/survey", response_model=None)
def submit_survey(
    request: Request,
    viewer: CsrfDep,
    score: Annotated[str, Form(max_length=4)] = "",
    comment: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    """Store the answer and 303 to ``/survey?thanks=1``; 400 with the form again when the
    score is not 0-10 or the comment is too long."""
    try:
        services_of(request).insights.submit_survey(
            user=viewer.user, score=_score(score), comment=comment or None
        )
    except InvalidInput as e:
        return _survey_page(request, status_code=400, error=e.message, score=score, comment=comment)
    return RedirectResponse("/survey?thanks=1", status_code=303)


def _score(value: str) -> int:
    text = value.strip()
    if not text.isdigit() or not 0 <= int(text) <= 10:
        raise InvalidInput("choose a score from 0 (not at all likely) to 10 (extremely likely)")
    return int(text)


@router.get("/catalog/{namespace}/{kind}/{name}/scorecard", response_class=HTMLResponse)
def entity_scorecard(
    request: Request, namespace: str, kind: str, name: str, viewer: ViewerDep
) -> HTMLResponse:
    """The entity's scorecard tab (module doc); 404 page for an unknown entity."""
    svc = services_of(request)
    ref = f"{kind}:{namespace}/{name}".lower()
    entity = svc.catalog.get_entity_by_ref(ref)
    results = svc.insights.scorecards.evaluate(ref)
    meta = entity.get("metadata") or {}
    return render(
        request,
        "entity_scorecard.html",
        {
            "title": f"{meta.get('title') or meta.get('name')}: scorecard",
            "nav": "catalog",
            "entity": entity,
            "tab": "scorecard",
            "results": results,
        },
    )
