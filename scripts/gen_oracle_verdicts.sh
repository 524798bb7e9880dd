#!/usr/bin/env bash
# Regenerate tests/catalog/data/backstage_verdicts.jsonl: Backstage's own verdict on every YAML
# document of ../shared/fixtures/real/backstage-catalog (the oracle agreement test reads it).
#
#   bash scripts/gen_oracle_verdicts.sh                          # installs the oracle in a scratch dir
#   ORACLE_DIR=/tmp/oracle/backstage bash scripts/gen_oracle_verdicts.sh   # reuse an installed oracle
#
# One JSON line per document: {"file" (relative to the fixture folder), "index", "ref", "valid",
# "ignored", "stage", "error"}, sorted by file and index, so diffs stay readable.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SHARED="$(cd "$ROOT/../shared" && pwd)"
FIXTURES="$SHARED/fixtures/real/backstage-catalog"
OUT="$ROOT/tests/catalog/data/backstage_verdicts.jsonl"

if [[ -z "${ORACLE_DIR:-}" ]]; then
  scratch="$(mktemp -d)"
  trap 'rm -rf "$scratch"' EXIT
  cp -r "$SHARED/oracles/backstage" "$scratch/"
  ORACLE_DIR="$scratch/backstage"
  echo "[gen] installing the Backstage oracle in $ORACLE_DIR (about 2 minutes)" >&2
  (cd "$ORACLE_DIR" && npm_config_nodedir=/usr npm ci --no-audit --no-fund >&2)
fi

raw="$(mktemp)"
node "$ORACLE_DIR/validate.mjs" "$FIXTURES" > "$raw"
"$ROOT/.venv/bin/python" - "$raw" "$FIXTURES" "$OUT" <<'PY'
import json, sys
from pathlib import Path

raw, fixtures, out = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
rows = []
for line in Path(raw).read_text(encoding="utf-8").splitlines():
    r = json.loads(line)
    if "summary" in r:
        continue
    rows.append({
        "file": str(Path(r["file"]).relative_to(fixtures)),
        "index": r["index"],
        "ref": r.get("ref"),
        "valid": bool(r["valid"]),
        "ignored": bool(r.get("ignored", False)),
        "stage": r.get("stage"),
        # absolute fixture paths in messages would tie the file to one machine
        "error": (r.get("error") or None) and r["error"].replace(str(fixtures) + "/", ""),
    })
rows.sort(key=lambda r: (r["file"], -1 if r["index"] is None else r["index"]))
out.parent.mkdir(parents=True, exist_ok=True)
out.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in rows), encoding="utf-8")
valid = sum(r["valid"] and not r["ignored"] for r in rows)
ignored = sum(r["ignored"] for r in rows)
print(f"[gen] {out}: {len(rows)} documents, {valid} valid, "
      f"{len(rows) - valid - ignored} invalid, {ignored} ignored", file=sys.stderr)
PY
rm -f "$raw"
