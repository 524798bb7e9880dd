"""supervisord itself for :mod:`goldenpath.drivers.local.supervisor`: XML-RPC on a unix
socket, its config, and starting, adopting and registering one daemon per data directory."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import http.client
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import xmlrpc.client
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import psutil

from goldenpath import processes
from goldenpath.drivers.local import stamp
from goldenpath.errors import InvalidInput, Unavailable

__all__ = ["RPC_TIMEOUT", "STAMP", "Supervisord", "ini", "write_atomic"]

_INI_UNSAFE = re.compile(r"[\r\n\x00]|\s[;#]")
_SOCKET_MAX = 100  # bytes; sun_path holds 108 including the NUL
RPC_TIMEOUT = 10.0  # s
_START_TIMEOUT = 20.0  # s for supervisord to answer after it was started
_ROLE = "supervisord"
STAMP = "goldenpath.drivers.local.stamp"


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self._path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


class _UnixTransport(xmlrpc.client.Transport):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__()
        self._path, self._timeout = path, timeout

    def make_connection(self, host: Any) -> http.client.HTTPConnection:
        return _UnixConnection(self._path, self._timeout)


def ini(value: str, what: str) -> str:
    """``value`` safe for supervisord's config parser (``%`` escaped)."""
    if _INI_UNSAFE.search(value):
        raise InvalidInput(
            f"{what} {value!r} cannot go into a supervisord config: it contains a line break, "
            "NUL or a ';'/'#' after a space; use a path without them"
        )
    return value.replace("%", "%%")


