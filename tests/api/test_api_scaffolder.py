"""The scaffolder REST API (Backstage shapes) on the real app: templates, actions, tasks,
events over JSON and SSE, cancel, dry runs, roles — and a real server killed mid-task."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from apihelpers import PROBLEM, Api

TEMPLATE = """\
apiVersion: scaffolder.backstage.io/v1beta3
kind: Template
metadata:
  name: {name}
  title: Hello template
  description: Says hello
spec:
  owner: group:default/platform-admins
  type: service
  parameters:
    - title: Who
      required: [name]
      properties:
        name: {{type: string, pattern: '^[a-z-]+$', description: Who to greet}}
    - title: How
      properties:
        loud: {{type: boolean, default: false}}
  steps:
{steps}
  output:
    text:
      - title: Greeting
        content: hello ${{{{ parameters.name }}}}
"""

LOG_STEPS = """\
    - id: hello
      name: Say hello
      action: debug:log
      input: {message: "hello ${{ parameters.name }}"}
    - id: again
      action: debug:log
      input: {message: "loud=${{ parameters.loud }}"}
"""

V2 = "/api/scaffolder/v2"


def _template(api: Api, tmp_path: Path, name: str = "hello", steps: str = LOG_STEPS) -> str:
    folder = tmp_path / "templates" / name
    folder.mkdir(parents=True)
    (folder / "template.yaml").write_text(TEMPLATE.format(name=name, steps=steps))
    api.register(folder / "template.yaml")
    return f"template:default/{name}"


def _wait(api: Api, task_id: str, timeout: float = 20.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        task: dict[str, Any] = api.get(f"{V2}/tasks/{task_id}").json()
        if task["status"] in ("completed", "failed", "cancelled"):
            return task
        time.sleep(0.05)
    raise AssertionError(f"task {task_id} did not end")


def _sse(text: str) -> list[dict[str, Any]]:
    events = []
    for block in text.strip().split("\n\n"):
        fields = dict(
            line.split(": ", 1) for line in block.splitlines() if not line.startswith(":")
        )
        events.append(
            {"event": fields["event"], "id": fields["id"], "data": json.loads(fields["data"])}
        )
    return events


def test_parameter_schema_and_actions(api: Api, tmp_path: Path) -> None:
    _template(api, tmp_path)
    body = api.get(f"{V2}/templates/default/template/hello/parameter-schema").json()
    assert body["title"] == "Hello template"
    assert body["description"] == "Says hello"
    assert [s["title"] for s in body["steps"]] == ["Who", "How"]
    assert body["steps"][0]["schema"]["required"] == ["name"]
    missing = api.get(f"{V2}/templates/default/template/nope/parameter-schema")
    assert missing.status_code == 404 and missing.headers["content-type"] == PROBLEM
    actions = {a["id"]: a for a in api.get(f"{V2}/actions").json()}
    assert "debug:log" in actions
    assert set(actions["debug:log"]["schema"]) == {"input", "output"}


def test_task_lifecycle_events_and_sse(api: Api, tmp_path: Path) -> None:
    ref = _template(api, tmp_path)
    created = api.post(f"{V2}/tasks", json={"templateRef": ref, "values": {"name": "jane"}})
    assert created.status_code == 201, created.text
    task_id = created.json()["id"]
    task = _wait(api, task_id)
    assert task["status"] == "completed"
    assert task["createdBy"] == "user:default/admin"
    assert task["spec"]["parameters"] == {"name": "jane", "loud": False}
    assert task["output"]["text"][0]["content"] == "hello jane"
    events = api.get(f"{V2}/tasks/{task_id}/events").json()
    assert events[-1]["type"] == "completion" and events[-1]["taskId"] == task_id
    assert any(e["body"]["message"] == "hello jane" for e in events)
    assert (
        api.get(f"{V2}/tasks/{task_id}/events", params={"after": events[-2]["id"]}).json()
        == events[-1:]
    )
    with api.client.stream(
        "GET", f"{V2}/tasks/{task_id}/eventstream", headers=api.headers()
    ) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        streamed = _sse(stream.read().decode())
    assert [e["data"] for e in streamed] == events
    assert [e["event"] for e in streamed] == [e["type"] for e in events]
    assert [int(e["id"]) for e in streamed] == [e["id"] for e in events]
    tail = api.client.get(
        f"{V2}/tasks/{task_id}/eventstream",
        params={"after": events[-1]["id"]},
        headers=api.headers(),
    )
    assert tail.status_code == 200 and tail.text == ""  # nothing after completion: ends at once
    conflict = api.post(f"{V2}/tasks/{task_id}/cancel")
    assert conflict.status_code == 409 and conflict.headers["content-type"] == PROBLEM


def test_invalid_values_unknown_template_and_paging(api: Api, tmp_path: Path) -> None:
    ref = _template(api, tmp_path)
    bad = api.post(f"{V2}/tasks", json={"templateRef": ref, "values": {"name": "Not Valid"}})
    assert bad.status_code == 400 and bad.headers["content-type"] == PROBLEM
    assert bad.json()["errors"][0]["path"] == "/name"
    assert api.post(f"{V2}/tasks", json={"templateRef": "nope", "values": {}}).status_code == 404
    ids = [
        api.post(f"{V2}/tasks", json={"templateRef": ref, "values": {"name": n}}).json()["id"]
        for n in ("a", "b", "c")
    ]
    for task_id in ids:
        _wait(api, task_id)
    first = api.get(f"{V2}/tasks", params={"limit": 2}).json()
    assert first["totalTasks"] == 3 and len(first["tasks"]) == 2
    rest = api.get(
        f"{V2}/tasks", params={"limit": 2, "cursor": first["pageInfo"]["nextCursor"]}
    ).json()
    assert {t["id"] for t in first["tasks"] + rest["tasks"]} == set(ids)
    assert api.get(f"{V2}/tasks", params={"status": "bogus"}).status_code == 400
    mine = api.get(f"{V2}/tasks", params={"createdBy": "user:default/someone-else"}).json()
    assert mine["totalTasks"] == 0
    assert api.get(f"{V2}/tasks/does-not-exist").status_code == 404
    assert api.get(f"{V2}/tasks/does-not-exist/eventstream").status_code == 404


def test_viewers_read_but_cannot_run(api: Api, tmp_path: Path) -> None:
    ref = _template(api, tmp_path)
    viewer = api.token_for("user:default/admin", "viewer")
    assert api.get(f"{V2}/actions", token=viewer).status_code == 200
    assert api.get(f"{V2}/tasks", token=viewer).status_code == 200
    refused = api.post(
        f"{V2}/tasks", token=viewer, json={"templateRef": ref, "values": {"name": "x"}}
    )
    assert refused.status_code == 403
    dry = api.post(
        f"{V2}/dry-run", token=viewer, json={"templateRef": ref, "values": {"name": "x"}}
    )
    assert dry.status_code == 403
    assert api.client.get(f"{V2}/tasks").status_code == 401


def test_dry_run_backstage_body_and_template_ref(api: Api, tmp_path: Path) -> None:
    import yaml

    steps = """\
    - id: fetch
      action: fetch:template
      input: {url: ./skeleton, values: {name: "${{ parameters.name }}"}}
