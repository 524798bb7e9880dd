"""Machine description and the JSON + markdown output of the catalog benchmark."""

from __future__ import annotations

import json
import os
import platform as _platform_info  # stdlib; goldenpath has no module named platform
import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

__all__ = [
    "count_by_kind",
    "machine",
    "markdown",
    "redact",
    "sqlite_version",
    "update_doc",
    "update_section",
    "write",
]

BACKSTAGE = {
    "entities": 10_000,
    "ingest_s": 127.0,
    "entities_per_s": 79,
    "owner_filter_p50_ms": 58.0,
    "owner_filter_p99_ms": 76.0,
}


def machine() -> dict[str, Any]:
    """nproc, CPU model, RAM (GiB), kernel, Python and page-cache reclaim
    (:func:`page_cache_reclaim`) of the machine running the benchmark."""
    cpu = "unknown"
    ram_gib = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram_gib = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "page_cache_reclaim": page_cache_reclaim(),
        "cpu": cpu,
        "ram_gib": ram_gib,
        "kernel": _platform_info.release(),
        "python": _platform_info.python_version(),
        # Other work on the machine skews latencies; the 1-minute load at the start says how much.
        "loadavg_1m_at_start": round(os.getloadavg()[0], 2),
    }


_DAMON = Path("/sys/kernel/mm/damon/admin/kdamonds")


def page_cache_reclaim() -> str | None:
    """What the kernel's DAMON (``kdamond``) does to idle page cache, when a running kdamond
    has a ``pageout`` scheme: e.g. ``"DAMON pages out memory idle ≥ 60 s (≤ 128 MiB/s)"``;
    None without one. Such a scheme evicts a store's file pages that no read touched for
    that long, however much memory is free, so the next reads of them go to the disk."""
    try:
        for kdamond in sorted(_DAMON.glob("[0-9]*")):
            if (kdamond / "state").read_text().strip() != "on":
                continue
            for context in sorted((kdamond / "contexts").glob("[0-9]*")):
                aggr_us = int((context / "monitoring_attrs/intervals/aggr_us").read_text())
                for scheme in sorted((context / "schemes").glob("[0-9]*")):
                    if (scheme / "action").read_text().strip() != "pageout":
                        continue
                    age = int((scheme / "access_pattern/age/min").read_text())
                    quota = int((scheme / "quotas/bytes").read_text())
                    per_ms = int((scheme / "quotas/reset_interval_ms").read_text())
                    rate = (
                        f" (≤ {quota / 2**20 * 1000 / per_ms:.0f} MiB/s)"
                        if quota and per_ms
                        else ""
                    )
                    return f"DAMON pages out memory idle ≥ {age * aggr_us / 1e6:g} s{rate}"
    except (OSError, ValueError):
        return None
    return None


def sqlite_version() -> str:
    """Version of the SQLite library Python links against."""
    return sqlite3.sqlite_version


def redact(url: str) -> str:
    """``url`` without its password."""
    return make_url(url).render_as_string(hide_password=True)


def count_by_kind(cat: Any) -> dict[str, int]:
    """Generated entities per kind."""
    return {
        "Domain": len(cat.domains),
        "System": len(cat.systems),
        "Group": len(cat.groups),
        "User": len(cat.users),
        "Component": len(cat.components),
        "API": len(cat.apis),
        "Resource": len(cat.resources),
    }


def _ms(r: dict[str, Any] | None, key: str) -> str:
    return "-" if r is None or key not in r else f"{r[key]:.2f}"


def _verdict(met: bool | None) -> str:
    return "" if met is None else (" ✅" if met else " ❌")


