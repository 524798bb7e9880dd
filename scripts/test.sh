#!/usr/bin/env bash
# THE test command: installs what is missing (scripts/setup.sh), then runs every gate.
#
#   bash scripts/test.sh                 # everything: ruff, mypy, import-linter, pytest
#   bash scripts/test.sh tests/catalog   # extra arguments go to pytest (gates still run)
#
# Gates, in order; the script exits non-zero when any of them fails (all of them run, so one
# report shows every problem):
#   ruff check src tests benchmarks     lint
#   mypy                                types of src/ (disallow_untyped_defs; config in pyproject.toml)
#   lint-imports                        the layering of DESIGN.md (contracts in pyproject.toml)
#   pytest -n 2                         the suite on 2 workers; "no tests collected" counts as failure
#
# Environment:
#   PYTEST_WORKERS=N     pytest-xdist workers (default 2; 0 runs in-process, handy with --pdb)
#   GOLDENPATH_TEST_DATABASE_URL   use this PostgreSQL instead of a throwaway cluster
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

bash scripts/setup.sh || { echo "[test] setup failed" >&2; exit 1; }
# Let Python cache bytecode (tests, and pytest's rewritten test modules) even where the image
# sets PYTHONDONTWRITEBYTECODE=1: the suite starts hundreds of `platform` processes.
unset PYTHONDONTWRITEBYTECODE

BIN="$ROOT/.venv/bin"
failed=()

gate() {
  local name="$1"; shift
  printf '\n\033[1;34m[test] %s\033[0m: %s\n' "$name" "$*" >&2
  local start=$SECONDS
  if "$@"; then
    printf '\033[1;32m[test] %s passed\033[0m (%ss)\n' "$name" "$((SECONDS - start))" >&2
  else
    printf '\033[1;31m[test] %s FAILED\033[0m (%ss)\n' "$name" "$((SECONDS - start))" >&2
    failed+=("$name")
  fi
}

lint_targets=(src tests)
[[ -d benchmarks ]] && lint_targets+=(benchmarks)

gate ruff "$BIN/ruff" check --no-cache "${lint_targets[@]}"
gate ruff-format "$BIN/ruff" format --no-cache --check "${lint_targets[@]}"
gate mypy "$BIN/mypy"
gate import-linter "$BIN/lint-imports"

workers="${PYTEST_WORKERS:-2}"
xdist=()
[[ "$workers" != 0 ]] && xdist=(-n "$workers" --dist loadfile)
# pytest exits 5 when it collected nothing: a suite that silently vanished is a failure too.
gate pytest "$BIN/pytest" "${xdist[@]}" "$@"

echo >&2
if ((${#failed[@]})); then
  printf '\033[1;31m[test] FAILED: %s\033[0m\n' "${failed[*]}" >&2
  exit 1
fi
printf '\033[1;32m[test] all gates passed\033[0m\n' >&2
