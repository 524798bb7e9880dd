"""``/api/insights/v1`` end to end on the real app (TestClient, SQLite): imported deployment
history → DORA numbers worked out by hand, incidents (manual, root cause, Alertmanager),
scorecards, maturity, platform metrics, the survey, and the Prometheus gauges on /metrics."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from goldenpath.api.app import create_app
from goldenpath.api.routes.insights import parse_root_cause, parse_window, window_days
from goldenpath.errors import InvalidInput
from goldenpath.settings import Settings

CATALOG = Path(__file__).resolve().parents[1] / "api" / "data" / "catalog"
V1 = "/api/insights/v1"
PROBLEM = "application/problem+json"
NOW = datetime.now(UTC).replace(microsecond=0)
SHA = {n: (f"{n}abcdef0" * 5)[:40] for n in range(1, 6)}


def _at(days: float, hours: float = 0) -> str:
    """An ISO time ``days`` days and ``hours`` hours before NOW."""
    return (NOW - timedelta(days=days, hours=hours)).isoformat().replace("+00:00", "Z")


#: checkout's production history (+ one staging deploy, which DORA ignores):
#: d1 lead 2h ok · d2 lead 4h ok · d3 fails · d4 restores it 1h later (lead 2h)
HISTORY: list[dict[str, Any]] = [
    {"id": "ci-1", "sha": SHA[1], "committedAt": _at(10, 2), "finishedAt": _at(10)},
    {"id": "ci-2", "sha": SHA[2], "committedAt": _at(5, 4), "finishedAt": _at(5)},
    {
        "id": "ci-3",
        "sha": SHA[3],
        "committedAt": _at(3, 1),
        "finishedAt": _at(3),
        "status": "failure",
    },
    {"id": "ci-4", "sha": SHA[4], "committedAt": _at(3, 1), "finishedAt": _at(3, -1)},
    {
        "id": "ci-5",
        "sha": SHA[5],
        "committedAt": _at(2, 1),
        "finishedAt": _at(2),
        "environment": "staging",
    },
]


class Api:
    """The TestClient with the admin token and a viewer token."""

    def __init__(self, client: TestClient, admin: str) -> None:
        self.client = client
        self.admin = admin
        self.viewer = ""

    def get(self, path: str, token: str | None = None, **kw: Any) -> Any:
        return self.client.get(
            path, headers={"Authorization": f"Bearer {token or self.admin}"}, **kw
        )

    def post(self, path: str, token: str | None = None, **kw: Any) -> Any:
        return self.client.post(
            path, headers={"Authorization": f"Bearer {token or self.admin}"}, **kw
        )


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    home = tmp_path_factory.mktemp("insights-api") / "home"
    settings = Settings(
        home=home, catalog={"refresh_interval": 0}, scaffolder={"builtin_templates": False}
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        api = Api(client, settings.admin_token_file.read_text(encoding="utf-8").strip())
        created = api.post("/api/catalog/locations", json={"type": "file", "target": str(CATALOG)})
        assert created.status_code == 201, created.text
        token = api.post(
            "/api/auth/tokens", json={"owner": "user:default/jane", "role": "viewer", "name": "v"}
        )
        api.viewer = token.json()["token"]
        events = [
            {"service": "checkout", "environment": "production", "status": "success", **e}
            for e in HISTORY
        ]
        imported = api.post(f"{V1}/deployments", json={"events": events})
        assert imported.status_code == 200, imported.text
        assert imported.json()["accepted"] == 5
        yield api


def test_window_and_root_cause_parsing() -> None:
    assert parse_window("12w") == timedelta(weeks=12)
    assert window_days("24h") == 1 and window_days("90d") == 90 and window_days(None) == 90
    for bad in ("90", "d90", "0d", "5y", "40000d"):
        with pytest.raises(InvalidInput, match="window"):
            parse_window(bad)
    with pytest.raises(InvalidInput, match="whole number of days"):
        window_days("36h")
    assert parse_root_cause("42") == 42 and parse_root_cause(SHA[1].upper()) == SHA[1]
    with pytest.raises(InvalidInput, match="rootCause"):
        parse_root_cause("not-a-sha")


def test_dora_from_imported_history_matches_hand_computed_values(api: Api) -> None:
    report = api.get(f"{V1}/dora", params={"service": "checkout", "window": "30d"}).json()
    assert report["scope"] != "organisation"
    assert report["window"]["days"] == 30
    assert report["deploymentFrequency"]["count"] == 3  # d1, d2, d4; d3 failed, d5 is staging
    assert report["leadTimeForChanges"] == {
        "medianSeconds": 7200.0,  # median(2h, 4h, 2h)
        "samples": 3,
        "level": report["leadTimeForChanges"]["level"],
    }
    assert report["changeFailureRate"]["failed"] >= 1
    assert report["timeToRestore"]["medianSeconds"] == 3600.0  # d3 → d4
    assert sum(w["deployments"] for w in report["weekly"]) == 3
    assert report["deploymentFrequency"]["level"] in {"elite", "high", "medium", "low"}

    org = api.get(f"{V1}/dora", params={"window": "12w"}).json()
    assert org["scope"] == "organisation" and org["deploymentFrequency"]["count"] == 3
    team = api.get(f"{V1}/dora", params={"team": "group:default/team-a"}).json()
    assert team["deploymentFrequency"]["count"] == 3
    other = api.get(f"{V1}/dora", params={"service": "payments"}).json()
    assert other["deploymentFrequency"]["count"] == 0
    assert other["leadTimeForChanges"]["medianSeconds"] is None


def test_bad_queries_are_problems_naming_the_field(api: Api) -> None:
    bad = api.get(f"{V1}/dora", params={"window": "soon"})
    assert bad.status_code == 400 and bad.headers["content-type"].startswith(PROBLEM)
    assert "window" in bad.json()["detail"] and "90d" in bad.json()["detail"]
    two = api.get(f"{V1}/dora", params={"service": "checkout", "team": "team-a"})
    assert two.status_code == 400 and "at most one" in two.json()["detail"]
    assert api.client.get(f"{V1}/dora").status_code == 401


def test_incidents_round_trip_and_change_failure(api: Api) -> None:
    before = api.get(f"{V1}/dora", params={"service": "checkout"}).json()["changeFailureRate"]
    opened = api.post(
        f"{V1}/incidents",
        json={"title": "checkout 500s", "service": "checkout", "rootCause": SHA[2]},
    )
    assert opened.status_code == 201, opened.text
    incident = opened.json()
    assert opened.headers["location"] == f"{V1}/incidents/{incident['id']}"
    assert incident["state"] == "open" and incident["rootCause"]["sha"] == SHA[2]
    assert incident["openedBy"] == "user:default/admin"
    after = api.get(f"{V1}/dora", params={"service": "checkout"}).json()["changeFailureRate"]
    assert after["failed"] == before["failed"] + 1  # d2 is now a failed change

    assert api.post(f"{V1}/incidents", api.viewer, json={"title": "x"}).status_code == 403
    listed = api.get(f"{V1}/incidents", params={"state": "open"}).json()
    assert incident["id"] in [i["id"] for i in listed]
    resolved = api.post(f"{V1}/incidents/{incident['id']}/resolve").json()
    assert resolved["state"] == "resolved" and resolved["resolvedAt"]
    again = api.post(f"{V1}/incidents/{incident['id']}/resolve")
    assert again.status_code == 409 and again.headers["content-type"].startswith(PROBLEM)
    assert api.get(f"{V1}/incidents/999999").status_code == 404
    bad = api.post(f"{V1}/incidents", json={"title": "x", "rootCause": "zz-top"})
    assert bad.status_code == 400 and "rootCause" in bad.json()["detail"]


def test_alertmanager_webhook_opens_then_resolves_one_incident(api: Api) -> None:
    alert = {
        "status": "firing",
        "labels": {"alertname": "HighErrorRate", "service": "payments", "severity": "critical"},
        "annotations": {"summary": "payments error rate above 5%"},
        "startsAt": _at(0, 2),
        "endsAt": "0001-01-01T00:00:00Z",
        "fingerprint": "c0ffee01",
    }
    payload = {"version": "4", "status": "firing", "receiver": "goldenpath", "alerts": [alert]}
    first = api.post(f"{V1}/alertmanager", json=payload).json()["incidents"]
    repeat = api.post(f"{V1}/alertmanager", json=payload).json()["incidents"]
    assert first[0]["id"] == repeat[0]["id"] and first[0]["source"] == "alertmanager"
    assert first[0]["service"] == "payments" and first[0]["severity"] == "sev1"
    done = {**alert, "status": "resolved", "endsAt": _at(0, 1)}
    closed = api.post(
        f"{V1}/alertmanager", json={**payload, "status": "resolved", "alerts": [done]}
    ).json()["incidents"]
    assert closed[0]["id"] == first[0]["id"] and closed[0]["state"] == "resolved"
    broken = api.post(f"{V1}/alertmanager", json={"version": "4", "alerts": "nope"})
    assert broken.status_code == 400 and "alerts" in broken.json()["detail"]


def test_import_reports_duplicates_and_errors_per_item(api: Api) -> None:
    events = [
        {
            "id": "ci-1",
            "service": "checkout",
            "environment": "production",
            "finishedAt": _at(10),
            "status": "success",
        },
        {
            "id": "ci-9",
            "service": "Not A Name",
            "environment": "production",
            "finishedAt": _at(1),
            "status": "success",
        },
    ]
    result = api.post(f"{V1}/deployments", json=events).json()  # the bare list works too
    assert result["accepted"] == 0 and result["duplicates"] == 1
    assert [e["index"] for e in result["errors"]] == [1]


def test_scorecards_maturity_platform_and_survey(api: Api) -> None:
    results = api.get(f"{V1}/scorecards", params={"entityRef": "component:default/checkout"})
    assert results.status_code == 200, results.text
    assert results.json() and results.json()[0]["entityRef"] == "component:default/checkout"
    summary = api.get(f"{V1}/scorecards/summary").json()
    assert summary and all(s["total"] == s["none"] + sum(s["levels"].values()) for s in summary)
    assert (
        api.get(f"{V1}/scorecards", params={"entityRef": "component:default/nope"}).status_code
        == 404
    )
    maturity = api.get(f"{V1}/maturity").json()
    assert maturity["stages"] and "levelName" in maturity
    assert "selfServiceRate" in api.get(f"{V1}/platform", params={"window": "30d"}).json()

    answer = api.post(f"{V1}/survey", api.viewer, json={"score": 9, "comment": "fast deploys"})
    assert answer.status_code == 201, answer.text
    api.post(f"{V1}/survey", json={"score": 3})
    assert api.post(f"{V1}/survey", json={"score": 11}).status_code == 400
    survey = api.get(f"{V1}/survey", params={"window": "4w"}).json()
    assert survey["responses"] == 2 and survey["nps"] == 0.0  # 50% promoters - 50% detractors
    assert survey["comments"][0]["comment"] == "fast deploys"


def test_prometheus_gauges(api: Api) -> None:
    text = api.get("/metrics").text
    assert 'goldenpath_dora_deployment_frequency_per_day{scope="organisation"}' in text
    assert 'goldenpath_dora_lead_time_seconds{scope="organisation"} 7200.0' in text
    assert "goldenpath_incidents_open " in text
    assert 'goldenpath_scorecard_entities{level="none",scorecard="' in text