def markdown(results: dict[str, Any]) -> str:
    """The figures as markdown: machine line, ingest table, latency table."""
    m = results["machine"]
    n = results["catalog"]["entities"]
    backends = results["backends"]
    lines = [
        f"### {n:,} entities — {results['date']}",
        "",
        f"Machine: {m['nproc']} x {m['cpu']}, {m['ram_gib']} GiB RAM, Linux {m['kernel']}, "
        f"Python {m['python']}, load {m.get('loadavg_1m_at_start', '?')} at start"
        + (f"; {m['page_cache_reclaim']}" if m.get("page_cache_reclaim") else "")
        + ". "
        f"Catalog: {n:,} entities in {results['catalog']['files']:,} files. "
        f"Command: `{results['command']}`",
        "",
        "| ingest | " + " | ".join(backends) + " |",
        "|---|" + "---|" * len(backends),
    ]
    rows = [
        (
            "register + process (s)",
            lambda b: f"{b['ingest']['ingest_s']:.2f}{_verdict(b['ingest']['met'])}",
        ),
        ("entities/s", lambda b: f"{b['ingest']['entities_per_s']:,}"),
        ("entities stored", lambda b: f"{b['ingest']['stored_entities']:,}"),
        ("relations stored", lambda b: f"{b['ingest']['stored_relations'] or 0:,}"),
        ("refresh, nothing changed (s)", lambda b: f"{b['ingest']['refresh_unchanged_s']:.2f}"),
        (
            "CPU of register + process (s, + workers)",
            lambda b: (
                f"{b['ingest']['ingest_cpu_s']['parent']:.1f}"
                f" + {b['ingest']['ingest_cpu_s']['workers']:.1f}"
            ),
        ),
        (
            "peak RSS ingest (MiB, + workers)",
            lambda b: (
                f"{b['ingest']['peak_rss_mb']:.0f} + {b['ingest']['peak_rss_workers_mb']:.0f}"
            ),
        ),
        ("peak RSS server (MiB)", lambda b: f"{b['server_peak_rss_mb'] or 0:.0f}"),
    ]
    for label, fmt in rows:
        lines.append(f"| {label} | " + " | ".join(fmt(b) for b in backends.values()) + " |")
    names = list(next(iter(backends.values()))["http"]) if backends else []
    lines += [
        "",
        "| HTTP, ms (p50 / p99) | " + " | ".join(backends) + " | target p99 |",
        "|---|" + "---|" * (len(backends) + 1),
    ]
    for name in names:
        cells = []
        for b in backends.values():
            r = b["http"].get(name)
            if r is not None and "error" in r:
                cells.append("error ❌")
                continue
            cells.append(f"{_ms(r, 'p50_ms')} / {_ms(r, 'p99_ms')}{_verdict(r and r['met'])}")
        first = next(iter(backends.values()))["http"][name]
        target = first["target_p99_ms"]
        lines.append(
            f"| `{name}` | " + " | ".join(cells) + f" | {f'≤ {target:g}' if target else '-'} |"
        )
    clients = {r.get("client", "httpx") for b in backends.values() for r in b["http"].values()}
    sender = {
        "wrk": "sent by wrk (one thread, one connection)",
        "httpx": "sent by the Python httpx client",
    }
    lines += [
        "",
        f"{results['requests_per_scenario']:,} sequential requests per scenario over one "
        "keep-alive connection after 50 warm-up requests, "
        + " and ".join(sender.get(c, c) for c in sorted(clients))
        + ". "
        + _prewarm_sentence(backends),
    ]
    return "\n".join(lines) + "\n"


def _prewarm_sentence(backends: dict[str, Any]) -> str:
    warmed = {name: b.get("prewarm") for name, b in backends.items()}
    done = [
        f"{name} {w['mib']:,} MiB in {w['s']:g} s ({w['how']})" for name, w in warmed.items() if w
    ]
    cold = [name for name, w in warmed.items() if not w]
    text = (
        f"Store read into the page cache before the server started: {'; '.join(done)}."
        if done
        else ""
    )
    if cold:
        text += f" Not prewarmed (cold page cache): {', '.join(cold)}."
    return text.strip()


def write(results: dict[str, Any], out: Path) -> tuple[Path, Path]:
    """Write ``catalog-bench-<N>.json`` and ``.md`` under ``out``; returns both paths."""
    out.mkdir(parents=True, exist_ok=True)
    stem = f"catalog-bench-{results['catalog']['entities']}"
    json_path = out / f"{stem}.json"
    md_path = out / f"{stem}.md"
    json_path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    md_path.write_text(markdown(results), encoding="utf-8")
    return json_path, md_path


def update_doc(doc: Path, results: dict[str, Any]) -> None:
    """Put this run's tables into ``doc`` between its ``<!-- results:N -->`` markers.

    The section for this catalog size replaces the previous one; a new size is added before
    ``<!-- results:end -->``. Raises ``ValueError`` when the document has no results block.
    """
    text = doc.read_text(encoding="utf-8")
    n = results["catalog"]["entities"]
    start, end = f"<!-- results:{n}:start -->", f"<!-- results:{n}:end -->"
    section = f"{start}\n{markdown(results)}{end}"
    if start in text and end in text:
        before, rest = text.split(start, 1)
        text = before + section + rest.split(end, 1)[1]
    elif "<!-- results:end -->" in text:
        text = text.replace("<!-- results:end -->", f"{section}\n\n<!-- results:end -->")
    else:
        raise ValueError(f"{doc}: no '<!-- results:end -->' marker to put the figures before")
    doc.write_text(text, encoding="utf-8")


def update_section(doc: Path, name: str, heading: str, block: str) -> None:
    """Put ``block`` into ``doc`` between ``<!-- {name}:begin -->`` and ``<!-- {name}:end -->``
    (the previous figures are replaced); a document without those markers gets a new
    ``## {heading}`` section at its end. Used by every benchmark script's ``--update-doc``."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    text = doc.read_text(encoding="utf-8") if doc.exists() else ""
    marked = f"{begin}\n{block}\n{end}"
    if begin in text and end in text:
        head, _, rest = text.partition(begin)
        text = f"{head}{marked}{rest.partition(end)[2]}"
    else:
        text = f"{text.rstrip()}\n\n## {heading}\n\n{marked}\n"
    doc.write_text(text, encoding="utf-8")
