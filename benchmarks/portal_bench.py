"""Portal benchmark: time to first byte of the catalog, search and entity pages at 100,000 entities.

1. Generates the catalog of ``catalog_gen`` (the same one ``catalog_bench.py`` uses) and
   ingests it into a fresh SQLite database through ``ingest_child.py``;
2. creates a local portal account and starts the real server (``goldenpath.api.serve.run``
   with ``goldenpath.portal.app.create_app``: uvicorn on 127.0.0.1, a free port, refresh loop
   off) in its own process;
3. signs in through the real ``/login`` form, waits until the catalog's facet counts are
   cached (steady state; after a catalog write a large catalog counts them in the
   background), and times, per scenario, ``--requests`` GETs sent
   one after another over one keep-alive connection: the time from sending the request to
   the first byte of the body (TTFB), as p50/p95/p99 in milliseconds. Every response must be
   200, so an error page is never timed.

Scenarios: ``/catalog`` (first page of the Component tab), a filtered page (owner + lifecycle
facets), a page deep in cursors (the 40th to 50th pages, reached by following Next links), the
catalog's full-text box, ``/search?q=`` (entities + docs) and an entity page (Overview; the
Relations tab as an extra). Targets (issue 7): catalog pages ≤ 200 ms, search ≤ 300 ms,
entity page ≤ 150 ms.

    .venv/bin/python benchmarks/portal_bench.py                     # 100,000 entities
    .venv/bin/python benchmarks/portal_bench.py --entities 10000 --requests 50
    .venv/bin/python benchmarks/portal_bench.py --update-doc docs/benchmarks.md

Exit status 0 even when a target is missed (the figures are the product); non-zero when the
run itself failed.
"""

from __future__ import annotations

import argparse
import html
import json
import random
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

import catalog_bench
import catalog_gen
import httpbench
import report

__all__ = ["main"]

PASSWORD = "portal-bench-password"
_SERVE = (
    "from goldenpath.settings import load_settings\n"
    "from goldenpath.api.serve import run\n"
    "from goldenpath.portal.app import create_app\n"
    "run(load_settings(), factory=create_app)\n"
)
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_NEXT = re.compile(r'<a href="([^"]+)" rel="next">')


@dataclass(frozen=True)
class Scenario:
    """A named list of paths (cycled) and its p99 target in ms (None: no target)."""

    name: str
    description: str
    paths: list[str]
    target_ms: float | None


def _create_account(database_url: str, home: Path) -> None:
    """A member account ``bench`` with a password, straight in the store."""
    from goldenpath.auth.users import UserService
    from goldenpath.settings import load_settings
    from goldenpath.store import migrate
    from goldenpath.store.engine import make_engine

    settings = load_settings(home=home, database_url=database_url)
    engine = make_engine(settings.effective_database_url)
    migrate.upgrade(engine)
    UserService(engine=engine).create("bench", role="member", password=PASSWORD)
    engine.dispose()


def sign_in(client: httpx.Client) -> None:
    """Sign in through the real form (CSRF token from the page, cookies kept by the client)."""
    page = client.get("/login")
    page.raise_for_status()
    found = _CSRF.search(page.text)
    if found is None:
        raise RuntimeError("no csrf_token on /login")
    answer = client.post(
        "/login",
        data={"user": "bench", "password": PASSWORD, "csrf_token": found.group(1), "next": "/"},
        follow_redirects=False,
    )
    if answer.status_code not in (200, 303) or "gp_session" not in client.cookies:
        raise RuntimeError(f"sign-in failed: {answer.status_code} {answer.text[:300]}")


def _deep_pages(client: httpx.Client, first: str, start: int, stop: int) -> list[str]:
    """The URLs of pages ``start``…``stop`` reached by following Next links from ``first``."""
    url, out = first, []
    for i in range(stop):
        page = client.get(url)
        page.raise_for_status()
        found = _NEXT.search(page.text)
        if found is None:
            break
        url = html.unescape(found.group(1))
        if i + 1 >= start:
            out.append(url)
    if not out:
        raise RuntimeError("the catalog has too few pages for the deep-cursor scenario")
    return out


