"""Our renderer agrees with Backstage's own scaffolder rendering on every corpus case.

``data/render_cases.jsonl`` holds the cases: hand-written ones (every filter, type keeping,
nested values, failures, JS object literals, cookiecutter, trimBlocks/lstripBlocks, sandbox
payloads) and ``real-NNN`` ones — every distinct one-line ``${{ … }}`` expression of the
real templates under ``../shared/fixtures/real/backstage-templates`` (``source`` names the
file), each with a context built from the paths it reads (``parameters.repoUrl`` gets a
repo-picker URL, ``…owner`` an entity ref, ``enable…`` a boolean, joined names a list).
``fz-…`` cases are a matrix: every filter by every JSON value type (and ``undefined``), every
operator by pairs of value types, truthiness/tests/loops by value types — where JavaScript
and Python disagree most.
``data/render_expected.jsonl`` is what Backstage answered:
``scripts/gen_render_cases.sh`` runs ``../shared/oracles/backstage/template_render.mjs``
(@backstage/plugin-scaffolder-backend 4.2 with nunjitsu) over the cases. No oracle or
network is needed here.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from goldenpath.scaffolder.expressions import render_value, try_render_string

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
ORACLE_DIR = Path(os.environ.get("ORACLE_DIR", "/tmp/oracle/backstage"))
REAL_TEMPLATES = HERE.parents[1] / ".." / "shared" / "fixtures" / "real" / "backstage-templates"
CASES = [
    json.loads(line)
    for line in (DATA / "render_cases.jsonl").read_text(encoding="utf-8").splitlines()
    if line
]
EXPECTED = {
    row["id"]: row
    for row in map(
        json.loads, (DATA / "render_expected.jsonl").read_text(encoding="utf-8").splitlines()
    )
}

#: Deliberate differences from the oracle, by case id, with the reason.
DIFFERENCES: dict[str, str] = {
    "x-array-push": (
        "nunjitsu lets a template mutate a list (push/pop/splice…); our sandbox is Jinja2's "
        "ImmutableSandboxedEnvironment and never mutates the caller's context, so mutating "
        "intrinsics are undefined and calling them fails"
    ),
}


def _typed(value: Any) -> Any:
    """JSON value with its JS type made explicit (so ``1``, ``1.0``, ``True`` differ properly)."""
    if isinstance(value, bool):
        return ("boolean", value)
    if isinstance(value, (int, float)):
        return ("number", None if isinstance(value, float) and math.isnan(value) else float(value))
    if isinstance(value, list):
        return ("array", [_typed(item) for item in value])
    if isinstance(value, dict):
        return ("object", sorted((key, _typed(item)) for key, item in value.items()))
    return (type(value).__name__, value)


def _render(case: dict[str, Any]) -> tuple[Any, str | None]:
    context = case.get("context") or {}
    if case.get("mode") == "file":
        return try_render_string(
            case["template"],
            context,
            cookiecutter_compat=case.get("cookiecutterCompat", False),
            trim_blocks=case.get("trimBlocks", False),
            lstrip_blocks=case.get("lstripBlocks", False),
            location=f"case {case['id']}",
        )
    return render_value(case["template"], context), None


def test_the_corpus_is_large_and_fully_answered() -> None:
    ids = [case["id"] for case in CASES]
    assert len(ids) >= 150
    assert len(set(ids)) == len(ids), "case ids must be unique"
    assert set(ids) == set(EXPECTED), (
        "render_expected.jsonl is stale: run scripts/gen_render_cases.sh"
    )
    assert sum(case.get("mode") == "file" for case in CASES) >= 30
    assert not [row for row in EXPECTED.values() if "oracle failure" in str(row.get("error"))]


def _param(case: dict[str, Any]) -> Any:
    reason = DIFFERENCES.get(case["id"])
    marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
    return pytest.param(case, id=str(case["id"]), marks=marks)


@pytest.mark.parametrize("case", [_param(case) for case in CASES])
def test_case_renders_like_backstage(case: dict[str, Any]) -> None:
    expected = EXPECTED[case["id"]]
    output, error = _render(case)
    if case.get("mode") == "file":
        assert (error is None) == (expected["error"] is None), (
            f"oracle error: {expected['error']!r}, ours: {error!r}"
        )
        assert output == expected["output"]
    else:
        assert _typed(output) == _typed(expected["output"])


def test_every_expression_of_the_real_templates_is_in_the_corpus() -> None:
    if not REAL_TEMPLATES.is_dir():
        pytest.skip(
            f"shared fixtures not found at {REAL_TEMPLATES.resolve()} (../shared is absent)"
        )
    found = set()
    for file in REAL_TEMPLATES.glob("*.yaml"):
        text = file.read_text(encoding="utf-8", errors="replace")
        found |= {m for m in re.findall(r"\$\{\{.*?\}\}", text) if "\n" not in m}
    corpus = {case["template"] for case in CASES if str(case["id"]).startswith("real-")}
    assert len(found) > 500
    assert found <= corpus, sorted(found - corpus)[:5]


@pytest.mark.oracle
def test_the_stored_verdicts_are_what_backstage_answers_today() -> None:
    """Run the live oracle over the corpus: the stored file must not be stale or hand-edited."""
    script = ORACLE_DIR / "template_render.mjs"
    if (
        not script.is_file()
        or not (ORACLE_DIR / "node_modules").is_dir()
        or not shutil.which("node")
    ):
        pytest.skip(
            f"Backstage oracle not installed at {ORACLE_DIR} (set ORACLE_DIR) or node missing"
        )
    cases = (DATA / "render_cases.jsonl").read_text(encoding="utf-8")
    done = subprocess.run(
        ["node", str(script), "--batch"],
        input=cases,
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
        cwd=ORACLE_DIR,
    )
    live = [json.loads(line) for line in done.stdout.splitlines() if line]
    stored = [EXPECTED[case["id"]] for case in CASES]
    assert len(live) == len(stored)
    stale = [row["id"] for row, old in zip(live, stored, strict=True) if row != old]
    assert not stale, f"rerun scripts/gen_render_cases.sh; changed: {stale[:10]}"
