"""Deployments in the portal on a real local runtime: the overview, a Component's
Deployments / Environments / Resources / Secrets tabs, the rollback button with ownership
checks, and the built-in self-service actions (runbook diagnose + restart, preview
environment) run from their forms against the deployed service.

One module-scoped portal (reconciler every 0.2 s, built-in templates published at first
start) deploys ``checkout`` (the sample catalog's Component, owned by team-a) twice from a
tiny stdlib HTTP service in a git repository: built with uv, run by supervisord, routed by
HAProxy. Skips when those tools are missing; every process is stopped at teardown by the
driver's ``shutdown()``.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "api"))
from deployhelpers import git, require_runtime
from portalhelpers import Portal, login, open_portal, post_form, task_page_when_done

from goldenpath.deploy.service import ServiceStatus
from goldenpath.drivers.base import ReplicaStatus
from goldenpath.drivers.local.driver import LocalDriver
from goldenpath.portal.routes.deployments import traffic_split, version_rows

TAB = "/catalog/default/component/checkout"
SPEC = """\
apiVersion: goldenpath.dev/v1
kind: Service
metadata:
  name: checkout
spec:
  language: python
  run:
    command: [python, app.py]
    readiness: /healthz
  runtime:
    replicas: 1
"""
APP = """\
import http.server, os

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"checkout {version}\\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

print("listening {version} on", os.environ["PORT"], flush=True)
http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
"""


def _commit(repo: Path, version: str) -> None:
    (repo / "app.py").write_text(APP.format(version=version))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", f"checkout {version}")


def _deploy(portal: Portal, repo: Path) -> dict[str, Any]:
    answer = portal.client.post(
        "/api/deploy/v1/deployments",
        json={"environment": "dev", "repo": str(repo), "ref": "main"},
        headers=portal.api_headers(),
    )
    assert answer.status_code == 202, answer.text
    return _wait(portal, answer.json()["id"])


def _wait(portal: Portal, deployment_id: int, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        found: dict[str, Any] = portal.services.deploy.get_deployment(deployment_id).to_dict()
        if found["state"] in ("succeeded", "failed", "aborted"):
            assert found["state"] == "succeeded", found["message"]
            break
        assert time.monotonic() < deadline, f"deployment {deployment_id} still {found['state']}"
        time.sleep(0.2)
    # the engine makes it the stable deployment of its target just after the record moved
    while portal.services.deploy.status(found["service"], found["environment"])[0].stable_id != (
        deployment_id
    ):
        assert time.monotonic() < deadline, f"d{deployment_id} never became the stable one"
        time.sleep(0.1)
    return found


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Portal]:
    """The portal with checkout deployed twice to dev (v1 then v2); ``single_html`` is
    jane's Deployments tab between the two."""
    root = tmp_path_factory.mktemp("deployments")
    overrides: dict[str, Any] = {
        "deploy": {"reconcile_interval": 0.2},
        "scaffolder": {"builtin_templates": True},
    }
    settings = None
    try:
        with open_portal(root / "home", **overrides) as portal:
            settings = portal.settings
            require_runtime(settings.runtime.haproxy)
            repo = root / "checkout"
            repo.mkdir()
            (repo / "platform.yaml").write_text(SPEC)
            git(repo, "init", "--quiet", "--initial-branch=main")
            _commit(repo, "v1")
            portal.first = _deploy(portal, repo)  # type: ignore[attr-defined]
            # the tab with a single deployment: nothing earlier to roll back to
            portal.single_html = _client(portal, "jane").get(f"{TAB}/deployments").text  # type: ignore[attr-defined]
            _commit(repo, "v2")
            portal.second = _deploy(portal, repo)  # type: ignore[attr-defined]
            yield portal
    finally:
        # after the app has stopped: its reconciler would start the replicas again
        if settings is not None:
            LocalDriver(settings).shutdown()


def _client(portal: Portal, user: str) -> TestClient:
    client = portal.new_client()
    login(client, user)
    return client


