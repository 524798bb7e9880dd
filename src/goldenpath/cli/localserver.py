"""The local background server of a data directory: start, reuse, stop, status.

Files under ``settings.run_dir`` (``<home>/run``):

- ``server.json`` — ``{host, port, url, pid}``, written by ``goldenpath.api.serve.run`` once
  the server listens; the CLI reads it to find (and reuse) the server.
- ``server.log`` — stdout/stderr of a server started with ``platform server start``.
- ``server.lock`` — held while starting or stopping, so two CLI calls never start two servers.
- ``pids/`` — the registry of processes the platform started (:mod:`goldenpath.processes`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from goldenpath import processes as pids
from goldenpath.errors import Unavailable
from goldenpath.settings import Settings

__all__ = [
    "ServerStatus",
    "ensure_running",
    "server_lock",
    "start",
    "status",
    "stop",
]

_POLL = 0.1  # seconds between readiness probes
_STOP_TIMEOUT = 10.0  # seconds between SIGTERM and SIGKILL


@dataclass(frozen=True, slots=True)
class ServerStatus:
    """What ``platform server status`` reports.

    Attributes:
        running: a live process of ours is listed in ``server.json``.
        healthy: it answered ``GET /healthz`` with 200.
        url: base URL (``http://127.0.0.1:PORT``) or None when not running.
        pid: the server's PID or None.
        reused: set by :func:`start` when an already running server was kept.
        log: path of the background server's log file.
    """

    running: bool
    healthy: bool
    url: str | None
    pid: int | None
    log: Path
    reused: bool = False

    def as_dict(self) -> dict[str, Any]:
        """JSON-compatible form for ``-o json``."""
        return {
            "running": self.running,
            "healthy": self.healthy,
            "url": self.url,
            "pid": self.pid,
            "reused": self.reused,
            "log": str(self.log),
        }


def status(settings: Settings) -> ServerStatus:
    """Inspect ``server.json`` and the process it names; never raises for a stale file."""
    log = settings.run_dir / "server.log"
    info = _read_server_file(settings)
    if info is None:
        return ServerStatus(running=False, healthy=False, url=None, pid=None, log=log)
    record = _server_record(settings, info)
    if record is None or not pids.is_alive(record):
        return ServerStatus(running=False, healthy=False, url=None, pid=None, log=log)
    url = str(info.get("url") or "")
    return ServerStatus(running=True, healthy=_healthy(url), url=url, pid=record.pid, log=log)


def ensure_running(settings: Settings) -> str:
    """The URL of this data directory's server, starting one in the background if needed.

    Raises:
        Unavailable: the server did not answer ``/healthz`` within
            ``settings.server.start_timeout`` seconds (the message quotes its log).
    """
    current = status(settings)
    if current.running and current.healthy and current.url:
        return current.url
    started = start(settings)
    assert started.url is not None
    return started.url


def start(settings: Settings) -> ServerStatus:
    """Start the server detached (own session, log file) or reuse a live one; idempotent.

    Waits until ``/healthz`` answers. A live server that is still starting is waited for,
    not duplicated; a stale ``server.json`` (dead or reused PID) is replaced.

    Raises:
        Unavailable: the process exited early or did not become healthy within
            ``settings.server.start_timeout`` seconds.
    """
    with server_lock(settings):
        current = status(settings)
        if current.running:
            if not current.healthy:
                current = _wait_healthy(settings, current.pid, None)
            return dataclasses.replace(current, reused=True)
        _remove_server_file(settings)
        process = _spawn(settings)
        record = pids.register(settings.run_dir, process.pid, role="server")
        try:
            return _wait_healthy(settings, process.pid, process)
        except Unavailable:
            pids.terminate(record, timeout=_STOP_TIMEOUT)  # never leave a half-started server
            pids.unregister(settings.run_dir, process.pid)
            raise


def stop(settings: Settings, *, all_processes: bool = False) -> list[pids.ProcessRecord]:
    """Stop the server (SIGTERM, then SIGKILL after a bound) and, with ``all_processes``,
    every other process in the registry. Processes whose PID was reused are left alone.

    A registered server that never wrote ``server.json`` (hung while starting) is stopped too.

    Returns:
        The records of processes that were running and are now stopped.
    """
    stopped: list[pids.ProcessRecord] = []
    with server_lock(settings):
        for record in pids.read_all(settings.run_dir):
            wanted = all_processes or record.role == "server"
            if wanted and pids.terminate(record, timeout=_STOP_TIMEOUT):
                stopped.append(record)
            if wanted or not pids.is_alive(record):
                pids.unregister(settings.run_dir, record.pid)
        _remove_server_file(settings)
    return stopped


@contextlib.contextmanager
def server_lock(settings: Settings, timeout: float | None = None) -> Iterator[None]:
    """An exclusive advisory lock on ``<run>/server.lock`` (``fcntl.flock``).

    Raises:
        Unavailable: another ``platform`` command held the lock for longer than ``timeout``
            seconds (default: the start timeout plus the stop bound).
    """
    import fcntl

    settings.run_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    bound = timeout if timeout is not None else settings.server.start_timeout + 2 * _STOP_TIMEOUT
    deadline = time.monotonic() + bound
    with open(settings.run_dir / "server.lock", "a+b") as handle:
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise Unavailable(
                        f"{settings.run_dir / 'server.lock'}: another platform command is "
                        f"starting or stopping the server; try again in a moment"
                    ) from None
                time.sleep(_POLL)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _spawn(settings: Settings) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env["GOLDENPATH_HOME"] = str(settings.home)
    env["GOLDENPATH_SERVER__HOST"] = settings.server.host
    env["GOLDENPATH_SERVER__PORT"] = str(settings.server.port)
    if settings.database_url:
        env["GOLDENPATH_DATABASE_URL"] = settings.database_url
    env.pop("GOLDENPATH_SERVER__URL", None)
    log_path = settings.run_dir / "server.log"
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "goldenpath.cli", "server", "run"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=str(settings.home),
            start_new_session=True,
            close_fds=True,
        )


def _wait_healthy(
    settings: Settings, pid: int | None, process: subprocess.Popen[bytes] | None
) -> ServerStatus:
    deadline = time.monotonic() + settings.server.start_timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise Unavailable(
                f"the server exited with code {process.returncode} while starting; "
                f"its log {settings.run_dir / 'server.log'} ends with:\n{_log_tail(settings)}"
            )
        current = status(settings)
        if current.running and current.pid == pid and current.healthy:
            return current
        time.sleep(_POLL)
    raise Unavailable(
        f"the server (PID {pid}) did not answer /healthz within "
        f"{settings.server.start_timeout:g} s (raise GOLDENPATH_SERVER__START_TIMEOUT); "
        f"its log {settings.run_dir / 'server.log'} ends with:\n{_log_tail(settings)}"
    )


def _read_server_file(settings: Settings) -> dict[str, Any] | None:
    try:
        data = json.loads((settings.run_dir / "server.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("pid"), int) else None


def _server_record(settings: Settings, info: dict[str, Any]) -> pids.ProcessRecord | None:
    """The registry record of the PID in ``server.json``, if that PID is really ours."""
    pid = int(info["pid"])
    for record in pids.read_all(settings.run_dir):
        if record.pid == pid:
            return record
    return None


def _remove_server_file(settings: Settings) -> None:
    with contextlib.suppress(FileNotFoundError):
        (settings.run_dir / "server.json").unlink()


def tls_verify(url: str) -> ssl.SSLContext | bool:
    """httpx's ``verify`` for a client of ``url``: for a plain ``http:`` URL (the local
    server) a TLS context with no CA certificates loaded, else True (the system's CAs).

    httpx builds its TLS context when a client is created, even for ``http:`` URLs, and
    loading the CA bundle costs ~18 ms — every CLI command paid it twice (the health probe
    and the API client). The empty context trusts nothing: should such a client ever be
    sent to an ``https:`` URL, verification fails rather than passes.
    """
    if url.lower().startswith("http:"):
        return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    return True


def _healthy(url: str) -> bool:
    try:
        probe = httpx.get(f"{url.rstrip('/')}/healthz", timeout=2.0, verify=tls_verify(url))
        return probe.status_code == 200
    except httpx.HTTPError:
        return False


def _log_tail(settings: Settings, lines: int = 20) -> str:
    try:
        text = (settings.run_dir / "server.log").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])
