#!/usr/bin/env python
"""Survey the real Backstage template corpus; write the expected outcomes and the docs table.

Usage (from the repository root)::

    .venv/bin/python scripts/gen_real_templates_expected.py          # write both files
    .venv/bin/python scripts/gen_real_templates_expected.py --check  # exit 1 when stale

Reads ``../shared/fixtures/real/backstage-templates/*.yaml``; writes
``tests/scaffolder/data/real_templates_expected.json`` (one record per file, see
:func:`goldenpath.scaffolder.corpus.survey_file` and
:func:`goldenpath.scaffolder.corpus.dry_run_file`) and the generated part of
``docs/templates.md`` (between the ``BEGIN/END generated corpus report`` markers).
Re-run it whenever an action is added: the supported column and the dry runs change.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
from pathlib import Path
from typing import Any

from goldenpath.scaffolder.actions import default_registry
from goldenpath.scaffolder.corpus import survey_corpus

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "fixtures" / "real" / "backstage-templates"
EXPECTED = REPO / "tests" / "scaffolder" / "data" / "real_templates_expected.json"
DOCS = REPO / "docs" / "templates.md"
BEGIN = "<!-- BEGIN generated corpus report (scripts/gen_real_templates_expected.py) -->"
END = "<!-- END generated corpus report -->"


def _templates(records: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    return [(r["file"], t) for r in records for t in r["templates"]]


def _action_rows(records: list[dict[str, Any]]) -> list[str]:
    registry = default_registry()
    steps: collections.Counter[str] = collections.Counter()
    users: collections.Counter[str] = collections.Counter()
    for _, item in _templates(records):
        steps.update(item["actions"])
        users.update(item["actions"].keys())
    rows = [
        "| action | steps | templates | supported | in a dry run |",
        "|---|---:|---:|---|---|",
    ]
    for action, count in sorted(users.items(), key=lambda kv: (-kv[1], kv[0])):
        if action in registry:
            dry = "runs" if registry.get(action).supports_dry_run else "skipped"
            rows.append(f"| `{action}` | {steps[action]} | {count} | yes | {dry} |")
        else:
            rows.append(f"| `{action}` | {steps[action]} | {count} | no | |")
    return rows


def _label(file: str, item: dict[str, Any], records: list[dict[str, Any]]) -> str:
    several = next(len(r["templates"]) for r in records if r["file"] == file) > 1
    return f"`{file}` ({item['name']})" if several else f"`{file}`"


def report(records: list[dict[str, Any]]) -> str:
    """The generated Markdown section of ``docs/templates.md``."""
    templates = _templates(records)
    loaded = [(f, t) for f, t in templates if t["outcome"] == "loaded"]
    runnable = [(f, t) for f, t in templates if t["dry_run"] is not None]
    by_status = collections.Counter(t["dry_run"]["status"] for _, t in runnable)
    used = {a for _, t in templates for a in t["actions"]}
    supported = [a for a in used if a in default_registry()]
    no_template = [r for r in records if not r["templates"] and not r["yaml_error"]]
    lines = [
        BEGIN,
        "",
        f"- Corpus: {len(records)} files holding {len(templates)} Template documents"
        + (f" ({len(no_template)} files hold none)" if no_template else "")
        + ".",
        f"- Loaded with a valid parameter schema: {len(loaded)}; rejected: "
        f"{len(templates) - len(loaded)}; files refused by the YAML loader: "
        f"{sum(1 for r in records if r['yaml_error'])}.",
        f"- Distinct actions used: {len(used)}; supported by goldenpath: {len(supported)}.",
        f"- Templates that load and use supported actions only: {len(runnable)}; their dry "
        "runs: " + ", ".join(f"{s} {n}" for s, n in sorted(by_status.items())) + ".",
        "",
        "### Actions used by the corpus",
        "",
        *_action_rows(records),
        "",
        "### Not valid YAML as committed",
        "",
        *[
            f"- `{r['file']}` — strict YAML (PyYAML): {r['strict_yaml_error']}. "
            + (
                f"Refused: {r['yaml_error']}"
                if r["yaml_error"]
                else "goldenpath (like "
                "Backstage's `yaml` package) stringifies the key and loads the file."
            )
            for r in records
            if r["strict_yaml_error"] or r["yaml_error"]
        ],
        "",
        "### Rejected templates, with the reason",
        "",
        *[
            f"- {_label(f, t, records)} — {t['reason']}"
            for f, t in templates
            if t["outcome"] != "loaded"
        ],
        "",
        "### Dry runs that did not complete",
        "",
        *[
            f"- {_label(f, t, records)} — {t['dry_run']['status']}: {t['dry_run']['error']}"
            for f, t in runnable
            if t["dry_run"]["status"] != "completed"
        ],
        "",
        END,
    ]
    return "\n".join(lines)


def _docs_with(section: str) -> str:
    text = DOCS.read_text()
    start, end = text.index(BEGIN), text.index(END) + len(END)
    return text[:start] + section + text[end:]


def main() -> int:
    """Write (or with ``--check`` compare) the expected JSON and the docs section."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when a file is stale")
    args = parser.parse_args()
    if not CORPUS.is_dir():
        print(f"corpus not found: {CORPUS}", file=sys.stderr)
        return 2
    records = survey_corpus(CORPUS)
    expected = json.dumps(records, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    docs = _docs_with(report(records))
    if args.check:
        stale = [p for p, t in ((EXPECTED, expected), (DOCS, docs)) if p.read_text() != t]
        for path in stale:
            print(f"stale: {path.relative_to(REPO)}", file=sys.stderr)
        return 1 if stale else 0
    EXPECTED.parent.mkdir(parents=True, exist_ok=True)
    EXPECTED.write_text(expected)
    DOCS.write_text(docs)
    print(f"wrote {EXPECTED.relative_to(REPO)} ({len(records)} files) and {DOCS.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
