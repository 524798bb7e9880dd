"""Template run benchmark: parameters → committed repository registered in the catalog.

Issue 3's target: a ``python-service`` run takes ≤ 1 s on this machine. This script starts a
real ``platform server`` (SQLite under a temporary home, and PostgreSQL from a throwaway
cluster when the machine has it), then runs the built-in ``python-service`` template ``--runs``
times through the REST API (``POST /api/scaffolder/v2/tasks``, poll until ``completed``):
each run renders the skeleton, commits and pushes it to the platform git host and registers
its ``catalog-info.yaml``. It reports the wall time per run as the client sees it (request to
completed task, poll interval 10 ms) and checks each run's Component is in the catalog.

    .venv/bin/python benchmarks/scaffolder_bench.py [--runs 20] [--update-doc docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import os
import platform as host_platform
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from pgcluster import ThrowawayPostgres, pg_bin  # noqa: E402
from report import update_section  # noqa: E402

from goldenpath.cli import localserver  # noqa: E402
from goldenpath.cli.client import read_token  # noqa: E402
from goldenpath.settings import Settings  # noqa: E402

TASKS = "/api/scaffolder/v2/tasks"


def _run_once(client: httpx.Client, name: str, timeout: float = 60.0) -> float:
    values = {"name": name, "owner": "platform-admins", "description": "bench"}
    start = time.perf_counter()
    created = client.post(
        TASKS, json={"templateRef": "template:default/python-service", "values": values}
    )
    created.raise_for_status()
    task_id = created.json()["id"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        task = client.get(f"{TASKS}/{task_id}").json()
        if task["status"] in ("completed", "failed", "cancelled"):
            break
        time.sleep(0.01)
    elapsed = time.perf_counter() - start
    if task["status"] != "completed":
        raise SystemExit(f"run {name} ended {task['status']}: {task}")
    entity = client.get(f"/api/catalog/entities/by-name/component/default/{name}")
    if entity.status_code != 200:
        raise SystemExit(f"run {name}: component:default/{name} not in the catalog")
    return elapsed


def run_backend(label: str, database_url: str | None, runs: int) -> dict[str, float | str]:
    """Start a server on a fresh home, warm up once, time ``runs`` runs; returns figures (s)."""
    saved = {k: os.environ.get(k) for k in ("GOLDENPATH_HOME", "GOLDENPATH_DATABASE_URL")}
    with tempfile.TemporaryDirectory(prefix="gp-scaffold-bench-") as tmp:
        # The server runs in a child process that reads its settings from the environment.
        os.environ["GOLDENPATH_HOME"] = tmp
        os.environ.pop("GOLDENPATH_DATABASE_URL", None)
        if database_url:
            os.environ["GOLDENPATH_DATABASE_URL"] = database_url
        settings = Settings()
        try:
            url = localserver.ensure_running(settings)
            headers = {"Authorization": f"Bearer {read_token(settings)}"}
            with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
                _run_once(client, "warmup-svc")
                times = [_run_once(client, f"bench-svc-{i}") for i in range(runs)]
        finally:
            localserver.stop(settings, all_processes=True)
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
    times.sort()
    return {
        "backend": label,
        "runs": runs,
        "median": statistics.median(times),
        "p95": times[min(len(times) - 1, round(0.95 * (len(times) - 1)))],
        "max": times[-1],
    }


def _table(rows: list[dict[str, float | str]]) -> str:
    lines = [
        f"### Template run (python-service) — {datetime.now(UTC).isoformat(timespec='seconds')}",
        "",
        f"Machine: {host_platform.machine()}, {os.cpu_count()} cores, Python "
        f"{host_platform.python_version()}. Target: ≤ 1 s from parameters to a committed "
        "repository registered in the catalog.",
        "",
        "| store | runs | median | p95 | max |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['backend']} | {r['runs']} | {float(r['median']):.3f} s | "
            f"{float(r['p95']):.3f} s | {float(r['max']):.3f} s |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run the benchmark on SQLite (and PostgreSQL), print the table."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=20, help="timed runs per store (default 20)")
    p.add_argument("--no-postgres", action="store_true", help="SQLite only")
    p.add_argument("--update-doc", type=Path, help="write the table into this markdown file")
    args = p.parse_args(argv)
    rows = [run_backend("SQLite", None, args.runs)]
    if not args.no_postgres and pg_bin() is not None:
        with ThrowawayPostgres() as url:
            rows.append(run_backend("PostgreSQL", url, args.runs))
    table = _table(rows)
    print(table)
    if args.update_doc:
        update_section(args.update_doc, "scaffolder-bench", "Scaffolder", table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
