"""`platform template|task|create` against a real local server (auto-started), real git."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from cli_helpers import ORG, build_file_tree, run_platform, stop_everything

HELLO = """\
apiVersion: scaffolder.backstage.io/v1beta3
kind: Template
metadata:
  name: hello
  title: Hello
spec:
  owner: group:default/team-a
  type: service
  parameters:
    - title: Who
      required: [name]
      properties:
        name: {type: string, pattern: '^[a-z-]+$', description: Who to greet}
        count: {type: integer, default: 1}
  steps:
    - id: greet
      name: Greet
      action: debug:log
      input: {message: "hello ${{ parameters.name }} x${{ parameters.count }}"}
    - id: fetch
      name: Render
      action: fetch:template
      input: {url: ./skeleton, values: {name: "${{ parameters.name }}"}}
  output:
    text:
      - title: Done
        content: greeted ${{ parameters.name }}
"""


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """One server for the module: the org (team-a) and the `hello` template imported."""
    root = tmp_path_factory.mktemp("scaffolder-cli")
    home = root / "home"
    home.mkdir()
    tree = build_file_tree(
        root / "catalog",
        {
            "org.yaml": ORG,
            "hello/template.yaml": HELLO,
            "hello/skeleton/${{ values.name }}.md": "# ${{ values.name }}\n",
        },
    )
    try:
        imported = run_platform(home, "catalog", "import", str(tree))
        assert imported.returncode == 0, imported.stderr
        yield home, root
    finally:
        stop_everything(home)


def test_template_ls_show_and_dry_run(served: tuple[Path, Path]) -> None:
    home, root = served
    listed = json.loads(run_platform(home, "template", "ls", "-o", "json").stdout)
    names = {item["metadata"]["name"] for item in listed}
    assert {"hello", "python-service", "node-service"} <= names
    shown = run_platform(home, "template", "show", "python-service")
    assert shown.returncode == 0, shown.stderr
    assert "page 1: Service details" in shown.stdout and "database" in shown.stdout
    values = root / "values.yaml"
    values.write_text("name: ann\n")
    dry = run_platform(home, "template", "run", "hello", "--values", str(values), "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "2 files" in dry.stdout and "ann.md" in dry.stdout and "answers.yaml" in dry.stdout
    assert "hello ann x1" in dry.stderr
    bad = run_platform(home, "template", "run", "hello", "--set", "name=Not Valid")
    assert bad.returncode == 1
    assert "/name" in bad.stderr


def test_template_run_follows_and_task_commands(served: tuple[Path, Path]) -> None:
    home, _ = served
    ran = run_platform(
        home, "template", "run", "hello", "--set", "name=bob", "--set", "count=3", "-o", "json"
    )
    assert ran.returncode == 0, ran.stderr
    task = json.loads(ran.stdout)
    assert task["status"] == "completed"
    assert task["spec"]["parameters"] == {"name": "bob", "count": 3}
    assert "hello bob x3" in ran.stderr and "Run completed with status: completed" in ran.stderr
    listed = json.loads(run_platform(home, "task", "ls", "-o", "json").stdout)
    assert task["id"] in {t["id"] for t in listed["tasks"]}
    shown = run_platform(home, "task", "show", task["id"])
    assert "completed" in shown.stdout and "greeted bob" in shown.stdout
    logs = run_platform(home, "task", "logs", task["id"], "--follow", "-o", "json")
    assert logs.returncode == 0, logs.stderr
    events = [json.loads(line) for line in logs.stdout.splitlines()]
    assert events[-1]["type"] == "completion"
    assert any(e["body"]["message"] == "hello bob x3" for e in events)
    assert run_platform(home, "task", "cancel", task["id"]).returncode == 4


def test_create_service_publishes_registers_and_clones(served: tuple[Path, Path]) -> None:
    home, root = served
    target = root / "work" / "my-api"
    created = run_platform(
        home, "create", "service", "my-api", "--owner", "team-a", "--dir", str(target), "-o", "json"
    )
    assert created.returncode == 0, created.stdout + created.stderr
    result = json.loads(created.stdout)
    assert result["entityRef"] == "component:default/my-api"
    assert result["directory"] == str(target.resolve())
    assert (target / "catalog-info.yaml").is_file()
    answers = yaml.safe_load((target / ".goldenpath" / "answers.yaml").read_text())
    assert answers["template"] == "template:default/python-service"
    assert answers["values"]["name"] == "my-api" and answers["values"]["owner"] == "team-a"
    log = subprocess.run(
        ["git", "log", "--oneline"], cwd=target, capture_output=True, text=True, check=True
    )
    assert "my-api" in log.stdout
    entity = json.loads(
        run_platform(home, "catalog", "get", "component:default/my-api", "-o", "json").stdout
    )
    assert entity["spec"]["owner"] in ("team-a", "group:default/team-a")
    again = run_platform(home, "create", "service", "my-api", "--owner", "team-a", "--no-clone")
    assert again.returncode == 1  # the repository exists already: the run fails, clearly
    assert "already exists" in again.stdout
