"""Deploy benchmark: time to first deploy, and how long a bad canary takes traffic.

Issue 4's targets, measured against a real ``platform server`` on a throwaway home (SQLite,
the local driver: uv builds, supervisord replicas, HAProxy):

1. **create → deploy → first 200 ≤ 10 s with a warm package cache.** One warm-up run fills
   uv's cache and starts the router; then each timed run posts the built-in
   ``python-service`` template with ``deployTo: dev`` (``POST /api/scaffolder/v2/tasks``:
   render, commit, push, register, then the ``platform:deploy`` step builds the FastAPI
   service with uv and rolls it out) and polls the service's direct URL until it answers 200.
   The clock runs from the request to that first 200.
2. **canary abort ≤ 15 s after the bad version takes traffic.** A small stdlib HTTP app in
   a local git repository is deployed (v1), then v2 — 500 on 90 % of requests — with
   ``canary: 10`` while four client threads send requests through the router. Figures: how
   long v2 answered (first to last v2 response), and from its first response to the
   deployment's ``aborted`` state.

Router throughput (the third target) has its own script, ``router_bench.py``; its figures
are in docs/router.md and summarised in docs/benchmarks.md.

    .venv/bin/python benchmarks/deploy_bench.py [--runs 5] [--update-doc docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import os
import platform as host_platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from report import update_section

from goldenpath.cli import localserver
from goldenpath.cli.client import read_token
from goldenpath.settings import Settings

TASKS = "/api/scaffolder/v2/tasks"
DEPLOY = "/api/deploy/v1"

#: v1 answers 200; v2 (FLAKY=0.9) answers 500 nine times in ten — readiness still passes
FLAKY_APP = """\
import os, random, http.server

class Answer(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        broken = self.path == "/" and random.random() < float(os.environ["FLAKY"])
        body = os.environ["LABEL"].encode()
        self.send_response(500 if broken else 200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        return

http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Answer).serve_forever()
"""

FLAKY_SPEC = """\
kind: Service
metadata: {{name: flaky}}
spec:
  build: {{kind: python}}
  run:
    command: [python, app.py]
    readiness: /ready
    env: {{LABEL: "{label}", FLAKY: "{flaky}"}}
  runtime: {{replicas: 2}}
  deployment: {{strategy: canary, canary: true}}
"""


@contextmanager
def server() -> Iterator[httpx.Client]:
    """A real server on a fresh home; stops it and everything it started at the end."""
    saved = os.environ.get("GOLDENPATH_HOME")
    with tempfile.TemporaryDirectory(prefix="gp-deploy-bench-") as tmp:
        os.environ["GOLDENPATH_HOME"] = tmp
        settings = Settings()
        try:
            url = localserver.ensure_running(settings)
            headers = {"Authorization": f"Bearer {read_token(settings)}"}
            with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
                yield client
        finally:
            localserver.stop(settings, all_processes=True)
            if saved is None:
                os.environ.pop("GOLDENPATH_HOME", None)
            else:
                os.environ["GOLDENPATH_HOME"] = saved


def _wait_task(client: httpx.Client, task_id: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        task: dict[str, Any] = client.get(f"{TASKS}/{task_id}").json()
        if task["status"] in ("completed", "failed", "cancelled"):
            return task
        time.sleep(0.02)
    raise SystemExit(f"task {task_id} still running after {timeout:g} s")


def create_deploy_first_200(client: httpx.Client, name: str, timeout: float = 120.0) -> float:
    """Seconds from the template request to the new service's first 200."""
    values = {"name": name, "owner": "platform-admins", "deployTo": "dev"}
    start = time.perf_counter()
    created = client.post(
        TASKS, json={"templateRef": "template:default/python-service", "values": values}
    )
    created.raise_for_status()
    task = _wait_task(client, created.json()["id"], timeout)
    if task["status"] != "completed":
        raise SystemExit(f"{name}: task ended {task['status']}")
    (status,) = client.get(f"{DEPLOY}/services/{name}/status").json()
    url = status["urls"]["direct"] + "/"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return time.perf_counter() - start
        except httpx.HTTPError:
            pass
        time.sleep(0.01)
    raise SystemExit(f"{name}: no 200 from {url}")


def _git(repo: Path, *args: str) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.com"}
    env |= {"GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.com"}
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, env=env)


def _commit(repo: Path, label: str, flaky: float) -> None:
    (repo / "platform.yaml").write_text(FLAKY_SPEC.format(label=label, flaky=flaky))
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", label)