class Supervisord:
    """One data directory's supervisord: paths, RPC, start/adopt/stop helpers.

    Paths under ``<home>/run/supervisor``; ``socket_path`` falls back to
    ``<tmp>/goldenpath-<hash of home>.sock`` when the regular one is longer than a unix
    socket path may be. Raises ``InvalidInput`` for a home path supervisord cannot parse.
    """

    def __init__(self, home: Path) -> None:
        self.home = home
        self.run_dir = home / "run"
        self.directory = self.run_dir / "supervisor"
        self.programs_dir = self.directory / "programs"
        self.conf_file = self.directory / "supervisord.conf"
        self.pid_file = self.directory / "supervisord.pid"
        self.log_file = self.directory / "supervisord.log"
        self.socket_path = self.directory / "supervisor.sock"
        if len(os.fsencode(self.socket_path)) > _SOCKET_MAX:
            digest = hashlib.sha256(os.fsencode(home)).hexdigest()[:16]
            self.socket_path = Path(tempfile.gettempdir()) / f"goldenpath-{digest}.sock"
        ini(str(self.directory), "data directory")
        self._lock = threading.RLock()
        self._lock_depth = 0
        self._lock_handle: Any = None

    def call(self, method: str, *args: Any, timeout: float = RPC_TIMEOUT) -> Any:
        """``supervisor.<method>(*args)``; ``xmlrpc.client.Fault`` passes through."""
        proxy = xmlrpc.client.ServerProxy(
            "http://localhost", transport=_UnixTransport(str(self.socket_path), timeout)
        )
        try:
            return getattr(proxy.supervisor, method)(*args)
        except xmlrpc.client.Fault:
            raise
        except (OSError, http.client.HTTPException, xmlrpc.client.ProtocolError) as exc:
            raise Unavailable(
                f"supervisord of {self.home} does not answer on {self.socket_path} ({exc}); "
                "it starts with the platform server's local runtime"
            ) from exc
        finally:
            proxy("close")()

    def answering_pid(self, timeout: float = 2.0) -> int | None:
        """The PID reported over the socket, ``None`` when nothing answers."""
        if not self.socket_path.exists():
            return None
        try:
            return int(self.call("getPID", timeout=timeout))
        except (Unavailable, xmlrpc.client.Fault):
            return None

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Re-entrant: this thread holds the lock and this process the home's lock file."""
        with self._lock:
            if self._lock_depth == 0:
                self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
                self._lock_handle = (self.directory / ".lock").open("a")
                fcntl.flock(self._lock_handle, fcntl.LOCK_EX)
            self._lock_depth += 1
            try:
                yield
            finally:
                self._lock_depth -= 1
                if self._lock_depth == 0:
                    self._lock_handle.close()  # releases the flock
                    self._lock_handle = None

    def _is_ours(self, pid: int) -> bool:
        """``pid`` is a live supervisord started with this home's config (and, when the
        registry knows it, with the recorded start time)."""
        try:
            proc = psutil.Process(pid)
            if proc.status() == psutil.STATUS_ZOMBIE or str(self.conf_file) not in proc.cmdline():
                return False
        except psutil.Error:
            return False
        for record in processes.read_all(self.run_dir):
            if record.pid == pid and record.role == _ROLE:
                return processes.is_alive(record)
        return True

    def adopt(self) -> int | None:
        """PID of this home's live supervisord, ``None`` (stale files removed) when none
        runs. Raises ``Unavailable`` when one runs but does not answer, or when a foreign
        process answers on the socket."""
        pid = self.answering_pid()
        if pid is not None:
            if self._is_ours(pid):
                return pid
            raise Unavailable(
                f"{self.socket_path} is answered by process {pid}, which is not the "
                f"supervisord of {self.home}; stop it or remove the socket"
            )
        try:
            file_pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            file_pid = 0
        if file_pid and self._is_ours(file_pid):
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                pid = self.answering_pid()
                if pid is not None:
                    return pid
                time.sleep(0.2)
            raise Unavailable(
                f"supervisord (pid {file_pid}) of {self.home} runs but does not answer on "
                f"{self.socket_path}; stop it with `kill {file_pid}` and retry"
            )
        self.remove_stale()
        return None

    def remove_stale(self) -> None:
        """Delete the PID file and socket (only call when no supervisord of ours runs)."""
        for path in (self.pid_file, self.socket_path):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    def start(self, log_dirs: Iterable[Path], stop_timeout: float) -> int:
        """Start supervisord (daemonized, its own session); returns its PID once it answers.

        ``log_dirs`` are created first (supervisord refuses a config whose log directory is
        missing); orphaned wrappers are stopped first (waiting up to ``stop_timeout`` s).
        """
        self.reap_orphans(None, stop_timeout)
        self.programs_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        for folder in log_dirs:
            folder.mkdir(parents=True, exist_ok=True)
        write_atomic(self.conf_file, self._render_conf())
        env = stamp.child_env(os.environ, {}, clean=True)
        if "PYTHONPATH" in os.environ:  # so the stamp wrapper imports this very package
            env["PYTHONPATH"] = os.environ["PYTHONPATH"]
        out_file = self.directory / "supervisord.out"
        with out_file.open("wb") as out:
            result = subprocess.run(
                [sys.executable, "-m", "supervisor.supervisord", "-c", str(self.conf_file)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=self.directory,
                timeout=_START_TIMEOUT,
                check=False,
            )
        output = out_file.read_text(errors="replace").strip()
        if result.returncode != 0:
            raise Unavailable(
                f"supervisord for {self.home} did not start (exit {result.returncode}): "
                f"{output[-500:]} (config {self.conf_file}, log {self.log_file})"
            )
        deadline = time.monotonic() + _START_TIMEOUT
        while time.monotonic() < deadline:
            pid = self.answering_pid()
            if pid is not None:
                with contextlib.suppress(Unavailable, xmlrpc.client.Fault):
                    if self.call("getState")["statename"] == "RUNNING":
                        return pid
            time.sleep(0.05)
        raise Unavailable(
            f"supervisord for {self.home} started but did not answer on {self.socket_path} "
            f"within {_START_TIMEOUT:g} s; see {self.log_file}"
        )

    def _render_conf(self) -> str:
        return "\n".join(
            [
                "; written by goldenpath.drivers.local.supervisor; changes are overwritten",
                "[unix_http_server]",
                f"file={ini(str(self.socket_path), 'socket path')}",
                "chmod=0700",
                "",
                "[supervisord]",
                f"logfile={ini(str(self.log_file), 'log file')}",
                "logfile_maxbytes=5MB",
                "logfile_backups=2",
                "loglevel=info",
                f"pidfile={ini(str(self.pid_file), 'pid file')}",
                "nodaemon=false",
                "minfds=256",
                "minprocs=64",
                "identifier=goldenpath",
                "",
                "[rpcinterface:supervisor]",
                "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
                "",
                "[include]",
                "files = programs/*.conf",
                "",
            ]
        )

    def register(self, pid: int) -> None:
        """Record ``pid`` in :mod:`goldenpath.processes` (role ``supervisord``) unless it is
        already; drop records of supervisords that are gone."""
        known = False
        for record in processes.read_all(self.run_dir):
            if record.role != _ROLE:
                continue
            if record.pid == pid and processes.is_alive(record):
                known = True
            elif not processes.is_alive(record):
                processes.unregister(self.run_dir, record.pid)
        if not known:
            with contextlib.suppress(psutil.NoSuchProcess):
                processes.register(self.run_dir, pid, role=_ROLE)

    def wait_exit(self, pid: int, timeout: float) -> None:
        """Wait up to ``timeout`` s for ``pid`` to exit."""
        with contextlib.suppress(psutil.Error):
            proc = psutil.Process(pid)
            with contextlib.suppress(psutil.TimeoutExpired):
                proc.wait(timeout)

    def reap_orphans(self, name: str | None, stop_timeout: float) -> None:
        """Stop stamp wrappers of this home that outlived their supervisord (killed hard),
        so a new supervisord does not run programs twice."""
        folder = f"{self.programs_dir}{os.sep}"
        wanted = str(self.programs_dir / f"{name}.launch") if name else None
        found = []
        for proc in psutil.process_iter(["cmdline"]):
            cmdline = proc.info.get("cmdline") or []
            if STAMP in cmdline and any(
                arg == wanted if wanted else arg.startswith(folder) for arg in cmdline
            ):
                with contextlib.suppress(psutil.Error):
                    proc.terminate()  # the wrapper stops its command's group
                    found.append(proc)
        _, alive = psutil.wait_procs(found, timeout=stop_timeout + 5)
        for proc in alive:
            with contextlib.suppress(psutil.Error):
                for child in proc.children(recursive=True):
                    child.kill()
                proc.kill()


def write_atomic(path: Path, text: str, mode: int = 0o644) -> None:
    """Replace ``path`` with ``text`` (readers see the old or the new file, never half)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)