def ttfb(client: httpx.Client, path: str) -> float:
    """Milliseconds from sending ``path`` to the first byte of a 200 body."""
    t0 = time.perf_counter()
    with client.stream("GET", path) as response:
        chunks = response.iter_raw()
        next(chunks, b"")
        elapsed = (time.perf_counter() - t0) * 1000
        for _rest in chunks:
            pass
    if response.status_code != 200:
        raise RuntimeError(f"GET {path} answered {response.status_code}")
    return elapsed


def percentiles(samples: list[float]) -> dict[str, float]:
    """Nearest-rank p50/p95/p99, max and mean in ms."""
    s = sorted(samples)

    def rank(p: float) -> float:
        return s[min(len(s) - 1, max(0, round(p / 100 * len(s)) - 1))]

    return {
        "p50_ms": round(rank(50), 2),
        "p95_ms": round(rank(95), 2),
        "p99_ms": round(rank(99), 2),
        "max_ms": round(s[-1], 2),
        "mean_ms": round(sum(s) / len(s), 2),
        "n": len(s),
    }


def _wait_for_facets(client: httpx.Client, timeout: float = 120.0) -> None:
    """Until the Component tab's facet counts are cached (a large catalog computes them in
    a worker thread after a write; the figures are for the steady state)."""
    deadline = time.monotonic() + timeout
    while "Counting the filter values" in client.get("/catalog").text:
        if time.monotonic() > deadline:
            raise RuntimeError(f"facet counts not ready after {timeout:.0f} s")
        time.sleep(0.5)


def build_scenarios(
    client: httpx.Client, cat: catalog_gen.Catalog, rng: random.Random
) -> list[Scenario]:
    """The timed scenarios over names drawn from the generated catalog."""
    components = cat.names("components")
    teams = [g for g in cat.names("groups") if g.startswith("team-")] or cat.names("groups")
    words = sorted({n.split("-")[1] for n in components[:500] if "-" in n})
    picks = [rng.choice(components) for _ in range(200)]
    _wait_for_facets(client)
    deep = _deep_pages(client, "/catalog?kind=component", 40, 50)
    return [
        Scenario("catalog first page", "/catalog (Component tab, facets)", ["/catalog"], 200),
        Scenario(
            "catalog filtered",
            "/catalog?owner=<team>&lifecycle=production",
            [f"/catalog?kind=component&owner={t}&lifecycle=production" for t in teams[:50]],
            200,
        ),
        Scenario("catalog deep cursor", "pages 40 to 50 via Next links", deep, 200),
        Scenario(
            "catalog full text", "/catalog?q=<word>", [f"/catalog?q={w}" for w in words[:50]], 200
        ),
        Scenario("search", "/search?q=<word>", [f"/search?q={w}" for w in words[:50]], 300),
        Scenario(
            "entity page",
            "/catalog/default/component/<name> (Overview)",
            [f"/catalog/default/component/{n}" for n in picks],
            150,
        ),
        Scenario(
            "relations tab",
            "…/relations (Graphviz SVG, depth 1)",
            [f"/catalog/default/component/{n}/relations" for n in picks],
            None,
        ),
    ]


def run_scenarios(client: httpx.Client, scenarios: list[Scenario], n: int) -> dict[str, Any]:
    """``n`` sequential timed requests per scenario (paths cycled; 3 untimed warm-ups)."""
    out: dict[str, Any] = {}
    for sc in scenarios:
        for path in sc.paths[:3]:
            ttfb(client, path)
        samples = [ttfb(client, sc.paths[i % len(sc.paths)]) for i in range(n)]
        figures = percentiles(samples)
        out[sc.name] = {
            **figures,
            "description": sc.description,
            "target_ms": sc.target_ms,
            "met": None if sc.target_ms is None else figures["p99_ms"] <= sc.target_ms,
        }
        print(
            f"[portal-bench] {sc.name:20s} p50 {figures['p50_ms']:7.1f}  p95 "
            f"{figures['p95_ms']:7.1f}  p99 {figures['p99_ms']:7.1f} ms",
            file=sys.stderr,
        )
    return out


