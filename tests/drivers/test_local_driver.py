"""The local driver end to end: a real build, supervised replicas and HAProxy in front.

A 30-line stdlib HTTP app in a real git repository is built with uv, run as supervised
replicas and routed through HAProxy; everything is stopped by ``LocalDriver.shutdown`` (and
leftover PIDs are checked) even when a test fails.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import httpx
import psutil
import pytest

from goldenpath.drivers.base import BuildRequest, ReplicaStatus, RunSpec
from goldenpath.drivers.local.driver import LocalDriver
from goldenpath.settings import Settings

pytestmark = pytest.mark.skipif(
    shutil.which("haproxy") is None and not Path("/usr/sbin/haproxy").exists(),
    reason="HAProxy is not installed (scripts/setup.sh installs the Debian package)",
)

APP = """
import os, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

VERSION = os.environ.get("APP_VERSION", "v1")
LIVE = os.environ.get("LIVE", "1") == "1"

class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/healthz" and not LIVE:
            self.send_response(500); self.end_headers(); return
        body = f"{VERSION} {self.path}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, fmt, *args):
        print("request", self.path, flush=True)

print("listening on", os.environ["PORT"], flush=True)
ADDRESS = (os.environ.get("HOST", "127.0.0.1"), int(os.environ["PORT"]))
ThreadingHTTPServer(ADDRESS, Handler).serve_forever()
"""

T = TypeVar("T")


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=Dev", "-c", "user.email=dev@example.com", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return done.stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "hello"
    root.mkdir()
    (root / "app.py").write_text(APP)
    (root / "requirements.txt").write_text("")
    _git(root, "init", "--quiet", "-b", "main")
    _git(root, "add", "--all")
    _git(root, "commit", "--quiet", "-m", "hello")
    return root


@pytest.fixture
def driver(tmp_path: Path) -> Iterator[LocalDriver]:
    settings = Settings(home=tmp_path / "home")
    local = LocalDriver(settings)
    try:
        yield local
    finally:
        local.shutdown()


def _until(check: Callable[[], T | None], timeout: float = 30.0, what: str = "") -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _ready(driver: LocalDriver, version: str, count: int) -> Callable[[], list[ReplicaStatus]]:
    def check() -> list[ReplicaStatus]:
        mine = [r for r in driver.replicas("dev", "hello") if r.version == version]
        ok = len(mine) == count and all(r.state == "ready" for r in mine)
        return mine if ok else []

    return check


def test_build_start_route_and_serve_through_haproxy(driver: LocalDriver, repo: Path) -> None:
    revision = driver.resolve(str(repo), "main")
    release = driver.build(
        BuildRequest(service="hello", kind="python", repo=str(repo), ref=revision.sha), print
    )
    run = RunSpec(command=("python", "app.py"), env={"APP_VERSION": "v1"})

    driver.start("dev", "hello", "d1", release, run, replicas=2)
    replicas = _until(_ready(driver, "d1", 2), what="2 ready replicas")
    pids = sorted(r.pid for r in replicas if r.pid)
    assert len(set(r.port for r in replicas)) == 2

    urls = driver.route("dev", "hello", {"d1": 100})
    assert urls.http.startswith("http://hello.dev.localhost:")
    answer = _until(lambda: _get(urls.direct + "/x"), what="an answer through the router")
    assert answer == "v1 /x"
    # Again with the same arguments: nothing restarts.
    driver.start("dev", "hello", "d1", release, run, replicas=2)
    assert sorted(r.pid for r in driver.replicas("dev", "hello") if r.pid) == pids

    for _ in range(10):
        assert _get(urls.direct + "/") == "v1 /"
    figures = _until(lambda: driver.figures("dev", "hello").get("d1"), what="figures")
    assert figures.requests >= 10 and figures.responses.get("2xx", 0) >= 10

    lines = list(driver.logs("dev", "hello"))
    assert any("listening on" in line.text for line in lines)
    assert {line.replica for line in lines} == {0, 1}

    driver.teardown("dev", "hello")
    assert driver.replicas("dev", "hello") == []
    assert driver.urls("dev", "hello") is None
    assert not [p for p in pids if psutil.pid_exists(p)]


def test_a_replica_failing_liveness_is_restarted(driver: LocalDriver, repo: Path) -> None:
    revision = driver.resolve(str(repo), "main")
    release = driver.build(
        BuildRequest(service="hello", kind="python", repo=str(repo), ref=revision.sha), print
    )
    run = RunSpec(command=("python", "app.py"), env={"LIVE": "0"}, liveness_failures=2)
    driver.start("dev", "hello", "d1", release, run, replicas=1)
    first = _until(_ready(driver, "d1", 1), what="a ready replica")[0]

    def restarted() -> bool:
        now = [r for r in driver.replicas("dev", "hello") if r.version == "d1"]
        return bool(now) and now[0].restarts > first.restarts and now[0].pid != first.pid

    _until(restarted, what="a restart after failed liveness checks")


def _get(url: str) -> str | None:
    try:
        response = httpx.get(url, timeout=2.0)
    except httpx.HTTPError:
        return None
    return response.text if response.status_code == 200 else None
