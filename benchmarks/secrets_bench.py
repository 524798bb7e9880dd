"""Secrets benchmark: a secret read with decryption (issue 5 target: ≤ 1 ms).

Measures :class:`goldenpath.secrets.service.SecretService` in-process on a migrated store
holding ``--secrets`` secrets spread over scopes (SQLite file in WAL mode, and PostgreSQL on a
throwaway local cluster when its binaries exist):

- ``get``: one read of the newest version — a SELECT plus two AES-256-GCM opens (data key,
  then value) — over ``--reads`` reads (after 100 warm-up reads), median / p99 / max;
- ``resolve``: the environment of one service+environment (four scopes, ~24 values);
- ``set``: one write (next version number, seal, insert, commit);
- ``open``: the two AES-GCM opens alone (no store), for scale.

    .venv/bin/python benchmarks/secrets_bench.py [--reads 1000] [--no-postgres] \
        [--update-doc docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import os
import platform as host_platform
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pgcluster import ThrowawayPostgres, pg_bin
from report import update_section

from goldenpath.secrets import envelope
from goldenpath.secrets.service import SecretScope, SecretService
from goldenpath.settings import Settings
from goldenpath.store import migrate
from goldenpath.store.engine import make_engine

TARGET_MS = 1.0


def _stats(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return {
        "n": len(ordered),
        "median": statistics.median(ordered) * 1000,
        "p99": p99 * 1000,
        "max": ordered[-1] * 1000,
    }


def _time(fn: Callable[[], Any], n: int) -> dict[str, float]:
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return _stats(samples)


def _cpu_time(fn: Callable[[], Any], n: int) -> dict[str, float]:
    """Like :func:`_time` with this thread's CPU time: excludes waiting for a busy CPU (and
    for PostgreSQL's answer), i.e. the work a read itself costs here."""
    samples = []
    for _ in range(n):
        start = time.thread_time()
        fn()
        samples.append(time.thread_time() - start)
    return _stats(samples)


def _fill(svc: SecretService, count: int) -> None:
    services = [f"svc-{i}" for i in range(max(1, -(-count // 30)))]
    envs = ["dev", "staging", "production"]
    per_scope = 10
    done = 0
    svc.set_many({f"GLOBAL_{i}": f"global-value-{i}" for i in range(5)}, actor="bench")
    for env in envs:
        svc.set_many(
            {f"ENV_{i}": f"{env}-value-{i}" for i in range(3)},
            scope=SecretScope(environment=env),
            actor="bench",
        )
    while done < count:
        for service in services:
            for env in envs:
                values = {f"KEY_{i}": f"{service}-{env}-{i}-" + "x" * 24 for i in range(per_scope)}
                svc.set_many(values, scope=SecretScope(service, env), actor="bench")
                done += per_scope
                if done >= count:
                    return


def run_backend(label: str, url: str | None, reads: int, count: int) -> dict[str, Any]:
    """Fill a fresh store and time reads, resolves and writes on it."""
    with tempfile.TemporaryDirectory(prefix="gp-secrets-bench-") as tmp:
        home = Path(tmp) / "home"
        settings = Settings(home=home, database_url=url)
        engine = make_engine(settings.effective_database_url)
        migrate.upgrade(engine)
        svc = SecretService(engine=engine, settings=settings)
        _fill(svc, count)
        scope = SecretScope("svc-0", "production")
        for _ in range(100):
            svc.get("KEY_3", scope=scope)
        result = {
            "backend": label,
            "secrets": len(svc.list(all_scopes=True)),
            "get": _time(lambda: svc.get("KEY_3", scope=scope), reads),
            "get_cpu": _cpu_time(lambda: svc.get("KEY_3", scope=scope), reads),
            "resolve": _time(lambda: svc.resolve("svc-0", "production"), max(100, reads // 10)),
            "set": _time(lambda: svc.set("BENCH", "v" * 32, scope=scope, actor="b"), 200),
        }
        engine.dispose()
        return result


def open_only(reads: int) -> dict[str, float]:
    """The two AES-GCM opens of one read, without the store."""
    master = AESGCM(AESGCM.generate_key(bit_length=256))
    aad = envelope.value_aad("KEY", "svc", "dev", 1)
    sealed = envelope.seal(master, "k1", b"x" * 40, name="KEY", aad=aad)
    return _time(lambda: envelope.open_value(master, sealed, name="KEY", aad=aad), reads)


def _row(name: str, label: str, s: dict[str, float]) -> str:
    return (
        f"| {label} | {name} | {s['n']} | {s['median']:.3f} ms | {s['p99']:.3f} ms | "
        f"{s['max']:.3f} ms |"
    )


def table(rows: list[dict[str, Any]], crypto: dict[str, float]) -> str:
    """The markdown section for docs/benchmarks.md."""
    sqlite = rows[0]["get"]
    met = sqlite["median"] <= TARGET_MS
    lines = [
        f"### Secret read with decryption — {datetime.now(UTC).isoformat(timespec='seconds')}",
        "",
        f"Machine: {host_platform.machine()}, {os.cpu_count()} cores, Python "
        f"{host_platform.python_version()}, load average {os.getloadavg()[0]:.1f} at the end "
        "(other work was running on the machine). Target: a secret read with decryption ≤ "
        f"{TARGET_MS:g} ms — SQLite median {sqlite['median']:.3f} ms, p99 "
        f"{sqlite['p99']:.3f} ms ({'met' if met else 'NOT met'} at the median; the p99 "
        f"{'meets' if sqlite['p99'] <= TARGET_MS else 'misses'} it). In-process "
        f"`SecretService` calls on a store of {rows[0]['secrets']} secrets; `get` = one SELECT "
        "+ two AES-256-GCM opens. Wall-clock tails on a loaded 2-core machine are scheduling "
        "waits (compare the CPU-time rows and the AES-only row's max).",
        "",
        "| store | operation | n | median | p99 | max |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(_row("get (read + decrypt)", r["backend"], r["get"]))
        lines.append(_row("get, CPU time of the reading thread", r["backend"], r["get_cpu"]))
        lines.append(_row("resolve (4 scopes)", r["backend"], r["resolve"]))
        lines.append(_row("set (new version)", r["backend"], r["set"]))
    lines.append(_row("AES-GCM opens only", "—", crypto))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run on SQLite (and PostgreSQL), print the table."""
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--reads", type=int, default=1000, help="timed reads per store")
    p.add_argument("--secrets", type=int, default=1000, help="secrets in the store")
    p.add_argument("--no-postgres", action="store_true", help="SQLite only")
    p.add_argument("--update-doc", type=Path, help="write the table into this markdown file")
    args = p.parse_args(argv)
    rows = [run_backend("SQLite", None, args.reads, args.secrets)]
    if not args.no_postgres and pg_bin() is not None:
        with ThrowawayPostgres() as url:
            rows.append(run_backend("PostgreSQL", url, args.reads, args.secrets))
    out = table(rows, open_only(args.reads))
    print(out)
    if args.update_doc:
        update_section(args.update_doc, "secrets-bench", "Secrets", out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
