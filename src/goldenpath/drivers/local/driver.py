"""``LocalDriver``: the embedded runtime, a :class:`~goldenpath.drivers.base.RuntimeDriver`.

Composes three parts, each owning one real tool:

- :class:`~goldenpath.drivers.local.build.LocalBuilder` — git mirrors, ``uv``/``npm`` builds,
  releases kept under ``<home>/releases`` (rollback needs no git host);
- :class:`~goldenpath.drivers.local.supervisor.ProcessSupervisor` — one supervisord per data
  directory runs every replica (restart with backoff, timestamped rotated logs, outlives the
  platform server and is adopted by the next one);
- :class:`~goldenpath.drivers.local.router.Router` — HAProxy: a stable URL per service and
  environment, weights per version, per-version counters for analysis.

Replica programs are named ``<environment>--<service>--<version>--r<replica>`` and carry their
port, release and run-spec hash as labels, so a second ``start`` with the same arguments
changes nothing and a restarted platform server sees the same state. Logs live under
``<home>/logs/<environment>/<service>/<version>--r<replica>.log`` and survive the replica.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from pathlib import Path

import httpx

from goldenpath.drivers.base import (
    BuildRequest,
    LogLine,
    LogSink,
    Release,
    ReplicaState,
    ReplicaStatus,
    Revision,
    RunSpec,
    ServiceUrls,
    VersionFigures,
)
from goldenpath.drivers.local import logs as replica_logs
from goldenpath.drivers.local.build import LocalBuilder
from goldenpath.drivers.local.router import Router, Upstream
from goldenpath.drivers.local.supervisor import ProcessSpec, ProcessStatus, ProcessSupervisor
from goldenpath.errors import InvalidInput
from goldenpath.settings import Settings

__all__ = ["LocalDriver"]

_SEP = "--"
_PROBE_TIMEOUT = 1.0
_FAILED_STATES = {"FATAL"}
_DOWN_STATES = {"STOPPED", "EXITED", "UNKNOWN", "STOPPING"}


def _free_port(bind: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((bind, 0))
        return int(sock.getsockname()[1])


def _run_hash(release: Release, run: RunSpec) -> str:
    """Digest of what a replica runs; env values enter only hashed (they may be secrets)."""
    payload = {
        "release": release.id,
        "command": list(run.command),
        "env": {k: hashlib.sha256(v.encode()).hexdigest() for k, v in sorted(run.env.items())},
        "readiness": run.readiness_path,
        "liveness": run.liveness_path,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


class LocalDriver:
    """The local runtime driver (``name == "local"``); see the module docstring.

    Args:
        settings: the whole settings tree (``home`` and ``runtime`` are used).

    All methods are thread-safe and idempotent. Processes and the router keep running after
    the platform server exits; :meth:`shutdown` stops them (tests, ``server stop --all``).
    """

    name = "local"

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._home = settings.home
        runtime = settings.runtime
        self._bind = runtime.bind
        self.builder = LocalBuilder(self._home, timeout=runtime.build_timeout)
        self.supervisor = ProcessSupervisor(
            self._home, log_max_bytes=runtime.log_max_bytes, log_backups=runtime.log_backups
        )
        self.router = Router(self._home, runtime)
        self._lock = threading.RLock()
        self._started = False
        self._liveness_misses: dict[str, int] = {}
        self._ever_ready: set[tuple[str, str]] = set()  # (program, run hash) seen ready

    # -- lifecycle -----------------------------------------------------------------------

    def ensure_running(self) -> None:
        """Start (or adopt) supervisord and HAProxy for this data directory."""
        with self._lock:
            if not self._started:
                self.supervisor.ensure_running()
                self.router.ensure_running()
                self._started = True

    def shutdown(self) -> None:
        """Stop every replica, supervisord and HAProxy of this data directory."""
        with self._lock:
            self.supervisor.shutdown()
            self.router.stop()
            self._started = False

    # -- builds --------------------------------------------------------------------------

    def resolve(self, repo: str, ref: str) -> Revision:
        """See :meth:`RuntimeDriver.resolve`."""
        return self.builder.resolve(repo, ref)

    def build(self, request: BuildRequest, log: LogSink) -> Release:
        """See :meth:`RuntimeDriver.build`."""
        return self.builder.build(request, log)

    def release(self, service: str, release_id: str) -> Release | None:
        """See :meth:`RuntimeDriver.release`."""
        return self.builder.release(service, release_id)

    # -- replicas ------------------------------------------------------------------------

    @staticmethod
    def _prefix(environment: str, service: str, version: str | None = None) -> str:
        parts = [environment, service] + ([version] if version else [])
        return _SEP.join(parts) + _SEP

    def _log_file(self, environment: str, service: str, version: str, replica: int) -> Path:
        return self._home / "logs" / environment / service / f"{version}{_SEP}r{replica}.log"

    def start(
        self,
        environment: str,
        service: str,
        version: str,
        release: Release,
        run: RunSpec,
        replicas: int,
    ) -> list[ReplicaStatus]:
        """See :meth:`RuntimeDriver.start`: replicas ``0..replicas-1`` of ``version`` run."""
        if not run.command:
            raise InvalidInput(
                f"{service}: no command to run; set spec.run.command in platform.yaml"
            )
        self.ensure_running()
        run_hash = _run_hash(release, run)
        prefix = self._prefix(environment, service, version)
        with self._lock:
            existing = {p.name: p for p in self.supervisor.list(prefix)}
            wanted = {f"{prefix}r{i}": i for i in range(replicas)}
            for name in sorted(set(existing) - set(wanted)):
                self.supervisor.remove(name)
            for name, index in wanted.items():
                current = existing.get(name)
                if current is not None and current.labels.get("run") == run_hash:
                    continue
                self.supervisor.apply(
                    self._process_spec(
                        name, environment, service, version, index, release, run, run_hash
                    )
                )
        return [r for r in self.replicas(environment, service) if r.version == version]

    def _process_spec(
        self,
        name: str,
        environment: str,
        service: str,
        version: str,
        index: int,
        release: Release,
        run: RunSpec,
        run_hash: str,
    ) -> ProcessSpec:
        port = _free_port(self._bind)
        path = os.pathsep.join(
            [str(p) for p in release.path_prepend] + [os.environ.get("PATH", os.defpath)]
        )
        env = {
            **run.env,
            "PORT": str(port),
            "HOST": self._bind,
            "PATH": path,
            "GOLDENPATH_SERVICE": service,
            "GOLDENPATH_ENVIRONMENT": environment,
            "GOLDENPATH_VERSION": version,
        }
        command = [
            arg.replace("${PORT}", str(port)).replace("$PORT", str(port)) for arg in run.command
        ]
        executable = shutil.which(command[0], path=path) if os.sep not in command[0] else None
        if executable:
            command[0] = executable
        labels = {
            "environment": environment,
            "service": service,
            "version": version,
            "replica": str(index),
            "port": str(port),
            "release": release.id,
            "run": run_hash,
            "readiness": run.readiness_path or "",
            "liveness": run.liveness_path or "",
            "liveness_failures": str(run.liveness_failures),
            "start_timeout": str(run.start_timeout),
            "applied_at": f"{time.time():.3f}",
        }
        return ProcessSpec(
            name=name,
            command=tuple(command),
            cwd=release.workdir,
            env=env,
            log_file=self._log_file(environment, service, version, index),
            labels=labels,
        )

    def stop(self, environment: str, service: str, version: str) -> None:
        """See :meth:`RuntimeDriver.stop`."""
        prefix = self._prefix(environment, service, version)
        with self._lock:
            for process in self.supervisor.list(prefix):
                self.supervisor.remove(process.name)
                self._liveness_misses.pop(process.name, None)

    def replicas(self, environment: str, service: str) -> list[ReplicaStatus]:
        """See :meth:`RuntimeDriver.replicas`.

        Also the liveness check: a running replica whose liveness path fails
        ``liveness_failures`` calls in a row is restarted through supervisord.
        """
        statuses = []
        for process in self.supervisor.list(self._prefix(environment, service)):
            statuses.append(self._replica_status(environment, service, process))
        statuses.sort(key=lambda r: (r.version, r.replica))
        return statuses

    def _replica_status(
        self, environment: str, service: str, process: ProcessStatus
    ) -> ReplicaStatus:
        labels = process.labels
        port = int(labels.get("port", "0")) or None
        state: ReplicaState
        message = ""
        if process.state in _FAILED_STATES:
            state, message = "failed", "exited too quickly, gave up restarting"
        elif process.state == "BACKOFF":
            state, message = "backoff", "crashed, restarting"
        elif process.state in _DOWN_STATES:
            state = "stopped"
        elif process.state == "STARTING" or port is None:
            state = "starting"
        else:
            ready = self._probe(port, labels.get("readiness") or None)
            key = (process.name, labels.get("run", ""))
            state = "ready" if ready else "starting"
            if ready:
                self._ever_ready.add(key)
                self._check_liveness(process, port)
            elif key in self._ever_ready:
                state = "unready"
            else:
                applied = float(labels.get("applied_at", "0") or 0)
                limit = float(labels.get("start_timeout", "60") or 60)
                if state == "starting" and time.time() - applied > limit:
                    state, message = "failed", f"not ready after {limit:g} s"
        return ReplicaStatus(
            environment=environment,
            service=service,
            version=labels.get("version", ""),
            replica=int(labels.get("replica", "0")),
            state=state,
            pid=process.pid,
            port=port,
            restarts=process.restarts,
            message=message,
        )

    def _probe(self, port: int, path: str | None) -> bool:
        if path is None:
            try:
                with socket.create_connection((self._bind, port), timeout=_PROBE_TIMEOUT):
                    return True
            except OSError:
                return False
        try:
            response = httpx.get(f"http://{self._bind}:{port}{path}", timeout=_PROBE_TIMEOUT)
        except httpx.HTTPError:
            return False
        return response.status_code < 400

    def _check_liveness(self, process: ProcessStatus, port: int) -> None:
        path = process.labels.get("liveness") or None
        if path is None:
            return
        if self._probe(port, path):
            self._liveness_misses.pop(process.name, None)
            return
        misses = self._liveness_misses.get(process.name, 0) + 1
        self._liveness_misses[process.name] = misses
        if misses >= int(process.labels.get("liveness_failures", "3") or 3):
            self._liveness_misses.pop(process.name, None)
            self.supervisor.restart(process.name)

    # -- routing -------------------------------------------------------------------------

    def route(self, environment: str, service: str, weights: Mapping[str, int]) -> ServiceUrls:
        """See :meth:`RuntimeDriver.route`: every replica of each version in ``weights``."""
        self.ensure_running()
        upstreams: list[Upstream] = []
        health_path: str | None = "/readyz"
        for process in self.supervisor.list(self._prefix(environment, service)):
            labels = process.labels
            if labels.get("version") not in weights or not labels.get("port"):
                continue
            health_path = labels.get("readiness") or None
            upstreams.append(
                Upstream(
                    name=f"{labels['version']}-r{labels['replica']}",
                    version=labels["version"],
                    port=int(labels["port"]),
                    host=self._bind,
                )
            )
        return self.router.apply(
            environment, service, upstreams, dict(weights), health_path=health_path
        )

    def figures(self, environment: str, service: str) -> dict[str, VersionFigures]:
        """See :meth:`RuntimeDriver.figures`."""
        return self.router.figures(environment, service)

    def urls(self, environment: str, service: str) -> ServiceUrls | None:
        """See :meth:`RuntimeDriver.urls`."""
        return self.router.urls(environment, service)

    # -- logs and teardown ---------------------------------------------------------------

    def logs(
        self,
        environment: str,
        service: str,
        *,
        since: datetime | None = None,
    ) -> Iterator[LogLine]:
        """See :meth:`RuntimeDriver.logs`: every replica's log, old versions' too."""
        sources = self._log_sources(environment, service)
        for path, at, text in replica_logs.read_many(list(sources), since=since):
            label, number = sources[path]
            yield LogLine(at=at, version=label, replica=number, text=text)

    def _log_sources(self, environment: str, service: str) -> dict[Path, tuple[str, int]]:
        """Base log file → ``(version, replica)`` of every replica the service ever ran."""
        directory = self._home / "logs" / environment / service
        sources: dict[Path, tuple[str, int]] = {}
        for path in sorted(directory.glob(f"*{_SEP}r*.log")) if directory.is_dir() else []:
            version, _, index = path.stem.rpartition(f"{_SEP}r")
            if index.isdigit():
                sources[path] = (version, int(index))
        return sources

    def tail_logs(self, environment: str, service: str) -> _LogFollower:
        """See :meth:`RuntimeDriver.tail_logs` (a :class:`.logs.LogTail` over the replica
        logs, the directory listed again at every poll)."""
        return _LogFollower(lambda: self._log_sources(environment, service))

    def teardown(self, environment: str, service: str | None = None) -> None:
        """See :meth:`RuntimeDriver.teardown`."""
        prefix = self._prefix(environment, service) if service else f"{environment}{_SEP}"
        services = {service} if service else set()
        with self._lock:
            for process in self.supervisor.list(prefix):
                services.add(process.labels.get("service", ""))
                self.supervisor.remove(process.name)
                self._liveness_misses.pop(process.name, None)
            for name in sorted(s for s in services if s):
                self.router.remove(environment, name)


class _LogFollower:
    """:class:`~goldenpath.drivers.base.LogFollower` over the local replica logs."""

    def __init__(self, sources_of: Callable[[], dict[Path, tuple[str, int]]]) -> None:
        self._labels: dict[Path, tuple[str, int]] = {}
        self._tail = replica_logs.LogTail(lambda: list(self._refresh(sources_of())))

    def _refresh(self, sources: dict[Path, tuple[str, int]]) -> dict[Path, tuple[str, int]]:
        self._labels.update(sources)
        return sources

    def poll(self) -> list[LogLine]:
        """New lines since the last poll."""
        return [
            LogLine(at=at, version=self._labels[path][0], replica=self._labels[path][1], text=text)
            for path, at, text in self._tail.poll()
        ]

    def close(self) -> None:
        """Close the open log files."""
        self._tail.close()
