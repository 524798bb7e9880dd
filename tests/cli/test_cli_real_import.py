"""`platform catalog import` of the shared real-world Backstage catalog (248 files)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_helpers import run_platform

REAL = (
    Path(__file__).resolve().parents[2]
    / ".."
    / "shared"
    / "fixtures"
    / "real"
    / "backstage-catalog"
)


def test_real_catalog_imports_with_every_rejection_explained(home: Path) -> None:
    if not REAL.is_dir():
        pytest.skip(f"{REAL} is absent (the shared fixtures live beside the repository)")
    result = run_platform(home, "catalog", "import", str(REAL), "-o", "json", timeout=300)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert Path(report["location"]["target"]).resolve() == REAL.resolve()
    added, invalid = report["added"], report["invalid"]
    assert len(added) == len(set(added)) >= 300
    assert invalid and not set(invalid) & set(added)
    explained = json.dumps(report["errors"])
    assert all(subject.split("#")[0] in explained for subject in invalid)

    listed = json.loads(run_platform(home, "catalog", "ls", "--limit", "1", "-o", "json").stdout)
    assert listed["totalItems"] >= len(added)
