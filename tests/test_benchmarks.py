"""The catalog benchmark keeps working and measures what it claims.

The generator must produce a catalog Backstage accepts with every reference resolvable (or
the benchmark would time error handling); the percentile maths must be right; and a small
end-to-end run (ingest into SQLite + the real HTTP server) must produce the result files
docs/benchmarks.md is written from.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import catalog_gen  # noqa: E402
import httpbench  # noqa: E402

NAME = re.compile(r"^[a-z0-9A-Z]+([-_.][a-z0-9A-Z]+)*$")


@pytest.fixture(scope="module")
def catalog() -> catalog_gen.Catalog:
    return catalog_gen.build_catalog(2_000, seed=7)


def _refs(cat: catalog_gen.Catalog) -> set[str]:
    kinds = {
        "domains": "domain",
        "systems": "system",
        "groups": "group",
        "users": "user",
        "components": "component",
        "apis": "api",
        "resources": "resource",
    }
    return {f"{k}:{n}" for attr, k in kinds.items() for n in cat.names(attr)}


def test_generator_makes_exactly_n_entities_with_valid_unique_names(
    catalog: catalog_gen.Catalog,
) -> None:
    assert catalog.total == 2_000
    names = [
        e["metadata"]["name"]
        for kind in ("components", "apis", "users")
        for e in getattr(catalog, kind)
    ]
    assert all(NAME.match(n) and len(n) <= 63 for n in names)
    assert len(_refs(catalog)) == 2_000, "two entities of one kind share a name"


def test_every_generated_reference_resolves(catalog: catalog_gen.Catalog) -> None:
    refs = _refs(catalog)
    dangling = []
    for c in catalog.components:
        spec = c["spec"]
        wanted = [f"group:{spec['owner']}", f"system:{spec['system']}", *spec["dependsOn"]]
        wanted += [f"api:{a}" for a in spec["consumesApis"] + spec.get("providesApis", [])]
        dangling += [w for w in wanted if w not in refs]
    for u in catalog.users:
        dangling += [f"group:{g}" for g in u["spec"]["memberOf"] if f"group:{g}" not in refs]
    assert dangling == []
    providers = [a for c in catalog.components for a in c["spec"].get("providesApis", [])]
    assert sorted(providers) == sorted(catalog.names("apis")), "each API has one provider"


def test_generator_is_deterministic() -> None:
    a = catalog_gen.build_catalog(500, seed=3)
    b = catalog_gen.build_catalog(500, seed=3)
    assert a.components == b.components and a.users == b.users


def test_written_files_hold_every_entity_once(tmp_path: Path) -> None:
    import yaml

    cat = catalog_gen.build_catalog(600, seed=1)
    files = catalog_gen.write_catalog(cat, tmp_path)
    docs = [
        d
        for p in tmp_path.rglob("*.yaml")
        for d in yaml.safe_load_all(p.read_text(encoding="utf-8"))
    ]
    assert files == len(list(tmp_path.rglob("*.yaml")))
    assert len(docs) == cat.total
    assert {f"{d['kind'].lower()}:{d['metadata']['name']}" for d in docs} == _refs(cat)


@pytest.mark.parametrize(
    ("samples", "expected"),
    [
        ([5.0], {"p50_ms": 5.0, "p99_ms": 5.0, "max_ms": 5.0}),
        ([float(i) for i in range(1, 101)], {"p50_ms": 50.0, "p90_ms": 90.0, "p99_ms": 99.0}),
        ([1.0] * 98 + [40.0, 50.0], {"p50_ms": 1.0, "p99_ms": 40.0, "max_ms": 50.0}),
    ],
)
def test_percentiles_are_nearest_rank(samples: list[float], expected: dict[str, float]) -> None:
    stats = httpbench.percentiles(samples)
    assert {k: stats[k] for k in expected} == expected


def test_small_end_to_end_run_writes_results(tmp_path: Path) -> None:
    """Ingest 500 entities into SQLite (302 files: processed by the worker pool), serve them
    over HTTP, time every scenario."""
    out = tmp_path / "out"
    cmd = [
        sys.executable, str(ROOT / "benchmarks" / "catalog_bench.py"),
        "--entities", "500", "--backends", "sqlite", "--requests", "20",
        "--workdir", str(tmp_path / "work"), "--out", str(out),
    ]  # fmt: skip
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    data = json.loads((out / "catalog-bench-500.json").read_text(encoding="utf-8"))
    sqlite = data["backends"]["sqlite"]
    # 500 generated + the Location entity generated for the registered directory
    assert (
        sqlite["ingest"]["stored_by_kind"]["Component"] == data["catalog"]["by_kind"]["Component"]
    )
    assert sqlite["ingest"]["stored_entities"] >= 500
    # the registration's CPU: the parent's, and its processing workers'
    assert sqlite["ingest"]["ingest_cpu_s"]["parent"] > 0
    assert sqlite["ingest"]["ingest_cpu_s"]["workers"] > 0
    assert set(sqlite["http"]) >= {"get_by_name", "owner_filter_page", "facets_kind"}
    assert all(r["requests"] == 20 for r in sqlite["http"].values())
    markdown = (out / "catalog-bench-500.md").read_text(encoding="utf-8")
    assert "| `get_by_name` |" in markdown
    # the store was read into the page cache before the reads were timed, and the table says so
    assert sqlite["prewarm"]["mib"] >= 1 and "read into the page cache" in markdown


def test_page_cache_reclaim_describes_a_damon_pageout_scheme(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import report

    context = tmp_path / "0" / "contexts" / "0"
    scheme = context / "schemes" / "0"
    files = {
        tmp_path / "0" / "state": "on",
        context / "monitoring_attrs" / "intervals" / "aggr_us": "5000000",
        scheme / "action": "pageout",
        scheme / "access_pattern" / "age" / "min": "12",
        scheme / "quotas" / "bytes": str(128 * 2**20),
        scheme / "quotas" / "reset_interval_ms": "1000",
    }
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n")
    monkeypatch.setattr(report, "_DAMON", tmp_path)
    assert report.page_cache_reclaim() == "DAMON pages out memory idle ≥ 60 s (≤ 128 MiB/s)"
    (tmp_path / "0" / "state").write_text("off\n")
    assert report.page_cache_reclaim() is None


def _fake_results(n: int, p99: float) -> dict:
    http = {"get_by_name": {"p50_ms": 1.0, "p99_ms": p99, "target_p99_ms": 5.0, "met": p99 <= 5}}
    ingest = {
        "ingest_s": 1.0, "met": True, "entities_per_s": n, "stored_entities": n,
        "stored_relations": 0, "refresh_unchanged_s": 0.5, "peak_rss_mb": 100.0,
        "peak_rss_workers_mb": 0.0, "ingest_cpu_s": {"parent": 0.8, "workers": 0.4},
    }  # fmt: skip
    return {
        "date": "2026-01-01T00:00:00+00:00", "command": "bench", "requests_per_scenario": 10,
        "machine": {"nproc": 2, "cpu": "cpu", "ram_gib": 4, "kernel": "k", "python": "3.11"},
        "catalog": {"entities": n, "files": 1},
        "backends": {"sqlite": {"ingest": ingest, "http": http, "server_peak_rss_mb": 50.0}},
    }  # fmt: skip


def test_update_doc_replaces_the_section_of_the_same_size(tmp_path: Path) -> None:
    import report

    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Bench\n<!-- results:start -->\n<!-- results:end -->\ntail\n")
    report.update_doc(doc, _fake_results(1000, 9.0))
    report.update_doc(doc, _fake_results(2000, 3.0))
    report.update_doc(doc, _fake_results(1000, 4.0))
    text = doc.read_text()
    assert text.count("<!-- results:1000:start -->") == 1
    assert "1.00 / 4.00 ✅" in text and "9.00" not in text
    assert text.index("1,000 entities") < text.index("2,000 entities") < text.index("tail")


def test_scaffolder_benchmark_times_real_runs_and_writes_its_table(tmp_path: Path) -> None:
    import scaffolder_bench
    from report import update_section

    row = scaffolder_bench.run_backend("SQLite", None, runs=1)
    assert row["runs"] == 1 and 0 < float(row["median"]) <= float(row["max"]) < 60
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Benchmarks\n\nintro\n")
    update_section(doc, "scaffolder-bench", "Scaffolder", scaffolder_bench._table([row]))
    update_section(doc, "scaffolder-bench", "Scaffolder", scaffolder_bench._table([row]))
    text = doc.read_text()
    assert text.startswith("# Benchmarks\n\nintro\n")
    assert text.count("<!-- scaffolder-bench:begin -->") == 1 and "| SQLite | 1 |" in text


@pytest.fixture(scope="module")
def ingested_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite store filled by the benchmark's ingest from a generated 300-entity catalog."""
    import ingest_child

    root = tmp_path_factory.mktemp("floor-source")
    written = catalog_gen.write_catalog(catalog_gen.build_catalog(300, seed=3), root / "catalog")
    assert written > 0
    store = root / "source.db"
    ingest_child.ingest(f"sqlite:///{store}", root / "home", root / "catalog")
    return store


