"""Helpers for the browser tests: a real ``platform server`` and Debian's Chromium.

The server is the real CLI (``python -m goldenpath.cli server --port 0``) on a throwaway
``GOLDENPATH_HOME``; its URL comes from ``<home>/run/server.json`` once it listens. Chromium is
``/usr/bin/chromium`` (``apt-get install chromium``) driven by Playwright for Python — never
``playwright install``, which cannot download browsers here. Every wait is bounded and every
process started here is stopped by PID in :func:`stop_server` / :func:`stop_everything`.
Screenshots go to ``<repo>/test-artifacts/portal/`` (gitignored).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from goldenpath import processes as pids

__all__ = [
    "ARTIFACTS",
    "CHROMIUM",
    "CHROMIUM_ARGS",
    "EXTERNAL_REQUESTS",
    "PortalServer",
    "launch_chromium",
    "platform_env",
    "screenshot",
    "start_server",
    "stop_everything",
    "stop_server",
]

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "portal"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@dataclass
class PortalServer:
    """A running ``platform server``: its data directory, base URL, process and log file."""

    home: Path
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def admin_token(self) -> str:
        """The bootstrap admin token the first start wrote to ``<home>/admin-token``."""
        return (self.home / "admin-token").read_text(encoding="utf-8").strip()

    def api(self) -> httpx.Client:
        """An HTTP client of the API with the admin token (close it after use)."""
        return httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {self.admin_token()}"},
            timeout=30,
        )

    def log_tail(self, chars: int = 4000) -> str:
        """The end of the server's output, for assertion messages."""
        with contextlib.suppress(OSError):
            return self.log.read_text(encoding="utf-8", errors="replace")[-chars:]
        return ""


def platform_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of a ``platform`` process for data directory ``home``: no inherited
    ``GOLDENPATH_*``, no periodic catalog refresh, a fast deploy reconciler (0.2 s)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOLDENPATH_")}
    env.update(
        GOLDENPATH_HOME=str(home),
        GOLDENPATH_CATALOG__REFRESH_INTERVAL="0",
        GOLDENPATH_DEPLOY__RECONCILE_INTERVAL="0.2",
        GOLDENPATH_SERVER__START_TIMEOUT="60",
        COLUMNS="200",
    )
    env.update(extra)
    return env


def start_server(home: Path, *, timeout: float = 90) -> PortalServer:
    """Start ``platform server --port 0`` in the foreground of a subprocess and return once
    ``<home>/run/server.json`` names it and ``/healthz`` answers.

    Raises:
        AssertionError: it exited or did not answer within ``timeout`` seconds (it is killed;
            the message carries the end of its log).
    """
    home.mkdir(parents=True, exist_ok=True)
    log = home.parent / f"{home.name}-server.log"
    server_json = home / "run" / "server.json"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "goldenpath.cli", "server", "--port", "0"],
            env=platform_env(home),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        url = _announced_url(server_json, process.pid)
        if url is not None and _healthy(url):
            return PortalServer(home=home, url=url, process=process, log=log)
        if process.poll() is not None:
            break
        time.sleep(0.1)
    stop_server_process(process)
    tail = log.read_text(encoding="utf-8", errors="replace")[-4000:]
    raise AssertionError(f"platform server did not start (exit {process.returncode}):\n{tail}")


def _announced_url(server_json: Path, pid: int) -> str | None:
    try:
        info = json.loads(server_json.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return str(info["url"]) if info.get("pid") == pid else None


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def stop_server_process(process: subprocess.Popen[bytes], *, timeout: float = 30) -> None:
    """SIGTERM the server process (its PID only), SIGKILL after ``timeout`` seconds."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)


def stop_server(server: PortalServer) -> None:
    """Stop the server, then every process the platform registered for its home."""
    try:
        stop_server_process(server.process)
    finally:
        stop_everything(server.home)


def stop_everything(home: Path) -> None:
    """Teardown: every process recorded in ``<home>/run/pids`` (supervisord, HAProxy, …)
    terminated by PID, the local runtime shut down and a managed PostgreSQL removed."""
    from goldenpath.drivers.local.driver import LocalDriver
    from goldenpath.drivers.local.postgres import remove_stopped_cluster
    from goldenpath.settings import Settings

    try:
        LocalDriver(Settings(home=home)).shutdown()
    finally:
        for record in pids.read_all(home / "run"):
            pids.terminate(record, timeout=5)
        remove_stopped_cluster(home)


def launch_chromium(playwright: Any, profile_dir: Path) -> Any:
    """A headless Chromium context on a fresh user-data directory ``profile_dir`` (a
    Playwright ``BrowserContext``; close it after use). Requests to anything but this
    machine are refused and listed in :data:`EXTERNAL_REQUESTS`."""
    profile_dir.mkdir(parents=True, exist_ok=True)
    context = playwright.chromium.launch_persistent_context(
        str(profile_dir),
        executable_path=str(CHROMIUM),
        headless=True,
        args=CHROMIUM_ARGS,
        viewport={"width": 1280, "height": 900},
    )
    context.set_default_timeout(15_000)
    context.route(lambda url: not _LOCAL.match(url), _refuse)
    return context


_LOCAL = re.compile(r"^https?://(127\.0\.0\.1|localhost)[:/]")
#: ``(URL of the frame that asked, URL)`` of every request off this machine the browser made
#: (all refused: the tests are hermetic and the portal must not need the internet)
EXTERNAL_REQUESTS: list[tuple[str, str]] = []


def _refuse(route: Any) -> None:
    try:
        frame = route.request.frame.url
    except Exception:  # a service worker's request has no frame
        frame = ""
    EXTERNAL_REQUESTS.append((frame, route.request.url))
    route.abort()


def screenshot(page: Any, name: str) -> Path:
    """Save a full-page PNG of ``page`` as ``test-artifacts/portal/<name>.png``."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
