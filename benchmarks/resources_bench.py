"""`platform db create` benchmark: a PostgreSQL claim on a cold and on a warm managed cluster.

Issue 5's targets: ``platform db create`` on a warm cluster ≤ 0.5 s, cold ≤ 3 s. Three ways
of measuring the same use case, each on a fresh data directory:

- **service**: ``ResourceService.create`` in this process (SQLite store, real
  ``ManagedPostgres`` under a real supervisord, real ``SecretService``). *Cold* = the first
  claim of a home: initdb, start the server, create the role + database, store the six
  output secrets. *Warm* = each further claim (median / p95 over ``--runs``).
- **HTTP**: ``POST /api/resources/v1/claims`` against a real ``platform server`` (what
  ``platform db create`` sends), cold = the first claim of the server's home.
- **CLI**: ``platform db create`` as a subprocess on the warm server (adds Python start-up
  and the CLI's imports).

    .venv/bin/python benchmarks/resources_bench.py [--runs 20] [--cold 3] \
        [--update-doc docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import os
import platform as host_platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from report import update_section

from goldenpath.cli import localserver
from goldenpath.cli.client import read_token
from goldenpath.drivers.local.postgres import ManagedPostgres
from goldenpath.drivers.local.supervisor import ProcessSupervisor
from goldenpath.resources.model import ClaimRequest
from goldenpath.resources.service import ResourceService
from goldenpath.secrets.service import SecretService
from goldenpath.settings import Settings
from goldenpath.store import migrate
from goldenpath.store.engine import make_engine

CLAIMS = "/api/resources/v1/claims"


def _timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _figures(label: str, times: list[float]) -> dict[str, Any]:
    times = sorted(times)
    return {
        "label": label,
        "runs": len(times),
        "median": statistics.median(times),
        "p95": times[min(len(times) - 1, round(0.95 * (len(times) - 1)))],
        "max": times[-1],
    }


def _service_round(warm_runs: int) -> tuple[float, list[float]]:
    """One fresh home: the first claim's time, then ``warm_runs`` further claims."""
    with tempfile.TemporaryDirectory(prefix="gp-res-bench-") as tmp:
        settings = Settings(home=Path(tmp))
        engine = make_engine(settings.effective_database_url)
        migrate.upgrade(engine)
        supervisor = ProcessSupervisor(settings.home)
        postgres = ManagedPostgres(settings, supervisor)
        svc = ResourceService(
            engine=engine,
            settings=settings,
            secrets=SecretService(engine=engine, settings=settings),
            postgres=postgres,
            redis=None,  # type: ignore[arg-type]  # postgres only
        )

        def claim(name: str) -> float:
            return _timed(lambda: svc.create(ClaimRequest(name=name, type="postgres"), actor="b"))

        try:
            return claim("cold"), [claim(f"warm-{i}") for i in range(warm_runs)]
        finally:
            supervisor.shutdown()
            postgres.destroy()
            engine.dispose()


def bench_service(runs: int, colds: int) -> list[dict[str, Any]]:
    """Cold (first claim of ``colds`` fresh homes) and warm (``runs`` claims) in-process."""
    cold: list[float] = []
    warm: list[float] = []
    for round_ in range(colds):
        first, further = _service_round(runs if round_ == 0 else 0)
        cold.append(first)
        warm.extend(further)
    return [_figures("service, cold", cold), _figures("service, warm", warm)]


def _processes(argv_tail: list[str], runs: int) -> list[float]:
    """Time ``runs`` ``platform …`` processes; a trailing ``--name`` gets ``cli-<i>``."""
    times = []
    for i in range(runs):
        argv = [sys.executable, "-m", "goldenpath.cli", *argv_tail]
        if argv_tail[-1] == "--name":
            argv.append(f"cli-{i}")
        start = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return times


def _server_round(runs: int, cli_runs: int) -> dict[str, list[float]]:
    """One fresh ``platform server``: its first claim, then warm claims and CLI processes."""
    saved = os.environ.get("GOLDENPATH_HOME")
    with tempfile.TemporaryDirectory(prefix="gp-res-bench-srv-") as tmp:
        os.environ["GOLDENPATH_HOME"] = tmp
        settings = Settings()
        try:
            url = localserver.ensure_running(settings)
            headers = {"Authorization": f"Bearer {read_token(settings)}"}
            with httpx.Client(base_url=url, headers=headers, timeout=120) as client:

                def create(name: str) -> float:
                    body = {"name": name, "type": "postgres"}
                    return _timed(lambda: client.post(CLAIMS, json=body).raise_for_status())

                figures = {
                    "cold": [create("cold")],
                    "warm": [create(f"warm-{i}") for i in range(runs)],
                }
            figures["startup"] = _processes(["--version"], cli_runs)
            figures["cli"] = _processes(["db", "create", "--name"], cli_runs)
            return figures
        finally:
            localserver.stop(settings, all_processes=True)
            ManagedPostgres(settings, ProcessSupervisor(settings.home)).destroy()
            if saved is None:
                os.environ.pop("GOLDENPATH_HOME", None)
            else:
                os.environ["GOLDENPATH_HOME"] = saved


def bench_server(runs: int, cli_runs: int, colds: int) -> list[dict[str, Any]]:
    """HTTP cold (``colds`` fresh servers) / warm, and CLI processes on a real server."""
    total: dict[str, list[float]] = {"cold": [], "warm": [], "cli": [], "startup": []}
    for round_ in range(colds):
        found = _server_round(runs if round_ == 0 else 0, cli_runs if round_ == 0 else 0)
        for key, values in found.items():
            total[key].extend(values)
    return [
        _figures("HTTP POST /claims, cold", total["cold"]),
        _figures("HTTP POST /claims, warm", total["warm"]),
        _figures("`platform db create` (process), warm", total["cli"]),
        _figures("`platform --version` (process start-up alone)", total["startup"]),
    ]


def _table(rows: list[dict[str, Any]]) -> str:
    lines = [
        f"### `platform db create` (postgres, small) — "
        f"{datetime.now(UTC).isoformat(timespec='seconds')}",
        "",
        f"Machine: {host_platform.machine()}, {os.cpu_count()} cores, Python "
        f"{host_platform.python_version()}, load {os.getloadavg()[0]:.2f} at the end. Targets: "
        "warm ≤ 0.5 s, cold ≤ 3 s. Cold = the first claim of a fresh data directory (initdb, "
        "start the managed cluster under supervisord, role + database, six secrets); warm = a "
        "further claim. SQLite store. The CLI rows include the Python start-up and imports "
        "every `platform` command pays (the last row).",
        "",
        "| what | runs | median | p95 | max |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['label']} | {r['runs']} | {r['median']:.3f} s | {r['p95']:.3f} s | "
            f"{r['max']:.3f} s |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run the benchmark, print (and optionally write) the table."""
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--runs", type=int, default=20, help="warm claims per measurement")
    p.add_argument("--cold", type=int, default=3, help="fresh homes for the cold figure")
    p.add_argument("--cli-runs", type=int, default=5, help="`platform db create` processes")
    p.add_argument("--update-doc", type=Path, help="write the table into this markdown file")
    args = p.parse_args(argv)
    rows = bench_service(args.runs, args.cold) + bench_server(args.runs, args.cli_runs, args.cold)
    table = _table(rows)
    print(table)
    if args.update_doc:
        update_section(args.update_doc, "resources-bench", "Resources", table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