def _history_rows(html: str) -> list[str]:
    table = re.search(r"<table class=\"deployments\">.*?</table>", html, re.S)
    assert table is not None, "no history table"
    return re.findall(r"<tr>.*?</tr>", table.group(0).split("<tbody>")[1], re.S)


def test_action_templates_were_published_at_first_start(live: Portal) -> None:
    for name in ("rotate-database-password", "create-preview-environment", "run-incident-runbook"):
        entity = live.services.scaffolder.get_template(f"template:default/{name}").entity
        location = entity["metadata"]["annotations"]["backstage.io/managed-by-location"]
        assert location.startswith("url:") and f"/actions/{name}/template.yaml" in location


def test_overview_lists_the_running_service(live: Portal) -> None:
    jane = _client(live, "jane")
    html = jane.get("/deployments").text
    second = live.second  # type: ignore[attr-defined]
    assert f'href="{TAB}/deployments">checkout</a>' in html
    assert f"d{second['id']} 100 %" in html
    assert f"d{second['id']}: 1/1 replicas ready" in html
    assert re.search(r'href="http://checkout\.dev\.[^"]+"', html)
    filtered = jane.get("/deployments", params={"environment": "staging"}).text
    assert "Nothing is deployed to staging" in filtered


def test_deployments_tab_shows_history_traffic_and_buttons_by_permission(live: Portal) -> None:
    first, second = live.first, live.second  # type: ignore[attr-defined]
    jane = _client(live, "jane")
    html = jane.get(f"{TAB}/deployments").text
    rows = _history_rows(html)
    assert len(rows) >= 2 and f"d{second['id']}" in rows[0] and f"d{first['id']}" in rows[1]
    assert "succeeded" in rows[0] and second["sha"][:8] in rows[0]
    bar = re.search(r'<ul class="traffic-bar"[^>]*>(.*?)</ul>', html, re.S)
    assert bar is not None, "no traffic bar"
    assert re.findall(r"<li [^>]*>([^<]*)</li>", bar.group(1)) == [f"d{second['id']} 100 %"]
    assert f"d{first['id']}d{second['id']}" not in html  # no stray run-together labels
    assert "/0 replicas ready" not in html
    assert re.search(
        r'<button type="submit" class="contrast" aria-describedby="note-rollback-dev">'
        r"Roll back \(dev\)</button>",
        html,
    )
    note = re.search(r'<small id="note-rollback-dev"[^>]*>([^<]*)</small>', html)
    assert note is not None and note.group(1).startswith(f"Returns dev to d{first['id']} ")
    assert re.search(r"disabled title=\"nothing is paused\">Promote \(dev\)", html)

    bob_html = _client(live, "bob").get(f"{TAB}/deployments").text
    assert "Only members of group:default/team-a and admins" in bob_html
    assert re.search(r'disabled aria-describedby="ops-refused">Roll back', bob_html)
    vic_html = _client(live, "vic").get(f"{TAB}/deployments").text
    assert "viewer role" in vic_html


def test_rollback_is_disabled_with_the_reason_when_nothing_earlier(live: Portal) -> None:
    first = live.first  # type: ignore[attr-defined]
    html = live.single_html  # type: ignore[attr-defined]
    assert re.search(
        r'<button type="submit" class="secondary" disabled aria-describedby="note-rollback-dev">'
        r"Roll back \(dev\)</button>",
        html,
    )
    note = re.search(r'<small id="note-rollback-dev"[^>]*>([^<]*)</small>', html)
    assert note is not None
    assert note.group(1).startswith("Nothing earlier to return to")
    assert f"before d{first['id']}" in note.group(1)