"""
    entity = yaml.safe_load(TEMPLATE.format(name="skel", steps=steps))
    contents = [
        {
            "path": "skeleton/${{ values.name }}.md",
            "base64Content": base64.b64encode(b"# ${{ values.name }}\n").decode(),
        }
    ]
    result = api.post(
        f"{V2}/dry-run",
        json={
            "template": entity,
            "values": {"name": "dryrun"},
            "secrets": {},
            "directoryContents": contents,
        },
    )
    assert result.status_code == 200, result.text
    body = result.json()
    assert set(body) >= {"log", "directoryContents", "output", "steps"}
    files = {
        f["path"]: base64.b64decode(f["base64Content"]).decode() for f in body["directoryContents"]
    }
    assert files == {"dryrun.md": "# dryrun\n"}
    assert (
        body["steps"][0]["id"] == "fetch" and body["output"]["text"][0]["content"] == "hello dryrun"
    )
    ref = _template(api, tmp_path)
    by_ref = api.post(f"{V2}/dry-run", json={"templateRef": ref, "values": {"name": "x"}}).json()
    assert by_ref["status"] == "completed"
    assert any(entry["body"]["message"] == "hello x" for entry in by_ref["log"])
    assert api.get(f"{V2}/tasks").json()["totalTasks"] == 0  # a dry run is not a task


# --- a real server killed mid-task ---------------------------------------------------------

SERVER = """\
import time
from goldenpath.scaffolder import actions
from goldenpath.scaffolder.actions.base import Action

_default = actions.default_registry

def _registry():
    registry = _default()
    registry.register(Action("test:sleep", "sleep (test only)",
                             lambda ctx: time.sleep(float(ctx.input["seconds"]))))
    return registry

actions.default_registry = _registry
from goldenpath.api import serve
from goldenpath.settings import load_settings
serve.run(load_settings())
"""

SLOW_STEPS = """\
    - id: hello
      action: debug:log
      input: {message: "starting ${{ parameters.name }}"}
    - id: slow
      action: test:sleep
      input: {seconds: 60}
