"""The local router: HAProxy run by the platform, one per data directory.

One HAProxy in master-worker mode (``haproxy -W -D``) serves every route of the data
directory:

- ``http://<service>.<env>.<domain>:<router_http_port>`` and the same on
  ``router_https_port`` with a certificate from the local CA (:mod:`.tls`); the Host header
  picks the backend ``<env>--<service>`` (its port is ignored); an unknown host gets a 404
  naming the known services;
- ``http://127.0.0.1:<direct port>``, a frontend of the route's own (allocated once, kept in
  ``ports.json``), for clients that cannot resolve ``*.localhost``.

Desired state lives in ``<home>/run/router/routes.json`` (servers, weights per version,
health path), so a restarted or adopted router restores every route. A change of weights
only goes through the runtime API (``set server <b>/<s> weight N``: no reload, no connection
touched); a change of the server set rewrites ``haproxy.cfg`` and does a seamless reload
(master socket ``reload``; listeners are handed over with ``expose-fd listeners``, the old
worker finishes its requests; health and weights carry over through the
``server-state-file``). Counters reset on reload: :meth:`Router.figures` reports the worker's
start as ``since``.

HAProxy writes no logs (no ``log`` lines); its start-up messages go to
``<home>/run/router/haproxy.log``. The master is registered in :mod:`goldenpath.processes`
with role ``router``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from goldenpath import processes
from goldenpath.drivers.base import ServiceUrls, VersionFigures
from goldenpath.drivers.local import _haproxy, tls
from goldenpath.errors import Conflict, InvalidInput, Unavailable
from goldenpath.settings import RuntimeSettings

__all__ = ["Router", "Upstream", "server_weights"]

#: HAProxy weights are 0..256; a version's percent times this, split over its replicas.
_WEIGHT_SCALE = 2
_SETTLE = 2.0


@dataclass(frozen=True)
class Upstream:
    """One server of a route: ``name`` (unique in the route, ``[a-z0-9_.-]``, e.g.
    ``"d12-r0"``), the ``version`` it belongs to (figures are summed per version), and where
    it listens."""

    name: str
    version: str
    port: int
    host: str = "127.0.0.1"


def server_weights(upstreams: Sequence[Upstream], weights: Mapping[str, int]) -> dict[str, int]:
    """HAProxy weight per server: a version's percent (times 2) shared evenly by its replicas.

    A version with a non-zero percent gives each replica at least 1; versions missing from
    ``weights`` get 0. Example: ``{"v1": 90, "v2": 10}`` with one replica each → 180 / 20.
    """
    counts: dict[str, int] = {}
    for upstream in upstreams:
        counts[upstream.version] = counts.get(upstream.version, 0) + 1
    out = {}
    for upstream in upstreams:
        percent = weights.get(upstream.version, 0)
        share = percent * _WEIGHT_SCALE / counts[upstream.version]
        out[upstream.name] = 0 if percent == 0 else max(1, round(share))
    return out


def _free_port(bind: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((bind, 0))
        return int(sock.getsockname()[1])


def _port_free(bind: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((bind, port))
        except OSError:
            return False
        return True


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


class Router:
    """HAProxy for one data directory; see the module docstring.

    Args:
        home: the data directory (files go to ``<home>/run/router``).
        settings: ``bind``, ``router_http_port``/``router_https_port`` (0 = pick once and
            keep), ``domain`` and the ``haproxy`` executable.

    Thread-safe; two ``Router`` objects (or processes) on the same home serialise through a
    lock file and share one HAProxy.
    """

    def __init__(self, home: Path, settings: RuntimeSettings) -> None:
        self._home = home
        self._settings = settings
        self._run_dir = home / "run"
        self._dir = home / "run" / "router"
        self._cfg = self._dir / "haproxy.cfg"
        self._pidfile = self._dir / "haproxy.pid"
        sockets = _haproxy.socket_dir(self._dir)
        self._paths = _haproxy.ConfigPaths(
            stats_socket=sockets / "stats.sock",
            state_file=self._dir / "server-state",
            hosts_map=self._dir / "hosts.map",
            unknown_page=self._dir / "unknown.txt",
            certs_dir=self._dir / "certs",
        )
        self._stats = _haproxy.RuntimeApi(self._paths.stats_socket)
        self._master = _haproxy.RuntimeApi(sockets / "master.sock")
        self._proc = _haproxy.Process(
            executable=settings.haproxy,
            cfg=self._cfg,
            pidfile=self._pidfile,
            stats=self._stats,
            master=self._master,
            state_file=self._paths.state_file,
            log=self._dir / "haproxy.log",
            run_dir=self._run_dir,
        )
        self._lock = threading.RLock()
        self._depth = 0
        self._lock_fd: int | None = None

    # -- public API ------------------------------------------------------------------------

    @property
    def http_port(self) -> int:
        """The HTTP frontend's port (picked and kept on first use when settings say 0)."""
        with self._locked():
            return int(self._ports()["http"])

    @property
    def https_port(self) -> int:
        """The HTTPS frontend's port (picked and kept on first use when settings say 0)."""
        with self._locked():
            return int(self._ports()["https"])

    def ca_certificate(self) -> Path:
        """PEM of the local CA; trust it to use the https URLs (created on first call)."""
        return tls.ensure_ca(self._dir / "ca").cert_path

    def ensure_running(self) -> int:
        """Start HAProxy, or adopt the live one of this home; returns the master's PID.

        A fresh start renders every persisted route, so routes survive a killed router.

        Raises:
            Unavailable: HAProxy is missing, rejects the configuration, or cannot bind
            (the message quotes its log ``<home>/run/router/haproxy.log``).
        """
        with self._locked():
            pid = self._proc.live_master()
            if pid is not None and self._proc.wait_stats(3.0):
                processes.register(self._run_dir, pid, role="router")
                if self._write_files(self._routes()):
                    self._reload()  # a leaf certificate was missing or expiring
                return pid
            if pid is not None:
                self._proc.kill(pid)
            return self._start()

    def apply(
        self,
        environment: str,
        service: str,
        upstreams: Sequence[Upstream],
        weights: Mapping[str, int],
        *,
        health_path: str | None = "/readyz",
    ) -> ServiceUrls:
        """Desired state of one service's route (idempotent).

        Args:
            upstreams: every server of the route; replicas of a version share its weight.
            weights: percent per version, summing to 100, or all 0 (no traffic).
            health_path: ``GET`` path of the readiness check (2xx/3xx = in rotation);
                ``None`` = TCP connect check.

        Only weights changed → runtime API, no reload. Servers or health path changed →
        ``haproxy.cfg`` rewritten and a seamless reload.

        Raises:
            InvalidInput: bad names, duplicate servers, or weights out of 0..100 / not
            summing to 100. Unavailable: HAProxy could not be started or reloaded.
        """
        key = _haproxy.validate_route(environment, service, upstreams, weights, health_path)
        route = {
            "environment": environment,
            "service": service,
            "upstreams": [asdict(u) for u in upstreams],
            "weights": {str(k): int(v) for k, v in sorted(weights.items())},
            "health_path": health_path,
        }
        with self._locked():
            self.ensure_running()
            routes = self._routes()
            old = routes.get(key)
            routes[key] = route
            self._save_routes(routes)
            self._direct_port(key)
            cert_changed = self._write_files(routes)
            shape_changed = old is None or (
                old["upstreams"] != route["upstreams"] or old["health_path"] != health_path
            )
            if upstreams and not shape_changed and not self.server_states(environment, service):
                shape_changed = True  # routes.json ran ahead of HAProxy (crash mid-apply)
            if shape_changed or cert_changed:
                self._reload()
                self._settle({key: route})
            elif old is not None and old["weights"] != route["weights"]:
                try:
                    for name, weight in server_weights(upstreams, weights).items():
                        self._stats.set_weight(key, name, weight)
                except Unavailable:
                    self._reload()  # the running configuration lags routes.json
            urls = self.urls(environment, service)
            assert urls is not None
            return urls

    def _settle(self, routes: Mapping[str, dict[str, Any]]) -> None:
        """Wait (at most ``_SETTLE`` s) until every server meant to take traffic passed a check.

        New servers start DOWN (see :func:`._haproxy.merge_state`) and come UP at their first
        good check (within ``inter``, 500 ms), so a caller that sends requests right after
        :meth:`apply` finds the route serving; a server that is not ready stays DOWN."""
        expected = set()
        for key, route in routes.items():
            ups = [Upstream(**u) for u in route["upstreams"]]
            weights = server_weights(ups, route["weights"])
            expected |= {(key, name) for name, weight in weights.items() if weight > 0}
        deadline = time.monotonic() + _SETTLE
        while expected and time.monotonic() < deadline:
            with contextlib.suppress(Unavailable):
                up = {
                    (r["pxname"], r["svname"])
                    for r in self._stats.server_stats()
                    if r["status"].startswith("UP")
                }
                if expected <= up:
                    return
            time.sleep(0.05)

    def remove(self, environment: str, service: str) -> None:
        """Remove the service's route (no-op when it has none); its direct port is kept."""
        key = f"{environment}--{service}"
        with self._locked():
            routes = self._routes()
            if routes.pop(key, None) is None:
                return
            self._save_routes(routes)
            self._write_files(routes)
            if self._proc.live_master() is not None:
                self._reload()

    def figures(self, environment: str, service: str) -> dict[str, VersionFigures]:
        """HAProxy's counters per version of the route (``{}`` without a route).

        ``requests``: ``req_tot`` of its servers; ``responses``: ``hrsp_1xx`` … ``hrsp_5xx``;
        ``errors``: ``econ`` + ``eresp`` (no HTTP response from the upstream);
        ``avg_response_ms``: servers' ``rtime`` (mean of the last 1024 requests) weighted by
        requests; ``since``: the current worker's start (counters reset on every reload).
        """
        key = f"{environment}--{service}"
        route = self._routes().get(key)
        if route is None:
            return {}
        version_of = {u["name"]: u["version"] for u in route["upstreams"]}
        since = self._proc.worker_start()
        totals: dict[str, dict[str, Any]] = {
            v: {"requests": 0, "errors": 0, "classes": dict.fromkeys(_CLASSES, 0), "rt": 0.0}
            for v in dict.fromkeys(version_of.values())
        }
        for row in self._stats.server_stats():
            version = version_of.get(row["svname"])
            if row["pxname"] != key or version is None:
                continue
            total = totals[version]
            requests = _haproxy.to_int(row.get("req_tot")) or _haproxy.to_int(row.get("stot"))
            total["requests"] += requests
            total["errors"] += _haproxy.to_int(row.get("econ")) + _haproxy.to_int(row.get("eresp"))
            for cls in _CLASSES:
                total["classes"][cls] += _haproxy.to_int(row.get(f"hrsp_{cls}"))
            total["rt"] += _haproxy.to_int(row.get("rtime")) * requests
        return {
            version: VersionFigures(
                version=version,
                requests=t["requests"],
                responses=t["classes"],
                errors=t["errors"],
                avg_response_ms=(t["rt"] / t["requests"]) if t["requests"] else None,
                since=since,
            )
            for version, t in totals.items()
        }

    def server_states(self, environment: str, service: str) -> dict[str, str]:
        """Health-check view per server: ``"UP"``, ``"DOWN"``, ``"MAINT"``, ``"NOLB"``, ``"DRAIN"``.

        A transition (``"UP 1/2"``) reports its current side; a server without checks is
        ``"UP"``. ``{}`` when the service has no route.
        """
        key = f"{environment}--{service}"
        out = {}
        for row in self._stats.server_stats():
            if row["pxname"] == key:
                status = row["status"].split(" ")[0]
                out[row["svname"]] = "UP" if status == "no" else status
        return out

    def urls(self, environment: str, service: str) -> ServiceUrls | None:
        """The route's URLs, ``None`` when it has none."""
        key = f"{environment}--{service}"
        with self._locked():
            if key not in self._routes():
                return None
            ports = self._ports()
            host = f"{service}.{environment}.{self._settings.domain}"
            bind = self._settings.bind
            direct_host = "127.0.0.1" if bind in ("0.0.0.0", "") else bind
            return ServiceUrls(
                http=f"http://{host}:{ports['http']}",
                https=f"https://{host}:{ports['https']}",
                direct=f"http://{direct_host}:{self._direct_port(key)}",
            )

    def stop(self) -> None:
        """Stop HAProxy (master and workers) by PID; routes stay in ``routes.json``."""
        with self._locked():
            pid = self._proc.live_master()
            if pid is not None:
                self._proc.kill(pid)
            sockets = self._stats.path.parent
            if sockets != self._dir:  # the private folder used for a deep home
                shutil.rmtree(sockets, ignore_errors=True)

    # -- process ---------------------------------------------------------------------------

    def _start(self) -> int:
        _haproxy.socket_dir(self._dir, create=True)
        self._proc.kill_strays()
        self._free_ports()
        routes = self._routes()
        self._write_files(routes)
        self._write_state("", routes)  # a fresh start trusts no old health: all DOWN first
        pid = self._proc.start()
        self._settle(routes)
        return pid

    def _reload(self) -> None:
        if self._proc.live_master() is None:
            self._start()
            return
        try:
            dump = self._stats.command("show servers state")
        except Unavailable:
            dump = ""
        self._write_state(dump, self._routes())
        self._proc.reload()

    def _write_state(self, dump: str, routes: dict[str, dict[str, Any]]) -> None:
        backends = [self._backend(key, route) for key, route in sorted(routes.items())]
        _write_atomic(self._paths.state_file, _haproxy.merge_state(dump, backends))

    # -- files -----------------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with self._lock:
            if self._depth == 0:
                self._dir.mkdir(parents=True, exist_ok=True, mode=0o700)
                fd = os.open(self._dir / "lock", os.O_RDWR | os.O_CREAT, 0o600)
                fcntl.flock(fd, fcntl.LOCK_EX)
                self._lock_fd = fd
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0 and self._lock_fd is not None:
                    os.close(self._lock_fd)  # releases the flock
                    self._lock_fd = None

    def _read_json(self, name: str) -> dict[str, Any]:
        path = self._dir / name
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as e:
            raise InvalidInput(f"{path}: unreadable router state ({e}); fix or delete it") from e
        return data if isinstance(data, dict) else {}

    def _routes(self) -> dict[str, dict[str, Any]]:
        return self._read_json("routes.json")

    def _save_routes(self, routes: dict[str, dict[str, Any]]) -> None:
        _write_atomic(self._dir / "routes.json", json.dumps(routes, indent=1, sort_keys=True))

    def _ports(self) -> dict[str, Any]:
        ports = self._read_json("ports.json")
        changed = False
        for name, configured in (
            ("http", self._settings.router_http_port),
            ("https", self._settings.router_https_port),
        ):
            if configured and ports.get(name) != configured:
                ports[name], changed = configured, True
            elif not ports.get(name):
                ports[name], changed = _free_port(self._settings.bind), True
        if changed:
            ports.setdefault("direct", {})
            _write_atomic(self._dir / "ports.json", json.dumps(ports, indent=1, sort_keys=True))
        return ports

    def _free_ports(self) -> None:
        """Before HAProxy starts, every port it will bind must be free. A port the platform
        picked itself (setting 0) that another program took meanwhile is replaced by a new
        free one (that URL changes); a configured port in use is an error naming the setting.

        Raises:
            Conflict: ``router_http_port``/``router_https_port`` is set and in use.
        """
        bind, ports, changed = self._settings.bind, self._ports(), False
        for name, configured in (
            ("http", self._settings.router_http_port),
            ("https", self._settings.router_https_port),
        ):
            if _port_free(bind, int(ports[name])):
                continue
            if configured:
                raise Conflict(
                    f"router {name} port {configured} on {bind} is in use by another program; "
                    f"stop it, or set runtime.router_{name}_port "
                    f"(GOLDENPATH_RUNTIME__ROUTER_{name.upper()}_PORT) to a free port, or to 0 "
                    "to let the platform pick one"
                )
            ports[name], changed = _free_port(bind), True
        direct = ports.setdefault("direct", {})
        for key, port in list(direct.items()):
            if not _port_free(bind, int(port)):
                direct[key], changed = _free_port(bind), True
        if changed:
            _write_atomic(self._dir / "ports.json", json.dumps(ports, indent=1, sort_keys=True))

    def _direct_port(self, key: str) -> int:
        ports = self._ports()
        direct = ports.setdefault("direct", {})
        if key not in direct:
            direct[key] = _free_port(self._settings.bind)
            _write_atomic(self._dir / "ports.json", json.dumps(ports, indent=1, sort_keys=True))
        return int(direct[key])

    def _write_files(self, routes: dict[str, dict[str, Any]]) -> bool:
        """Certificates, ``hosts.map``, ``unknown.txt`` and ``haproxy.cfg`` for ``routes``.

        Returns True when a certificate was (re)issued (a running HAProxy must reload)."""
        domain = self._settings.domain
        ca = tls.ensure_ca(self._dir / "ca")
        certs = self._paths.certs_dir
        changed = tls.ensure_leaf(ca, [f"*.{domain}", domain], certs / "00-default.pem")
        for env in sorted({r["environment"] for r in routes.values()}):
            changed |= tls.ensure_leaf(ca, tls.leaf_names(env, domain), certs / f"{env}.pem")
        backends = [self._backend(key, route) for key, route in sorted(routes.items())]
        _write_atomic(self._paths.hosts_map, _haproxy.render_hosts_map(backends))
        known = ", ".join(b.host for b in backends) or "none yet"
        _write_atomic(
            self._paths.unknown_page,
            f"No service answers at this host. Known services: {known}\n",
        )
        if not self._paths.state_file.exists():
            self._paths.state_file.write_text("", encoding="utf-8")
        ports = self._ports()
        _write_atomic(
            self._cfg,
            _haproxy.render_config(
                backends,
                bind=self._settings.bind,
                http_port=int(ports["http"]),
                https_port=int(ports["https"]),
                paths=self._paths,
            ),
        )
        return changed

    def _backend(self, key: str, route: dict[str, Any]) -> _haproxy.BackendSpec:
        upstreams = [Upstream(**u) for u in route["upstreams"]]
        weights = server_weights(upstreams, route["weights"])
        return _haproxy.BackendSpec(
            name=key,
            host=f"{route['service']}.{route['environment']}.{self._settings.domain}",
            direct_port=self._direct_port(key),
            servers=tuple(
                _haproxy.ServerSpec(u.name, u.host, u.port, weights[u.name]) for u in upstreams
            ),
            health_path=route["health_path"],
        )


_CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx")
