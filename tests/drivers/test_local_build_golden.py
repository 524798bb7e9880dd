"""The built-in ``python-service`` golden path, rendered and committed to a real git repository,
builds with ``LocalBuilder`` and serves its probes from the release directory."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from goldenpath.drivers.base import BuildRequest
from goldenpath.drivers.local.build import LocalBuilder
from goldenpath.scaffolder.actions import ActionRegistry, fetch
from goldenpath.scaffolder.builtin import builtin_dir
from goldenpath.scaffolder.runner import run_template
from goldenpath.scaffolder.templates import TemplateSpec, load_template_file

GIT_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "Ada Lovelace",
    "GIT_AUTHOR_EMAIL": "ada@example.com",
    "GIT_COMMITTER_NAME": "Ada Lovelace",
    "GIT_COMMITTER_EMAIL": "ada@example.com",
}


def render_python_service(workspace: Path) -> None:
    """Only the template's ``fetch:*`` steps (publishing is not this test's subject)."""
    spec = load_template_file(builtin_dir() / "python-service" / "template.yaml")
    entity = {
        **spec.entity,
        "spec": {
            **spec.entity["spec"],
            "steps": [s for s in spec.steps if s["action"].startswith("fetch:")],
            "output": {},
        },
    }
    result = run_template(
        TemplateSpec.from_entity(entity, base_dir=spec.base_dir, ref=spec.ref),
        {"name": "inventory-api", "owner": "group:default/team-a"},
        registry=ActionRegistry([*fetch.ACTIONS]),
        workspace=workspace,
        user={"ref": "user:default/alice"},
    )
    assert result.status == "completed", result.error


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        proc.kill()
        proc.wait(timeout=10)


def test_python_service_golden_path_builds_and_serves_probes(
    tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    origin = tmp_path / "inventory-api"
    render_python_service(origin)
    for args in (["init", "-q", "-b", "main"], ["add", "--all"], ["commit", "-qm", "scaffold"]):
        subprocess.run(["git", *args], cwd=origin, env=GIT_ENV, check=True, capture_output=True)

    release = LocalBuilder(tmp_path / "home", timeout=300).build(
        BuildRequest(service="inventory-api", kind="python", repo=str(origin), ref="main")
    )

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    path = os.pathsep.join([*(str(p) for p in release.path_prepend), os.environ["PATH"]])
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "DATABASE_URL")}
    proc = subprocess.Popen(
        ["uvicorn", "app.main:app", "--host", "127.0.0.1", "--port", str(port)],
        cwd=release.workdir,
        env=env | {"PATH": path},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    processes.append(proc)
    deadline = time.monotonic() + 30
    while True:
        try:
            ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1)
            break
        except httpx.HTTPError:
            assert proc.poll() is None, "the service exited"
            assert time.monotonic() < deadline, "the service never answered"
            time.sleep(0.2)
    assert ready.status_code == 200
    assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
