"""DeployService + reconciler against the REAL local driver: a 25-line stdlib HTTP app in a git
repository made here, built with uv, run by supervisord, routed through HAProxy.

Scenarios (each self-contained, own home): a rolling update under steady load drops no
request; a bad version deployed with ``--canary 10%`` is aborted automatically and stops
taking traffic within 15 s; rollback with the git host gone; a server SIGKILLed mid-deploy
is resumed by the next one with no duplicate or orphan replica; a command that exits at once
and a replica that is never ready both fail the deployment and leave the stable version
serving. Every fixture stops supervisord and HAProxy (``LocalDriver.shutdown``) even when a
test fails.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from goldenpath.deploy.records import Deployment
from goldenpath.deploy.service import DeployRequest, DeployService
from goldenpath.drivers.base import ReplicaStatus
from goldenpath.errors import Conflict
from goldenpath.settings import Settings
from goldenpath.store import migrate
from goldenpath.store.engine import make_engine

LocalDriver = pytest.importorskip("goldenpath.drivers.local.driver").LocalDriver

APP = """\
import os, random
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FAIL_RATE = float(os.environ.get("FAIL_RATE", "0"))
READY = os.environ.get("NEVER_READY") != "1"
BODY = (os.environ.get("APP_VERSION", "?") + "\\n").encode()


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path in ("/readyz", "/healthz"):
            code = 200 if READY or self.path == "/healthz" else 503
        else:
            code = 500 if random.random() < FAIL_RATE else 200
        self.send_response(code)
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, *args):
        pass


