"""`platform deploy|status|logs|env` end to end: the real CLI against an auto-started local
server deploying a stdlib HTTP service from a git repository (uv, supervisord, HAProxy).
Skips when the runtime's tools are missing; teardown stops the server and every replica."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_helpers import cli_env, run_platform, stop_everything

from goldenpath.drivers.local.driver import LocalDriver
from goldenpath.drivers.local.postgres import remove_stopped_cluster
from goldenpath.settings import Settings

SPEC = """\
kind: Service
metadata:
  name: hello
spec:
  language: python
  run:
    command: [python, app.py]
    readiness: /healthz
  deployment:
    canary: true
    steps: [{setWeight: 20}, {pause: {}}]
"""

APP = """\
import http.server, os


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"hello VERSION\\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


print("listening VERSION", flush=True)
http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
"""


def _git(cwd: Path, *args: str) -> None:
    identity = ["-c", "user.name=Dev", "-c", "user.email=dev@example.com"]
    subprocess.run(["git", *identity, "-C", str(cwd), *args], check=True, capture_output=True)


def _commit(repo: Path, version: str) -> None:
    (repo / "app.py").write_text(APP.replace("VERSION", version))
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", version)


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    """A data directory whose server, supervisord and HAProxy are stopped afterwards."""
    missing = [t for t in ("haproxy",) if shutil.which(t) is None]
    if importlib.util.find_spec("supervisor") is None:
        missing.append("supervisord")
    if missing:
        pytest.skip(f"the local runtime needs {', '.join(missing)} (not installed)")
    path = tmp_path / "home"
    path.mkdir()
    try:
        yield path
    finally:
        try:
            stop_everything(path)
        finally:
            LocalDriver(Settings(home=path)).shutdown()
            remove_stopped_cluster(path)  # a managed PostgreSQL some tests provision


def _platform(home: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = cli_env(home, GOLDENPATH_DEPLOY__RECONCILE_INTERVAL="0.2")
    return subprocess.run(
        [sys.executable, "-m", "goldenpath.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
        check=False,
    )


def test_deploy_status_logs_canary_promote_rollback_and_envs(home: Path, tmp_path: Path) -> None:
    repo = tmp_path / "hello"
    repo.mkdir()
    (repo / "platform.yaml").write_text(SPEC)
    _git(repo, "init", "-q", "--initial-branch=main")
    _commit(repo, "v1")

    deployed = _platform(home, repo, "deploy")
    assert deployed.returncode == 0, deployed.stderr
    assert "succeeded" in deployed.stdout and "http:" in deployed.stdout
    assert "→ building" in deployed.stderr and "→ succeeded" in deployed.stderr

    status = _platform(home, repo, "status", "-o", "json")
    assert status.returncode == 0, status.stderr
    (dev,) = json.loads(status.stdout)
    assert dev["environment"] == "dev" and dev["versions"][0]["ready"] == 1
    table = _platform(home, repo, "status")
    assert "healthy" in table.stdout and "100%" in table.stdout

    logs = _platform(home, tmp_path, "logs", "hello", "--since", "1h")
    assert logs.returncode == 0 and "listening v1" in logs.stdout, logs.stderr

    _commit(repo, "v2")
    (repo / "notes.txt").write_text("not committed\n")
    paused = _platform(home, repo, "deploy", "--canary", "20%")
    assert paused.returncode == 0, paused.stderr
    assert "uncommitted changes" in paused.stderr
    assert "paused" in paused.stdout
    assert "promote with: platform deploy promote --env dev" in paused.stdout

    promoted = _platform(home, repo, "deploy", "promote", "--full", "-o", "json")
    assert promoted.returncode == 0, promoted.stderr
    assert json.loads(promoted.stdout)["state"] == "succeeded"
    assert _platform(home, repo, "deploy", "abort").returncode == 4  # nothing in flight

    back = _platform(home, repo, "deploy", "rollback", "-o", "json")
    assert back.returncode == 0, back.stderr
    assert json.loads(back.stdout)["kind"] == "rollback"

    history = _platform(home, repo, "deploy", "history", "-o", "json")
    listed = json.loads(history.stdout)
    assert [d["kind"] for d in listed] == ["rollback", "deploy", "deploy"]
    assert [d["state"] for d in listed] == ["succeeded"] * 3

    created = run_platform(home, "env", "create", "pr-7", "--ttl", "2h", "-o", "json")
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["ephemeral"] is True
    names = [e["name"] for e in json.loads(run_platform(home, "env", "ls", "-o", "json").stdout)]
    assert {"dev", "staging", "production", "pr-7"} <= set(names)
    assert run_platform(home, "env", "create", "pr-7").returncode == 4
    deleted = run_platform(home, "env", "delete", "pr-7", "--yes", "-o", "json")
    assert deleted.returncode == 0 and json.loads(deleted.stdout)["name"] == "pr-7"
