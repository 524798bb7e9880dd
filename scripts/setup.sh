#!/usr/bin/env bash
# Install everything goldenpath needs into this checkout. Idempotent: a second run only
# checks and returns in a few seconds.
#
#   bash scripts/setup.sh
#
# What it does, each step only when needed:
#   1. apt packages the tests use: git, PostgreSQL 15 server binaries (/usr/lib/postgresql/15/bin),
#      HAProxy (the local runtime's router), redis-server and pg_dump/pg_restore (managed resources),
#      promtool (prometheus) and kubectl (kubernetes-client) for the Kubernetes output checks,
#      graphviz (the portal's relation graphs), chromium (the portal's browser tests),
#      python3-venv (apt-get update first; as root, or through sudo).
#   2. .venv with Python >= 3.11, uv inside it, and the project installed editable with its dev extras.
#   3. npm ci for the node test client (tests/clients) and the portal's assets
#      (src/goldenpath/portal/assets), each when its package.json exists.
#
# Environment:
#   PYTHON=/path/to/python3.11   interpreter for the venv (default: python3.11, else python3)
#   GOLDENPATH_SKIP_APT=1        never call apt-get (the tests that need PostgreSQL then skip)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="$ROOT/.venv"
PG_BIN=/usr/lib/postgresql/15/bin

say() { printf '\033[1;34m[setup]\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31m[setup] error:\033[0m %s\n' "$*" >&2; exit 1; }

pick_python() {
  if [[ -n "${PYTHON:-}" ]]; then echo "$PYTHON"; return; fi
  for candidate in python3.11 python3.12 python3.13 python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      command -v "$candidate"; return
    fi
  done
  die "Python >= 3.11 not found; install it (Debian 12: apt-get install python3) or set PYTHON=/path/to/python3.11"
}

as_root() {
  if [[ "$(id -u)" == 0 ]]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else die "need root to run: $* (or install it yourself and set GOLDENPATH_SKIP_APT=1)"
  fi
}

apt_missing() {
  # Prints the apt packages this project needs that are not installed yet.
  local python="$1"
  command -v git >/dev/null 2>&1 || echo git
  [[ -x "$PG_BIN/initdb" && -x "$PG_BIN/pg_ctl" ]] || echo postgresql-15
  command -v haproxy >/dev/null 2>&1 || [[ -x /usr/sbin/haproxy ]] || echo haproxy
  command -v redis-server >/dev/null 2>&1 || [[ -x /usr/bin/redis-server ]] || echo redis-server
  command -v pg_dump >/dev/null 2>&1 || echo postgresql-client-15
  command -v promtool >/dev/null 2>&1 || echo prometheus
  command -v kubectl >/dev/null 2>&1 || echo kubernetes-client
  command -v dot >/dev/null 2>&1 || echo graphviz
  [[ -x /usr/bin/chromium ]] || echo chromium
  "$python" -c 'import ensurepip, venv' >/dev/null 2>&1 || echo python3-venv
}

install_apt() {
  local python="$1" missing
  missing="$(apt_missing "$python" | tr '\n' ' ')"
  [[ -z "${missing// /}" ]] && return 0
  if [[ "${GOLDENPATH_SKIP_APT:-0}" == 1 ]]; then
    say "GOLDENPATH_SKIP_APT=1: not installing missing apt packages: $missing"; return 0
  fi
  command -v apt-get >/dev/null 2>&1 ||
    die "missing $missing and no apt-get here; install them with your package manager"
  say "installing apt packages: $missing"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
  # shellcheck disable=SC2086  # word splitting of the package list is intended
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing
}

install_venv() {
  local python="$1" stamp="$VENV/.goldenpath-setup" want
  if [[ ! -x "$VENV/bin/python" ]]; then
    say "creating $VENV with $python"
    "$python" -m venv "$VENV"
  fi
  # Reinstall only when the dependency list (or this recipe's version) changed since the last
  # successful run.
  want="$(sha256sum pyproject.toml | cut -d' ' -f1):bytecode"
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" && -x "$VENV/bin/platform" ]]; then
    return 0
  fi
  if [[ ! -x "$VENV/bin/uv" ]]; then
    say "installing uv into the venv"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check uv
  fi
  say "installing goldenpath (editable) with dev extras"
  "$VENV/bin/uv" pip install --quiet --python "$VENV/bin/python" -e ".[dev]"
  # Bytecode up front: images often set PYTHONDONTWRITEBYTECODE=1, and then every `platform`
  # command would compile its imports from source again (measured: `platform --help` 2.1-2.8 s
  # without .pyc files, 1.1-1.3 s with them).
  say "compiling the venv's bytecode"
  "$VENV/bin/python" -m compileall -q -j 0 "$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')" >/dev/null ||
    say "compileall reported files it could not compile (harmless: they are not imported)"
  echo "$want" >"$stamp"
}

compile_sources() {
  # goldenpath's own bytecode (editable install): only files changed since the last run
  "$VENV/bin/python" -m compileall -q -j 0 "$ROOT/src/goldenpath" >/dev/null ||
    say "some goldenpath sources do not compile (the lint and test gates will say which)"
}

npm_install() {
  # npm ci in "$1" when its package.json exists and node_modules is missing or older than the lock.
  local dir="$1"
  [[ -f "$dir/package.json" ]] || return 0
  command -v npm >/dev/null 2>&1 || { say "npm not found: skipping $dir"; return 0; }
  local marker="$dir/node_modules/.package-lock.json"
  if [[ -d "$dir/node_modules" && -f "$marker" && ! "$dir/package-lock.json" -nt "$marker" ]]; then
    return 0
  fi
  say "installing npm packages in ${dir#"$ROOT"/}"
  if [[ -f "$dir/package-lock.json" ]]; then
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  else
    (cd "$dir" && npm install --no-audit --no-fund --loglevel=error)
  fi
}

main() {
  local python
  python="$(pick_python)"
  install_apt "$python"
  install_venv "$python"
  compile_sources
  npm_install "$ROOT/tests/clients"          # @backstage/catalog-client for the client tests
  npm_install "$ROOT/src/goldenpath/portal/assets"   # the portal's CSS/JS (served under /static/vendor)
  say "ready: $VENV/bin/platform --help"
}

main "$@"