def test_history_table_scrolls_sideways_and_messages_wrap(live: Portal) -> None:
    html = _client(live, "jane").get(f"{TAB}/deployments").text
    assert re.search(
        r'<div class="table-scroll" role="region" aria-label="[^"]+" tabindex="0">\s*'
        r'<table class="deployments">',
        html,
    )
    assert '<td class="message"><small>' in html
    css = live.client.get("/static/portal.css").text
    assert re.search(r"\.table-scroll \{[^}]*overflow-x: auto", css)
    assert re.search(r"table\.deployments \.message \{[^}]*white-space: normal", css)


def test_others_cannot_roll_back_and_nothing_in_flight_is_a_409(live: Portal) -> None:
    before = len(live.services.deploy.history(service="checkout"))
    bob = _client(live, "bob")
    refused = post_form(bob, f"{TAB}/deployments/dev/rollback", {}, page=f"{TAB}/deployments")
    assert refused.status_code == 403 and "group:default/team-a" in refused.text
    jane = _client(live, "jane")
    abort = post_form(jane, f"{TAB}/deployments/dev/abort", {}, page=f"{TAB}/deployments")
    assert abort.status_code == 409 and "nothing to abort" in abort.text
    no_csrf = jane.post(f"{TAB}/deployments/dev/rollback", follow_redirects=False)
    assert no_csrf.status_code == 403
    assert len(live.services.deploy.history(service="checkout")) == before


def test_environments_resources_and_secrets_tabs(live: Portal) -> None:
    secret = live.client.put(
        "/api/secrets/v1/secrets/PAYMENT_KEY",
        json={"value": "pk-live-very-secret", "service": "checkout"},
        headers=live.api_headers(),
    )
    assert secret.status_code in (200, 201), secret.text
    jane = _client(live, "jane")
    envs = jane.get(f"{TAB}/environments").text
    assert re.search(r"<td>dev", envs) and "ready" in envs
    assert re.search(r'href="http://checkout\.dev\.', envs)
    resources = jane.get(f"{TAB}/resources").text
    assert "checkout has no resources" in resources
    secrets = jane.get(f"{TAB}/secrets").text
    assert "<code>PAYMENT_KEY</code>" in secrets and "pk-live-very-secret" not in secrets
    assert jane.get("/catalog/default/group/team-a/deployments").status_code == 404


def test_runbook_diagnose_collects_status_health_and_logs(live: Portal) -> None:
    jane = _client(live, "jane")
    form = "/create/default/run-incident-runbook"
    answer = post_form(
        jane,
        form,
        {
            "p.service": "component:default/checkout",
            "p.environment": "dev",
            "p.runbook": "diagnose",
        },
        page=form,
    )
    assert answer.status_code == 303, answer.text
    html = task_page_when_done(jane, answer.headers["location"], timeout=150)
    assert "completed" in html, html[html.find('role="log"') :][:2000]
    second = live.second  # type: ignore[attr-defined]
    assert f"traffic d{second['id']} 100%" in html
    assert "replica 0: ready" in html
    assert re.search(r"GET http://127\.0\.0\.1:\d+: 200", html)
    assert "Last 50 log lines" in html
    assert re.search(rf"\d\d:\d\d:\d\d d{second['id']}/0 ", html)  # the replica's own lines
    assert "Service URL" in html


def test_rollback_button_records_a_rollback(live: Portal) -> None:
    first = live.first  # type: ignore[attr-defined]
    jane = _client(live, "jane")
    answer = post_form(jane, f"{TAB}/deployments/dev/rollback", {}, page=f"{TAB}/deployments")
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"].startswith(f"{TAB}/deployments?notice=")
    html = jane.get(answer.headers["location"]).text
    assert f"rollback to d{first['id']} recorded" in html
    newest = live.services.deploy.history(service="checkout", limit=1)[0]
    assert newest.kind == "rollback" and newest.rollback_of == first["id"]
    assert newest.triggered_by == "user:default/jane"
    assert "rollback" in _history_rows(html)[0]
    _wait(live, newest.id)
    # back on d1's release: a further rollback would return to d2 (another release)
    second = live.second  # type: ignore[attr-defined]
    after = jane.get(f"{TAB}/deployments").text
    note = re.search(r'<small id="note-rollback-dev"[^>]*>([^<]*)</small>', after)
    assert note is not None and note.group(1).startswith(f"Returns dev to d{second['id']} ")
    bar = re.search(r'<ul class="traffic-bar"[^>]*>(.*?)</ul>', after, re.S)
    assert bar is not None
    assert re.findall(r"<li [^>]*>([^<]*)</li>", bar.group(1)) == [f"d{newest.id} 100 %"]


