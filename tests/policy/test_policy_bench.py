"""The policy benchmark keeps working: it times real decisions with the built-in bundle (its
denied input really breaks six rules) and writes its section into the doc once."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import policy_bench  # noqa: E402
from report import update_section  # noqa: E402


def test_policy_benchmark_times_decisions_and_writes_its_section(tmp_path: Path) -> None:
    rows = policy_bench.run(decisions=20)
    assert set(rows) >= {"deploy allowed", "deploy denied (6 rules)", "provision", "scaffold"}
    assert all(r["n"] > 0 and 0 < r["median"] <= r["p99"] <= r["max"] for r in rows.values())
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Benchmarks\n\n## Other\n\ntext\n", encoding="utf-8")
    update_section(doc, "policy-bench", "Policy", policy_bench.table([rows]))
    update_section(doc, "policy-bench", "Policy", policy_bench.table([rows]))
    text = doc.read_text(encoding="utf-8")
    assert text.count("<!-- policy-bench:begin -->") == 1 and text.count("\n## Policy\n") == 1
    assert "| deploy denied (6 rules) | 20 |" in text and text.startswith("# Benchmarks")
    assert "rounds" not in text


def test_with_several_rounds_the_worst_round_is_shown_and_judged() -> None:
    slow = policy_bench.run(decisions=20)
    fast = {name: dict(row) for name, row in slow.items()}
    slow[policy_bench.DENIED]["p99"] = 1.5  # ms: a round that misses the target
    fast[policy_bench.DENIED]["p99"] = fast[policy_bench.ALLOWED]["p99"] = 0.5
    out = policy_bench.table([fast, slow])
    assert "NOT met (worst deploy p99 1.500 ms wall)" in out
    assert "2 rounds, one after another" in out and "0.500 ms (control" in out
    assert "— met (worst deploy p99 0.500 ms wall)" in policy_bench.table([fast])
