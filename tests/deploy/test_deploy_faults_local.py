"""Faults the issue names, against the REAL local driver (uv, supervisord, HAProxy):

- a port already in use: the router's configured port taken by another program fails the
  deployment at once with a message naming the port and the setting, and leaves no replica;
  a port the platform picked itself and someone else took meanwhile is replaced;
- the proxy killed (SIGKILL) in the middle of a blue-green deploy: the next pass restarts
  it with every route, the deployment finishes and all traffic reaches the new version;
- a build that fails (the requirements name a package that does not exist) fails the
  deployment with the build's reason and leaves the stable version serving.

Fixtures and helpers come from ``test_deploy_service_local`` (same app, same spec).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from test_deploy_service_local import (
    DeployRequest,
    DeployService,
    Platform,
    commit,
    eventually,
    first_deploy,
    replicas_of,
)
from test_deploy_service_local import platform as platform  # the fixture
from test_deploy_service_local import repo as repo  # the fixture

from goldenpath.settings import Settings
from goldenpath.store import migrate
from goldenpath.store.engine import make_engine

LocalDriver = pytest.importorskip("goldenpath.drivers.local.driver").LocalDriver


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A loopback port another program listens on for the whole test."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def test_a_configured_router_port_in_use_fails_the_deploy_naming_the_setting(
    repo: Path, taken_port: int
) -> None:
    home = Path(f"/tmp/gp-df-{os.getpid()}-{time.monotonic_ns() % 10**8}")
    home.mkdir()
    settings = Settings(
        home=home,
        deploy={"reconcile_interval": 0},
        runtime={"start_timeout": 6.0, "router_http_port": taken_port},
    )
    engine = make_engine(settings.effective_database_url)
    migrate.upgrade(engine)
    driver = LocalDriver(settings)
    svc = DeployService(engine=engine, settings=settings, driver=driver)
    try:
        commit(repo, "v1")
        started = time.monotonic()
        d = svc.wait(svc.deploy(DeployRequest(repo=str(repo)), actor="ann").id, timeout=60)
        assert d.state == "failed", d.message
        assert f"port {taken_port}" in d.message
        assert "GOLDENPATH_RUNTIME__ROUTER_HTTP_PORT" in d.message
        assert time.monotonic() - started < 40  # at once, not after the progress deadline
        assert driver.replicas("dev", "hello") == []  # nothing half-applied
    finally:
        svc.stop()
        driver.shutdown()
        engine.dispose()
        subprocess.run(["rm", "-rf", str(home)], check=False)


def test_a_picked_router_port_taken_meanwhile_is_replaced(platform: Platform, repo: Path) -> None:
    p = platform
    first_deploy(p, repo)
    ports_file = p.home / "run" / "router" / "ports.json"
    old = json.loads(ports_file.read_text())["http"]
    p.driver.router.stop()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", old))
        squatter.listen()
        commit(repo, "v2")
        d2 = p.wait(p.deploy(repo), timeout=90)
        assert d2.state == "succeeded", d2.message
        new = json.loads(ports_file.read_text())["http"]
        assert new != old
        [status] = p.svc.status("hello", "dev")
        assert status.urls is not None and status.urls.http.endswith(f":{new}")
        answer = httpx.get(
            f"http://127.0.0.1:{new}/", headers={"Host": "hello.dev.localhost"}, timeout=5
        )
        assert answer.text.strip() == "v2"


def _haproxy_master(home: Path) -> int:
    return int((home / "run" / "router" / "haproxy.pid").read_text().split()[0])


def test_the_proxy_killed_during_a_blue_green_deploy_is_restarted_with_its_routes(
    platform: Platform, repo: Path
) -> None:
    p = platform
    first_deploy(p, repo)
    before = _haproxy_master(p.home)
    commit(repo, "v2")
    d2 = p.deploy(repo, strategy="blue-green")
    assert eventually(lambda: p.svc.get_deployment(d2.id).state == "progressing", timeout=60), (
        p.svc.get_deployment(d2.id).message
    )
    os.kill(before, signal.SIGKILL)
    done = p.wait(d2, timeout=90)
    assert done.state == "succeeded", done.message
    after = _haproxy_master(p.home)
    assert after != before
    assert eventually(lambda: httpx.get(p.url(), timeout=5).text.strip() == "v2", timeout=10)
    assert eventually(lambda: not replicas_of(p, "d1")), "the blue version never left"
    [status] = p.svc.status("hello", "dev")
    assert status.weights == {done.version: 100}
    masters = subprocess.run(
        ["pgrep", "-f", str(p.home / "run" / "router" / "haproxy.cfg")],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    assert str(after) in masters and str(before) not in masters


def test_a_failing_build_fails_the_deploy_and_the_stable_keeps_serving(
    platform: Platform, repo: Path
) -> None:
    p = platform
    d1 = first_deploy(p, repo)
    (repo / "requirements.txt").write_text("goldenpath-no-such-package-0xdead==9.9.9\n")
    commit(repo, "v2")
    broken = p.wait(p.deploy(repo), timeout=120)
    assert broken.state == "failed" and broken.message.startswith("build failed"), broken.message
    assert "goldenpath-no-such-package-0xdead" in broken.message
    assert not replicas_of(p, broken.version)
    assert httpx.get(p.url(), timeout=5).text.strip() == "v1"
    [status] = p.svc.status("hello", "dev")
    assert status.weights == {d1.version: 100}
