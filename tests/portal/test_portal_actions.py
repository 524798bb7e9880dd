"""Self-service actions in the portal: the built-in action templates published at first start,
their forms, ownership checks on the chosen service, runs with logs and the run history.

No deploys here (tests/portal/test_portal_deployments.py runs actions on a deployed service):
a runbook on a service that was never deployed fails with the deploy service's own message,
which is what its log and the history must show.
"""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from portalhelpers import Portal, login, post_form, task_page_when_done

from goldenpath.scaffolder import builtin

RUNBOOK = "/create/default/run-incident-runbook"
ACTION_TEMPLATES = (
    "rotate-database-password",
    "create-preview-environment",
    "run-incident-runbook",
)


@pytest.fixture(scope="module")
def site(portal: Portal) -> Portal:
    """The module's portal with the packaged action templates registered from the package
    directory (publishing them at first start is covered by test_portal_deployments)."""
    for name in builtin.BUILTIN_TEMPLATES:
        if name.startswith("actions/"):
            portal.register(builtin.builtin_dir() / name / "template.yaml")
    return portal


def _client(site: Portal, user: str) -> TestClient:
    client = site.new_client()
    login(client, user)
    return client


def test_action_templates_are_listed_under_actions_not_create(site: Portal) -> None:
    for name in ACTION_TEMPLATES:
        template = site.services.scaffolder.get_template(f"template:default/{name}")
        assert template.entity["spec"]["type"] == "action"
    jane = _client(site, "jane")
    actions = jane.get("/actions").text
    for title in ("Rotate database password", "Create preview environment", "Run incident runbook"):
        assert title in actions
    site.register(builtin.builtin_dir() / "python-service" / "template.yaml")
    create = jane.get("/create").text
    assert "Python service" in create and "Run incident runbook" not in create
    prefilled = jane.get("/actions", params={"service": "checkout"}).text
    assert f'href="{RUNBOOK}?service=checkout"' in prefilled


def test_action_form_offers_components_and_says_run(site: Portal) -> None:
    jane = _client(site, "jane")
    html = jane.get(RUNBOOK, params={"service": "component:default/checkout"}).text
    picker = re.search(r'<select id="f-service".*?</select>', html, re.S)
    assert picker is not None
    assert '<option value="component:default/checkout" selected>' in picker.group(0)
    assert "group:default/team-a" not in picker.group(0)  # catalogFilter kind: Component
    assert re.search(r'<select id="f-runbook"', html)
    assert ">Diagnose (status, health, logs)<" in html
    assert re.search(r'<button type="submit">Run</button>', html)
    assert 'aria-current="page">Actions' in html


def test_only_the_owning_team_may_run_an_action_on_a_service(site: Portal) -> None:
    bob = _client(site, "bob")  # team-b; checkout belongs to team-a
    before = site.services.scaffolder.list_tasks()["totalTasks"]
    refused = post_form(
        bob,
        RUNBOOK,
        {"p.service": "component:default/checkout", "p.runbook": "restart"},
        page=RUNBOOK,
    )
    assert refused.status_code == 403
    assert "Only members of group:default/team-a" in refused.text
    assert site.services.scaffolder.list_tasks()["totalTasks"] == before


def test_a_run_logs_its_outcome_and_appears_in_the_history(site: Portal) -> None:
    jane = _client(site, "jane")
    answer = post_form(
        jane,
        RUNBOOK,
        {
            "p.service": "component:default/checkout",
            "p.environment": "dev",
            "p.runbook": "diagnose",
        },
        page=RUNBOOK,
    )
    assert answer.status_code == 303, answer.text
    url = answer.headers["location"]
    html = task_page_when_done(jane, url)
    assert "failed" in html
    assert "checkout was never deployed to dev" in html  # the deploy service's message
    assert 'href="/actions/history"' in html

    history = jane.get("/actions/history", params={"service": "checkout"}).text
    assert "Run incident runbook" in history and f'href="{url}"' in history
    assert "<td>jane</td>" in history  # who ran it, as a short ref
    failed_only = jane.get("/actions/history", params={"status": "completed"}).text
    assert f'href="{url}"' not in failed_only
    other = jane.get("/actions/history", params={"service": "payments"}).text
    assert f'href="{url}"' not in other
    assert f'href="{url}"' in jane.get("/actions").text  # latest runs


def test_invalid_action_input_is_refused_beside_the_field(site: Portal) -> None:
    jane = _client(site, "jane")
    answer = post_form(
        jane,
        RUNBOOK,
        {"p.service": "component:default/checkout", "p.runbook": "restart", "p.logLines": "0"},
        page=RUNBOOK,
    )
    assert answer.status_code == 400
    assert 'id="f-logLines-error"' in answer.text and "less than the minimum of 1" in answer.text
