"""Catalog benchmark: ingest a generated catalog, then time the Backstage API over HTTP.

For each backend (SQLite file, PostgreSQL):

1. ingest: a child process registers the generated catalog directory as one ``file``
   location through ``goldenpath.catalog.service.CatalogService`` (processing, storage,
   relations and search rows), then refreshes it once unchanged; it reports wall times and
   its peak memory (``getrusage``: itself and its worker processes);
2. page cache: the ingest's writes flushed, then the store read into the kernel's page
   cache (``--cold`` skips that; see :func:`_prewarm`);
3. query: the real server (uvicorn on 127.0.0.1, a free port, refresh loop off) answers
   get-by-name, filtered pages of 50, deep cursor pages, full text and facets; each
   scenario is a bounded sequential loop over one keep-alive connection, reported as
   p50/p90/p99 in milliseconds, plus the server's peak memory.

Results go to ``<out>/catalog-bench-<N>.json`` and ``.md`` (a table for docs/benchmarks.md).

    .venv/bin/python benchmarks/catalog_bench.py --entities 10000
    .venv/bin/python benchmarks/catalog_bench.py                   # 100,000, both backends
    .venv/bin/python benchmarks/catalog_bench.py --backends sqlite --requests 500

Targets (issue 2): 100,000 entities ingested ≤ 10 s; get-by-name and filtered pages p99
≤ 5 ms; facets p99 ≤ 20 ms. Exit status 0 even when a target is missed (the figures are
the product); non-zero when the run itself failed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
import sqlalchemy as sa

from goldenpath.store.engine import make_engine

sys.path.insert(0, str(Path(__file__).resolve().parent))

import catalog_gen
import httpbench
import report
from pgcluster import ThrowawayPostgres

__all__ = ["main", "run_backend"]

INGEST_TARGET_S_PER_100K = 10.0


def _generate(n: int, seed: int, workdir: Path) -> tuple[Path, catalog_gen.Catalog, int]:
    """Write the catalog once per (n, seed); reuse it when the stamp matches."""
    cat = catalog_gen.build_catalog(n, seed=seed)
    root = workdir / f"catalog-{n}-{seed}"
    stamp = root / ".complete"
    if stamp.exists():
        files = int(stamp.read_text())
    else:
        shutil.rmtree(root, ignore_errors=True)
        files = catalog_gen.write_catalog(cat, root)
        stamp.write_text(str(files))
    return root, cat, files


def _ingest(database_url: str, home: Path, catalog: Path, log: Path) -> dict:
    """Run the ingest child (``ingest_child.py``) and return its JSON report."""
    child = Path(__file__).with_name("ingest_child.py")
    cmd = [
        sys.executable,
        str(child),
        "--database-url",
        database_url,
        "--home",
        str(home),
        "--catalog",
        str(catalog),
    ]
    with log.open("ab") as err:
        out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=err, timeout=3600, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"ingest failed (exit {out.returncode}); see {log}")
    return json.loads(out.stdout.decode().strip().splitlines()[-1])


def _settle(database_url: str) -> None:
    """Flush what the ingest left to write before reads are timed: PostgreSQL's dirty buffers
    (``CHECKPOINT``), then the kernel's dirty pages (``sync``). A 100k ingest leaves up to
    ~0.7 GB of dirty pages (``/proc/meminfo``), which the kernel would otherwise write back
    about 30 s later, in the middle of the read scenarios."""
    if database_url.startswith("postgresql"):
        engine = make_engine(database_url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                conn.exec_driver_sql("CHECKPOINT")
        except sa.exc.DBAPIError as e:  # --pg-url of a role without pg_checkpoint
            print(f"[bench] CHECKPOINT skipped: {str(e).splitlines()[0]}", file=sys.stderr)
        finally:
            engine.dispose()
    os.sync()


#: the relations of the catalog's schema with their TOAST tables and TOAST indexes
_RELATIONS = """
WITH rels AS (
    SELECT oid, reltoastrelid FROM pg_class
    WHERE relnamespace = current_schema()::regnamespace AND relkind IN ('r', 'i', 'm')
)
SELECT oid FROM rels
UNION SELECT reltoastrelid FROM rels WHERE reltoastrelid <> 0
UNION SELECT indexrelid FROM pg_index
    WHERE indrelid IN (SELECT reltoastrelid FROM rels WHERE reltoastrelid <> 0)
