"""The HAProxy router against real HAProxy and real upstream HTTP servers.

Each test has its own home (so its own HAProxy, ports and CA); teardown stops HAProxy by
PID even when the test fails. Upstreams are threaded HTTP servers in this process on free
127.0.0.1 ports: they answer with their version name, ``/readyz`` is switchable, and
``/fail`` answers 500.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import psutil
import pytest

from goldenpath import processes
from goldenpath.drivers.local.router import Router, Upstream, server_weights
from goldenpath.errors import InvalidInput, Unavailable
from goldenpath.settings import RuntimeSettings


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
    ready = True
    tag = ""

    def handle_error(self, request: object, client_address: object) -> None:
        """Health checks close without reading; that is not an error here."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    wbufsize = 65536  # one write per response: no Nagle / delayed-ACK stalls
    disable_nagle_algorithm = True
    server: _Server

    def do_GET(self) -> None:
        if self.path == "/readyz":
            status = 200 if self.server.ready else 503
        else:
            status = 500 if self.path == "/fail" else 200
        body = self.server.tag.encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


Start = Callable[[str], _Server]


@pytest.fixture
def start_upstream() -> Iterator[Start]:
    servers: list[_Server] = []

    def start(tag: str) -> _Server:
        server = _Server(("127.0.0.1", 0), _Handler)
        server.tag = tag
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stop_by_pid(home: Path) -> None:
    pidfile = home / "run" / "router" / "haproxy.pid"
    with contextlib.suppress(OSError, ValueError, psutil.Error):
        master = psutil.Process(int(pidfile.read_text().split()[0]))
        family = [*master.children(recursive=True), master]
        for proc in family:
            with contextlib.suppress(psutil.Error):
                proc.kill()
        psutil.wait_procs(family, timeout=5)


@pytest.fixture
def router(tmp_path: Path) -> Iterator[Router]:
    home = tmp_path / "home"
    router = Router(home, RuntimeSettings())
    try:
        yield router
    finally:
        with contextlib.suppress(Exception):
            router.stop()
        _stop_by_pid(home)


def up(server: _Server, version: str, name: str | None = None) -> Upstream:
    return Upstream(name=name or f"{version}-r0", version=version, port=server.server_port)


def wait_states(router: Router, expected: dict[str, str], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while (states := router.server_states("dev", "api")) != expected:
        assert time.monotonic() < deadline, f"server states {states}, expected {expected}"
        time.sleep(0.05)


def tally(url: str, n: int, **kwargs: object) -> dict[str, int]:
    counts: dict[str, int] = {}
    with httpx.Client(timeout=5) as client:
        for _ in range(n):
            response = client.get(url, **kwargs)  # type: ignore[arg-type]
            assert response.status_code == 200, response.text
            counts[response.text] = counts.get(response.text, 0) + 1
    return counts


class Load:
    """Bounded concurrent GET load (threads of keep-alive clients) recording every failure."""

    def __init__(self, url: str, threads: int = 4, max_seconds: float = 20.0) -> None:
        self.url = url
        self.ok = 0
        self.failures: list[str] = []
        self.seen: dict[str, int] = {}
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._deadline = time.monotonic() + max_seconds
        self._threads = [threading.Thread(target=self._run) for _ in range(threads)]

    def _run(self) -> None:
        with httpx.Client(timeout=5) as client:
            while not self._stop.is_set() and time.monotonic() < self._deadline:
                try:
                    response = client.get(self.url)
                    outcome = None if response.status_code == 200 else str(response.status_code)
                except httpx.HTTPError as e:
                    outcome = repr(e)
                with self._lock:
                    if outcome is None:
                        self.ok += 1
                        self.seen[response.text] = self.seen.get(response.text, 0) + 1
                    else:
                        self.failures.append(outcome)

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)


def test_host_routing_direct_url_and_unknown_host(router: Router, start_upstream: Start) -> None:
    api, web = start_upstream("api-v1"), start_upstream("web-v1")
    urls = router.apply("dev", "api", [up(api, "v1")], {"v1": 100})
    router.apply("dev", "web", [up(web, "v1")], {"v1": 100})
    port = router.http_port
    assert urls.http == f"http://api.dev.localhost:{port}"
    base = f"http://127.0.0.1:{port}/"
    assert tally(base, 3, headers={"Host": f"api.dev.localhost:{port}"}) == {"api-v1": 3}
    assert tally(base, 3, headers={"Host": "WEB.dev.localhost"}) == {"web-v1": 3}
    assert tally(urls.direct + "/", 3) == {"api-v1": 3}
    missing = httpx.get(base, headers={"Host": "nope.dev.localhost"})
    assert missing.status_code == 404
    assert "api.dev.localhost" in missing.text and "web.dev.localhost" in missing.text
    router.remove("dev", "web")
    assert router.urls("dev", "web") is None
    assert httpx.get(base, headers={"Host": "web.dev.localhost"}).status_code == 404


