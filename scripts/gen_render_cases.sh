#!/usr/bin/env bash
# Regenerate tests/scaffolder/data/render_expected.jsonl from Backstage's own renderer.
#
# Runs every case in tests/scaffolder/data/render_cases.jsonl through the Backstage oracle
# (@backstage/plugin-scaffolder-backend 4.2 + nunjitsu, see ../shared/oracles/backstage/README.md)
# and stores its verdicts. Never hand-edit the output; edit the cases and rerun this script.
#
# Usage: scripts/gen_render_cases.sh [ORACLE_DIR]   (default: /tmp/oracle/backstage)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
oracle="${1:-${BACKSTAGE_ORACLE:-/tmp/oracle/backstage}}"
cases="$here/tests/scaffolder/data/render_cases.jsonl"
expected="$here/tests/scaffolder/data/render_expected.jsonl"
if [[ ! -f "$oracle/template_render.mjs" || ! -d "$oracle/node_modules" ]]; then
  echo "Backstage oracle not installed at $oracle (see ../shared/oracles/backstage/README.md)" >&2
  exit 2
fi
tmp="$(mktemp)"
trap 'rm -f "$tmp"' EXIT
(cd "$oracle" && node template_render.mjs --batch) < "$cases" > "$tmp"
in_count=$(grep -c . "$cases")
out_count=$(grep -c . "$tmp")
if [[ "$in_count" != "$out_count" ]]; then
  echo "oracle answered $out_count of $in_count cases; not overwriting $expected" >&2
  exit 1
fi
mv "$tmp" "$expected"
trap - EXIT
echo "wrote $out_count oracle verdicts to ${expected#"$here"/}"
