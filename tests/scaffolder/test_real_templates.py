"""Real input: the Backstage templates of ``../shared/fixtures/real/backstage-templates/``.

Every Template either loads with a valid parameter schema or is rejected with a precise
reason; every template whose actions are all supported dry-runs. The expected outcome per
file is ``data/real_templates_expected.json``, written by
``scripts/gen_real_templates_expected.py`` (re-run it after adding an action); these tests
recompute each file and compare, and check the corpus facts the issue states.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

from goldenpath.scaffolder.actions import default_registry
from goldenpath.scaffolder.corpus import PROBE_NAME, dry_run_file, survey_file

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO.parent / "shared" / "fixtures" / "real" / "backstage-templates"
EXPECTED_FILE = Path(__file__).parent / "data" / "real_templates_expected.json"
REGENERATE = "re-run .venv/bin/python scripts/gen_real_templates_expected.py and review the diff"

pytestmark = pytest.mark.skipif(
    not CORPUS.is_dir(), reason=f"the real-template corpus {CORPUS} is not on this machine"
)

EXPECTED: list[dict[str, Any]] = json.loads(EXPECTED_FILE.read_text())
BY_FILE = {record["file"]: record for record in EXPECTED}


def _templates() -> list[tuple[str, dict[str, Any]]]:
    return [(r["file"], t) for r in EXPECTED for t in r["templates"]]


def test_the_corpus_is_the_one_surveyed() -> None:
    assert sorted(p.name for p in CORPUS.glob("*.yaml")) == sorted(BY_FILE), REGENERATE
    assert len(BY_FILE) == 123


@pytest.mark.parametrize("name", sorted(BY_FILE))
def test_each_file_loads_or_is_rejected_as_recorded(name: str) -> None:
    expected = BY_FILE[name]
    record = survey_file(CORPUS / name, supported=default_registry().ids())
    several = len(record["templates"]) > 1
    for item in record["templates"]:
        runnable = item["outcome"] == "loaded" and not item["unsupported"]
        item["dry_run"] = (
            dry_run_file(CORPUS / name, item["name"] if several else None) if runnable else None
        )
    assert record == expected, REGENERATE


def test_eight_files_are_not_valid_yaml_as_committed() -> None:
    strict = {r["file"]: r["strict_yaml_error"] for r in EXPECTED if r["strict_yaml_error"]}
    assert len(strict) == 8
    assert all(f.startswith(("awslabs__", "jaruizes__")) for f in strict)
    assert all("found unhashable key" in message for message in strict.values())
    # Backstage's YAML parser stringifies a flow mapping used as a key; so do we.
    assert all(BY_FILE[f]["yaml_error"] is None and BY_FILE[f]["templates"] for f in strict)


def test_every_template_is_accounted_for() -> None:
    templates = _templates()
    assert len(templates) == 129
    for file, item in templates:
        assert item["outcome"] in ("loaded", "rejected"), file
        if item["outcome"] == "rejected":
            assert item["reason"] and len(item["reason"]) > 20, file
        else:
            assert item["reason"] is None and item["pages"] >= 0, file
        runnable = item["outcome"] == "loaded" and not item["unsupported"]
        assert (item["dry_run"] is not None) == runnable, file


def test_completed_dry_runs_ran_every_step_and_rendered_values() -> None:
    completed = [
        (file, item)
        for file, item in _templates()
        if item["dry_run"] is not None and item["dry_run"]["status"] == "completed"
    ]
    assert len(completed) >= 40
    for file, item in completed:
        statuses = set(item["dry_run"]["steps"].values())
        assert statuses <= {"completed", "skipped"}, file
        assert len(item["dry_run"]["steps"]) == sum(item["actions"].values()), file
    with_probe = [item for _, item in completed if item["dry_run"]["probes"]]
    assert len(with_probe) >= 30
    for item in with_probe:
        for path, text in item["dry_run"]["probes"].items():
            assert path.endswith(PROBE_NAME)
            # the probe's own expressions were rendered (values may hold literal "${{": a
            # parameter default is not rendered, in Backstage either)
            name_line, values_line = text.splitlines()
            assert name_line.startswith("name: ") and "${{" not in name_line
            assert values_line.startswith("values: {")


def test_docs_report_is_current() -> None:
    spec = importlib.util.spec_from_file_location(
        "gen_real_templates_expected", REPO / "scripts" / "gen_real_templates_expected.py"
    )
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    docs = (REPO / "docs" / "templates.md").read_text()
    assert script.report(EXPECTED) in docs, REGENERATE
