"""Scorecard benchmark: the built-in scorecard over 10,000 Components (issue 8 target ≤ 2 s).

Builds a SQLite home with ``--components`` Component entities (service type, 100 owner
Groups, a mix of docs/on-call/runbook/SLO annotations and links) registered through
``CatalogService.register_location`` (as ``catalog_bench``'s ingest does), plus for 80% of the
services deployment rows (a production and a dev success each, bulk-inserted into the deploy
tables) and a deploy policy decision each. Then it times
:meth:`goldenpath.insights.scorecards.ScorecardService.evaluate` over every Component (facts
gathered in bulk + every rule of the built-in ``production-readiness`` scorecard), and the
fact collection alone, ``--runs`` times; the table gives the median and the slowest run.

    .venv/bin/python benchmarks/scorecard_bench.py [--components 10000] [--runs 3] \
        [--update-doc docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml
from report import machine, update_section

from goldenpath.catalog.service import CatalogService
from goldenpath.deploy import _tables as deploy_tables
from goldenpath.deploy import store as deploy_store
from goldenpath.insights.facts import FactCollector
from goldenpath.insights.scorecards import ScorecardService, summarize
from goldenpath.policy import store as policy_store
from goldenpath.settings import Settings
from goldenpath.store import migrate
from goldenpath.store.engine import make_engine

TARGET_S = 2.0
FINDINGS = (
    "Where the time goes (CPU, 10,000 Components): reading the entities through "
    "`CatalogService.query_entities` in pages of 500 ~0.3 s (JSON decoding and relation "
    "stitching), the grouped deploy query ~0.2 s (SQLite datetime parsing of ~16,000 rows), "
    "the policy query ~0.1 s, and scoring 11 rules per entity ~0.35 s (messages are worded "
    "only when read). SQLite runs in-process, so CPU time is the work itself; on a busy "
    "machine the wall time adds waiting for a core."
)
NOW = datetime(2026, 12, 4, 12, tzinfo=UTC)


def _component(i: int, rng: random.Random) -> dict[str, Any]:
    annotations: dict[str, str] = {}
    if rng.random() < 0.6:
        annotations["backstage.io/techdocs-ref"] = "dir:."
    if rng.random() < 0.5:
        annotations["pagerduty.com/service-id"] = f"P{i}"
    if rng.random() < 0.4:
        annotations["goldenpath.dev/slo"] = "99.9"
    if rng.random() < 0.5:
        annotations["goldenpath.dev/golden-path"] = "python-service"
        annotations["goldenpath.dev/template-version"] = "v2" if rng.random() < 0.7 else "v1"
    meta: dict[str, Any] = {"name": f"svc-{i:05d}", "annotations": annotations}
    if rng.random() < 0.9:
        meta["description"] = f"Service number {i}."
    if rng.random() < 0.5:
        meta["links"] = [{"url": f"https://wiki.example/svc-{i}/runbook", "title": "Runbook"}]
    owner = f"team-{rng.randrange(110):03d}"  # 100 of 110 owners exist
    spec = {"type": "service", "lifecycle": "production", "owner": owner}
    return {
        "apiVersion": "backstage.io/v1alpha1",
        "kind": "Component",
        "metadata": meta,
        "spec": spec,
    }


def _write_catalog(root: Path, n: int, rng: random.Random) -> None:
    root.mkdir(parents=True, exist_ok=True)
    groups = [
        {
            "apiVersion": "backstage.io/v1alpha1",
            "kind": "Group",
            "metadata": {"name": f"team-{g:03d}"},
            "spec": {"type": "team", "children": []},
        }
        for g in range(100)
    ]
    template = {
        "apiVersion": "scaffolder.backstage.io/v1beta3",
        "kind": "Template",
        "metadata": {
            "name": "python-service",
            "annotations": {"goldenpath.dev/template-version": "v2"},
        },
        "spec": {"type": "service", "steps": []},
    }
    (root / "org.yaml").write_text(yaml.safe_dump_all([*groups, template]))
    for start in range(0, n, 500):
        docs = [_component(i, rng) for i in range(start, min(n, start + 500))]
        (root / f"components-{start:05d}.yaml").write_text(yaml.safe_dump_all(docs))


def _seed_deploys(engine: sa.Engine, n: int, rng: random.Random) -> None:
    deploy_store.ensure_environments(engine, ["dev", "production"], now=NOW)
    rows, decisions = [], []
    for i in range(n):
        if rng.random() >= 0.8:
            continue
        for env, age in (("production", rng.uniform(0, 60)), ("dev", rng.uniform(0, 5))):
            at = NOW - timedelta(days=age)
            rows.append(
                {
                    "service": f"svc-{i:05d}",
                    "environment": env,
                    "kind": "deploy",
                    "strategy": "rolling",
                    "workload": {"monitoring": {"slo": 99.5}},
                    "steps": [],
                    "step_index": 0,
                    "progress": {},
                    "state": "succeeded",
                    "message": "done",
                    "triggered_by": "user:default/bench",
                    "created_at": at - timedelta(minutes=3),
                    "updated_at": at,
                    "finished_at": at,
                }
            )
        decisions.append(
            {
                "action": "deploy",
                "allowed": rng.random() < 0.9,
                "denials": [],
                "warnings": [],
                "input_digest": "0" * 64,
                "actor": "user:default/bench",
                "subject": f"service svc-{i:05d} in production",
                "at": NOW - timedelta(days=1),
            }
        )
    with engine.begin() as conn:
        conn.execute(deploy_tables.deployments.insert(), rows)
        conn.execute(policy_store.decisions.insert(), decisions)


def _time(fn: Callable[[], Any], runs: int) -> tuple[list[tuple[float, float]], Any]:
    """``[(wall s, process CPU s)]`` per run, and the last result. SQLite runs in-process, so
    the CPU time is the work itself; on a busy machine the wall time adds waiting for a core."""
    times, result = [], None
    for _ in range(runs):
        t0, c0 = time.perf_counter(), time.process_time()
        result = fn()
        times.append((time.perf_counter() - t0, time.process_time() - c0))
    return times, result


def run(components: int, runs: int, workdir: Path) -> dict[str, Any]:
    """Build the home under ``workdir`` and time the evaluation; returns the figures."""
    rng = random.Random(8)
    home = workdir / "home"
    home.mkdir()
    settings = Settings(home=home, catalog={"refresh_interval": 0})
    engine = make_engine(settings.effective_database_url)
    migrate.upgrade(engine)
    catalog = CatalogService(engine=engine, settings=settings, clock=lambda: NOW)
    _write_catalog(workdir / "catalog", components, rng)
    t0 = time.perf_counter()
    catalog.register_location(type="file", target=str(workdir / "catalog"))
    ingest_s = time.perf_counter() - t0
    _seed_deploys(engine, components, rng)
    facts = FactCollector(catalog=catalog, engine=engine, settings=settings)
    service = ScorecardService(catalog=catalog, facts=facts, settings=settings)
    card = service.get("production-readiness")
    collect_times, docs = _time(lambda: facts.collect(now=NOW, needs=card.fact_roots()), runs)
    eval_times, results = _time(lambda: service.evaluate(now=NOW), runs)
    engine.dispose()
    return {
        "components": components,
        "entities": len(docs),
        "results": len(results),
        "ingest_s": ingest_s,
        "collect": collect_times,
        "evaluate": eval_times,
        "summary": summarize(card, results),
    }


def _markdown(figures: dict[str, Any]) -> str:
    m = machine()
    ev, co = figures["evaluate"], figures["collect"]
    ev_wall, co_wall = [w for w, _ in ev], [w for w, _ in co]
    ev_cpu, co_cpu = [c for _, c in ev], [c for _, c in co]
    verdict = "meets" if statistics.median(ev_wall) <= TARGET_S else "misses"
    summary = figures["summary"]
    held = ", ".join(f"{k} {v}" for k, v in summary["levels"].items())
    return "\n".join(
        [
            f"`benchmarks/scorecard_bench.py --components {figures['components']}` on "
            f"{m['nproc']} x {m['cpu']}, Python {m['python']}, SQLite (load "
            f"{m['loadavg_1m_at_start']} at start). {len(ev)} runs each.",
            "",
            "| operation | median s | slowest s | median CPU s |",
            "|---|---:|---:|---:|",
            f"| facts for {figures['entities']} Components (catalog pages + grouped queries) | "
            f"{statistics.median(co_wall):.3f} | {max(co_wall):.3f} | "
            f"{statistics.median(co_cpu):.3f} |",
            f"| `ScorecardService.evaluate()` over all ({figures['results']} results) | "
            f"{statistics.median(ev_wall):.3f} | {max(ev_wall):.3f} | "
            f"{statistics.median(ev_cpu):.3f} |",
            "",
            f"Target ≤ {TARGET_S:.0f} s (wall) for 10,000 entities; this run "
            f"({figures['components']} Components) {verdict} it. "
            f"Levels held: {held}, "
            f"none {summary['none']}. (Catalog ingest of the fixture, not part of the target: "
            f"{figures['ingest_s']:.1f} s.)",
            "",
            FINDINGS,
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--components", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--update-doc", type=Path, default=None)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="scorecard-bench-") as tmp:
        figures = run(args.components, args.runs, Path(tmp))
    text = _markdown(figures)
    print(text)
    if args.update_doc is not None:
        update_section(args.update_doc, "scorecard-bench", "Scorecards", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