ThreadingHTTPServer.daemon_threads = True
address = (os.environ.get("HOST", "127.0.0.1"), int(os.environ["PORT"]))
server = ThreadingHTTPServer(address, Handler)
print("serving", os.environ.get("APP_VERSION"), flush=True)
server.serve_forever()
"""

SPEC = """\
kind: Service
metadata: {{name: hello}}
spec:
  language: python
  build: {{kind: python}}
  run:
    command: {command}
    readiness: /readyz
    liveness: /healthz
    env: {{APP_VERSION: "{version}", FAIL_RATE: "{fail}", NEVER_READY: "{never}"}}
  runtime: {{replicas: 2}}
  deployment:
    strategy: rolling
    canary: true
    progressDeadline: 90s
    maxSurge: {surge}
{steps}"""
#: no steps: the workload's default canary plan (setWeight, analysis 3 x 5 s, 50 %, analysis)
DEFAULT_STEPS = ""
PAUSE_STEPS = "    steps:\n      - setWeight: 50\n      - pause: {}\n"


def git(repo: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "Dev",
        "GIT_AUTHOR_EMAIL": "dev@example.com",
        "GIT_COMMITTER_NAME": "Dev",
        "GIT_COMMITTER_EMAIL": "dev@example.com",
    }
    done = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, env=env, timeout=30
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def commit(
    repo: Path,
    version: str,
    *,
    fail: float = 0.0,
    never_ready: bool = False,
    command: str = "[python, app.py]",
    steps: str = DEFAULT_STEPS,
    surge: int = 2,
) -> str:
    (repo / "platform.yaml").write_text(
        SPEC.format(
            version=version,
            fail=fail,
            never="1" if never_ready else "0",
            command=command,
            steps=steps,
            surge=surge,
        )
    )
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", f"hello {version}")
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "hello"
    path.mkdir()
    (path / "app.py").write_text(APP)
    (path / "requirements.txt").write_text("")
    git(path, "init", "-q", "-b", "main")
    return path


@dataclass
class Platform:
    settings: Settings
    engine: Engine
    driver: Any
    svc: DeployService
    home: Path

    def deploy(self, repo: Path, **kw: object) -> Deployment:
        return self.svc.deploy(DeployRequest(repo=str(repo), **kw), actor="ann")

    def wait(self, d: Deployment, timeout: float = 60.0) -> Deployment:
        return self.svc.wait(d.id, timeout=timeout)

    def url(self) -> str:
        [status] = self.svc.status("hello", "dev")
        assert status.urls is not None
        return status.urls.direct


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[Platform]:
    home = Path(f"/tmp/gp-dl-{os.getpid()}-{time.monotonic_ns() % 10**8}")
    home.mkdir()
    settings = Settings(
        home=home,
        deploy={"reconcile_interval": 0.5, "lease_ttl": 30.0},
        runtime={"start_timeout": 6.0},
    )
    engine = make_engine(settings.effective_database_url)
    migrate.upgrade(engine)
    driver = LocalDriver(settings)
    svc = DeployService(engine=engine, settings=settings, driver=driver)
    try:
        yield Platform(settings, engine, driver, svc, home)
    finally:
        svc.stop()
        driver.shutdown()
        engine.dispose()
        subprocess.run(["rm", "-rf", str(home)], check=False)


@dataclass
class Load:
    """Steady concurrent GETs through the router, every outcome recorded with its time."""

    url: str
    workers: int = 4
    results: list[tuple[float, int, str]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def __enter__(self) -> Load:
        for _ in range(self.workers):
            thread = threading.Thread(target=self._run, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def _run(self) -> None:
        with httpx.Client(timeout=5.0) as client:
            while not self._stop.is_set():
                try:
                    response = client.get(self.url, headers={"Connection": "close"})
                    self.results.append(
                        (time.monotonic(), response.status_code, response.text.strip())
                    )
                except httpx.HTTPError as e:
                    self.results.append((time.monotonic(), 0, type(e).__name__))

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(10)

    def failures(self) -> list[tuple[float, int, str]]:
        return [r for r in self.results if r[1] != 200]

    def bodies(self) -> set[str]:
        return {body for _, code, body in self.results if code in (200, 500)}


def eventually(check: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Poll ``check`` (the reconciler loop runs meanwhile) until true or ``timeout``."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def replicas_of(p: Platform, version: str) -> list[ReplicaStatus]:
    return [r for r in p.driver.replicas("dev", "hello") if r.version == version]


def first_deploy(p: Platform, repo: Path, **kw: Any) -> Deployment:
    commit(repo, "v1", **kw)
    d1 = p.wait(p.deploy(repo), timeout=120)
    assert d1.state == "succeeded", d1.message
    assert httpx.get(p.url(), timeout=5).text.strip() == "v1"
    p.svc.start()  # the reconciler loop, as in a server
    return d1


def test_local_rolling_update_under_load_drops_nothing_and_rollback_needs_no_git(
    platform: Platform, repo: Path, tmp_path: Path
) -> None:
    p = platform
    d1 = first_deploy(p, repo)
    commit(repo, "v2", surge=1)  # one replica at a time: traffic shifts 50/50, then 0/100
    with Load(p.url()) as load:
        time.sleep(0.5)
        d2 = p.deploy(repo)
        with pytest.raises(Conflict, match=f"{d2.id}"):
            p.deploy(repo)  # two deploys at once: the second is refused, naming the first
        d2 = p.wait(d2, timeout=90)
        time.sleep(1.0)
    assert d2.state == "succeeded", d2.message
    print(f"rolling update: {len(load.results)} requests, {len(load.failures())} failed")
    assert load.failures() == [] and {"v1", "v2"} <= load.bodies()
    assert len(load.results) > 100
    assert eventually(lambda: not replicas_of(p, d1.version)), "the old version never left"

    # the git host goes away: rollback still works (the old release is on disk)
    repo.rename(tmp_path / "gone")
    rb = p.wait(p.svc.rollback("hello", "dev", actor="ann"), timeout=60)
    assert rb.state == "succeeded" and rb.rollback_of == d1.id, rb.message
    assert httpx.get(p.url(), timeout=5).text.strip() == "v1"


def test_local_bad_canary_is_aborted_automatically_within_15_seconds(
    platform: Platform, repo: Path
) -> None:
    p = platform
    first_deploy(p, repo)
    commit(repo, "v2", fail=0.9)  # 500 on most requests; readiness still passes
    with Load(p.url()) as load:
        d2 = p.wait(p.deploy(repo, canary=10), timeout=90)
        time.sleep(1.0)
    assert d2.state == "aborted", d2.message
    assert "analysis failed" in d2.message and "d1 still serves" in d2.message
    bad = [t for t, _, body in load.results if body == "v2"]
    assert bad, "the canary never took traffic"
    exposure = bad[-1] - bad[0]
    print(f"bad canary took traffic for {exposure:.1f} s ({len(bad)} requests)")
    assert exposure <= 15.0
    assert eventually(lambda: not replicas_of(p, d2.version)), "stray replica of the canary"
    assert httpx.get(p.url(), timeout=5).text.strip() == "v1"


def test_local_promote_through_pause_after_the_server_was_sigkilled_mid_deploy(
    platform: Platform, repo: Path
) -> None:
    p = platform
    commit(repo, "v1", steps=PAUSE_STEPS)
    assert p.wait(p.deploy(repo), timeout=120).state == "succeeded"
    commit(repo, "v2", steps=PAUSE_STEPS)
    d2 = p.deploy(repo, strategy="canary")  # recorded here, driven by another server
    server = subprocess.Popen(
        [sys.executable, "-c", _SERVER, str(p.home)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            current = p.svc.get_deployment(d2.id)
            if current.state == "progressing" and current.progress.get("canaryReplicas"):
                break
            assert server.poll() is None, server.stderr.read().decode() if server.stderr else ""
            time.sleep(0.05)
    finally:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(10)
    assert p.svc.get_deployment(d2.id).state == "progressing"
    # this server takes over at once (the holder's process is gone) and reaches the pause
    paused = p.svc.wait(d2.id, timeout=60)
    assert paused.state == "paused", paused.message
    assert p.svc.reconcile_once().skipped == []
    assert {r.version for r in p.driver.replicas("dev", "hello")} == {"d1", "d2"}
    assert len(replicas_of(p, "d2")) == 1  # 50 % of 2 replicas; never duplicated
    p.svc.promote("hello", "dev", actor="bob")
    done = p.wait(d2, timeout=60)
    assert done.state == "succeeded", done.message
    deadline = time.monotonic() + 10
    while replicas_of(p, "d1") and time.monotonic() < deadline:
        p.svc.reconcile_once()
        time.sleep(0.3)
    names = [r.replica for r in replicas_of(p, "d2")]
    assert sorted(names) == [0, 1] and not replicas_of(p, "d1")
    assert httpx.get(p.url(), timeout=5).text.strip() == "v2"


_SERVER = textwrap.dedent(
    """
    import sys, time
    from goldenpath.settings import Settings
    from goldenpath.store.engine import make_engine
    from goldenpath.drivers.local.driver import LocalDriver
    from goldenpath.deploy.service import DeployService
    settings = Settings(home=sys.argv[1], runtime={"start_timeout": 6.0})
    engine = make_engine(settings.effective_database_url)
    svc = DeployService(engine=engine, settings=settings, driver=LocalDriver(settings))
    while True:
        svc.reconcile_once()
        time.sleep(0.05)
    """
)


def test_local_crashing_and_never_ready_versions_fail_and_leave_the_stable_serving(
    platform: Platform, repo: Path
) -> None:
    p = platform
    d1 = first_deploy(p, repo)
    commit(repo, "v2", command="[python, -c, 'import sys; sys.exit(3)']")
    crashed = p.wait(p.deploy(repo), timeout=60)
    assert crashed.state == "failed" and "d1 still serves" in crashed.message
    assert re.search(r"replica r\d of d2 (keeps crashing|failed)", crashed.message)

    commit(repo, "v3", never_ready=True)
    started = time.monotonic()
    never = p.wait(p.deploy(repo), timeout=60)
    assert never.state == "failed" and "not ready" in never.message, never.message
    assert time.monotonic() - started < 40

    assert eventually(
        lambda: not replicas_of(p, crashed.version) and not replicas_of(p, never.version)
    ), "stray replicas of the failed versions"
    assert httpx.get(p.url(), timeout=5).text.strip() == "v1"
    [status] = p.svc.status("hello", "dev")
    assert status.weights == {d1.version: 100}