def test_https_through_the_local_ca(router: Router, start_upstream: Start) -> None:
    server = start_upstream("v1")
    urls = router.apply("staging", "api", [up(server, "v1")], {"v1": 100})
    assert urls.https == f"https://api.staging.localhost:{router.https_port}"
    host = "api.staging.localhost"
    with httpx.Client(verify=ssl.create_default_context(cafile=router.ca_certificate())) as client:
        response = client.get(
            f"https://127.0.0.1:{router.https_port}/",
            headers={"Host": host},
            extensions={"sni_hostname": host},
        )
    assert response.status_code == 200 and response.text == "v1"
    with httpx.Client() as untrusting, pytest.raises(httpx.ConnectError):
        untrusting.get(
            f"https://127.0.0.1:{router.https_port}/",
            headers={"Host": host},
            extensions={"sni_hostname": host},
        )


def test_weights_split_traffic_90_10(router: Router, start_upstream: Start) -> None:
    stable, canary = start_upstream("v1"), start_upstream("v2")
    urls = router.apply("dev", "api", [up(stable, "v1"), up(canary, "v2")], {"v1": 90, "v2": 10})
    counts = tally(urls.direct + "/", 400)
    assert 20 <= counts.get("v2", 0) <= 60, counts
    router.apply("dev", "api", [up(stable, "v1"), up(canary, "v2")], {"v1": 0, "v2": 100})
    assert tally(urls.direct + "/", 20) == {"v2": 20}


def test_server_weights_share_a_version_between_replicas() -> None:
    ups = [Upstream("a-r0", "a", 1), Upstream("a-r1", "a", 2), Upstream("b-r0", "b", 3)]
    assert server_weights(ups, {"a": 90, "b": 10}) == {"a-r0": 90, "a-r1": 90, "b-r0": 20}
    assert server_weights(ups, {"a": 100}) == {"a-r0": 100, "a-r1": 100, "b-r0": 0}
    assert server_weights(ups, {"a": 1, "b": 99})["a-r0"] == 1


def test_weight_changes_under_load_drop_nothing_and_do_not_reload(
    router: Router, start_upstream: Start
) -> None:
    stable, canary = start_upstream("v1"), start_upstream("v2")
    ups = [up(stable, "v1"), up(canary, "v2")]
    urls = router.apply("dev", "api", ups, {"v1": 100, "v2": 0})
    since = router.figures("dev", "api")["v1"].since
    with Load(urls.direct + "/") as load:
        for step in (10, 25, 50, 75, 100, 0, 50):
            router.apply("dev", "api", ups, {"v1": 100 - step, "v2": step})
            time.sleep(0.25)
    assert load.failures == [] and load.ok > 100
    assert set(load.seen) == {"v1", "v2"}
    assert router.figures("dev", "api")["v1"].since == since  # same worker: no reload


def test_adding_and_removing_servers_under_load_drops_nothing(
    router: Router, start_upstream: Start
) -> None:
    first, second, third = start_upstream("v1"), start_upstream("v2"), start_upstream("v3")
    urls = router.apply("dev", "api", [up(first, "v1")], {"v1": 100})
    with Load(urls.direct + "/") as load:
        router.apply("dev", "api", [up(first, "v1"), up(second, "v2")], {"v1": 50, "v2": 50})
        time.sleep(0.4)
        router.apply("dev", "api", [up(second, "v2")], {"v2": 100})
        time.sleep(0.4)
        router.apply("dev", "api", [up(second, "v2"), up(third, "v3")], {"v2": 50, "v3": 50})
        time.sleep(0.4)
        router.apply("dev", "api", [up(third, "v3")], {"v3": 100})
        time.sleep(0.4)
    assert load.failures == [] and load.ok > 100
    assert set(load.seen) == {"v1", "v2", "v3"}
    assert tally(urls.direct + "/", 10) == {"v3": 10}


def test_an_unready_server_gets_no_traffic(router: Router, start_upstream: Start) -> None:
    stable, canary = start_upstream("v1"), start_upstream("v2")
    urls = router.apply("dev", "api", [up(stable, "v1"), up(canary, "v2")], {"v1": 50, "v2": 50})
    wait_states(router, {"v1-r0": "UP", "v2-r0": "UP"})
    canary.ready = False
    wait_states(router, {"v1-r0": "UP", "v2-r0": "DOWN"})
    assert tally(urls.direct + "/", 50) == {"v1": 50}
    canary.ready = True
    wait_states(router, {"v1-r0": "UP", "v2-r0": "UP"})
    assert tally(urls.direct + "/", 50) == {"v1": 25, "v2": 25}


def test_a_newly_added_unready_server_gets_no_traffic_even_at_once(
    router: Router, start_upstream: Start
) -> None:
    stable, canary = start_upstream("v1"), start_upstream("v2")
    urls = router.apply("dev", "api", [up(stable, "v1")], {"v1": 100})
    canary.ready = False
    started = time.monotonic()
    router.apply("dev", "api", [up(stable, "v1"), up(canary, "v2")], {"v1": 50, "v2": 50})
    assert time.monotonic() - started < 5
    assert tally(urls.direct + "/", 40) == {"v1": 40}  # HAProxy alone would start it UP
    assert router.server_states("dev", "api") == {"v1-r0": "UP", "v2-r0": "DOWN"}