def test_restart_and_preview_environment_actions(live: Portal) -> None:
    jane = _client(live, "jane")
    runbook = "/create/default/run-incident-runbook"
    answer = post_form(
        jane,
        runbook,
        {"p.service": "component:default/checkout", "p.environment": "dev", "p.runbook": "restart"},
        page=runbook,
    )
    html = task_page_when_done(jane, answer.headers["location"], timeout=150)
    assert "completed" in html, html[html.find('role="log"') :][:2000]
    restart = live.services.deploy.history(service="checkout", limit=1)[0]
    assert restart.kind == "redeploy" and restart.state == "succeeded"
    assert restart.triggered_by == "user:default/jane"

    preview = "/create/default/create-preview-environment"
    answer = post_form(
        jane,
        preview,
        {"p.service": "component:default/checkout", "p.source": "dev", "p.ttl": "1h"},
        page=preview,
    )
    assert answer.status_code == 303, answer.text
    html = task_page_when_done(jane, answer.headers["location"], timeout=150)
    assert "completed" in html, html[html.find('role="log"') :][:2000]
    envs = [e for e in live.services.deploy.list_environments() if e.name.startswith("preview-")]
    assert len(envs) == 1 and envs[0].ephemeral and envs[0].parent == "dev"
    assert envs[0].created_by == "user:default/jane"
    assert f"**{envs[0].name}** runs until" in html
    assert re.search(rf'href="http://checkout\.{envs[0].name}\.[^"]+">Preview</a>', html)
    statuses = live.services.deploy.status("checkout", envs[0].name)
    assert statuses[0].stable_id is not None
    runs = jane.get("/actions/history", params={"service": "checkout"}).text
    assert runs.count("completed") >= 3


def _replica(version: str, state: str) -> ReplicaStatus:
    return ReplicaStatus("dev", "svc", version, 0, state, 1, 1)


def _version(version: str, desired: int, *replicas: ReplicaStatus) -> dict[str, Any]:
    ready = sum(1 for r in replicas if r.state == "ready")
    return {
        "version": version,
        "deploymentId": int(version[1:]),
        "releaseId": "r",
        "sha": "abcdef1234",
        "state": "succeeded",
        "replicas": list(replicas),
        "ready": ready,
        "desired": desired,
    }


def test_versions_without_desired_replicas_read_draining_or_stopped() -> None:
    status = ServiceStatus(
        service="svc",
        environment="dev",
        urls=None,
        weights={"d1": 0, "d2": 0, "d3": 100, "d4": 0},
        versions=[
            _version("d3", 2, _replica("d3", "ready"), _replica("d3", "starting")),
            _version("d4", 1, _replica("d4", "starting")),
            _version("d2", 0, _replica("d2", "ready"), _replica("d2", "ready")),
        ],
        recent=[],
        stable_id=3,
    )
    rows = {r["version"]: r for r in version_rows(status)}
    assert rows["d3"]["phase"] == "serving" and rows["d3"]["replicas"] == "1/2 replicas ready"
    assert rows["d3"]["weight"] == 100
    assert rows["d4"]["phase"] == "standby" and rows["d4"]["replicas"] == "0/1 replicas ready"
    assert rows["d2"]["phase"] == "draining"
    assert rows["d2"]["replicas"] == "no new traffic; 2 replicas stopping"
    assert rows["d1"]["phase"] == "stopped" and rows["d1"]["replicas"] == "no replicas running"
    assert traffic_split(status) == [("d3", 100)]
