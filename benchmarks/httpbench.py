"""The HTTP half of the catalog benchmark: run the real server, time Backstage-API requests.

:class:`ServerProcess` starts ``goldenpath.api.serve.run`` (uvicorn, 127.0.0.1, a free port)
in its own process on a prepared data directory and database, reads the admin token the
first start writes, and reports the process's peak resident memory before stopping it.

:func:`run_scenarios` sends each scenario's requests one after another over one keep-alive
connection (a bounded loop: a request count and a time cap per scenario) and returns
latency percentiles in milliseconds. Every response must be 200; anything else aborts the
run (or, with wrk, marks the scenario failed), so a benchmark can never report the speed of
an error page.

The timed requests are sent by ``wrk`` (Debian's package: ``apt-get install wrk``), the
usual HTTP load generator, with one connection and one thread so requests go one at a time:
its C client adds next to nothing to a request, so the figures are the server's latency over
HTTP. A Python client adds its own parsing to every request — httpx ~0.3 ms to a 15-byte
answer and 1.2-2.5 ms to a 90 KB page (measured) — so without wrk on PATH, or with
``--client httpx``, httpx times the requests and the results say so (``client``).

Run alone, it times a server on a data directory that is already filled (e.g. one kept by
``catalog_bench.py --workdir DIR --keep``), so read-path changes are measured without
ingesting again:

    .venv/bin/python benchmarks/httpbench.py --home /tmp/bench100k/home-sqlite \
        --database-url sqlite:////tmp/bench100k/sqlite/goldenpath.db --entities 100000
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import httpx

__all__ = [
    "Scenario",
    "ServerProcess",
    "build_scenarios",
    "main",
    "percentiles",
    "run_scenarios",
]

_SERVE = (
    "from goldenpath.settings import load_settings\n"
    "from goldenpath.api.serve import run\n"
    "run(load_settings())\n"
)


class ServerProcess:
    """``platform server`` in the foreground, as a child process of the benchmark."""

    def __init__(self, *, home: Path, database_url: str, log: Path, serve: str = _SERVE) -> None:
        """``serve``: the Python code the child runs (default: the API alone)."""
        self.home = home
        self.serve = serve
        self.env = {
            **os.environ,
            "GOLDENPATH_HOME": str(home),
            "GOLDENPATH_DATABASE_URL": database_url,
            "GOLDENPATH_SERVER__HOST": "127.0.0.1",
            "GOLDENPATH_SERVER__PORT": "0",
            # No refresh pass may run while latencies are measured.
            "GOLDENPATH_CATALOG__REFRESH_INTERVAL": "0",
            "GOLDENPATH_LOG_LEVEL": "warning",
        }
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.token = ""

    def start(self, timeout: float = 180.0) -> None:
        """Start the server and wait (bounded) until ``<home>/run/server.json`` names it."""
        info = self.home / "run" / "server.json"
        info.unlink(missing_ok=True)
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", self.serve],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited with {self.proc.returncode}; see {self.log}")
            try:
                data = json.loads(info.read_text(encoding="utf-8"))
                if data.get("pid") == self.proc.pid:
                    self.url = data["url"]
                    self.token = (self.home / "admin-token").read_text(encoding="utf-8").strip()
                    return
            except (OSError, ValueError):
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(
            f"the server did not announce itself within {timeout:.0f} s; see {self.log}"
        )

    def peak_rss_mb(self) -> float | None:
        """The server's peak resident set size (``VmHWM``) in MiB, Linux only."""
        if self.proc is None:
            return None
        try:
            for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            return None
        return None

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 15 s."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=15)


@dataclass(frozen=True)
class Scenario:
    """A named request mix: ``paths`` are cycled; ``target_p99_ms`` is the goal (None: none)."""

    name: str
    description: str
    paths: list[str]
    target_p99_ms: float | None


def percentiles(samples_ms: list[float]) -> dict[str, float]:
    """p50/p90/p99/max/mean of latencies in milliseconds (nearest-rank percentiles)."""
    s = sorted(samples_ms)

    def rank(p: float) -> float:
        return s[min(len(s) - 1, max(0, round(p / 100 * len(s)) - 1))]

    return {
        "p50_ms": round(rank(50), 3),
        "p90_ms": round(rank(90), 3),
        "p99_ms": round(rank(99), 3),
        "max_ms": round(s[-1], 3),
        "mean_ms": round(sum(s) / len(s), 3),
    }