"""


def _prewarm(database_url: str) -> dict | None:
    """Read the store into the page cache before the server starts; ``{"how", "mib", "s"}``,
    or None when it could not be done (said on stderr).

    Why: this machine's kernel pages out file pages that nothing read for 60 s (DAMON, see
    ``report.page_cache_reclaim``), however much memory is free. A 100k ingest runs about a
    minute, so the pages it wrote first are gone by the time reads are timed, and the first
    request that needs one waits for the disk: 10-27 ms instead of ~2 ms, enough for a p99.
    The SQLite file is read through once; PostgreSQL's relations through ``pg_prewarm``
    (mode ``read``: the kernel's cache, as for SQLite). ``--cold`` skips this."""
    started = time.perf_counter()
    if database_url.startswith("sqlite"):
        db = Path(sa.make_url(database_url).database or "")
        total = 0
        for path in (db, db.with_name(db.name + "-wal")):
            if path.exists():
                with path.open("rb", buffering=0) as f:
                    while chunk := f.read(1 << 20):
                        total += len(chunk)
        how = "the database file read through"
    else:
        engine = make_engine(database_url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                conn.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
                blocks = conn.exec_driver_sql(
                    f"SELECT sum(pg_prewarm(oid, 'read')) FROM ({_RELATIONS}) r"
                ).scalar()
                size = conn.exec_driver_sql("SHOW block_size").scalar()
            total = int(blocks or 0) * int(size or 8192)
        except sa.exc.DBAPIError as e:  # --pg-url without the extension or the right
            print(f"[bench] pg_prewarm skipped: {str(e).splitlines()[0]}", file=sys.stderr)
            return None
        finally:
            engine.dispose()
        how = "pg_prewarm (read) of every catalog relation"
    return {
        "how": how,
        "mib": round(total / 2**20),
        "s": round(time.perf_counter() - started, 2),
    }


def run_backend(
    name: str,
    database_url: str,
    *,
    catalog_dir: Path,
    cat: catalog_gen.Catalog,
    workdir: Path,
    requests: int,
    seed: int,
    prewarm: bool = True,
) -> dict:
    """Ingest into ``database_url``, then time the HTTP scenarios; returns the results.
    ``prewarm``: read the store into the page cache first (see :func:`_prewarm`)."""
    home = workdir / f"home-{name}"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    log = workdir / f"{name}.log"
    print(f"[bench] {name}: ingesting {cat.total:,} entities from {catalog_dir}", file=sys.stderr)
    ingest = _ingest(database_url, home, catalog_dir, log)
    print(
        f"[bench] {name}: ingest {ingest['ingest_s']:.2f} s, {ingest['stored_entities']:,} stored",
        file=sys.stderr,
    )
    _settle(database_url)
    warmed = _prewarm(database_url) if prewarm else None
    if warmed:
        print(
            f"[bench] {name}: {warmed['mib']:,} MiB prewarmed in {warmed['s']} s", file=sys.stderr
        )
    server = httpbench.ServerProcess(home=home, database_url=database_url, log=log)
    server.start()
    try:
        headers = {"Authorization": f"Bearer {server.token}"}
        with httpx.Client(base_url=server.url, headers=headers, timeout=30.0) as client:
            cursors = httpbench.collect_cursors(client)
            words = [n.split("-")[1] for n in cat.names("components")[:200]]
            scenarios = httpbench.build_scenarios(
                components=cat.names("components"),
                teams=[g for g in cat.names("groups") if g.startswith("team-")],
                words=words,
                cursors=cursors,
                rng=random.Random(seed),
                n=requests,
            )
            http = httpbench.run_scenarios(client, scenarios)
        server_rss = server.peak_rss_mb()
    finally:
        server.stop()
    for sc, r in http.items():
        figures = (
            f"p50 {r['p50_ms']:7.2f} ms  p99 {r['p99_ms']:7.2f} ms"
            if "error" not in r
            else f"ERROR {r['error'][:300]}"
        )
        print(f"[bench] {name}: {sc:20s} {figures}", file=sys.stderr)
    per_100k = ingest["ingest_s"] * 100_000 / max(1, cat.total)
    ingest["target_s"] = round(INGEST_TARGET_S_PER_100K * cat.total / 100_000, 2)
    ingest["met"] = per_100k <= INGEST_TARGET_S_PER_100K
    return {
        "database": report.redact(database_url),
        "ingest": ingest,
        "http": http,
        "server_peak_rss_mb": round(server_rss, 1) if server_rss else None,
        "prewarm": warmed,
    }


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--entities", type=int, default=100_000, help="catalog size (default 100,000)")
    p.add_argument(
        "--backends",
        default="sqlite,postgresql",
        help="comma-separated: sqlite, postgresql (default both)",
    )
    p.add_argument(
        "--pg-url",
        help="use this PostgreSQL database instead of a throwaway cluster "
        "(its catalog tables are written to)",
    )
    p.add_argument("--requests", type=int, default=2000, help="timed requests per scenario")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--workdir", type=Path, help="generated files and data (default: a temp dir)")
    p.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "out")
    p.add_argument("--keep", action="store_true", help="keep the work directory")
    p.add_argument(
        "--cold",
        action="store_true",
        help="do not read the store into the page cache before timing reads",
    )
    p.add_argument(
        "--update-doc",
        type=Path,
        metavar="MD",
        help="also put the tables into this markdown file (e.g. docs/benchmarks.md)",
    )
    return p.parse_args(argv)


def _with_database(
    name: str, args: argparse.Namespace, workdir: Path, fn: Callable[[str], dict]
) -> dict:
    """Call ``fn(database_url)`` with a fresh database of backend ``name``."""
    if name == "sqlite":
        db = workdir / "sqlite" / "goldenpath.db"
        shutil.rmtree(db.parent, ignore_errors=True)
        return dict(fn(f"sqlite:///{db}"), sqlite_version=report.sqlite_version())
    if name == "postgresql":
        if args.pg_url:
            return dict(fn(args.pg_url))
        cluster = ThrowawayPostgres()
        with cluster as url:
            return dict(fn(url), postgres_version=cluster.version())
    raise SystemExit(f"unknown backend {name!r}: use sqlite and/or postgresql")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; see the module docstring. Returns the process exit status."""
    args = _parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="goldenpath-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    started = datetime.now(UTC)
    catalog_dir, cat, files = _generate(args.entities, args.seed, workdir)
    results: dict = {
        "date": started.isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": report.machine(),
        "catalog": {
            "entities": cat.total,
            "files": files,
            "seed": args.seed,
            "by_kind": report.count_by_kind(cat),
        },
        "requests_per_scenario": args.requests,
        "backends": {},
    }
    try:
        for name in [b.strip() for b in args.backends.split(",") if b.strip()]:

            def one(url: str, name: str = name) -> dict:
                return run_backend(
                    name,
                    url,
                    catalog_dir=catalog_dir,
                    cat=cat,
                    workdir=workdir,
                    requests=args.requests,
                    seed=args.seed,
                    prewarm=not args.cold,
                )

            results["backends"][name] = _with_database(name, args, workdir, one)
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    json_path, md_path = report.write(results, args.out)
    if args.update_doc:
        report.update_doc(args.update_doc, results)
    print(md_path.read_text(encoding="utf-8"))
    print(f"[bench] results: {json_path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