def _deploy(client: httpx.Client, body: dict[str, Any], timeout: float = 120.0) -> dict[str, Any]:
    created = client.post(f"{DEPLOY}/deployments", json=body)
    created.raise_for_status()
    deployment_id = created.json()["id"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        d: dict[str, Any] = client.get(f"{DEPLOY}/deployments/{deployment_id}").json()
        if d["state"] in ("succeeded", "failed", "aborted"):
            d["endedAt"] = time.monotonic()
            return d
        time.sleep(0.05)
    raise SystemExit(f"deployment {deployment_id} still running after {timeout:g} s")


def canary_abort(client: httpx.Client, workdir: Path) -> dict[str, float]:
    """Deploy v1, then a bad v2 with canary 10 under load; seconds v2 took traffic."""
    repo = workdir / "flaky"
    repo.mkdir()
    (repo / "app.py").write_text(FLAKY_APP)
    (repo / "requirements.txt").write_text("")
    _git(repo, "init", "-q", "-b", "main")
    _commit(repo, "v1", 0.0)
    first = _deploy(client, {"repo": str(repo), "environment": "dev"})
    if first["state"] != "succeeded":
        raise SystemExit(f"v1 did not deploy: {first['message']}")
    (status,) = client.get(f"{DEPLOY}/services/flaky/status").json()
    url = status["urls"]["direct"] + "/"
    seen: list[tuple[float, str]] = []
    stop = threading.Event()

    def load() -> None:
        with httpx.Client(timeout=5) as c:
            while not stop.is_set():
                try:
                    seen.append((time.monotonic(), c.get(url).text))
                except httpx.HTTPError:
                    seen.append((time.monotonic(), "error"))

    threads = [threading.Thread(target=load, daemon=True) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        _commit(repo, "v2", 0.9)
        second = _deploy(client, {"repo": str(repo), "environment": "dev", "canary": 10})
        time.sleep(1.0)
    finally:
        stop.set()
        for thread in threads:
            thread.join(10)
    bad = [at for at, body in seen if body == "v2"]
    if second["state"] != "aborted" or not bad:
        raise SystemExit(f"v2 ended {second['state']} after {len(bad)} v2 answers")
    return {
        "exposure": bad[-1] - bad[0],
        "to_aborted": second["endedAt"] - bad[0],
        "v2_answers": float(len(bad)),
        "requests": float(len(seen)),
        "errors": float(sum(1 for _, body in seen if body == "error")),
    }


def _report(first_200: list[float], abort: dict[str, float]) -> str:
    ordered = sorted(first_200)
    return "\n".join(
        [
            f"### Deploy — {datetime.now(UTC).isoformat(timespec='seconds')}",
            "",
            f"Machine: {host_platform.machine()}, {os.cpu_count()} cores, Python "
            f"{host_platform.python_version()}; SQLite store, local driver.",
            "",
            "| target | figure | result |",
            "|---|---|---|",
            f"| create → deploy → first 200 ≤ 10 s (warm uv cache), {len(ordered)} runs | "
            f"median {statistics.median(ordered):.2f} s, max {ordered[-1]:.2f} s "
            f"(runs: {', '.join(f'{t:.2f}' for t in first_200)}) | "
            f"{'met' if ordered[-1] <= 10 else 'NOT met'} |",
            f"| bad canary (`canary: 10`) back to stable ≤ 15 s after it takes traffic | "
            f"v2 answered for {abort['exposure']:.1f} s ({abort['v2_answers']:.0f} of "
            f"{abort['requests']:.0f} requests, {abort['errors']:.0f} errors); aborted "
            f"{abort['to_aborted']:.1f} s after its first answer | "
            f"{'met' if abort['exposure'] <= 15 else 'NOT met'} |",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run both measurements on one server, print the table."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=5, help="timed create+deploy runs (default 5)")
    p.add_argument("--update-doc", type=Path, help="write the table into this markdown file")
    args = p.parse_args(argv)
    with server() as client, tempfile.TemporaryDirectory(prefix="gp-deploy-bench-") as work:
        create_deploy_first_200(client, "warm-svc")  # uv cache, router, template publish
        first_200 = [create_deploy_first_200(client, f"bench-svc-{i}") for i in range(args.runs)]
        abort = canary_abort(client, Path(work))
    report = _report(first_200, abort)
    print(report)
    if args.update_doc:
        update_section(args.update_doc, "deploy-bench", "Deploy", report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
