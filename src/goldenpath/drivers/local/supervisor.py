"""Supervised processes: one supervisord per data directory runs every replica.

supervisor 4.3 does the process management (restart on crash with backoff, stdout/stderr
captured and rotated, stop = SIGTERM then SIGKILL); this module drives it over XML-RPC on a
unix socket and keeps, beside each program, the labels and spec hash the local driver needs.

Layout under ``<home>/run/supervisor/`` (mode 0700)::

    supervisord.conf        [include] files = programs/*.conf
    supervisor.sock         XML-RPC (a short path under the temp dir when this one is too
                            long for a unix socket: 108 bytes)
    supervisord.pid / supervisord.log
    programs/<name>.conf        the [program:<name>] section
    programs/<name>.json        {"name", "spec_hash", "labels", "log_file", "stop_timeout"}
    programs/<name>.launch      argv, cwd and env for the stamp wrapper (mode 0600)
    programs/<name>.starts      the wrapper's PID per start (restarts = lines - 1)
    programs/<name>.exit        the last exit status, written by the wrapper

Every program runs as ``python -m goldenpath.drivers.local.stamp --launch-file …``: the
wrapper timestamps each output line, forwards stop signals to the command's process group
and kills what is left after ``stop_timeout``. Argv and environment travel in the 0600
launch file rather than in ``command=``/``environment=``: secrets never reach supervisord's
config files, its log or ``ps``, and nothing has to survive supervisord's ini parsing
(``%`` expansion, ``;``/``#`` inline comments, quoting).

supervisord runs daemonized in its own session, so it outlives the platform server; it is
registered in :mod:`goldenpath.processes` (role ``supervisord``) so ``platform server stop
--all`` stops it. A later :class:`ProcessSupervisor` on the same home adopts the live one
(its socket answers with a PID whose command line names this home's config), never starts
a second; a stale PID file or socket is removed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import re
import shlex
import sys
import time
import xmlrpc.client
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from goldenpath import processes
from goldenpath.drivers.local._supervisord import STAMP, Supervisord, ini, write_atomic
from goldenpath.errors import InvalidInput, NotFound, Unavailable

__all__ = ["ProcessSpec", "ProcessStatus", "ProcessSupervisor"]

_NAME_RE = re.compile(r"[a-z0-9][a-z0-9_.-]{0,119}\Z")
_ENV_NAME_RE = re.compile(r"[^=\x00]+\Z")
_ROLE = "supervisord"
_STATUS_TIMEOUT = 5.0  # s for a status call
_LIVE = {"STARTING", "RUNNING", "STOPPING"}
# Faults of supervisor.xmlrpc.Faults
_BAD_NAME, _SPAWN_ERROR, _ALREADY_STARTED, _NOT_RUNNING = 10, 50, 60, 70
_ALREADY_ADDED, _STILL_RUNNING, _CANT_REREAD = 90, 91, 92


@dataclass(frozen=True)
class ProcessSpec:
    """One supervised program.

    ``name`` matches ``[a-z0-9][a-z0-9_.-]*`` (≤ 120 chars), unique per home. ``command``:
    argv (no shell). ``cwd``: working directory. ``env``: variables added to a clean base
    (``PATH``, ``HOME``, locale, ``TZ``, ``TMPDIR``, user — see
    :data:`goldenpath.drivers.local.stamp.BASE_ENV`); values may be secrets and are never
    logged. ``log_file``: absolute path of the timestamped, rotated log. ``startsecs``: the
    program must stay up this long to count as started (whole seconds, rounded up);
    ``startretries``: supervisor's backoff waits 1, 2, 3… s between retries, then FATAL.
    ``stop_timeout`` (s): SIGTERM to the whole process group, then SIGKILL. ``labels``:
    kept beside the program (not part of its hash: changing only labels restarts nothing).
    """

    name: str
    command: tuple[str, ...]
    cwd: Path
    env: Mapping[str, str]
    log_file: Path
    autorestart: bool = True
    startsecs: float = 1.0
    startretries: int = 5
    stop_timeout: float = 10.0
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ProcessStatus:
    """A program as supervisord sees it now.

    ``state``: supervisor's ``STOPPED STARTING RUNNING BACKOFF STOPPING EXITED FATAL
    UNKNOWN``; ``pid`` while a process runs; ``started_at``: epoch seconds of the last start;
    ``exit_status`` of the last exit (``None`` while running or before any exit);
    ``restarts``: starts beyond the first since the spec was applied (crashes, backoff
    retries, :meth:`ProcessSupervisor.restart`); ``spec_hash`` of the spec it runs with.
    """

    name: str
    state: str
    pid: int | None
    started_at: float | None
    exit_status: int | None
    restarts: int
    labels: Mapping[str, str]
    spec_hash: str


def _spec_hash(spec: ProcessSpec, max_bytes: int, backups: int) -> str:
    payload = {
        "command": list(spec.command),
        "cwd": str(spec.cwd),
        "env": dict(sorted(spec.env.items())),
        "log": [str(spec.log_file), max_bytes, backups],
        "restart": [spec.autorestart, spec.startsecs, spec.startretries, spec.stop_timeout],
        "wrapper": sys.executable,  # a new platform venv rewrites the program's command
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def _validate(spec: ProcessSpec) -> None:
    if not _NAME_RE.match(spec.name):
        raise InvalidInput(
            f"process name {spec.name!r} must match [a-z0-9][a-z0-9_.-]* (at most 120 chars)"
        )
    if not spec.command or any(not isinstance(a, str) or "\x00" in a for a in spec.command):
        raise InvalidInput(f"{spec.name}: command must be a non-empty argv of strings (no NUL)")
    for key, value in spec.env.items():
        if not _ENV_NAME_RE.match(key) or "\x00" in value:
            raise InvalidInput(
                f"{spec.name}: environment variable {key!r} has an invalid name or a NUL "
                "byte in its value (value not shown)"
            )
    if any(not isinstance(k, str) or not isinstance(v, str) for k, v in spec.labels.items()):
        raise InvalidInput(f"{spec.name}: labels must map strings to strings")
    for what, path in (("cwd", spec.cwd), ("log_file", spec.log_file)):
        if not path.is_absolute():
            raise InvalidInput(f"{spec.name}: {what} {str(path)!r} must be an absolute path")
    if spec.startsecs < 0 or spec.startretries < 0 or spec.stop_timeout <= 0:
        raise InvalidInput(
            f"{spec.name}: startsecs and startretries must be >= 0 and stop_timeout > 0"
        )


class ProcessSupervisor:
    """The programs of one data directory, run by its supervisord (see the module docstring).

    Thread-safe; changes are serialised across processes by a lock file, so two platform
    servers on one home never start two supervisords. Raises ``Unavailable`` when
    supervisord cannot be started or reached, ``InvalidInput`` for a bad spec.
    """

    def __init__(
        self, home: Path, *, log_max_bytes: int = 10_000_000, log_backups: int = 5
    ) -> None:
        self.home = Path(home).resolve()
        self._daemon = Supervisord(self.home)
        self.run_dir = self._daemon.run_dir
        self.directory = self._daemon.directory
        self.programs_dir = self._daemon.programs_dir
        self.socket_path = self._daemon.socket_path
        self._log_max_bytes = log_max_bytes
        self._log_backups = log_backups
        self._call = self._daemon.call
        self._locked = self._daemon.locked
        self._answering_pid = self._daemon.answering_pid

    # -- supervisord ---------------------------------------------------------------------

    def ensure_running(self) -> int:
        """PID of this home's supervisord: the live one adopted, else a new one started.

        Raises ``Unavailable`` when it cannot be started, or when one runs but does not
        answer (the message names its PID)."""
        with self._locked():
            pid = self._daemon.adopt()
            if pid is None:
                log_dirs = [Path(m["log_file"]).parent for m in self._metas() if m.get("log_file")]
                pid = self._daemon.start(log_dirs, self._max_stop_timeout())
            self._daemon.register(pid)
            return pid

    def shutdown(self) -> None:
        """Stop every program (each within its ``stop_timeout``) and supervisord itself.

        Program configs stay: the next :meth:`ensure_running` starts them again."""
        with self._locked():
            pid = self._answering_pid()
            if pid is not None:
                with contextlib.suppress(Unavailable, xmlrpc.client.Fault):
                    # all at once: supervisord's own shutdown stops one program per tick
                    self._call("stopAllProcesses", True, timeout=self._max_stop_timeout() + 30)
                with contextlib.suppress(Unavailable, xmlrpc.client.Fault):
                    self._call("shutdown")
                self._daemon.wait_exit(pid, self._max_stop_timeout() + 15)
            self._daemon.reap_orphans(None, self._max_stop_timeout())
            for record in processes.read_all(self.run_dir):
                if record.role == _ROLE:
                    processes.terminate(record, timeout=5)
                    processes.unregister(self.run_dir, record.pid)
            self._daemon.remove_stale()

    # -- programs ------------------------------------------------------------------------

    def apply(self, spec: ProcessSpec) -> ProcessStatus:
        """Run ``spec``: same spec as now → nothing happens; changed → the old process is
        stopped and the new one started; labels alone are updated in place.

        Returns at once (the program is usually ``STARTING``). Raises ``InvalidInput``."""
        _validate(spec)
        digest = _spec_hash(spec, self._log_max_bytes, self._log_backups)
        with self._locked():
            self.ensure_running()
            meta = self._read_meta(spec.name)
            info = self._info(spec.name)
            if meta and meta.get("spec_hash") == digest and info is not None:
                if meta.get("labels") != dict(spec.labels):
                    self._write_meta(spec, digest)
                    meta = self._read_meta(spec.name)
                return self._status(spec.name, info, meta)
            if info is not None:
                self._stop(spec.name, float(meta.get("stop_timeout", 10.0)) if meta else 10.0)
                self._remove_group(spec.name)
            self._write_program(spec, digest)
            try:
                self._call("reloadConfig")
            except xmlrpc.client.Fault as exc:
                self._forget(spec.name)
                raise InvalidInput(f"{spec.name}: supervisord rejected the config: {exc}") from exc
            self._fault_ok(lambda: self._call("addProcessGroup", spec.name), _ALREADY_ADDED)
            self._fault_ok(
                lambda: self._call("startProcess", spec.name, False),
                _ALREADY_STARTED,
                _SPAWN_ERROR,
            )
            status = self.status(spec.name)
            assert status is not None
            return status

    def remove(self, name: str) -> None:
        """Stop the program (its whole process group) and forget it; no-op when unknown."""
        if not _NAME_RE.match(name):
            return
        with self._locked():
            meta = self._read_meta(name)
            timeout = float(meta.get("stop_timeout", 10.0)) if meta else 10.0
            if self._answering_pid() is not None and self._info(name) is not None:
                self._stop(name, timeout)
                self._remove_group(name)
            else:
                self._daemon.reap_orphans(name, timeout)
            self._forget(name)

    def restart(self, name: str) -> ProcessStatus:
        """Stop and start the program again (counts as a restart). Raises ``NotFound``."""
        with self._locked():
            self.ensure_running()
            meta = self._read_meta(name)
            if self._info(name) is None:
                raise NotFound(f"no supervised process named {name!r} in {self.home}")
            self._stop(name, float(meta.get("stop_timeout", 10.0)) if meta else 10.0)
            self._fault_ok(
                lambda: self._call("startProcess", name, False), _ALREADY_STARTED, _SPAWN_ERROR
            )
            status = self.status(name)
            assert status is not None
            return status

    def status(self, name: str) -> ProcessStatus | None:
        """The program's status, ``None`` when unknown. Does not start supervisord: while it
        is down, configured programs report ``STOPPED``."""
        if not _NAME_RE.match(name):
            return None
        meta = self._read_meta(name)
        try:
            info = self._info(name)
        except Unavailable:  # supervisord is down
            info = None
        if info is None and meta is None:
            return None
        return self._status(name, info, meta)

    def list(self, prefix: str = "") -> list[ProcessStatus]:
        """Every program whose name starts with ``prefix``, sorted by name."""
        infos: dict[str, dict[str, Any]] = {}
        with contextlib.suppress(Unavailable):  # supervisord is down
            for info in self._call("getAllProcessInfo", timeout=_STATUS_TIMEOUT):
                infos[info["name"]] = info
        names = {n for n in infos if n.startswith(prefix)}
        if self.programs_dir.is_dir():
            names |= {
                p.name[: -len(".json")]
                for p in self.programs_dir.glob(f"{_glob_escape(prefix)}*.json")
            }
        return [self._status(n, infos.get(n), self._read_meta(n)) for n in sorted(names)]

    # -- internals: state ----------------------------------------------------------------

    def _status(
        self, name: str, info: dict[str, Any] | None, meta: dict[str, Any] | None
    ) -> ProcessStatus:
        meta = meta or {}
        state = info["statename"] if info else "STOPPED"
        pid = int(info["pid"]) if info and info.get("pid") else None
        started_at: float | None = float(info["start"]) if info and info.get("start") else None
        if pid is not None:
            with contextlib.suppress(psutil.Error):
                started_at = psutil.Process(pid).create_time()
        exit_status = None
        if info and state not in _LIVE and info.get("stop"):
            try:  # the wrapper's record: supervisord forgets a status before startsecs
                exit_status = int((self.programs_dir / f"{name}.exit").read_text())
            except (OSError, ValueError):
                exit_status = int(info["exitstatus"])
        try:
            started = (self.programs_dir / f"{name}.starts").read_text().split()
        except OSError:
            started = []
        # a process spawned a moment ago may not have recorded its start yet
        starts = len(started) + (1 if pid is not None and started[-1:] != [str(pid)] else 0)
        return ProcessStatus(
            name=name,
            state=state,
            pid=pid,
            started_at=started_at,
            exit_status=exit_status,
            restarts=max(0, starts - 1),
            labels=dict(meta.get("labels") or {}),
            spec_hash=str(meta.get("spec_hash", "")),
        )

    def _info(self, name: str) -> dict[str, Any] | None:
        try:
            info: dict[str, Any] = self._call("getProcessInfo", name, timeout=_STATUS_TIMEOUT)
        except xmlrpc.client.Fault as exc:
            if exc.faultCode == _BAD_NAME:
                return None
            raise
        return info

    def _read_meta(self, name: str) -> dict[str, Any] | None:
        try:
            data = json.loads((self.programs_dir / f"{name}.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def _write_meta(self, spec: ProcessSpec, digest: str) -> None:
        meta = {
            "name": spec.name,
            "spec_hash": digest,
            "labels": dict(spec.labels),
            "log_file": str(spec.log_file),
            "stop_timeout": spec.stop_timeout,
        }
        write_atomic(self.programs_dir / f"{spec.name}.json", json.dumps(meta, indent=1))

    def _write_program(self, spec: ProcessSpec, digest: str) -> None:
        self.programs_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        spec.log_file.parent.mkdir(parents=True, exist_ok=True)
        base = self.programs_dir / spec.name
        launch = {
            "argv": list(spec.command),
            "cwd": str(spec.cwd),
            "env": dict(spec.env),
            "clean_env": True,
        }
        write_atomic(base.with_name(f"{spec.name}.launch"), json.dumps(launch), 0o600)
        argv = [sys.executable, "-m", STAMP, "--grace", f"{spec.stop_timeout:g}"]
        argv += ["--launch-file", str(base.with_name(f"{spec.name}.launch"))]
        argv += ["--count-starts", str(base.with_name(f"{spec.name}.starts"))]
        argv += ["--exit-file", str(base.with_name(f"{spec.name}.exit"))]
        command = shlex.join(argv)
        conf = "\n".join(
            [
                f"[program:{spec.name}]",
                f"command={ini(command, 'python executable / data directory')}",
                "autostart=true",
                f"autorestart={'true' if spec.autorestart else 'false'}",
                f"startsecs={math.ceil(spec.startsecs)}",
                f"startretries={spec.startretries}",
                "stopsignal=TERM",
                # the stamp wrapper kills the group after stop_timeout; supervisord's SIGKILL
                # to the wrapper's group is the fallback should the wrapper hang
                f"stopwaitsecs={math.ceil(spec.stop_timeout) + 5}",
                "stopasgroup=false",
                "killasgroup=true",
                "redirect_stderr=true",
                f"stdout_logfile={ini(str(spec.log_file), 'log_file')}",
                f"stdout_logfile_maxbytes={self._log_max_bytes}",
                f"stdout_logfile_backups={self._log_backups}",
                "",
            ]
        )
        base.with_name(f"{spec.name}.starts").write_bytes(b"")
        with contextlib.suppress(FileNotFoundError):
            base.with_name(f"{spec.name}.exit").unlink()
        write_atomic(base.with_name(f"{spec.name}.conf"), conf)
        self._write_meta(spec, digest)

    def _forget(self, name: str) -> None:
        for suffix in (".conf", ".json", ".launch", ".starts", ".exit"):
            with contextlib.suppress(FileNotFoundError):
                (self.programs_dir / f"{name}{suffix}").unlink()

    def _metas(self) -> tuple[dict[str, Any], ...]:
        paths = sorted(self.programs_dir.glob("*.json")) if self.programs_dir.is_dir() else []
        return tuple(m for p in paths if (m := self._read_meta(p.name[: -len(".json")])))

    def _max_stop_timeout(self) -> float:
        return max([10.0] + [float(m.get("stop_timeout", 10.0)) for m in self._metas()])

    # -- internals: RPC ------------------------------------------------------------------

    @staticmethod
    def _fault_ok(call: Callable[[], Any], *codes: int) -> None:
        try:
            call()
        except xmlrpc.client.Fault as exc:
            if exc.faultCode not in codes:
                raise

    def _stop(self, name: str, stop_timeout: float) -> None:
        """Stop and wait (the wrapper kills the group after ``stop_timeout``)."""
        self._fault_ok(
            lambda: self._call("stopProcess", name, True, timeout=stop_timeout + 30),
            _NOT_RUNNING,
            _BAD_NAME,
        )

    def _remove_group(self, name: str) -> None:
        deadline = time.monotonic() + 10
        while True:
            try:
                self._call("removeProcessGroup", name)
                return
            except xmlrpc.client.Fault as exc:
                if exc.faultCode == _BAD_NAME:
                    return
                if exc.faultCode != _STILL_RUNNING or time.monotonic() > deadline:
                    raise
            time.sleep(0.1)

    # -- internals: supervisord lifecycle ------------------------------------------------


def _glob_escape(text: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", text)
