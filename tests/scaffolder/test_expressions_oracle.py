"""Our renderer agrees with Backstage's own scaffolder rendering on every corpus case.

``data/render_cases.jsonl`` holds the cases (every filter, type keeping, nested values,
failures, JS object literals, cookiecutter, trimBlocks/lstripBlocks, and expressions taken
from the real templates under ``../shared/fixtures/real/backstage-templates``).
``data/render_expected.jsonl`` is what Backstage answered:
``scripts/gen_render_cases.sh`` runs ``../shared/oracles/backstage/template_render.mjs``
(@backstage/plugin-scaffolder-backend 4.2 with nunjitsu) over the cases. No oracle or
network is needed here.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from goldenpath.scaffolder.expressions import render_value, try_render_string

DATA = Path(__file__).resolve().parent / "data"
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

#: Deliberate differences from the oracle, by case id, with the reason. Empty today: every
#: corpus case renders exactly as Backstage renders it. Mixed line endings (a file with
#: both CRLF and LF) are the one known difference, kept out of the corpus: Jinja2 normalises
#: them to one sequence (see ``render_string``).
DIFFERENCES: dict[str, str] = {}


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


@pytest.mark.parametrize("case", CASES, ids=[str(case["id"]) for case in CASES])
def test_case_renders_like_backstage(case: dict[str, Any]) -> None:
    if case["id"] in DIFFERENCES:
        pytest.skip(DIFFERENCES[case["id"]])
    expected = EXPECTED[case["id"]]
    output, error = _render(case)
    if case.get("mode") == "file":
        assert (error is None) == (expected["error"] is None), (
            f"oracle error: {expected['error']!r}, ours: {error!r}"
        )
        assert output == expected["output"]
    else:
        assert _typed(output) == _typed(expected["output"])
