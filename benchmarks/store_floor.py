"""The floor of the catalog store: how long storing a finished catalog takes with no Python per row.

    .venv/bin/python benchmarks/store_floor.py --source STORE.db [--backends sqlite,postgresql]
    .venv/bin/python benchmarks/store_floor.py --catalog DIR      # ingests DIR first (SQLite)

Issue 2 asks for 100,000 entities ingested with relations resolved in ≤ 10 s. This measures
what the store alone costs for such a catalog, whatever computes the rows: the rows of a store
the ingest already filled (``--source``, a SQLite file; or ``--catalog``, ingested here through
``benchmarks/ingest_child.py``) are written into an empty store of the same schema (the
migrations' own) the way a bulk load writes them — secondary indexes dropped, rows inserted,
full-text index filled, indexes built, committed — but by the database itself:

- SQLite: ``INSERT … SELECT`` from the source file ``ATTACH``ed (C only; the source is read
  once beforehand so it comes from the page cache), in WAL mode with ``synchronous=NORMAL``,
  foreign keys checked, a 256 MiB cache and ``threads=2``, as ``store.engine`` and
  ``catalog.store.writes`` do;
- PostgreSQL (a throwaway 15 cluster, ``benchmarks/pgcluster.py``): ``COPY … FROM STDIN`` of
  text encoded before the clock starts, the derived tables' foreign keys dropped and added
  back, the GIN full-text index rebuilt, then ``VACUUM (ANALYZE)`` as after a real load.

Each phase is timed (seconds, wall); the total is the least a load of this catalog can take
on this machine with this schema. Prints one JSON object per backend and a markdown table.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import report
from pgcluster import ThrowawayPostgres
from sqlalchemy.engine import make_url

from goldenpath.store import migrate
from goldenpath.store.engine import make_engine

__all__ = ["main", "postgresql_floor", "sqlite_floor"]

#: the tables a catalog load writes, in the order it writes them
_TABLES = ("catalog_locations", "catalog_entities", "catalog_search", "catalog_relations")
_DERIVED = ("catalog_search", "catalog_relations")
_FTS_TRIGGER = "catalog_entities_fts_ai"


class _Clock:
    """Named wall-clock phases, in seconds."""

    def __init__(self) -> None:
        self.phases: dict[str, float] = {}

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        yield
        self.phases[name] = round(self.phases.get(name, 0.0) + time.perf_counter() - started, 3)

    def result(self, **extra: Any) -> dict[str, Any]:
        return {**extra, "phases_s": self.phases, "total_s": round(sum(self.phases.values()), 2)}


def _columns(conn: sqlite3.Connection, table: str, schema: str = "main") -> list[str]:
    return [r[1] for r in conn.execute(f"PRAGMA {schema}.table_info({table})")]


def _counts(conn: sqlite3.Connection, schema: str) -> dict[str, int]:
    return {t: conn.execute(f"SELECT count(*) FROM {schema}.{t}").fetchone()[0] for t in _TABLES}


def _migrated(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        migrate.upgrade(engine)
    finally:
        engine.dispose()


def sqlite_floor(source: Path, workdir: Path, skip: frozenset[str] = frozenset()) -> dict[str, Any]:
    """Copy ``source``'s catalog into a new migrated SQLite store in C; phases and total.
    Indexes named in ``skip`` are dropped and not built."""
    target = workdir / "floor.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    _migrated(f"sqlite:///{target}")
    conn = sqlite3.connect(target, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA cache_size=-262144")
    conn.execute("PRAGMA threads=2")
    conn.execute("PRAGMA foreign_keys=ON")  # as every connection of the store's engine
    conn.execute("ATTACH ? AS src", (str(source),))
    for table in _TABLES:  # read the source once: the copy then reads the page cache
        for _ in conn.execute(f"SELECT * FROM src.{table}"):
            pass
    rows = _counts(conn, "src")
    indexes = conn.execute(
        "SELECT name, tbl_name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
        " AND tbl_name IN ('catalog_entities', 'catalog_search', 'catalog_relations')"
    ).fetchall()
    trigger = conn.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = ?", (_FTS_TRIGGER,)
    ).fetchone()[0]
    clock = _Clock()
    conn.execute("BEGIN")
    with clock.phase("drop indexes"):
        for name, _, _ in indexes:
            conn.execute(f"DROP INDEX {name}")
        conn.execute(f"DROP TRIGGER {_FTS_TRIGGER}")
    for table in _TABLES:
        names = ", ".join(c for c in _columns(conn, table) if c in _columns(conn, table, "src"))
        with clock.phase(f"insert {table}"):
            conn.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM src.{table}")
        if table == "catalog_entities":
            with clock.phase("full-text index"):
                conn.execute(
                    "INSERT INTO catalog_fts(rowid, search_text) "
                    "SELECT id, search_text FROM catalog_entities"
                )
    # the order of writes.apply: derived tables' indexes, then the entities'
    for name, _table, sql in sorted(indexes, key=lambda x: x[1] == "catalog_entities"):
        if name in skip:
            continue
        with clock.phase(f"index {name}"):
            conn.execute(sql)
    conn.execute(trigger)
    with clock.phase("commit"):
        conn.execute("COMMIT")
    with clock.phase("analyze"):
        conn.execute("PRAGMA analysis_limit=1000")
        for table in _TABLES[1:]:
            conn.execute(f"ANALYZE {table}")
    stored = _counts(conn, "main")
    conn.close()
    if stored != rows:
        raise RuntimeError(f"copy incomplete: source {rows}, copy {stored}")
    files = [Path(f"{target}{suffix}") for suffix in ("", "-wal")]
    size = sum(f.stat().st_size for f in files if f.exists())
    return clock.result(
        backend="sqlite", rows=rows, store_mib=round(size / 2**20), skipped=sorted(skip)
    )


def _copy_text(rows: Iterable[tuple[Any, ...]]) -> bytes:
    """PostgreSQL ``COPY`` text format of ``rows`` (tab-separated, ``\\N`` for NULL)."""

    def field(v: Any) -> str:
        if v is None:
            return "\\N"
        s = str(v)
        if "\\" in s or "\t" in s or "\n" in s or "\r" in s:
            s = s.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
            s = s.replace("\r", "\\r")
        return s

    return "".join("\t".join(map(field, r)) + "\n" for r in rows).encode()


def postgresql_floor(
    source: Path, database_url: str, skip: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """``COPY`` ``source``'s catalog into the migrated PostgreSQL ``database_url``; phases and
    total. Indexes named in ``skip`` are dropped and not built."""
    import psycopg

    _migrated(database_url)
    src = sqlite3.connect(source)
    plain = make_url(database_url).set(drivername="postgresql")
    conn = psycopg.connect(plain.render_as_string(hide_password=False), autocommit=True)
    payload: dict[str, tuple[list[str], bytes]] = {}
    rows: dict[str, int] = {}
    for table in _TABLES:
        target_columns = [
            r[0]
            for r in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = %s"
                " AND is_generated = 'NEVER' ORDER BY ordinal_position",
                (table,),
            )
        ]
        names = [c for c in target_columns if c in _columns(src, table)]
        data = src.execute(f"SELECT {', '.join(names)} FROM {table}").fetchall()
        rows[table] = len(data)
        payload[table] = (names, _copy_text(data))
    src.close()
    indexes = conn.execute(
        "SELECT i.indexname, i.indexdef, i.tablename FROM pg_indexes i WHERE i.tablename = ANY(%s)"
        " AND i.indexname NOT IN (SELECT conname FROM pg_constraint)",
        (list(_TABLES[1:]),),
    ).fetchall()
    foreign_keys = conn.execute(
        "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint"
        " WHERE contype = 'f' AND conrelid = ANY (%s::regclass[])",
        (list(_DERIVED),),
    ).fetchall()
    clock = _Clock()
    conn.execute("BEGIN")
    with clock.phase("drop indexes"):
        for name, _, _ in indexes:
            conn.execute(f'DROP INDEX "{name}"')
        for table, name, _ in foreign_keys:
            conn.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    block = 1 << 20
    for table in _TABLES:
        names, text = payload[table]
        statement = f"COPY {table} ({', '.join(names)}) FROM STDIN"
        with clock.phase(f"copy {table}"), conn.cursor() as cur, cur.copy(statement) as cp:
            for i in range(0, len(text), block):
                cp.write(text[i : i + block])
    with clock.phase("foreign keys"):
        for table, name, definition in foreign_keys:
            conn.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
    for name, definition, _ in sorted(indexes, key=lambda x: x[2] == "catalog_entities"):
        if name in skip:
            continue
        with clock.phase(f"index {name}"):
            conn.execute(definition)
    with clock.phase("commit"):
        conn.execute("COMMIT")
    with clock.phase("analyze"):
        conn.execute(f"VACUUM (ANALYZE) {', '.join(_TABLES[1:])}")
    stored = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in _TABLES}
    size = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
    conn.close()
    if stored != rows:
        raise RuntimeError(f"copy incomplete: source {rows}, copy {stored}")
    return clock.result(
        backend="postgresql", rows=rows, store_mib=round(size / 2**20), skipped=sorted(skip)
    )


def _ingested_source(catalog: Path, workdir: Path) -> Path:
    """A SQLite store of ``catalog``, filled by ``ingest_child.py``."""
    store = workdir / "source.db"
    child = Path(__file__).with_name("ingest_child.py")
    cmd = [sys.executable, str(child), "--database-url", f"sqlite:///{store}"]
    cmd += ["--home", str(workdir / "home"), "--catalog", str(catalog)]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, timeout=3600)
    return store


def _markdown(results: list[dict[str, Any]]) -> str:
    lines = ["| backend | phase | s |", "|---|---|---:|"]
    for r in results:
        for name, seconds in r["phases_s"].items():
            lines.append(f"| {r['backend']} | {name} | {seconds:.2f} |")
        lines.append(f"| {r['backend']} | **total** | **{r['total_s']:.2f}** |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, measure each backend, print JSON lines and a markdown table."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    given = p.add_mutually_exclusive_group(required=True)
    given.add_argument("--source", type=Path, help="a SQLite store the ingest filled")
    given.add_argument("--catalog", type=Path, help="a catalog directory to ingest first")
    p.add_argument("--backends", default="sqlite,postgresql")
    p.add_argument("--workdir", type=Path, default=None, help="scratch (default: a temp dir)")
    p.add_argument(
        "--skip-index",
        action="append",
        default=[],
        metavar="NAME",
        help="an index to leave out (repeatable): what the store would cost without it",
    )
    args = p.parse_args(argv)
    skip = frozenset(args.skip_index)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="goldenpath-floor-"))
    workdir.mkdir(parents=True, exist_ok=True)
    source = args.source or _ingested_source(args.catalog, workdir)
    runs: dict[str, Callable[[], dict[str, Any]]] = {
        "sqlite": lambda: sqlite_floor(source, workdir, skip),
        "postgresql": lambda: _with_postgres(lambda url: postgresql_floor(source, url, skip)),
    }
    results = []
    for backend in args.backends.split(","):
        result = runs[backend]()
        result["machine"] = report.machine()
        print(json.dumps(result), flush=True)
        results.append(result)
    print(_markdown(results))
    return 0


def _with_postgres(run: Callable[[str], dict[str, Any]]) -> dict[str, Any]:
    with ThrowawayPostgres() as url:
        return run(url)


if __name__ == "__main__":
    raise SystemExit(main())
