"""The built-in golden paths' ``platform.yaml`` loads into a Workload whose command starts
the service: rendered through the real scaffolder runner (``fetch:`` steps only), then the
workload's own command is run exactly as a driver would (``$PORT`` substituted, ``PORT`` in
the environment, on 127.0.0.1) until its readiness and liveness probes answer 200."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from goldenpath.scaffolder.actions import ActionRegistry, debug, fetch, fs
from goldenpath.scaffolder.builtin import builtin_dir
from goldenpath.scaffolder.runner import run_template
from goldenpath.scaffolder.templates import TemplateSpec, load_template_file
from goldenpath.workloads import ResourceRequest, Workload, load_workload

NPM_CACHE = Path.home() / ".cache" / "goldenpath-tests" / "npm"


def render(tmp_path: Path, template: str, values: dict[str, Any]) -> Path:
    """Run the built-in template's fetch steps into ``tmp_path/<name>``; the repository root."""
    spec = load_template_file(builtin_dir() / template / "template.yaml")
    fetch_only = TemplateSpec.from_entity(
        {
            **spec.entity,
            "spec": {
                **spec.entity["spec"],
                "steps": [s for s in spec.steps if s["action"].startswith("fetch:")],
                "output": {},
            },
        },
        base_dir=spec.base_dir,
        ref=spec.ref,
    )
    workspace = tmp_path / str(values["name"])
    registry = ActionRegistry([*fetch.ACTIONS, *fs.ACTIONS, *debug.ACTIONS])
    result = run_template(
        fetch_only,
        values,
        registry=registry,
        workspace=workspace,
        user={"ref": "user:default/alice"},
    )
    assert result.status == "completed", result.error
    return workspace


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return int(response.status)
    except urllib.error.HTTPError as e:
        return e.code


@contextmanager
def running(
    w: Workload, cwd: Path, path_prepend: list[Path], env: Mapping[str, str]
) -> Iterator[str]:
    """Start ``w.command`` as the local driver would; yield its base URL once readiness
    answers 200 (30 s at most); the process group is stopped afterwards, even on failure."""
    port = free_port()
    argv = [a.replace("${PORT}", str(port)).replace("$PORT", str(port)) for a in w.command]
    environ = {**os.environ, **env, **w.env, "PORT": str(port)}
    environ["PATH"] = os.pathsep.join([*map(str, path_prepend), environ.get("PATH", "")])
    log = cwd / "replica.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            argv, cwd=cwd, env=environ, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, f"{argv} exited {proc.returncode}:\n{log.read_text()}"
            try:
                if get(base + str(w.readiness.path)) == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, f"{argv} not ready in 30 s:\n{log.read_text()}"
            time.sleep(0.1)
        yield base
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, 15)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, 9)
                proc.wait(timeout=10)


def test_python_service_platform_yaml_starts_the_service(tmp_path: Path) -> None:
    repo = render(
        tmp_path, "python-service", {"name": "inventory-api", "owner": "group:default/team-a"}
    )
    w = load_workload(repo / "platform.yaml", source="inventory-api/platform.yaml")
    assert (w.name, w.team, w.language, w.framework) == (
        "inventory-api",
        "team-a",
        "python",
        "fastapi",
    )
    assert w.build.kind == "python" and w.resources == {}
    assert w.command[:2] == ("uvicorn", "app.main:app") and (repo / "app" / "main.py").is_file()
    assert (w.runtime.replicas, w.monitoring.slo, w.deployment.canary) == (2, 99.9, True)
    # this venv has the service's dependencies (fastapi, uvicorn, prometheus-client)
    with running(w, repo, [Path(sys.executable).parent], {}) as base:
        assert get(base + str(w.liveness.path)) == 200
        assert get(base + "/items") == 200


def test_python_service_with_postgres_declares_the_database(tmp_path: Path) -> None:
    repo = render(tmp_path, "python-service", {"name": "orders", "database": "postgres"})
    w = load_workload(repo / "platform.yaml")
    assert w.resources == {"db": ResourceRequest(name="db", type="postgres", size="small")}


@pytest.mark.parametrize(
    ("language", "framework"), [("javascript", "express"), ("typescript", "fastify")]
)
def test_node_service_platform_yaml_declares_npm_start(
    tmp_path: Path, language: str, framework: str
) -> None:
    repo = render(
        tmp_path, "node-service", {"name": "cart-api", "language": language, "framework": framework}
    )
    w = load_workload(repo / "platform.yaml")
    assert (w.language, w.framework, w.build.kind, w.command) == (
        language,
        framework,
        "node",
        ("npm", "start"),
    )
    scripts = json.loads((repo / "package.json").read_text())["scripts"]
    assert "start" in scripts
    # TypeScript compiles with `npm run build` (the node build step runs it when present)
    assert ("build" in scripts) == (language == "typescript") and w.build.command is None


@pytest.mark.skipif(not shutil.which("npm"), reason="npm is needed to start the node service")
def test_node_service_starts_with_its_workload_command(tmp_path: Path) -> None:
    repo = render(tmp_path, "node-service", {"name": "cart-api", "language": "typescript"})
    w = load_workload(repo / "platform.yaml")
    env = {"npm_config_cache": str(NPM_CACHE), "npm_config_update_notifier": "false"}
    for step in (
        ["npm", "install", "--prefer-offline", "--no-audit", "--no-fund"],
        ["npm", "run", "build"],
    ):
        done = subprocess.run(
            step, cwd=repo, env={**os.environ, **env}, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, f"{step} failed:\n{done.stdout}\n{done.stderr}"
    with running(w, repo, [repo / "node_modules" / ".bin"], env) as base:
        assert get(base + str(w.liveness.path)) == 200
