"""Helpers for the deploy API tests: a tiny stdlib HTTP service in a real git repository, SSE
parsing, and the check for the local runtime's tools (HAProxy, supervisord, uv)."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

V1 = "/api/deploy/v1"

SPEC = """\
apiVersion: goldenpath.dev/v1
kind: Service
metadata:
  name: {name}
spec:
  language: python
  run:
    command: [python, app.py]
    readiness: /healthz
    liveness: /healthz
  runtime:
    replicas: {replicas}
  deployment:
    canary: true
    steps:
      - setWeight: 20
      - pause: {{}}
"""

APP = """\
import http.server, os

VERSION = {version!r}


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"hello {{VERSION}}\\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        print("request", self.path, flush=True)


print("listening", VERSION, "on", os.environ["PORT"], flush=True)
http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
"""


def git(cwd: Path, *args: str) -> str:
    """Run git in ``cwd`` (identity set) and return its stdout."""
    done = subprocess.run(
        ["git", "-c", "user.name=Dev", "-c", "user.email=dev@example.com", "-C", str(cwd), *args],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return done.stdout.strip()


def make_repo(root: Path, *, name: str = "hello", replicas: str = "1", version: str = "v1") -> Path:
    """A git repository with platform.yaml and app.py, one commit on ``main``."""
    root.mkdir(parents=True)
    (root / "platform.yaml").write_text(SPEC.format(name=name, replicas=replicas))
    (root / "app.py").write_text(APP.format(version=version))
    git(root, "init", "--quiet", "--initial-branch=main")
    git(root, "add", "-A")
    git(root, "commit", "-qm", f"app {version}")
    return root


def commit_version(root: Path, version: str) -> str:
    """Commit app.py answering ``hello <version>``; returns the new sha."""
    (root / "app.py").write_text(APP.format(version=version))
    git(root, "commit", "-qam", f"app {version}")
    return git(root, "rev-parse", "HEAD")


def parse_sse(text: str) -> list[tuple[str, str | None, Any]]:
    """``[(event, id, data)]`` of an event-stream body (comments skipped)."""
    events = []
    for block in text.strip().split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.splitlines():
            if line.startswith(":") or ":" not in line:
                continue
            key, _, value = line.partition(":")
            fields[key] = value[1:] if value.startswith(" ") else value
        if "data" in fields:
            events.append(
                (fields.get("event", "message"), fields.get("id"), json.loads(fields["data"]))
            )
    return events


def require_runtime(haproxy: str = "haproxy") -> None:
    """Skip unless HAProxy, supervisord (the Python package) and uv are available."""
    missing = []
    if shutil.which(haproxy) is None:
        missing.append(f"HAProxy ({haproxy!r} not on PATH; apt-get install haproxy)")
    if importlib.util.find_spec("supervisor") is None:
        missing.append("supervisord (pip install supervisor)")
    uv = Path(sys.executable).parent / "uv"
    if not uv.exists() and shutil.which("uv") is None:
        missing.append("uv (pip install uv)")
    if missing:
        pytest.skip("the local runtime needs " + ", ".join(missing))