def _q(value: str) -> str:
    return quote(value, safe="")


def build_scenarios(
    *,
    components: list[str],
    teams: list[str],
    words: list[str],
    cursors: list[str],
    rng: random.Random,
    n: int,
) -> list[Scenario]:
    """The request mixes measured at every catalog size (paths are relative to the server URL)."""
    api = "/api/catalog"

    def pick(items: list[str], fmt: Callable[[str], str]) -> list[str]:
        return [fmt(rng.choice(items)) for _ in range(n)]

    return [
        Scenario(
            "get_by_name",
            "GET /entities/by-name/component/default/{name}",
            pick(components, lambda c: f"{api}/entities/by-name/component/default/{c}"),
            5.0,
        ),
        Scenario(
            "owner_filter_page",
            "GET /entities/by-query?filter=kind=component,relations.ownedBy=group:default/{team}"
            "&limit=50 (Backstage's owner filter)",
            pick(
                teams,
                lambda t: (
                    f"{api}/entities/by-query?limit=50&filter="
                    + _q(f"kind=component,relations.ownedBy=group:default/{t}")
                ),
            ),
            5.0,
        ),
        Scenario(
            "owner_spec_page",
            "GET /entities?filter=spec.owner={team}&limit=50",
            pick(teams, lambda t: f"{api}/entities?limit=50&filter=" + _q(f"spec.owner={t}")),
            5.0,
        ),
        Scenario(
            "owner_spec_query",
            "GET /entities/by-query?filter=kind=component,spec.owner={team}&limit=50",
            pick(
                teams,
                lambda t: (
                    f"{api}/entities/by-query?limit=50&filter="
                    + _q(f"kind=component,spec.owner={t}")
                ),
            ),
            5.0,
        ),
        Scenario(
            "type_filter_page",
            "GET /entities?filter=kind=component,spec.type=service,spec.lifecycle=production"
            "&limit=50",
            [
                f"{api}/entities?limit=50&filter="
                + _q("kind=component,spec.type=service,spec.lifecycle=production")
            ]
            * n,
            5.0,
        ),
        Scenario(
            "deep_cursor_page",
            "GET /entities/by-query?cursor=… (pages 2-50 of kind=component, 50 items each)",
            [
                f"{api}/entities/by-query?cursor={_q(c)}"
                for c in (cursors * (n // max(1, len(cursors)) + 1))[:n]
            ]
            if cursors
            else [],
            5.0,
        ),
        Scenario(
            "full_text_page",
            "GET /entities/by-query?fullTextFilterTerm={word}&limit=50",
            pick(words, lambda w: f"{api}/entities/by-query?limit=50&fullTextFilterTerm={_q(w)}"),
            None,
        ),
        Scenario(
            "facets_kind",
            "GET /entity-facets?facet=kind",
            [f"{api}/entity-facets?facet=kind"] * n,
            20.0,
        ),
        Scenario(
            "facets_components",
            "GET /entity-facets?facet=spec.type&facet=spec.lifecycle&filter=kind=component",
            [f"{api}/entity-facets?facet=spec.type&facet=spec.lifecycle&filter=kind%3Dcomponent"]
            * n,
            20.0,
        ),
    ]


def collect_cursors(client: httpx.Client, pages: int = 50) -> list[str]:
    """Walk ``kind=component`` pages of 50 with the cursor and return the cursors of pages 2…."""
    cursors: list[str] = []
    r = client.get(
        "/api/catalog/entities/by-query", params={"filter": "kind=component", "limit": "50"}
    )
    r.raise_for_status()
    for _ in range(pages - 1):
        nxt = r.json().get("pageInfo", {}).get("nextCursor")
        if not nxt:
            break
        cursors.append(nxt)
        r = client.get("/api/catalog/entities/by-query", params={"cursor": nxt})
        r.raise_for_status()
    return cursors


def run_scenarios(
    client: httpx.Client,
    scenarios: list[Scenario],
    *,
    warmup: int = 50,
    time_cap_s: float = 120.0,
    timer: str = "auto",
) -> dict[str, dict]:
    """Time every scenario; returns ``{name: {requests, p50_ms, …, target_p99_ms, met, client}}``.

    ``timer``: ``wrk``, ``httpx`` or ``auto`` (wrk when it is on PATH). The warm-up requests
    go through ``client`` either way. A scenario whose request fails (not 200) is reported as
    ``{"error": …, "met": False}`` without timings; the other scenarios still run.
    """
    use_wrk = timer == "wrk" or (timer == "auto" and shutil.which("wrk") is not None)
    token = str(client.headers.get("Authorization", ""))
    results: dict[str, dict] = {}
    for sc in scenarios:
        if not sc.paths:
            continue
        base = {
            "description": sc.description,
            "target_p99_ms": sc.target_p99_ms,
            "client": "wrk" if use_wrk else "httpx",
        }
        try:
            for path in sc.paths[:warmup]:
                _get(client, path)
            if use_wrk:
                stats = _wrk_paths(str(client.base_url), token, sc.paths, time_cap_s=time_cap_s)
            else:
                samples = _time_paths(client, sc.paths, time_cap_s=time_cap_s)
                stats = {"requests": len(samples), **percentiles(samples)}
        except RuntimeError as e:
            results[sc.name] = {**base, "requests": 0, "error": str(e), "met": False}
            continue
        met = None if sc.target_p99_ms is None else stats["p99_ms"] <= sc.target_p99_ms
        results[sc.name] = {**base, **stats, "met": met}
    return results


def _time_paths(client: httpx.Client, paths: list[str], *, time_cap_s: float) -> list[float]:
    """Latencies in ms of GETs of ``paths`` through httpx, within a time cap."""
    samples: list[float] = []
    stop_at = time.monotonic() + time_cap_s
    for path in paths:
        t0 = time.perf_counter()
        _get(client, path)
        samples.append((time.perf_counter() - t0) * 1000)
        if time.monotonic() > stop_at:
            break
    return samples


#: wrk script: GET each path of the file named by the first argument once, in order, then
#: stop and say so; count answers other than 200; print the latency figures (µs) as one
#: JSON line.
_WRK_SCRIPT = r"""
local paths, i, answered, bad = {}, 0, 0, 0
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args)
  for line in io.lines(args[1]) do paths[#paths + 1] = line end
  local authorization = os.getenv("HTTPBENCH_AUTHORIZATION")  -- not on the command line
  if authorization and authorization ~= "" then wrk.headers["Authorization"] = authorization end
end
function request()
  i = i % #paths + 1
  return wrk.format("GET", paths[i])
end
function response(status, headers, body)
  answered = answered + 1
  if status ~= 200 then bad = bad + 1; wrk.thread:set("bad", bad) end
  if answered == #paths then
    wrk.thread:stop()
    io.write("ALL-ANSWERED\n"); io.stdout:flush()  -- wrk sleeps out -d unless interrupted
  end
end
function done(summary, latency, requests)
  local bad = threads[1]:get("bad") or 0
  io.write(string.format(
    '{"requests": %d, "bad": %d, "socket_errors": %d, "p50_us": %d, "p90_us": %d, ' ..
    '"p99_us": %d, "max_us": %d, "mean_us": %.1f}\n',
    summary.requests, bad, summary.errors.connect + summary.errors.read +
    summary.errors.write + summary.errors.timeout, latency:percentile(50),
    latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
"""


def _wrk_paths(base_url: str, authorization: str, paths: list[str], *, time_cap_s: float) -> dict:
    """GET each of ``paths`` once with wrk (1 thread, 1 connection); percentiles in ms.
    ``authorization`` (the header's value) reaches wrk through its environment.

    Raises:
        RuntimeError: a request was not answered with 200, or wrk failed.
    """
    with tempfile.TemporaryDirectory(prefix="httpbench-wrk-") as tmp:
        script, listing = Path(tmp) / "paths.lua", Path(tmp) / "paths.txt"
        script.write_text(_WRK_SCRIPT, encoding="utf-8")
        listing.write_text("\n".join(paths) + "\n", encoding="utf-8")
        cmd = ["wrk", "-t1", "-c1", f"-d{max(1, round(time_cap_s))}s", "--timeout", "30s"]
        cmd += ["-s", str(script), base_url.rstrip("/"), "--", str(listing)]
        env = {**os.environ, "HTTPBENCH_AUTHORIZATION": authorization}
        proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )
        try:
            assert proc.stdout is not None
            for out_line in proc.stdout:  # ends when wrk exits (at -d at the latest)
                if out_line.startswith("ALL-ANSWERED"):
                    proc.send_signal(signal.SIGINT)  # wrk then prints its summary and exits
                    break
            stdout, stderr = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    line = next((ln for ln in stdout.splitlines() if ln.startswith("{")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {(stderr or stdout)[-500:]}")
    figures = json.loads(line)
    if figures["bad"] or figures["socket_errors"]:
        raise RuntimeError(
            f"{figures['bad']} answer(s) other than 200 and {figures['socket_errors']} socket "
            f"error(s) in {figures['requests']} requests (first path: {paths[0]})"
        )
    return {
        "requests": figures["requests"],
        **{f"{k}_ms": round(figures[f"{k}_us"] / 1000, 3) for k in ("p50", "p90", "p99", "max")},
        "mean_ms": round(figures["mean_us"] / 1000, 3),
    }


def _get(client: httpx.Client, path: str) -> httpx.Response:
    r = client.get(path)
    if r.status_code != 200:
        raise RuntimeError(f"GET {path} answered {r.status_code}: {r.text[:500]}")
    return r


def _load() -> str:
    """The 1/5/15-minute load averages (the machine may be shared while timing)."""
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    """Time the HTTP scenarios against an existing data directory; print one line each.

    The catalog names come from ``catalog_gen.build_catalog(--entities, seed=--seed)``, so the
    data directory must have been filled from the same catalog.
    """
    p = argparse.ArgumentParser(description="Time the catalog API on an existing data directory.")
    p.add_argument("--home", type=Path, required=True, help="GOLDENPATH_HOME of the filled store")
    p.add_argument("--database-url", required=True)
    p.add_argument("--entities", type=int, default=100_000, help="size the catalog was built at")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--requests", type=int, default=1000, help="timed requests per scenario")
    p.add_argument("--only", default="", help="comma-separated scenario names (default all)")
    p.add_argument("--json", type=Path, help="also write the results here")
    p.add_argument(
        "--client",
        choices=("auto", "wrk", "httpx"),
        default="auto",
        help="what sends the timed requests (default: wrk when on PATH, else httpx)",
    )
    args = p.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import catalog_gen

    cat = catalog_gen.build_catalog(args.entities, seed=args.seed)
    server = ServerProcess(
        home=args.home, database_url=args.database_url, log=args.home / "httpbench.log"
    )
    server.start()
    try:
        headers = {"Authorization": f"Bearer {server.token}"}
        with httpx.Client(base_url=server.url, headers=headers, timeout=30.0) as client:
            scenarios = build_scenarios(
                components=cat.names("components"),
                teams=[g for g in cat.names("groups") if g.startswith("team-")],
                words=[n.split("-")[1] for n in cat.names("components")[:200]],
                cursors=collect_cursors(client),
                rng=random.Random(args.seed),
                n=args.requests,
            )
            only = {s.strip() for s in args.only.split(",") if s.strip()}
            chosen = [s for s in scenarios if not only or s.name in only]
            print(f"load before: {_load()}", flush=True)
            results = run_scenarios(client, chosen, timer=args.client)
            print(f"load after:  {_load()}", flush=True)
    finally:
        server.stop()
    for name, r in results.items():
        verdict = "ok" if r["met"] else "" if r["met"] is None else "MISSED"
        line = r.get("error") or (
            f"p50 {r['p50_ms']:7.2f}  p90 {r['p90_ms']:7.2f}  p99 {r['p99_ms']:7.2f} ms"
            f"  ({r['requests']} req, {r['client']}) {verdict}"
        )
        print(f"{name:20s} {line}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