"""


def _start_server(home: Path) -> tuple[subprocess.Popen[bytes], str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOLDENPATH_")}
    env.update(GOLDENPATH_HOME=str(home), GOLDENPATH_CATALOG__REFRESH_INTERVAL="0")
    server_json = home / "run" / "server.json"
    server_json.unlink(missing_ok=True)
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVER],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server_json.exists():
            try:
                return proc, json.loads(server_json.read_text())["url"]
            except ValueError:
                pass
        assert proc.poll() is None, "the server exited while starting"
        time.sleep(0.1)
    proc.kill()
    raise AssertionError("the server did not start")


def test_killed_server_fails_its_task_on_restart(tmp_path: Path) -> None:
    home = tmp_path / "home"
    proc, url = _start_server(home)
    try:
        token = (home / "admin-token").read_text().strip()
        http = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        folder = tmp_path / "templates" / "slow"
        folder.mkdir(parents=True)
        (folder / "template.yaml").write_text(TEMPLATE.format(name="slow", steps=SLOW_STEPS))
        assert (
            http.post(
                "/api/catalog/locations",
                json={"type": "file", "target": str(folder / "template.yaml")},
            ).status_code
            == 201
        )
        task_id = http.post(
            f"{V2}/tasks", json={"templateRef": "template:default/slow", "values": {"name": "x"}}
        ).json()["id"]
        deadline = time.monotonic() + 30
        while http.get(f"{V2}/tasks/{task_id}/events").json()[-1:] == [] or not any(
            e["body"].get("stepId") == "slow"
            for e in http.get(f"{V2}/tasks/{task_id}/events").json()
        ):
            assert time.monotonic() < deadline, "the slow step never started"
            time.sleep(0.1)
        assert http.get(f"{V2}/tasks/{task_id}").json()["status"] == "processing"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    proc, url = _start_server(home)
    try:
        http = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        task = http.get(f"{V2}/tasks/{task_id}").json()
        assert task["status"] == "failed"
        assert task["error"] == "the server stopped while this task ran; run it again"
        events = http.get(f"{V2}/tasks/{task_id}/events").json()
        assert events[-1]["type"] == "completion"
        assert events[-1]["body"]["status"] == "failed"
        with http.stream("GET", f"{V2}/tasks/{task_id}/eventstream") as stream:
            assert '"type":"completion"' in stream.read().decode()  # ends, never hangs
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)


# --- built-in templates ---------------------------------------------------------------------


def test_builtin_templates_are_published_registered_and_refreshed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    from goldenpath.api import bootstrap
    from goldenpath.catalog.service import CatalogService
    from goldenpath.scaffolder import builtin
    from goldenpath.scaffolder.githost import GitHost
    from goldenpath.settings import Settings
    from goldenpath.store import migrate
    from goldenpath.store.engine import make_engine

    packaged = tmp_path / "packaged"
    shutil.copytree(builtin.builtin_dir(), packaged, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(builtin, "builtin_dir", lambda: packaged)
    settings = Settings(home=tmp_path / "home", catalog={"refresh_interval": 0})
    engine = make_engine(settings.effective_database_url)
    migrate.upgrade(engine)
    catalog = CatalogService(engine=engine, settings=settings)
    githost = GitHost(settings.home / "git")
    repo = settings.home / "git" / "platform" / "templates.git"

    def head() -> str:
        return subprocess.run(
            ["git", "rev-parse", "main"], cwd=repo, capture_output=True, text=True, check=True
        ).stdout.strip()

    targets = bootstrap.publish_builtin_templates(
        settings=settings, catalog=catalog, githost=githost
    )
    assert [t.rsplit("/", 2)[-2] for t in targets] == [
        "python-service",
        "node-service",
        "rotate-database-password",
        "create-preview-environment",
        "run-incident-runbook",
    ]
    assert {loc["target"] for loc in catalog.list_locations()} == set(targets)
    entity = catalog.get_entity_by_ref("template:default/python-service")
    first = head()
    assert (
        bootstrap.publish_builtin_templates(settings=settings, catalog=catalog, githost=githost)
        == targets
    )
    assert head() == first  # unchanged package: no new commit, no refresh

    template = packaged / "python-service" / "template.yaml"
    template.write_text(
        template.read_text().replace("title: Python service", "title: Python service v2", 1)
    )
    bootstrap.publish_builtin_templates(settings=settings, catalog=catalog, githost=githost)
    assert head() != first
    refreshed = catalog.get_entity_by_ref("template:default/python-service")
    assert refreshed["metadata"]["title"] == "Python service v2 (FastAPI)"
    assert entity["metadata"]["title"] == "Python service (FastAPI)"
    engine.dispose()
