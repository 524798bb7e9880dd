"""Portal insights pages on the real app: the organisation dashboard and a team view with a
chart (inline SVG + data table) per DORA metric over a small imported history, the
scorecards page, the survey (form, CSRF, validation, results chart) and an entity's
scorecard tab."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from portalhelpers import Portal, csrf_of, login

NOW = datetime.now(UTC).replace(microsecond=0)


def _at(days: float, hours: float = 0) -> str:
    return (NOW - timedelta(days=days, hours=hours)).isoformat().replace("+00:00", "Z")


def _deploy(n: int, days: float, lead_hours: float, status: str = "success") -> dict[str, Any]:
    return {
        "id": f"ext-{n}",
        "service": "checkout",
        "environment": "production",
        "sha": (f"{n}abcdef0" * 5)[:40],
        "committedAt": _at(days, lead_hours),
        "finishedAt": _at(days),
        "status": status,
    }


@pytest.fixture(scope="module")
def history(portal: Portal) -> Portal:
    """Four production deployments of checkout over three weeks (one failed)."""
    events = [_deploy(1, 17, 3), _deploy(2, 9, 5), _deploy(3, 2, 1, "failure"), _deploy(4, 1, 2)]
    answer = portal.client.post(
        "/api/insights/v1/deployments", json={"events": events}, headers=portal.api_headers()
    )
    assert answer.status_code == 200 and answer.json()["accepted"] == 4, answer.text
    return portal


def _table_rows(html: str, caption: str) -> list[tuple[str, str]]:
    """The (label, value) rows of the chart data table whose summary names ``caption``."""
    start = html.index(f"Data table: {caption}")
    body = html[start : html.index("</table>", start)]
    return re.findall(r'<th scope="row">([^<]*)</th><td>([^<]*)</td>', body)


def test_dashboard_has_a_chart_per_dora_metric(history: Portal) -> None:
    client = history.new_client()
    assert (
        client.get("/insights", follow_redirects=False)
        .headers["location"]
        .startswith("/login?next=/insights")
    )
    login(client, "jane")
    page = client.get("/insights", params={"window": "30d"})
    assert page.status_code == 200, page.text
    html = page.text
    for name in (
        "Deployment frequency",
        "Lead time for changes",
        "Change failure rate",
        "Time to restore",
        "Rework rate",
    ):
        assert name in html
    assert html.count("<svg") >= 5 and '<script type="text/javascript">' not in html
    assert html.count("<figcaption>") >= 5
    deployments = dict(_table_rows(html, "Deployments"))
    assert sum(int(v) for v in deployments.values()) == 3  # the failed one is not counted
    lead = [v for _, v in _table_rows(html, "Lead time for changes (median)") if v != "—"]
    assert {"3h 0m", "5h 0m", "2h 0m"} == set(lead)
    assert 'href="/insights/teams/default/team-a?window=30d"' in html
    assert "Platform metrics" in html and "Maturity: level" in html

    bad = client.get("/insights", params={"window": "soon"})
    assert bad.status_code == 400 and "90d" in bad.text


def test_team_view_and_scorecards(history: Portal) -> None:
    client = history.new_client()
    login(client, "bob")
    team = client.get("/insights/teams/default/team-a")
    assert team.status_code == 200, team.text
    assert (
        "<svg" in team.text and 'href="/catalog/default/component/checkout/scorecard"' in team.text
    )
    assert client.get("/insights/teams/default/nobody").status_code == 404

    cards = client.get("/insights/scorecards")
    assert cards.status_code == 200, cards.text
    assert "<svg" in cards.text and "component:default/checkout" in cards.text
    none_only = client.get("/insights/scorecards", params={"level": "none"}).text
    assert "No entity matches." in none_only or "component:default/" in none_only

    tab = client.get("/catalog/default/component/checkout/scorecard")
    assert tab.status_code == 200, tab.text
    assert "Scorecards" in tab.text and ("✓ pass" in tab.text or "✗ fail" in tab.text)
    assert client.get("/catalog/default/component/nope/scorecard").status_code == 404


def test_survey_form_csrf_validation_and_results(history: Portal) -> None:
    client = history.new_client()
    login(client, "vic")  # a viewer may answer
    form = client.get("/survey")
    assert form.status_code == 200 and 'name="score"' in form.text
    token = csrf_of(form.text)
    refused = client.post("/survey", data={"score": "9"}, follow_redirects=False)
    assert refused.status_code == 403
    wrong = client.post("/survey", data={"score": "12", "csrf_token": token})
    assert wrong.status_code == 400 and "from 0" in wrong.text
    sent = client.post(
        "/survey",
        data={"score": "10", "comment": "love the <b>golden</b> path", "csrf_token": token},
        follow_redirects=False,
    )
    assert sent.status_code == 303 and sent.headers["location"] == "/survey?thanks=1"
    results = client.get("/survey?thanks=1").text
    assert "your answer was recorded" in results
    assert "love the &lt;b&gt;golden&lt;/b&gt; path" in results
    assert results.count("<svg") >= 2 and "NPS +100" in results
