"""``benchmarks/router_bench.py`` keeps working: a short run reports every scenario, and
the churn scenario (weights and server set changing under load) fails no request."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_short_router_benchmark_reports_every_scenario(tmp_path: Path) -> None:
    out = tmp_path / "router.json"
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "router_bench.py"),
            "--seconds",
            "2",
            "--python",
            "--connections",
            "4",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(out.read_text())
    results = report["results"]
    assert set(results) == {"direct", "router", "router-host", "router-churn"}
    assert all(r["requests"] > 0 and r["failed"] == 0 for r in results.values()), results
    assert results["router-churn"]["route_changes"] >= 1  # the first one is a reload
    assert report["router_vs_direct"] > 0 and report["machine"]["cpus"] >= 1
