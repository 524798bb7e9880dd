"""Run the API under uvicorn: ``run(settings)`` (what ``platform server`` calls).

The socket is bound here, before uvicorn starts, so ``server.port = 0`` gets a real free
port. Once uvicorn has started listening, ``<home>/run/server.json`` is written with
``{"host", "port", "url", "pid"}`` (the CLI finds the server through it); it is removed on
shutdown when it still names this process. SIGTERM/SIGINT stop it gracefully (in-flight
requests finish, the refresh loop stops) and the process exits with status 0.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import uvicorn

from goldenpath.api.app import create_app
from goldenpath.settings import Settings

__all__ = ["bind_socket", "run", "server_file"]


def server_file(settings: Settings) -> Path:
    """``<home>/run/server.json``."""
    return settings.run_dir / "server.json"


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0 → a free port chosen by the OS)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


class _Server(uvicorn.Server):
    """uvicorn's server, announcing its address once it listens."""

    def __init__(self, config: uvicorn.Config, *, announce: dict[str, Any], path: Path) -> None:
        super().__init__(config)
        self._announce = announce
        self._path = path

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            _write_json(self._path, self._announce)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        _remove_if_ours(self._path)
        await super().shutdown(sockets=sockets)


def _exit_cleanly(signum: int, _frame: object) -> None:
    """uvicorn re-raises the signal that stopped it; after a graceful stop, exit with 0."""
    raise SystemExit(0)


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data), encoding="utf-8")
    os.replace(tmp, path)


def _remove_if_ours(path: Path) -> None:
    with contextlib.suppress(OSError, ValueError):
        if json.loads(path.read_text(encoding="utf-8")).get("pid") == os.getpid():
            path.unlink()


def run(settings: Settings, *, factory: Callable[[Settings], Any] = create_app) -> None:
    """Serve ``factory(settings)`` (default: the API alone) until SIGINT/SIGTERM.

    Raises:
        OSError: the host/port cannot be bound (e.g. the port is taken).
        PlatformError: the app could not be built (database, first start).
    """
    app = factory(settings)
    sock = bind_socket(settings.server.host, settings.server.port)
    host, port = sock.getsockname()[:2]
    url_host = f"[{host}]" if ":" in host else host
    announce = {"host": host, "port": port, "url": f"http://{url_host}:{port}", "pid": os.getpid()}
    config = uvicorn.Config(
        app,
        log_level=settings.log_level.lower(),
        access_log=False,
        lifespan="on",
        proxy_headers=False,
        server_header=False,
    )
    path = server_file(settings)
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, _exit_cleanly)
    try:
        _Server(config, announce=announce, path=path).run(sockets=[sock])
    finally:
        _remove_if_ours(path)
        sock.close()
