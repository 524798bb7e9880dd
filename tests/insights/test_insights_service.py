"""InsightsService over a real SQLite store: DORA numbers worked out by hand for a small
production history (platform deployments, an imported CI event, a rollback, a failed canary,
a manual incident), team and system scopes from a real catalog, imported deployment events
(duplicates, per-item errors) and the NPS survey."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from goldenpath.catalog.service import CatalogService
from goldenpath.deploy import store as deploy_store
from goldenpath.deploy.records import DEFAULT_ENVIRONMENTS
from goldenpath.errors import InvalidInput
from goldenpath.insights.service import InsightsService
from goldenpath.settings import Settings
from goldenpath.store import migrate
from goldenpath.store.engine import make_engine

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)  # a Friday
DAY, HOUR, MINUTE = timedelta(days=1), timedelta(hours=1), timedelta(minutes=1)
SHA_LEGACY = "1111111aaaaaaa2222222bbbbbbb3333333ccccc"

CATALOG = """
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: web}
spec: {type: team, children: []}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: shop}
spec: {type: service, lifecycle: production, owner: web, system: storefront}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: legacy}
spec: {type: service, lifecycle: production, owner: group:default/ops}
"""


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def db(tmp_path: Path) -> Any:
    eng = make_engine(f"sqlite:///{tmp_path / 'insights.db'}")
    migrate.upgrade(eng)
    deploy_store.ensure_environments(eng, DEFAULT_ENVIRONMENTS, now=NOW - 30 * DAY)
    yield eng
    eng.dispose()


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW - 10 * DAY)


@pytest.fixture
def insights(db: Engine, settings: Settings, clock: Clock, tmp_path: Path) -> InsightsService:
    catalog = CatalogService(engine=db, settings=settings)
    (tmp_path / "catalog-info.yaml").write_text(textwrap.dedent(CATALOG), encoding="utf-8")
    catalog.register_location(type="file", target=str(tmp_path / "catalog-info.yaml"))
    return InsightsService(
        engine=db,
        settings=settings,
        catalog=catalog,
        clock=clock,
        redact=lambda text: text.replace("hunter2-db-password", "***"),
    )


def _deploy(
    db: Engine,
    *,
    created: datetime,
    finished: datetime,
    committed: datetime | None = None,
    last: str = "succeeded",
    **kw: Any,
) -> int:
    fields: dict[str, Any] = {
        "service": "shop",
        "environment": "production",
        "kind": "deploy",
        "strategy": "rolling",
        "repo": "/srv/git/shop",
        "ref": "main",
        "workload": {"name": "shop"},
        "steps": [],
        "triggered_by": "ada",
        "now": created,
    }
    fields.update(kw)
    ident = deploy_store.create_deployment(db, **fields).id
    if committed is not None:
        sha = f"{ident:040x}"
        deploy_store.set_revision(db, ident, sha=sha, committed_at=committed, commit_author="Ada")
    for state in ("building", "progressing", last):
        deploy_store.transition(db, ident, state, actor="r", reason=state, now=finished)
    return ident


def test_dora_over_a_small_history_matches_the_hand_worked_numbers(
    db: Engine, insights: InsightsService, clock: Clock
) -> None:
    """Window: the 7 days before NOW (Fri 2026-12-04 12:00).

    shop d1  deploy  commit -5d 10:00, live -5d 11:00         lead 1 h
    shop d2  deploy  commit -4d 08:00, live -4d 11:00         lead 3 h, rolled back → failed
    shop d3  rollback of d2, asked -4d 12:00, done -4d 12:30  incident 30 min (automatic)
    shop d4  canary  commit -2d 09:00, started 09:50, aborted 10:00   failed, incident 10 min
    shop d5  deploy  commit -1d 09:00, live -1d 09:30         lead 0.5 h
    legacy   imported, commit -3d 08:00, live -3d 10:00       lead 2 h; manual incident on
             its sha, -3d 11:00 → 13:00                       failed, incident 2 h
    d0 (-9d) lies before the window: context only.

    Successful deployments 5 (d1, d2, d3, d5, legacy); lead times 0.5/1/2/3 h → median
    1.5 h; attempts 6, failed 3 (d2, d4, legacy) → 0.5; restore samples 10 min, 30 min,
    2 h → median 30 min; rework 1 rollback / 6.
    """
    base = NOW.replace(hour=0)
    d0 = _deploy(
        db, created=base - 9 * DAY, finished=base - 9 * DAY + HOUR, committed=base - 10 * DAY
    )
    assert d0
    _deploy(
        db,
        created=base - 5 * DAY + 10 * HOUR,
        finished=base - 5 * DAY + 11 * HOUR,
        committed=base - 5 * DAY + 10 * HOUR,
    )
    d2 = _deploy(
        db,
        created=base - 4 * DAY + 10 * HOUR,
        finished=base - 4 * DAY + 11 * HOUR,
        committed=base - 4 * DAY + 8 * HOUR,
    )
    _deploy(
        db,
        created=base - 4 * DAY + 12 * HOUR,
        finished=base - 4 * DAY + 12 * HOUR + 30 * MINUTE,
        kind="rollback",
        rollback_of=d2,
    )
    _deploy(
        db,
        created=base - 2 * DAY + 9 * HOUR + 50 * MINUTE,
        finished=base - 2 * DAY + 10 * HOUR,
        committed=base - 2 * DAY + 9 * HOUR,
        strategy="canary",
        last="aborted",
    )
    _deploy(
        db,
        created=base - DAY + 9 * HOUR,
        finished=base - DAY + 9 * HOUR + 30 * MINUTE,
        committed=base - DAY + 9 * HOUR,
    )
    result = insights.import_deployments(
        [
            {
                "id": "build-77",
                "service": "legacy",
                "environment": "production",
                "sha": SHA_LEGACY,
                "committedAt": (base - 3 * DAY + 8 * HOUR).isoformat(),
                "finishedAt": (base - 3 * DAY + 10 * HOUR).isoformat(),
                "status": "success",
            }
        ],
        source="jenkins",
    )
    assert result == {"accepted": 1, "duplicates": 0, "errors": []}
    clock.now = base - 3 * DAY + 11 * HOUR
    incident = insights.open_incident(
        title="legacy 500s", root_cause=SHA_LEGACY, service="legacy", actor="user:ops"
    )
    clock.now += 2 * HOUR
    insights.resolve_incident(incident.id, actor="user:ops")
    clock.now = NOW

    report = insights.dora(window_days=7).to_dict()
    assert report["scope"] == "organisation"
    assert report["window"]["days"] == 7
    assert report["deploymentFrequency"]["count"] == 5
    assert report["deploymentFrequency"]["perDay"] == pytest.approx(5 / 7)
    assert report["leadTimeForChanges"]["medianSeconds"] == pytest.approx(5400)
    assert report["leadTimeForChanges"]["samples"] == 4
    assert (report["changeFailureRate"]["failed"], report["changeFailureRate"]["total"]) == (3, 6)
    assert report["changeFailureRate"]["rate"] == pytest.approx(0.5)
    assert report["timeToRestore"]["medianSeconds"] == pytest.approx(1800)
    assert report["timeToRestore"]["samples"] == 3
    assert (report["reworkRate"]["rework"], report["reworkRate"]["total"]) == (1, 6)
    assert sum(week["deployments"] for week in report["weekly"]) == 5

    # scopes: service, team (spec.owner: web) and system; only shop's events count
    shop = insights.dora(service="shop", window_days=7).to_dict()
    team = insights.dora(team="web", window_days=7).to_dict()
    system = insights.dora(system="storefront", window_days=7).to_dict()
    assert team["scope"] == "team:group:default/web"
    for scoped in (shop, team, system):
        assert scoped["deploymentFrequency"]["count"] == 4
        assert scoped["changeFailureRate"]["failed"] == 2
    ops = insights.dora(team="group:default/ops", window_days=7).to_dict()
    assert ops["deploymentFrequency"]["count"] == 1
    assert (
        insights.dora(team="nobody", window_days=7).to_dict()["deploymentFrequency"]["count"] == 0
    )

    # the log grows incrementally: a new deployment shows up in the next report
    _deploy(db, created=NOW - 2 * HOUR, finished=NOW - HOUR, committed=NOW - 3 * HOUR)
    assert insights.dora(window_days=7).to_dict()["deploymentFrequency"]["count"] == 6
    # platform metrics and maturity read the same incidents (3 resolved in the window)
    metrics = insights.platform_metrics(window_days=7)
    assert metrics["restores"]["incidents"] == 3
    assert metrics["goldenPathAdoption"]["total"] == 2  # shop and legacy
    maturity = insights.maturity(window_days=7)
    assert maturity["level"] >= 1 and maturity["stages"]

    with pytest.raises(InvalidInput, match="choose one scope"):
        insights.dora(service="shop", team="web")
    with pytest.raises(InvalidInput, match="window"):
        insights.dora(window_days=0)


def test_imports_count_duplicates_and_report_errors_per_item(insights: InsightsService) -> None:
    good = {
        "id": "gha-1",
        "service": "legacy",
        "environment": "production",
        "sha": "abcdef1",
        "finishedAt": "2026-11-30T10:00:00Z",
        "status": "success",
    }
    first = insights.import_deployments(
        [
            good,
            {**good, "id": "gha-2", "status": "failure", "kind": "hotfix"},
            {**good, "id": "gha-3", "finishedAt": "last tuesday"},
            {**good, "id": "gha-4", "service": "Legacy_App"},
            {**good, "id": "gha-5", "status": "ok"},
            {**good, "id": "gha-6", "kind": "migration"},
            {k: v for k, v in good.items() if k != "finishedAt"} | {"id": "gha-7"},
            "not an object",  # type: ignore[list-item]
            good,  # repeated in the same request
        ]
    )
    assert (first["accepted"], first["duplicates"]) == (2, 1)
    assert [(e["index"], e["field"]) for e in first["errors"]] == [
        (2, "finishedAt"),
        (3, "service"),
        (4, "status"),
        (5, "kind"),
        (6, "finishedAt"),
        (7, ""),
    ]
    assert "ISO-8601" in first["errors"][0]["message"]
    again = insights.import_deployments([good, {**good, "id": "gha-8"}])
    assert (again["accepted"], again["duplicates"], again["errors"]) == (1, 1, [])
    # the same id from another source is another deployment
    other = insights.import_deployments([good], source="gitlab")
    assert other["accepted"] == 1
    with pytest.raises(InvalidInput, match="at most 5000"):
        insights.import_deployments([good] * 5001)
    with pytest.raises(InvalidInput, match="JSON list"):
        insights.import_deployments(good)  # type: ignore[arg-type]


def test_survey_nps_worked_by_hand(insights: InsightsService, clock: Clock) -> None:
    """Scores 10, 9, 9 (promoters), 8, 7 (passives), 6, 0 (detractors): 7 answers,
    NPS = 100 * (3 - 2) / 7 = 14.3. Week of Mon 2026-11-23: 10, 9, 6 → 33.3; week of
    Mon 2026-11-30: 9, 8, 7, 0 → 0.0."""
    clock.now = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    for score in (10, 9, 6):
        insights.submit_survey(user="user:default/ada", score=score, comment=None)
    clock.now = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    saved = insights.submit_survey(
        user="user:default/bob",
        score=9,
        comment="Great!\x07 my token=gp_abcdefghijklmnopqrstuvwx and hunter2-db-password",
    )
    assert saved["comment"] == "Great! my token=*** and ***"
    scores: list[Any] = [8, 7, "0"]  # a digit string from a form counts too
    for score in scores:
        insights.submit_survey(user="user:default/cy", score=score, comment="ok")
    clock.now = NOW

    results = insights.survey_results(window_days=14)
    assert (results["responses"], results["promoters"], results["passives"]) == (7, 3, 2)
    assert (results["detractors"], results["nps"]) == (2, 14.3)
    weeks = {w["weekStart"]: (w["responses"], w["nps"]) for w in results["weekly"]}
    assert weeks["2026-11-23T00:00:00Z"] == (3, 33.3)
    assert weeks["2026-11-30T00:00:00Z"] == (4, 0.0)
    assert results["comments"][-1]["comment"] == "Great! my token=*** and ***"
    assert insights.survey_results(window_days=1)["nps"] is None

    with pytest.raises(InvalidInput, match="score 11"):
        insights.submit_survey(user="user:default/ada", score=11, comment="")
    with pytest.raises(InvalidInput, match="at most 2000"):
        insights.submit_survey(user="user:default/ada", score=5, comment="x" * 2001)


def test_incidents_without_any_deployment_give_a_report_not_an_error(
    insights: InsightsService, clock: Clock
) -> None:
    """A platform whose first incidents come before its first deployment (found by fuzzing
    the API: the report indexed an empty deployment log and answered 500)."""
    opened = insights.open_incident(title="checkout down", service="shop", actor="user:a")
    insights.open_incident(title="unrelated", actor="user:a")
    clock.now += 2 * HOUR
    insights.resolve_incident(opened.id, actor="user:a")
    clock.now += HOUR
    report = insights.dora(window_days=30)
    assert report.deployment_frequency.count == 0
    assert report.time_to_restore.samples == 1
    assert report.time_to_restore.median_seconds == 2 * 3600
    assert insights.maturity(window_days=30)["level"] >= 1  # reached the maturity report too
