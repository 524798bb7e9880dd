"""Our processing agrees with Backstage's own verdict on every real catalog document.

The verdicts in ``data/backstage_verdicts.jsonl`` come from Backstage's real pipeline
(``scripts/gen_oracle_verdicts.sh`` runs ``../shared/oracles/backstage/validate.mjs`` over
``../shared/fixtures/real/backstage-catalog``). Catalog rules are the oracle's
``app-config.yaml``: every built-in kind plus Template.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from goldenpath.catalog.model import ProcessedDocument
from goldenpath.catalog.processing import KindRules, process_file

HERE = Path(__file__).resolve().parent
FIXTURES = HERE.parents[1] / ".." / "shared" / "fixtures" / "real" / "backstage-catalog"
VERDICTS = HERE / "data" / "backstage_verdicts.jsonl"
RULES = KindRules.from_kinds(
    ["Component", "API", "Resource", "System", "Domain", "Group", "User", "Location", "Template"]
)
# Backstage cannot resolve a relative $text/$json/$yaml/$openapi target for a *file* location
# ("could not form a URL out of <file> and <target>"): its resolver only joins URLs. We resolve
# it relative to the file, as the issue demands, so these documents are the one allowed
# difference; they are checked separately below.
_RELATIVE_PLACEHOLDER = re.compile(r"could not form a URL out of (\S+) and (\S+), ")


def _verdicts() -> list[dict[str, Any]]:
    return [json.loads(line) for line in VERDICTS.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def ours() -> dict[tuple[str, int], ProcessedDocument]:
    if not FIXTURES.is_dir():
        pytest.skip(f"shared fixtures not found at {FIXTURES.resolve()} (../shared is absent)")
    out: dict[tuple[str, int], ProcessedDocument] = {}
    for file in sorted({row["file"] for row in _verdicts()}):
        for doc in process_file(FIXTURES / file, rules=RULES):
            out[(file, doc.index)] = doc
    return out


def test_the_stored_verdicts_cover_the_fixture_set() -> None:
    rows = _verdicts()
    counts = Counter(
        "ignored" if r["ignored"] else "valid" if r["valid"] else "invalid" for r in rows
    )
    assert len(rows) == 479
    assert counts == {"valid": 425, "invalid": 49, "ignored": 5}


def test_every_document_gets_backstages_verdict(
    ours: dict[tuple[str, int], ProcessedDocument],
) -> None:
    disagreements = []
    for row in _verdicts():
        if row["error"] and _RELATIVE_PLACEHOLDER.search(row["error"]):
            continue
        doc = ours.get((row["file"], row["index"]))
        assert doc is not None, f"{row['file']} document {row['index']} was not produced"
        if doc.valid != row["valid"] or doc.ignored != row["ignored"]:
            disagreements.append(
                f"{row['file']}#{row['index']}: Backstage valid={row['valid']} ({row['error']}); "
                f"ours valid={doc.valid} ({[e.message for e in doc.errors]})"
            )
    assert not disagreements, "\n".join(disagreements)


def test_we_produce_no_documents_backstage_does_not_see(
    ours: dict[tuple[str, int], ProcessedDocument],
) -> None:
    expected = {(r["file"], r["index"]) for r in _verdicts()}
    assert set(ours) == expected


def test_refs_match_backstages_for_every_document_with_a_ref(
    ours: dict[tuple[str, int], ProcessedDocument],
) -> None:
    for row in _verdicts():
        if row["ref"]:
            assert ours[(row["file"], row["index"])].ref == row["ref"]


def test_relative_placeholders_resolve_against_the_file_unlike_backstage(
    ours: dict[tuple[str, int], ProcessedDocument],
) -> None:
    checked = resolved = 0
    for row in _verdicts():
        match = _RELATIVE_PLACEHOLDER.search(row["error"] or "")
        if not match:
            continue
        checked += 1
        doc = ours[(row["file"], row["index"])]
        target = (FIXTURES / row["file"]).parent / match.group(2)
        if target.is_file():
            assert doc.valid, doc.errors
            assert doc.entity is not None
            assert doc.entity["spec"]["definition"] == target.read_text(encoding="utf-8")
            resolved += 1
        else:
            assert not doc.valid
            assert any("cannot read" in e.message for e in doc.errors), doc.errors
            assert all(e.stage == "placeholder" for e in doc.errors)
    assert (checked, resolved) == (3, 1), "three relative placeholders, one target exists"
