"""Golden path that also deploys: ``platform create service NAME --deploy dev`` runs the
python-service template with its ``platform:deploy`` step against a real server, and the
printed URL answers 200 from the generated FastAPI service (built with uv, supervised,
routed through HAProxy). A dry run of the same template deploys nothing and says what it
would do; an unknown environment fails the task with the deploy service's own message.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
from test_cli_deploy_server import _platform
from test_cli_deploy_server import home as home  # the fixture


def test_create_with_deploy_serves_200_and_is_in_the_deploy_history(
    home: Path, tmp_path: Path
) -> None:
    created = _platform(
        home, tmp_path, "create", "service", "fresh-api", "--deploy", "dev", "-o", "json"
    )
    assert created.returncode == 0, created.stdout + created.stderr
    result = json.loads(created.stdout)
    assert result["entityRef"] == "component:default/fresh-api"
    assert result["url"] and ".dev." in result["url"]
    assert "platform:deploy" in created.stderr or "Deploy" in created.stderr

    status = _platform(home, tmp_path, "status", "fresh-api", "--env", "dev", "-o", "json")
    (dev,) = json.loads(status.stdout)
    answer = httpx.get(dev["urls"]["direct"] + "/", timeout=10)
    assert answer.status_code == 200 and answer.json()["service"] == "fresh-api"

    # no service and no ./platform.yaml: the overview of everything deployed
    overview = _platform(home, tmp_path, "status", "-o", "json")
    assert [(s["service"], s["environment"]) for s in json.loads(overview.stdout)] == [
        ("fresh-api", "dev")
    ]
    table = _platform(home, tmp_path, "status", "--all", "--env", "dev")
    assert "fresh-api" in table.stdout and "healthy" in table.stdout, table.stdout

    history = _platform(home, tmp_path, "deploy", "history", "fresh-api", "-o", "json")
    (first,) = json.loads(history.stdout)
    assert first["state"] == "succeeded" and first["sha"]


def test_dry_run_deploys_nothing_and_an_unknown_environment_fails_the_task(
    home: Path, tmp_path: Path
) -> None:
    values = tmp_path / "values.yaml"
    values.write_text("name: dry-api\ndeployTo: dev\n")
    dry = _platform(
        home,
        tmp_path,
        "template",
        "run",
        "python-service",
        "--values",
        str(values),
        "--dry-run",
        "-o",
        "json",
    )
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert "would deploy" in dry.stdout + dry.stderr
    none = _platform(home, tmp_path, "deploy", "history", "dry-api", "-o", "json")
    assert json.loads(none.stdout or "[]") == []

    failed = _platform(
        home, tmp_path, "create", "service", "lost-api", "--deploy", "nowhere", "--no-clone"
    )
    assert failed.returncode == 1
    assert "nowhere" in failed.stdout + failed.stderr