def test_figures_count_responses_per_version(router: Router, start_upstream: Start) -> None:
    good, bad = start_upstream("v1"), start_upstream("v2")
    ups = [up(good, "v1", "v1-r0"), up(good, "v1", "v1-r1"), up(bad, "v2")]
    urls = router.apply("dev", "api", ups, {"v1": 50, "v2": 50})
    with httpx.Client() as client:
        codes = [client.get(urls.direct + "/fail").status_code for _ in range(40)]
    assert codes.count(500) == 40
    figures = router.figures("dev", "api")
    assert set(figures) == {"v1", "v2"}
    assert figures["v1"].requests + figures["v2"].requests == 40
    assert 10 <= figures["v2"].requests <= 30
    assert figures["v2"].responses["5xx"] == figures["v2"].requests
    assert figures["v1"].responses["2xx"] == 0 and figures["v1"].errors == 0
    assert figures["v2"].avg_response_ms is not None
    router.apply("dev", "api", ups, {"v1": 100, "v2": 0})
    tally(urls.direct + "/", 10)
    after = router.figures("dev", "api")
    assert after["v1"].responses["2xx"] == 10 and after["v2"].requests == figures["v2"].requests


def test_killed_router_restarts_with_every_route(router: Router, start_upstream: Start) -> None:
    stable, canary, other = start_upstream("v1"), start_upstream("v2"), start_upstream("web")
    urls = router.apply("dev", "api", [up(stable, "v1"), up(canary, "v2")], {"v1": 0, "v2": 100})
    web = router.apply("prod", "web", [up(other, "w1")], {"w1": 100})
    old_pid = router.ensure_running()
    os.kill(old_pid, signal.SIGKILL)
    psutil.wait_procs([psutil.Process(old_pid)], timeout=5)
    with pytest.raises(httpx.ConnectError):
        httpx.get(urls.direct + "/", timeout=2)
    new_pid = router.ensure_running()
    assert new_pid != old_pid
    assert router.urls("dev", "api") == urls and router.urls("prod", "web") == web
    assert tally(urls.direct + "/", 10) == {"v2": 10}
    assert tally(web.direct + "/", 3) == {"web": 3}
    records = [r for r in processes.read_all(router._home / "run") if r.role == "router"]
    assert new_pid in {r.pid for r in records}


def test_second_router_on_the_same_home_adopts(
    router: Router, start_upstream: Start, tmp_path: Path
) -> None:
    server = start_upstream("v1")
    urls = router.apply("dev", "api", [up(server, "v1")], {"v1": 100})
    pid = router.ensure_running()
    again = Router(tmp_path / "home", RuntimeSettings())
    assert again.ensure_running() == pid
    assert again.urls("dev", "api") == urls
    assert again.apply("dev", "api", [up(server, "v1")], {"v1": 100}) == urls
    assert again.ensure_running() == pid


def test_repeating_an_apply_that_was_persisted_but_not_loaded_serves_it(
    router: Router, start_upstream: Start
) -> None:
    server = start_upstream("v1")
    router.apply("dev", "api", [up(server, "v1")], {"v1": 100})
    routes_file = router._home / "run" / "router" / "routes.json"
    routes = json.loads(routes_file.read_text())
    routes["dev--web"] = {**routes["dev--api"], "service": "web"}
    routes_file.write_text(json.dumps(routes))  # as if the router died before reloading
    urls = router.apply("dev", "web", [up(server, "v1")], {"v1": 100})
    assert tally(urls.direct + "/", 3) == {"v1": 3}


def test_configured_ports_are_used_and_a_missing_haproxy_is_named(
    tmp_path: Path, start_upstream: Start
) -> None:
    port = _free_port()
    router = Router(tmp_path / "a", RuntimeSettings(router_http_port=port))
    try:
        urls = router.apply("dev", "api", [up(start_upstream("v1"), "v1")], {"v1": 100})
        assert urls.http == f"http://api.dev.localhost:{port}"
        assert tally(f"http://127.0.0.1:{port}/", 2, headers={"Host": "api.dev.localhost"})
    finally:
        router.stop()
        _stop_by_pid(tmp_path / "a")
    missing = Router(tmp_path / "b", RuntimeSettings(haproxy=str(tmp_path / "no-haproxy")))
    with pytest.raises(Unavailable, match="install it"):
        missing.ensure_running()
    missing.stop()  # no process; removes its socket folder


def test_invalid_requests_are_refused(router: Router, start_upstream: Start) -> None:
    server = start_upstream("v1")
    with pytest.raises(InvalidInput, match="sum to 90"):
        router.apply("dev", "api", [up(server, "v1")], {"v1": 90})
    with pytest.raises(InvalidInput, match="unique"):
        router.apply("dev", "api", [up(server, "v1"), up(server, "v1")], {"v1": 100})
    with pytest.raises(InvalidInput, match="service"):
        router.apply("dev", "My_Api", [up(server, "v1")], {"v1": 100})
    with pytest.raises(InvalidInput, match="upstream name"):
        router.apply("dev", "api", [up(server, "v1", "V1 r0")], {"v1": 100})
    assert router.urls("dev", "api") is None
