"""Ingest half of the catalog benchmark, run in its own process so its peak memory is its own.

    python benchmarks/ingest_child.py --database-url URL --home DIR --catalog DIR

Migrates the database, registers ``--catalog`` as one ``file`` location through
``CatalogService.register_location`` (which processes it at once: parse, validate, store
entities, relations and search rows), then refreshes the unchanged catalog once. Prints
one JSON line: wall times in seconds, the registration's CPU seconds (this process and its
processing workers), what the service reported, stored counts by kind, and peak resident
memory in MiB (``getrusage`` of this process and of its worker processes).
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import text

from goldenpath.catalog.service import CatalogService
from goldenpath.settings import load_settings
from goldenpath.store import migrate
from goldenpath.store.engine import make_engine

__all__ = ["ingest"]


def _size(value: Any) -> int:
    """Length of a list-or-count field of the service's reports."""
    if isinstance(value, int):
        return value
    try:
        return len(value)
    except TypeError:
        return 0


def _report_counts(report: Any) -> dict[str, int]:
    fields = ("added", "updated", "unchanged", "invalid", "orphaned", "deleted", "errors")
    return {f: _size(getattr(report, f, None)) for f in fields if hasattr(report, f)}


def _count_relations(engine: Any) -> int | None:
    try:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM catalog_relations")).scalar_one())
    except Exception:  # the table name is the store's business; the figure is optional
        return None


def _cpu_seconds() -> dict[str, float]:
    """User + system CPU seconds of this process and of its waited-for children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "parent": own.ru_utime + own.ru_stime,
        "workers": children.ru_utime + children.ru_stime,
    }


def ingest(database_url: str, home: Path, catalog: Path) -> dict[str, Any]:
    """Migrate, register ``catalog`` and refresh it once; returns timings and counts."""
    settings = load_settings(home=home, database_url=database_url)
    engine = make_engine(settings.effective_database_url)
    t0 = time.perf_counter()
    migrate.upgrade(engine)
    migrate_s = time.perf_counter() - t0
    service = CatalogService(engine=engine, settings=settings, clock=lambda: datetime.now(UTC))
    cpu0 = _cpu_seconds()
    t0 = time.perf_counter()
    result = service.register_location(type="file", target=str(catalog))
    ingest_s = time.perf_counter() - t0
    cpu1 = _cpu_seconds()
    t0 = time.perf_counter()
    refresh = service.refresh()
    refresh_s = time.perf_counter() - t0
    kinds = service.facets(facets=["kind"], filters=None).get("kind", [])
    by_kind = {item["value"]: int(item["count"]) for item in kinds}
    self_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    child_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {
        "migrate_s": round(migrate_s, 3),
        "ingest_s": round(ingest_s, 3),
        # CPU of the registration: this process, and its processing workers (joined by then)
        "ingest_cpu_s": {k: round(cpu1[k] - cpu0[k], 2) for k in cpu0},
        "refresh_unchanged_s": round(refresh_s, 3),
        "register_report": _report_counts(getattr(result, "report", None)),
        "refresh_report": _report_counts(refresh),
        "stored_entities": sum(by_kind.values()),
        "stored_by_kind": by_kind,
        "stored_relations": _count_relations(engine),
        "peak_rss_mb": round(self_rss, 1),
        "peak_rss_workers_mb": round(child_rss, 1),
    }


def main() -> None:
    """CLI of the child: print one JSON line."""
    p = argparse.ArgumentParser()
    p.add_argument("--database-url", required=True)
    p.add_argument("--home", type=Path, required=True)
    p.add_argument("--catalog", type=Path, required=True)
    args = p.parse_args()
    result = ingest(args.database_url, args.home, args.catalog)
    ingest_per_s = result["stored_entities"] / max(result["ingest_s"], 1e-9)
    result["entities_per_s"] = round(ingest_per_s)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
