"""Our processing agrees with Backstage's own verdict on every real catalog document.

The verdicts in ``data/backstage_verdicts.jsonl`` come from Backstage's real pipeline
(``scripts/gen_oracle_verdicts.sh`` runs ``../shared/oracles/backstage/validate.mjs`` over
``../shared/fixtures/real/backstage-catalog``). Catalog rules are the oracle's
``app-config.yaml``: every built-in kind plus Template.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
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


# ---- differential check: generated edge documents, judged by Backstage and by us -------------

ORACLE_DIR = Path(os.environ.get("ORACLE_DIR", "/tmp/oracle/backstage"))
_BASE = (
    "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: svc\n{meta}"
    "spec:\n  type: service\n  lifecycle: production\n  owner: team-a\n{spec}"
)
EDGE_CASES: dict[str, str] = {
    name: _BASE.format(meta=meta, spec=spec)
    for name, (meta, spec) in {
        "ok": ("", ""),
        "labels-null": ("  labels: null\n", ""),
        "tags-null": ("  tags: null\n", ""),
        "title-empty": ("  title: ''\n", ""),
        "description-number": ("  description: 5\n", ""),
        "description-empty": ("  description: ''\n", ""),
        "namespace-upper": ("  namespace: Team\n", ""),
        "label-key-space": ("  labels:\n    'a b': x\n", ""),
        "label-value-empty": ("  labels:\n    a: ''\n", ""),
        "label-value-number": ("  labels:\n    a: 1\n", ""),
        "annotation-key-prefix": ("  annotations:\n    'github.com/project-slug': a/b\n", ""),
        "annotation-key-two-slashes": ("  annotations:\n    'a/b/c': x\n", ""),
        "annotation-yes": ("  annotations:\n    a: yes\n", ""),
        "annotation-octal": ("  annotations:\n    a: 0o17\n", ""),
        "annotation-date": ("  annotations:\n    a: 2024-01-01\n", ""),
        "annotations-list": ("  annotations:\n    - a\n", ""),
        "tag-colon": ("  tags: ['lang:java']\n", ""),
        "tag-dot": ("  tags: ['c.d']\n", ""),
        "tag-64": ("  tags: ['" + "a" * 64 + "']\n", ""),
        "link-no-url": ("  links:\n    - title: x\n", ""),
        "link-relative": ("  links:\n    - url: /docs\n", ""),
        "link-mailto": ("  links:\n    - url: 'mailto:a@b.c'\n", ""),
        "link-title-blank": ("  links:\n    - url: https://x\n      title: ' '\n", ""),
        "numeric-label-key": ("  labels:\n    1: x\n", ""),
        "duplicate-key": ("  title: a\n  title: b\n", ""),
        "system-list": ("", "  system: [a]\n"),
        "dependson-kindless": ("", "  dependsOn: [foo]\n"),
        "dependson-kind": ("", "  dependsOn: ['resource:foo']\n"),
        "subcomponent-bad-ref": ("", "  subcomponentOf: 'component:'\n"),
        "placeholder-unknown": ("", "  foo:\n    $bar: x\n"),
        "placeholder-two-keys": ("", "  foo:\n    $text: x\n    $json: y\n"),
        "placeholder-number": ("", "  foo:\n    $text: 5\n"),
        "lifecycle-number": ("", "  lifecycle2: 1\n"),
    }.items()
} | {
    "name-dotdot": _BASE.replace("name: svc", "name: a..b").format(meta="", spec=""),
    "name-64": _BASE.replace("name: svc", "name: " + "a" * 64).format(meta="", spec=""),
    "kind-lower": _BASE.replace("kind: Component", "kind: component").format(meta="", spec=""),
    "status-root": _BASE.format(meta="", spec="") + "status: {}\n",
    "merge-key": "b: &b {type: service}\n"
    + _BASE.replace("  type: service\n", "  <<: *b\n").format(meta="", spec=""),
    "owner-bool": _BASE.replace("owner: team-a", "owner: true").format(meta="", spec=""),
    "list-root": "- a\n- b\n",
    "aliases-99": "a: &a x\nb: [" + ",".join(["*a"] * 99) + "]\n",
    "aliases-100": "a: &a x\nb: [" + ",".join(["*a"] * 100) + "]\n",
    "template-v1beta2": "apiVersion: scaffolder.backstage.io/v1beta2\nkind: Template\n"
    "metadata:\n  name: t\nspec:\n  type: service\n  steps: []\n",
    "template-step-without-action": "apiVersion: scaffolder.backstage.io/v1beta3\nkind: Template\n"
    "metadata:\n  name: t\nspec:\n  type: service\n  steps:\n    - id: x\n",
    "location-github-org": "apiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata:\n"
    "  name: l\nspec:\n  type: github-org\n  target: https://github.com/x\n",
    "group-without-children": "apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata:\n"
    "  name: g\nspec:\n  type: team\n",
    "user-v1beta1": "apiVersion: backstage.io/v1beta1\nkind: User\nmetadata:\n  name: u\n"
    "spec:\n  memberOf: [team-a]\n",
}


@pytest.mark.oracle
def test_generated_edge_documents_get_backstages_verdict(tmp_path: Path) -> None:
    validate = ORACLE_DIR / "validate.mjs"
    if not validate.is_file() or shutil.which("node") is None:
        pytest.skip(
            f"Backstage oracle not installed at {ORACLE_DIR} (set ORACLE_DIR) or node missing"
        )
    for name, text in EDGE_CASES.items():
        (tmp_path / f"{name}.yaml").write_text(text, encoding="utf-8")
    done = subprocess.run(
        ["node", str(validate), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    theirs: dict[str, bool] = {}
    for line in done.stdout.splitlines():
        row = json.loads(line)
        name = Path(row["file"]).stem
        theirs[name] = theirs.get(name, True) and bool(row["valid"])
    assert set(theirs) == set(EDGE_CASES)
    disagreements = []
    for name in sorted(EDGE_CASES):
        docs = process_file(tmp_path / f"{name}.yaml", rules=RULES)
        ours_valid = all(d.valid for d in docs)
        if ours_valid != theirs[name]:
            disagreements.append(f"{name}: Backstage {theirs[name]}, ours {ours_valid}")
    assert not disagreements, disagreements
