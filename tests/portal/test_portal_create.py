"""The Create pages: the template list, the generated form (every field kind, owner picker,
masked secrets, server-side errors that match the API's), a task's live log and output.

One portal per module (portalhelpers) with tests/portal/data/create/template.yaml registered:
a two-page Template whose steps only log, so no git host or deploy is involved.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from portalhelpers import Portal, login, post_form, task_page_when_done

from goldenpath.portal import forms
from goldenpath.scaffolder.templates import load_template_file

TEMPLATE = Path(__file__).resolve().parent / "data" / "create" / "template.yaml"
FORM = "/create/default/form-demo"
SECRET = "s3cret-api-key-value"
VALID = {
    "p.name": "shop-web",
    "p.owner": "group:default/team-a",
    "p.size": "large",
    "p.replicas": "3",
    "p.public": "true",
    "p.regions": ["eu", "ap"],
    "p.apiKey": SECRET,
}


@pytest.fixture(scope="module")
def site(portal: Portal) -> Portal:
    portal.register(TEMPLATE)
    return portal


@pytest.fixture(scope="module")
def jane(site: Portal) -> TestClient:
    client = site.new_client()
    login(client, "jane")
    return client


def _submit(client: TestClient, data: dict[str, Any]) -> Any:
    return post_form(client, FORM, data, page=FORM)


# --------------------------------------------------------------------------- forms (pure)


def test_form_fields_follow_the_schema() -> None:
    template = load_template_file(TEMPLATE)
    groups = [forms.Option("group:default/team-a", "team-a")]
    form = forms.build_form(template, choices=lambda kinds: groups if kinds == ["Group"] else [])
    assert [p.title for p in form.pages] == ["Basics", "Details"]
    by_name = {f.name: f for f in form.fields}
    assert by_name["name"].kind == "text" and by_name["name"].required
    assert by_name["name"].pattern == "^[a-z][a-z0-9-]{1,20}$" and by_name["name"].autofocus
    assert by_name["owner"].kind == "select" and by_name["owner"].options == groups
    assert by_name["size"].value == "medium"
    assert [o.label for o in by_name["size"].options] == ["Small", "Medium", "Large"]
    assert by_name["replicas"].kind == "integer" and by_name["replicas"].value == "2"
    assert (by_name["replicas"].minimum, by_name["replicas"].maximum) == (1, 5)
    assert by_name["public"].kind == "checkbox" and by_name["public"].value == "true"
    assert by_name["regions"].kind == "multiselect"
    assert [o.value for o in by_name["regions"].options] == ["eu", "us", "ap"]
    assert by_name["apiKey"].secret and by_name["apiKey"].kind == "password"
    again = forms.build_form(template, values={"apiKey": SECRET, "name": "x"})
    shown = {f.name: f for f in again.fields}
    assert shown["apiKey"].value == "" and shown["name"].value == "x"


@pytest.mark.parametrize(
    ("submitted", "values", "errors"),
    [
        (
            {**VALID, "p.regions": ["eu", "ap"]},
            {"replicas": 3, "public": True, "regions": ["eu", "ap"], "size": "large"},
            {},
        ),
        ({"p.name": "x", "p.public": []}, {"public": False, "regions": []}, {}),
        ({"p.replicas": "2.5"}, {}, {"replicas": "must be a whole number"}),
        ({"p.replicas": "many"}, {}, {"replicas": "must be a whole number"}),
        ({"p.name": "   "}, {}, {}),
    ],
)
def test_parse_form_types_values(
    submitted: dict[str, Any], values: dict[str, Any], errors: dict[str, str]
) -> None:
    template = load_template_file(TEMPLATE)
    form = {k: v if isinstance(v, list) else [v] for k, v in submitted.items()}
    parsed, found = forms.parse_form(template, form)
    for key, value in values.items():
        assert parsed[key] == value
    assert found == errors
    if submitted.get("p.name", "").strip() == "":
        assert "name" not in parsed  # empty → left out, so defaults and `required` apply


def test_validation_errors_are_the_scaffolders_own(site: Portal) -> None:
    template = load_template_file(TEMPLATE)
    bad = {"name": "Bad Name", "owner": "group:default/team-a", "replicas": 9, "apiKey": "short"}
    errors = forms.validate_form(template, bad)
    assert set(errors) == {"name", "replicas", "apiKey"}
    assert "does not match" in errors["name"] and "^[a-z]" in errors["name"]
    assert "9 is greater than the maximum of 5" in errors["replicas"]
    assert "short" not in errors["apiKey"]  # a secret's value never appears in a message
    api = site.client.post(
        "/api/scaffolder/v2/tasks",
        json={"templateRef": "template:default/form-demo", "values": bad},
        headers=site.api_headers(),
    )
    assert api.status_code == 400
    by_path = {e["path"].lstrip("/"): e["message"] for e in api.json()["errors"]}
    assert by_path["name"] == errors["name"] and by_path["replicas"] == errors["replicas"]
    assert (
        forms.validate_form(template, {**bad, "name": "ok-name", "replicas": 2, "apiKey": "x" * 8})
        == {}
    )
    missing = forms.validate_form(template, {})
    assert missing["name"] == "is required" and missing["apiKey"] == "is required"


# --------------------------------------------------------------------------- pages


def test_template_list_filters_by_type_and_leaves_out_actions(
    site: Portal, jane: TestClient
) -> None:
    html = jane.get("/create").text
    assert "Form demo" in html and 'href="/create/default/form-demo"' in html
    assert jane.get("/create", params={"type": "website"}).text.count("Form demo") >= 1
    assert "Form demo" not in jane.get("/create", params={"type": "service"}).text
    assert "Form demo" not in jane.get("/create", params={"q": "nothing-matches-this"}).text
    signed_out = site.new_client().get("/create", follow_redirects=False)
    assert signed_out.status_code == 303 and signed_out.headers["location"].startswith("/login")


def test_form_page_has_labelled_inputs_and_an_owner_picker(jane: TestClient) -> None:
    page = jane.get(FORM)
    assert page.status_code == 200
    html = page.text
    for name in ("name", "owner", "size", "replicas", "apiKey"):
        assert f'<label for="f-{name}">' in html, name
    owner = re.search(r'<select id="f-owner".*?</select>', html, re.S)
    assert owner is not None
    assert 'value="group:default/team-a"' in owner.group(0)
    assert 'value="group:default/team-b"' in owner.group(0)
    assert "user:default/jane" not in owner.group(0)  # allowedKinds: [Group]
    assert re.search(r'<input id="f-apiKey" name="p.apiKey"\s+type="password"', html)
    assert 'pattern="^[a-z][a-z0-9-]{1,20}$"' in html
    assert "Step 1 of 2" in html and "Step 2 of 2" in html
    assert jane.get("/create/default/no-such-template").status_code == 404


def test_invalid_submission_shows_errors_beside_fields_and_never_echoes_the_secret(
    site: Portal, jane: TestClient
) -> None:
    before = site.services.scaffolder.list_tasks()["totalTasks"]
    answer = _submit(jane, {**VALID, "p.name": "Not Valid", "p.replicas": "7"})
    assert answer.status_code == 400
    html = answer.text
    assert SECRET not in html
    assert 'id="f-name-error"' in html and "does not match" in html
    assert 'id="f-replicas-error"' in html and "greater than the maximum of 5" in html
    assert 'value="Not Valid"' in html  # other values are kept for the user to fix
    assert 'aria-invalid="true"' in html
    assert site.services.scaffolder.list_tasks()["totalTasks"] == before


def test_csrf_and_viewer_role_are_enforced(site: Portal) -> None:
    client = site.new_client()
    login(client, "jane")
    missing = client.post(FORM, data=VALID, follow_redirects=False)
    assert missing.status_code == 403
    vic = site.new_client()
    login(vic, "vic")
    form = vic.get(FORM).text
    assert "viewer role" in form and re.search(r"<button type=\"submit\" disabled", form)
    refused = _submit(vic, VALID)
    assert refused.status_code == 403 and SECRET not in refused.text


def test_submit_creates_a_task_whose_log_and_output_the_task_page_shows(
    site: Portal, jane: TestClient
) -> None:
    answer = _submit(jane, VALID)
    assert answer.status_code == 303, answer.text
    task_url = answer.headers["location"]
    assert re.fullmatch(r"/create/tasks/[0-9a-f-]{36}", task_url)
    task_id = task_url.rsplit("/", 1)[1]
    task = site.services.scaffolder.get_task(task_id)
    assert task["createdBy"] == "user:default/jane"
    assert task["spec"]["parameters"]["apiKey"] != SECRET  # stored redacted

    html = task_page_when_done(jane, task_url)
    assert 'role="log"' in html
    assert "Hello shop-web (large, 3 replicas, public=true, key=***)" in html
    assert "regions: eu,ap" in html
    assert SECRET not in html
    assert "completed" in html
    assert 'href="/catalog/default/component/checkout"' in html
    assert 'href="https://example.com/docs/shop-web"' in html
    assert "shop-web is ready" in html
    panel = jane.get(task_url, params={"partial": 1}).text
    assert panel.lstrip().startswith("<section") and "<html" not in panel


def test_running_task_page_refreshes_itself_and_streams_events(
    site: Portal, jane: TestClient
) -> None:
    answer = _submit(jane, {**VALID, "p.name": "streamed"})
    task_url = answer.headers["location"]
    page = jane.get(task_url).text
    if "completed" not in page:  # still running: both refresh paths are on the page
        assert 'http-equiv="refresh"' in page and 'hx-trigger="every 1s"' in page
    stream = jane.get(task_url + "/events")
    assert stream.status_code == 200
    assert stream.headers["content-type"].startswith("text/event-stream")
    events = [
        json.loads(line[len("data: ") :])
        for line in stream.text.splitlines()
        if line.startswith("data: ")
    ]
    assert events[-1]["type"] == "completion"
    assert any("Hello streamed" in (e["body"].get("message") or "") for e in events)
    last_log = max(e["id"] for e in events if e["type"] == "log")
    resumed = jane.get(task_url + "/events", headers={"Last-Event-ID": str(last_log)}).text
    assert "Hello streamed" not in resumed and "completion" in resumed
    assert jane.get("/create/tasks/00000000-0000-0000-0000-000000000000").status_code == 404
