"""HAProxy plumbing for the router: configuration rendering and the runtime-API client.

:func:`render_config` turns the desired routes into one ``haproxy.cfg`` (HAProxy 2.6
syntax): a Host-routed ``http`` frontend (a map file ``hosts.map`` from
``<service>.<env>.<domain>`` to backend ``<env>--<service>``), an ``https`` frontend with
the certificates of :mod:`.tls`, one ``direct`` frontend per route on a port of its own,
and one backend per route with HTTP (or TCP) health checks and per-server weights. Unknown
hosts reach a backend that answers 404 with ``unknown.txt``.

:class:`RuntimeApi` speaks HAProxy's management protocol over a unix socket: the worker's
``stats socket`` (``show stat``, ``show info``, ``set server <b>/<s> weight N``,
``show servers state``) and the master socket (``reload``). :class:`Process` starts,
reloads and stops the master-worker HAProxy. Errors become
:class:`~goldenpath.errors.Unavailable` naming the socket or the log.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import os
import re
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import psutil

from goldenpath import processes
from goldenpath.errors import InvalidInput, Unavailable

__all__ = [
    "BackendSpec",
    "ConfigPaths",
    "Process",
    "RuntimeApi",
    "ServerSpec",
    "UpstreamLike",
    "merge_state",
    "parse_stat_csv",
    "render_config",
    "render_hosts_map",
    "socket_dir",
    "to_int",
    "validate_route",
]

_TIMEOUT = 5.0
_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")
_SERVER = re.compile(r"^[a-z0-9_.-]+$")
_MAX_SOCKET_PATH = 90  # HAProxy allows 97 bytes (it appends a suffix while binding)
START_TIMEOUT = 15.0
RELOAD_TIMEOUT = 15.0
#: Seconds an old worker keeps serving its open connections after a reload.
HARD_STOP_AFTER = 120


class UpstreamLike(Protocol):
    """What :func:`validate_route` reads of an upstream (``router.Upstream``)."""

    @property
    def name(self) -> str: ...
    @property
    def port(self) -> int: ...
    @property
    def host(self) -> str: ...


@dataclass(frozen=True)
class ServerSpec:
    """One ``server`` line: name, address and HAProxy weight (0..256)."""

    name: str
    host: str
    port: int
    weight: int


@dataclass(frozen=True)
class BackendSpec:
    """One route: backend ``name`` (``<env>--<service>``), its Host, servers and checks."""

    name: str
    host: str
    direct_port: int
    servers: tuple[ServerSpec, ...]
    health_path: str | None


@dataclass(frozen=True)
class ConfigPaths:
    """Files the configuration names (all under ``<home>/run/router``)."""

    stats_socket: Path
    state_file: Path
    hosts_map: Path
    unknown_page: Path
    certs_dir: Path


def render_config(
    backends: Sequence[BackendSpec],
    *,
    bind: str,
    http_port: int,
    https_port: int,
    paths: ConfigPaths,
) -> str:
    """The whole ``haproxy.cfg`` for ``backends`` (sorted by name for stable output).

    Health checks are ``inter 500 fall 2 rise 1``, so a replica whose readiness fails is out
    of rotation within about a second and back after one good check. ``retry-on
    conn-failure`` with ``option redispatch`` sends a request whose connection was refused to
    another server (safe for any method: nothing was sent).
    """
    lines = [
        "# Written by goldenpath (goldenpath.drivers.local.router); edits are overwritten.",
        "global",
        f"  stats socket {paths.stats_socket} mode 600 level admin expose-fd listeners",
        f"  server-state-file {paths.state_file}",
        f"  hard-stop-after {HARD_STOP_AFTER}s",
        "  maxconn 4096",
        "",
        "defaults",
        "  mode http",
        "  option http-keep-alive",
        "  option idle-close-on-response",
        "  option redispatch 1",
        "  retries 3",
        "  retry-on conn-failure",
        "  load-server-state-from-file global",
        "  timeout connect 2s",
        "  timeout client 60s",
        "  timeout server 60s",
        "  timeout http-request 10s",
        "  timeout http-keep-alive 10s",
        "  timeout check 1s",
        "",
    ]
    route_rule = (
        f"  use_backend %[req.hdr(host),field(1,:),lower,map({paths.hosts_map},goldenpath-unknown)]"
    )
    lines += [
        "frontend http",
        f"  bind {bind}:{http_port}",
        route_rule,
        "",
        "frontend https",
        f"  bind {bind}:{https_port} ssl crt {paths.certs_dir} alpn h2,http/1.1",
        "  http-request set-header X-Forwarded-Proto https",
        route_rule,
        "",
    ]
    for backend in sorted(backends, key=lambda b: b.name):
        lines += [
            f"frontend direct--{backend.name}",
            f"  bind {bind}:{backend.direct_port}",
            f"  default_backend {backend.name}",
            "",
        ]
    lines += [
        "backend goldenpath-unknown",
        f"  http-request return status 404 content-type text/plain file {paths.unknown_page}",
        "",
    ]
    for backend in sorted(backends, key=lambda b: b.name):
        lines.append(f"backend {backend.name}")
        lines.append("  balance roundrobin")
        if backend.health_path is not None:
            lines.append(f"  option httpchk GET {backend.health_path}")
            lines.append("  http-check expect status 200-399")
        lines.append("  default-server check inter 500 fall 2 rise 1")
        for server in backend.servers:
            lines.append(
                f"  server {server.name} {server.host}:{server.port} weight {server.weight}"
            )
        lines.append("")
    return "\n".join(lines)


def render_hosts_map(backends: Sequence[BackendSpec]) -> str:
    """``hosts.map``: one ``<host> <backend>`` line per route (HAProxy map file)."""
    return "".join(f"{b.host} {b.name}\n" for b in sorted(backends, key=lambda b: b.host))


def parse_stat_csv(text: str) -> list[dict[str, str]]:
    """Rows of ``show stat`` (CSV whose header line starts with ``# ``) as dicts."""
    body = text.lstrip()
    if body.startswith("# "):
        body = body[2:]
    reader = csv.DictReader(io.StringIO(body))
    return [row for row in reader if row.get("pxname")]


class RuntimeApi:
    """A client of one HAProxy CLI socket (non-interactive: one command per connection)."""

    def __init__(self, path: Path, *, timeout: float = _TIMEOUT) -> None:
        self.path = path
        self.timeout = timeout

    def command(self, line: str) -> str:
        """Send one command and return the whole answer (text).

        Raises:
            Unavailable: the socket is missing, refuses, or does not answer in time.
        """
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(self.timeout)
                sock.connect(str(self.path))
                sock.sendall(line.encode() + b"\n")
                chunks = []
                while True:
                    data = sock.recv(65536)
                    if not data:
                        break
                    chunks.append(data)
        except OSError as e:
            raise Unavailable(
                f"HAProxy does not answer on {self.path} ({e}); the router restarts it on the "
                "next deploy, or run `platform server stop --all` and start again"
            ) from e
        return b"".join(chunks).decode("utf-8", "replace")

    def send_only(self, line: str) -> None:
        """Send one command without waiting for its answer (the master's ``reload``)."""
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(self.timeout)
                sock.connect(str(self.path))
                sock.sendall(line.encode() + b"\n")
                with contextlib.suppress(OSError):
                    sock.recv(4096)
        except OSError as e:
            raise Unavailable(f"HAProxy's master does not answer on {self.path} ({e})") from e

    def alive(self) -> bool:
        """True when the socket answers ``show info``."""
        try:
            return "Pid:" in self.command("show info")
        except Unavailable:
            return False

    def info(self) -> dict[str, str]:
        """``show info`` as a mapping (``Pid``, ``Uptime_sec``, ``CurrConns``, …)."""
        out: dict[str, str] = {}
        for raw in self.command("show info").splitlines():
            key, sep, value = raw.partition(":")
            if sep:
                out[key.strip()] = value.strip()
        return out

    def server_stats(self) -> list[dict[str, str]]:
        """``show stat`` rows of every server (type 2)."""
        return [r for r in parse_stat_csv(self.command("show stat -1 4 -1")) if r["type"] == "2"]

    def set_weight(self, backend: str, server: str, weight: int) -> None:
        """``set server <backend>/<server> weight <weight>``.

        Raises:
            Unavailable: HAProxy refused (e.g. ``No such server``: the running configuration
            lags the desired one; the router reloads then).
        """
        answer = self.command(f"set server {backend}/{server} weight {weight}").strip()
        if answer:
            raise Unavailable(f"HAProxy refused a weight for {backend}/{server}: {answer}")


_STATE_HEADER = (
    "# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight "
    "srv_iweight srv_time_since_last_change srv_check_status srv_check_result "
    "srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id "
    "srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr "
    "srv_agent_port"
)


def merge_state(dump: str, backends: Sequence[BackendSpec]) -> str:
    """The ``server-state-file`` for the next worker: readiness gates new servers too.

    Servers that exist with the same address keep their line from ``dump`` (``show servers
    state`` format 1: health and weights carry over a reload). Every other server of
    ``backends`` gets a line that says DOWN after a failed check (``srv_op_state 0``, health
    0), so it takes no traffic until its first good health check; without it HAProxy would
    start a new server optimistically UP and send it requests before it is ready.
    """
    wanted = {(b.name, s.name): s for b in backends for s in b.servers}
    checked = {b.name for b in backends if b.servers}
    kept: dict[tuple[str, str], str] = {}
    be_ids: dict[str, str] = {}
    for line in dump.splitlines():
        fields = line.split()
        if len(fields) < 19 or line.startswith("#"):
            continue
        be_ids[fields[1]] = fields[0]
        server = wanted.get((fields[1], fields[3]))
        if server and fields[4] == server.host and fields[18] == str(server.port):
            kept[(fields[1], fields[3])] = line
    lines = ["1", _STATE_HEADER]
    for (backend, name), server in sorted(wanted.items()):
        if (backend, name) in kept:
            lines.append(kept[(backend, name)])
        elif backend in checked:
            w = server.weight
            lines.append(
                f"{be_ids.get(backend, '0')} {backend} 0 {name} {server.host} 0 0 {w} {w} 0 "
                f"17 2 0 6 0 0 0 - {server.port} - 0 0 - - 0"
            )
    return "\n".join(lines) + "\n"


def validate_route(
    environment: str,
    service: str,
    upstreams: Sequence[UpstreamLike],
    weights: Mapping[str, int],
    health_path: str | None,
) -> str:
    """Check one route's request; returns its backend name ``<env>--<service>``.

    Raises:
        InvalidInput: names outside their alphabet, duplicate or malformed servers, weights
        outside 0..100 or not summing to 100 (all 0 is allowed), a relative health path.
    """
    for label, value in (("environment", environment), ("service", service)):
        if not _NAME.match(value) or "--" in value:
            raise InvalidInput(
                f"{label} {value!r}: use lower-case letters, digits and single '-' (e.g. 'my-api')"
            )
    names = [u.name for u in upstreams]
    for name in names:
        if not _SERVER.match(name):
            raise InvalidInput(f"upstream name {name!r}: use [a-z0-9_.-] (e.g. 'd12-r0')")
    if len(set(names)) != len(names):
        raise InvalidInput(f"upstream names must be unique in a route: {sorted(names)}")
    for upstream in upstreams:
        if not 0 < upstream.port < 65536:
            raise InvalidInput(f"upstream {upstream.name}: port {upstream.port} not 1..65535")
        if not re.match(r"^[A-Za-z0-9.:_-]+$", upstream.host):
            raise InvalidInput(f"upstream {upstream.name}: host {upstream.host!r} invalid")
    if any(not isinstance(w, int) or not 0 <= w <= 100 for w in weights.values()):
        raise InvalidInput(f"weights {dict(weights)}: each must be an integer 0..100")
    total = sum(weights.values())
    if total not in (0, 100):
        raise InvalidInput(f"weights {dict(weights)} sum to {total}; they must sum to 100")
    if health_path is not None and not re.match(r"^/[A-Za-z0-9._~/?=&%-]*$", health_path):
        raise InvalidInput(f"health path {health_path!r}: an absolute path like '/readyz'")
    return f"{environment}--{service}"


def socket_dir(router_dir: Path, *, create: bool = False) -> Path:
    """Where the unix sockets go: ``router_dir`` unless its paths are too long.

    HAProxy takes socket paths of at most 97 bytes; for a deep home the sockets go to a
    private (0700) folder ``<tmp>/goldenpath-router-<hash of the home>`` instead, made (and
    checked to be private) when ``create``; the router removes it when it stops.
    """
    if len(str(router_dir / "master.sock").encode()) <= _MAX_SOCKET_PATH:
        return router_dir
    digest = hashlib.sha256(str(router_dir).encode()).hexdigest()[:16]
    folder = Path(tempfile.gettempdir()) / f"goldenpath-router-{digest}"
    if not create:
        return folder
    folder.mkdir(mode=0o700, exist_ok=True)
    if folder.stat().st_uid != os.getuid() or folder.stat().st_mode & 0o077:
        raise Unavailable(
            f"{folder}: not a private folder of this user; remove it, or use a shorter home path"
        )
    return folder


def to_int(value: str | None) -> int:
    """A ``show stat`` / ``show info`` field as an int (empty or odd → 0)."""
    try:
        return int(value or 0)
    except ValueError:
        return 0


def _tail(log: Path, lines: int = 8) -> str:
    try:
        text = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return f"(no log at {log})"
    return f"{log}: " + " | ".join(text[-lines:])


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


@dataclass
class Process:
    """One HAProxy in master-worker mode: start, check, seamless reload, stop (by PID).

    The master runs daemonised (``-W -D``) with its PID in ``pidfile`` and its CLI on
    ``master``; it is registered in :mod:`goldenpath.processes` with role ``router``.
    """

    executable: str
    cfg: Path
    pidfile: Path
    stats: RuntimeApi
    master: RuntimeApi
    state_file: Path
    log: Path
    run_dir: Path

    def live_master(self) -> int | None:
        """The master's PID from the pidfile when it is a live HAProxy of this ``cfg``."""
        try:
            pid = int(self.pidfile.read_text(encoding="utf-8").split()[0])
            proc = psutil.Process(pid)
            if proc.status() == psutil.STATUS_ZOMBIE or str(self.cfg) not in proc.cmdline():
                return None
            return pid
        except (OSError, ValueError, IndexError, psutil.Error):
            return None

    def start(self) -> int:
        """Start HAProxy on the written ``cfg``; returns the master PID once it answers.

        Raises:
            Unavailable: not installed, configuration rejected, cannot bind, or no answer
            within the start timeout (the message quotes ``log``).
        """
        self.kill_strays()
        self.check_config()
        cmd = [self.executable, "-W", "-D", "-f", str(self.cfg), "-p", str(self.pidfile)]
        cmd += ["-S", f"{self.master.path},mode,600"]
        with self.log.open("ab") as out:
            try:
                done = subprocess.run(
                    cmd,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    timeout=START_TIMEOUT,
                    start_new_session=True,
                )
            except (OSError, subprocess.TimeoutExpired) as e:
                raise Unavailable(
                    f"cannot run HAProxy ({self.executable}): {e}; install it "
                    "(`bash scripts/setup.sh`) or set runtime.haproxy"
                ) from e
        if done.returncode != 0:
            raise Unavailable(f"HAProxy did not start: {_tail(self.log)}")
        deadline = time.monotonic() + START_TIMEOUT
        while (pid := self.live_master()) is None or not self.stats.alive():
            if time.monotonic() > deadline:
                raise Unavailable(f"HAProxy started but does not answer: {_tail(self.log)}")
            time.sleep(0.05)
        processes.register(self.run_dir, pid, role="router")
        return pid

    def check_config(self) -> None:
        """``haproxy -c``: raises ``Unavailable`` quoting HAProxy's alerts when rejected."""
        try:
            done = subprocess.run(
                [self.executable, "-c", "-f", str(self.cfg)],
                capture_output=True,
                text=True,
                timeout=START_TIMEOUT,
            )
        except (OSError, subprocess.TimeoutExpired) as e:
            raise Unavailable(
                f"cannot run HAProxy ({self.executable}): {e}; install it "
                "(`bash scripts/setup.sh`) or set runtime.haproxy"
            ) from e
        if done.returncode != 0:
            alerts = [line for line in (done.stderr + done.stdout).splitlines() if "ALERT" in line]
            raise Unavailable(
                f"{self.cfg}: HAProxy rejects the configuration: {' | '.join(alerts)[-800:]}"
            )

    def reload(self) -> None:
        """Seamless reload: ``reload`` on the master socket, then wait until the stats socket
        answers from the new worker (write the server-state file first: :func:`merge_state`).
        Raises ``Unavailable`` on timeout."""
        self.check_config()
        old_pid = self.stats.info().get("Pid")
        self.master.send_only("reload")
        deadline = time.monotonic() + RELOAD_TIMEOUT
        while True:
            with contextlib.suppress(Unavailable):
                if self.stats.info().get("Pid") not in (None, old_pid):
                    return
            if time.monotonic() > deadline:
                raise Unavailable(
                    f"HAProxy did not reload within {RELOAD_TIMEOUT:.0f} s: {_tail(self.log)}"
                )
            time.sleep(0.05)

    def wait_stats(self, timeout: float) -> bool:
        """True once the stats socket answers, False after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while not self.stats.alive():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)
        return True

    def kill(self, pid: int) -> None:
        """Stop the master ``pid`` and its workers (SIGTERM, then SIGKILL) and forget it."""
        record = next((r for r in processes.read_all(self.run_dir) if r.pid == pid), None)
        if record is None:
            with contextlib.suppress(psutil.Error):
                record = processes.record_of(pid, role="router")
        if record is not None:
            processes.terminate(record, timeout=5.0)
        processes.unregister(self.run_dir, pid)
        with contextlib.suppress(FileNotFoundError):
            self.pidfile.unlink()

    def kill_strays(self) -> None:
        """Workers of this ``cfg`` whose master died would keep stale listeners."""
        for proc in psutil.process_iter(["pid", "cmdline"]):
            with contextlib.suppress(psutil.Error):
                if str(self.cfg) in (proc.info["cmdline"] or []):
                    proc.kill()

    def worker_start(self) -> datetime:
        """When the current worker started (aware UTC): counters count from then."""
        info = self.stats.info()
        with contextlib.suppress(psutil.Error, ValueError, KeyError):
            return datetime.fromtimestamp(psutil.Process(int(info["Pid"])).create_time(), UTC)
        return datetime.fromtimestamp(time.time() - to_int(info.get("Uptime_sec")), UTC)