def table(results: dict[str, Any]) -> str:
    """The markdown block for docs/benchmarks.md."""
    m = results["machine"]
    lines = [
        f"Measured {results['date']} on {m['nproc']} CPUs ({m['cpu']}), load "
        f"{m['loadavg_1m_at_start']} at start; SQLite; {results['entities']:,} entities; "
        f"{results['requests']} sequential requests per scenario over one keep-alive "
        "connection, signed in; time to first byte of the page body.",
        "",
        "| scenario | what | p50 ms | p95 ms | p99 ms | target (p99) |",
        "|---|---|---:|---:|---:|---|",
    ]
    for name, r in results["http"].items():
        target = "—" if r["target_ms"] is None else f"≤ {r['target_ms']:.0f} ms "
        verdict = "" if r["met"] is None else ("✅" if r["met"] else "❌")
        lines.append(
            f"| {name} | {html.escape(r['description'])} | {r['p50_ms']:.1f} | {r['p95_ms']:.1f} | "
            f"{r['p99_ms']:.1f} | {target}{verdict} |"
        )
    lines.append("")
    lines.append(f"Command: `{results['command']}`")
    return "\n".join(lines)


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--entities", type=int, default=100_000)
    p.add_argument("--requests", type=int, default=100, help="timed requests per scenario")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--workdir", type=Path, help="generated files and data (default: a temp dir)")
    p.add_argument("--keep", action="store_true", help="keep the work directory")
    p.add_argument(
        "--reuse",
        action="store_true",
        help="with --workdir: reuse the database a previous --keep run ingested",
    )
    p.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "out")
    p.add_argument("--update-doc", type=Path, metavar="MD", help="put the table into this file")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark (module docstring). Returns the exit status."""
    args = _parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="goldenpath-portal-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    started = datetime.now(UTC)
    machine = report.machine()
    catalog_dir, cat, _files = catalog_bench._generate(args.entities, args.seed, workdir)
    home = workdir / "home-portal"
    db = workdir / "portal-sqlite" / "goldenpath.db"
    url = f"sqlite:///{db}"
    log = workdir / "portal.log"
    ingest: dict[str, Any] = {}
    if not (args.reuse and (home / "ingested").exists()):
        shutil.rmtree(home, ignore_errors=True)
        home.mkdir(parents=True)
        shutil.rmtree(db.parent, ignore_errors=True)
        db.parent.mkdir(parents=True)
        print(f"[portal-bench] ingesting {cat.total:,} entities", file=sys.stderr)
        ingest = catalog_bench._ingest(url, home, catalog_dir, log)
        _create_account(url, home)
        (home / "ingested").write_text(json.dumps(ingest), encoding="utf-8")
    else:
        ingest = json.loads((home / "ingested").read_text(encoding="utf-8"))
    server = httpbench.ServerProcess(home=home, database_url=url, log=log, serve=_SERVE)
    server.start()
    try:
        with httpx.Client(base_url=server.url, timeout=60.0, follow_redirects=True) as client:
            sign_in(client)
            scenarios = build_scenarios(client, cat, random.Random(args.seed))
            http = run_scenarios(client, scenarios, args.requests)
    finally:
        server.stop()
        if not args.keep and args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    results = {
        "date": started.isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": machine,
        "entities": ingest.get("stored_entities", cat.total),
        "requests": args.requests,
        "http": http,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / f"portal-bench-{args.entities}.json"
    out.write_text(json.dumps(results, indent=2), encoding="utf-8")
    block = table(results)
    print(block)
    if args.update_doc:
        report.update_section(
            args.update_doc, "portal-bench", "Portal: page time to first byte", block
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
