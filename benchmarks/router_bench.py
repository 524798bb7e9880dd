"""Router benchmark: throughput through HAProxy versus straight to the upstream.

Issue target: router throughput ≥ 90 % of direct to the upstream (127.0.0.1 only, ≤ 10 s
runs). The upstream runs in its own process; the router is the real
:class:`~goldenpath.drivers.local.router.Router` on a throwaway home.

Upstreams (``--upstream``): ``fastapi`` (default) is what a golden-path Python service is, a
FastAPI app on uvicorn, one process; ``asyncio`` is a bare protocol answering a fixed response
(~45k req/s here), which shows the router's own ceiling on a 2-core machine where the load
generator, HAProxy and the upstream share the cores.

Scenarios, each one bounded run of ``--seconds`` (≤ 10):

1. ``direct``: the load generator → upstream;
2. ``router``: the load generator → the route's direct frontend → upstream;
3. ``router-host``: the same through the Host-routed HTTP frontend;
4. ``router-churn``: as 2, while weights change every 0.5 s and the server set changes
   (seamless reload) every 2 s; every failed request (socket error, non-2xx) is counted.

Load generator: ``wrk`` when it is on PATH (Debian: ``apt-get install wrk``; this script
installs nothing), else a bounded asyncio generator in this process (``--python`` forces
it). Output: a JSON document on stdout (and ``--out FILE``) with the machine, date and
every figure.

    .venv/bin/python benchmarks/router_bench.py --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from goldenpath.drivers.local.router import Router, Upstream
from goldenpath.settings import RuntimeSettings

__all__ = ["main", "python_load", "wrk_load"]

_FASTAPI = r"""
import sys, uvicorn
from fastapi import FastAPI
app = FastAPI()
@app.get("/")
def root() -> dict[str, str]:
    return {"status": "ok"}
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
"""

_ASYNCIO = r"""
import asyncio, sys
BODY = b"ok"
RESP = (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\n" + BODY)
class P(asyncio.Protocol):
    def connection_made(self, t): self.t, self.buf = t, b""
    def data_received(self, data):
        self.buf += data
        n = self.buf.count(b"\r\n\r\n")
        if n:
            self.buf = self.buf[self.buf.rfind(b"\r\n\r\n") + 4:]
            self.t.write(RESP * n)
async def main():
    server = await asyncio.get_running_loop().create_server(P, "127.0.0.1", int(sys.argv[1]))
    await server.serve_forever()
asyncio.run(main())
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def wrk_load(url: str, seconds: float, connections: int, host: str | None = None) -> dict[str, Any]:
    """One ``wrk`` run (2 threads); returns req/s, latency percentiles (ms) and failures."""
    cmd = ["wrk", "-t2", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency", url]
    if host:
        cmd[1:1] = ["-H", f"Host: {host}"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 30).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    latency = {
        p: _ms(m.group(1), m.group(2))
        for p in ("50", "99")
        if (m := re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M))
    }
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    total = re.search(r"(\d+) requests in", out)
    return {
        "generator": "wrk",
        "requests": int(total.group(1)) if total else None,
        "req_per_s": rps,
        "p50_ms": latency.get("50"),
        "p99_ms": latency.get("99"),
        "failed": errors + (int(non2xx.group(1)) if non2xx else 0),
    }


def _ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


_CONTENT_LENGTH = re.compile(rb"(?i)content-length:\s*(\d+)")
_CLOSE = re.compile(rb"(?i)\r\nconnection:\s*close")


def python_load(port: int, seconds: float, connections: int, host: str = "bench") -> dict[str, Any]:
    """A bounded asyncio keep-alive generator: ``connections`` loops for ``seconds``."""
    request = f"GET / HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
    done = {"ok": 0, "failed": 0}

    async def one(deadline: float) -> None:
        # Keep-alive as HTTP/1.1 clients do it: a "Connection: close" answer ends the
        # connection and the next request opens a new one. Any other error is a failure.
        while time.monotonic() < deadline:
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                done["failed"] += 1
                continue
            try:
                while time.monotonic() < deadline:
                    writer.write(request)
                    head = await reader.readuntil(b"\r\n\r\n")
                    length = _CONTENT_LENGTH.search(head)
                    await reader.readexactly(int(length.group(1)) if length else 0)
                    done["ok" if head.startswith(b"HTTP/1.1 2") else "failed"] += 1
                    if _CLOSE.search(head):
                        break
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                done["failed"] += 1
            finally:
                writer.close()

    async def run() -> float:
        start = time.monotonic()
        await asyncio.gather(*(one(start + seconds) for _ in range(connections)))
        return time.monotonic() - start

    elapsed = asyncio.run(run())
    return {
        "generator": "python",
        "requests": done["ok"] + done["failed"],
        "req_per_s": round(done["ok"] / elapsed, 1),
        "p50_ms": None,
        "p99_ms": None,
        "failed": done["failed"],
    }


def _churn(router: Router, ups: list[Upstream], stop: threading.Event) -> int:
    """Weight changes every 0.5 s and a server-set change every 2 s; returns changes made."""
    changes, tick = 0, 0
    while not stop.is_set():
        tick += 1
        chosen = ups if tick % 4 else ups[:1]
        weights = {"v1": 50 + (tick % 2) * 30, "v2": 50 - (tick % 2) * 30}
        if len(chosen) == 1:
            weights = {"v1": 100}
        router.apply("bench", "svc", chosen, weights, health_path=None)
        changes += 1
        stop.wait(0.5)
    return changes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--python", action="store_true", help="use the Python generator")
    parser.add_argument(
        "--upstream",
        choices=("fastapi", "asyncio"),
        default="fastapi",
        help="fastapi: a golden-path-like FastAPI app on uvicorn (default); "
        "asyncio: a bare protocol answering a fixed response (the router's ceiling)",
    )
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    seconds = min(args.seconds, 10.0)
    use_wrk = shutil.which("wrk") is not None and not args.python
    home = Path(tempfile.mkdtemp(prefix="router-bench-"))
    ports = [_free_port(), _free_port()]
    upstreams = [
        subprocess.Popen(
            [sys.executable, "-c", _FASTAPI if args.upstream == "fastapi" else _ASYNCIO, str(p)],
            stdin=subprocess.DEVNULL,
        )
        for p in ports
    ]
    router = Router(home, RuntimeSettings())
    results: dict[str, Any] = {}
    try:
        for port in ports:
            _wait_port(port)
        ups = [Upstream("v1-r0", "v1", ports[0]), Upstream("v2-r0", "v2", ports[1])]
        urls = router.apply("bench", "svc", ups[:1], {"v1": 100}, health_path=None)
        direct_port = int(urls.direct.rsplit(":", 1)[1])
        host = "svc.bench.localhost"

        def load(port: int, with_host: bool = False) -> dict[str, Any]:
            if use_wrk:
                return wrk_load(
                    f"http://127.0.0.1:{port}/",
                    seconds,
                    args.connections,
                    host if with_host else None,
                )
            return python_load(port, seconds, args.connections, host if with_host else "b")

        results["direct"] = load(ports[0])
        results["router"] = load(direct_port)
        results["router-host"] = load(router.http_port, with_host=True)
        stop = threading.Event()
        counter: list[int] = []
        churner = threading.Thread(target=lambda: counter.append(_churn(router, ups, stop)))
        churner.start()
        try:
            results["router-churn"] = load(direct_port)
        finally:
            stop.set()
            churner.join(timeout=30)
        results["router-churn"]["route_changes"] = counter[0] if counter else None
    finally:
        router.stop()
        for proc in upstreams:
            proc.terminate()
            proc.wait(timeout=10)
        shutil.rmtree(home, ignore_errors=True)
    report = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "upstream": args.upstream,
        "seconds": seconds,
        "connections": args.connections,
        "results": results,
        "router_vs_direct": round(
            results["router"]["req_per_s"] / results["direct"]["req_per_s"], 3
        ),
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