def _catalog_rows(url: str) -> dict[str, set[tuple[object, ...]]]:
    """Every entity ref, search row and relation row of a store (row ids resolved to refs)."""
    from sqlalchemy import text

    from goldenpath.store.engine import make_engine

    queries = {
        "entities": "SELECT entity_ref, kind, entity FROM catalog_entities",
        "search": "SELECT e.entity_ref, s.key, s.value FROM catalog_search s"
        " JOIN catalog_entities e ON e.id = s.entity_row_id",
        "relations": "SELECT e.entity_ref, r.source_entity_ref, r.type, r.target_entity_ref"
        " FROM catalog_relations r JOIN catalog_entities e ON e.id = r.originating_row_id",
    }
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return {k: set(map(tuple, conn.execute(text(q)))) for k, q in queries.items()}
    finally:
        engine.dispose()


def _index_names(url: str) -> set[str]:
    import sqlalchemy as sa

    from goldenpath.store.engine import make_engine

    engine = make_engine(url)
    try:
        inspector = sa.inspect(engine)
        tables = ("catalog_entities", "catalog_search", "catalog_relations")
        return {i["name"] for t in tables for i in inspector.get_indexes(t)}
    finally:
        engine.dispose()


def test_store_floor_copies_every_row_into_the_migrated_schema(
    ingested_store: Path, engine: Engine, tmp_path: Path
) -> None:
    """The floor stores exactly the source's catalog, with every index the migrations make
    except the ones it was told to skip, on SQLite and PostgreSQL."""
    import store_floor

    skip = frozenset({"ix_catalog_entities_name"})
    migrated = _index_names(engine.url.render_as_string(hide_password=False))
    if engine.dialect.name == "sqlite":
        result = store_floor.sqlite_floor(ingested_store, tmp_path, skip)
        url = f"sqlite:///{tmp_path / 'floor.db'}"
    else:
        url = engine.url.render_as_string(hide_password=False)
        engine.dispose()
        result = store_floor.postgresql_floor(ingested_store, url, skip)
    source_url = f"sqlite:///{ingested_store}"
    assert _catalog_rows(url) == _catalog_rows(source_url)
    assert result["rows"]["catalog_entities"] == 301  # 300 generated + the Location
    assert result["rows"]["catalog_search"] > 3000
    assert result["total_s"] == pytest.approx(sum(result["phases_s"].values()), abs=0.01)
    assert {"commit", "index ix_catalog_search_key_value"} <= set(result["phases_s"])
    assert "ix_catalog_entities_name" in migrated
    assert _index_names(url) == migrated - skip
