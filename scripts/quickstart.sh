#!/usr/bin/env bash
# The main job on the embedded default, for a newcomer:
#   install everything (scripts/setup.sh) → start the platform server in the background →
#   import the sample catalog in examples/catalog → create hello-api from the python-service
#   golden path → deploy it to dev → check it answers 200 → print where to look (the portal's
#   URL; the admin's portal password is generated once into <home>/portal-password).
# Idempotent: a second run reuses the running server and refreshes the already-registered
# sample catalog instead of registering it twice.
#
#   bash scripts/quickstart.sh
#
# Environment:
#   GOLDENPATH_HOME          data directory (default: the user's data dir, ~/.local/share/goldenpath)
#   GOLDENPATH_DATABASE_URL  use PostgreSQL instead of the embedded SQLite file
# Stop everything it started with:  .venv/bin/platform server stop --all
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

say() { printf '\033[1;34m[quickstart]\033[0m %s\n' "$*" >&2; }

bash scripts/setup.sh

PLATFORM="$ROOT/.venv/bin/platform"
CATALOG="$ROOT/examples/catalog"

say "starting the server (reused when one is already running for this data directory)"
"$PLATFORM" server start

registered() {
  # True when the sample catalog's location is registered already (an earlier run).
  "$PLATFORM" catalog locations -o json | "$ROOT/.venv/bin/python" -c '
import json, sys
target = sys.argv[1]
sys.exit(0 if any(l["data"]["target"] == target for l in json.load(sys.stdin)) else 1)
' "$CATALOG"
}

if registered; then
  say "the sample catalog was imported before; refreshing it"
  "$PLATFORM" catalog refresh
else
  say "importing the sample catalog: $CATALOG"
  "$PLATFORM" catalog import "$CATALOG"
fi

home="$("$ROOT/.venv/bin/python" -c \
  'from goldenpath.settings import load_settings; print(load_settings().home)')"

# The portal: the built-in admin signs in with a random password kept in <home>/portal-password
# (mode 0600), set once with `platform user add admin --password-stdin`.
PASSWORD_FILE="$home/portal-password"
if [[ -s "$PASSWORD_FILE" ]]; then
  say "the portal's admin password was set before: $PASSWORD_FILE"
else
  say "setting a password for the portal's admin user (kept in $PASSWORD_FILE)"
  (umask 077 && "$ROOT/.venv/bin/python" -c 'import secrets; print(secrets.token_urlsafe(18))' \
    >"$PASSWORD_FILE.new")
  "$PLATFORM" user add admin --password-stdin <"$PASSWORD_FILE.new" >/dev/null
  mv "$PASSWORD_FILE.new" "$PASSWORD_FILE"
fi

# The main job: a service from the python-service golden path, deployed to dev.
SERVICE=hello-api
SERVICE_DIR="$home/quickstart/$SERVICE"
if [[ -d "$SERVICE_DIR/.git" ]]; then
  say "$SERVICE was created before: $SERVICE_DIR"
else
  say "creating $SERVICE from the python-service golden path"
  mkdir -p "$home/quickstart"
  "$PLATFORM" create service "$SERVICE" --dir "$SERVICE_DIR"
fi
say "deploying $SERVICE to dev (build with uv, supervised replicas, HAProxy in front)"
(cd "$SERVICE_DIR" && "$PLATFORM" deploy --env dev)
service_urls="$(cd "$SERVICE_DIR" && "$PLATFORM" status "$SERVICE" --env dev -o json | "$ROOT/.venv/bin/python" -c '
import json, sys
data = json.load(sys.stdin)
items = data if isinstance(data, list) else [data]
urls = next((i.get("urls") for i in items if i.get("urls")), None) or {}
print(urls.get("direct", ""), urls.get("http", ""))
')"
direct_url="${service_urls%% *}"
host_url="${service_urls#* }"
code="$("$ROOT/.venv/bin/python" -c '
import sys, httpx
try:
    print(httpx.get(sys.argv[1], timeout=10).status_code)
except httpx.HTTPError as e:
    print(type(e).__name__)
' "$direct_url/")"
say "GET $direct_url/ answered $code"
[[ "$code" == 200 ]] || { say "the service did not answer 200; see: platform logs $SERVICE --env dev"; exit 1; }
url="$("$ROOT/.venv/bin/python" - "$home" <<'PY'
import json, sys
from pathlib import Path
try:
    print(json.loads((Path(sys.argv[1]) / "run" / "server.json").read_text())["url"])
except (OSError, ValueError, KeyError):
    print("(see: platform server status)")
PY
)"

cat <<EOF

goldenpath is running, and so is $SERVICE in dev:
  Service         $host_url   (no DNS needed: $direct_url)
  Its repository  $SERVICE_DIR

  Portal          $url/   (sign in as admin; the password is in $PASSWORD_FILE)
  API             $url/api/catalog/entities
  OpenAPI         $url/openapi.json   (needs the token, like every route but health)
  Health          $url/healthz
  Admin token     $home/admin-token   (send it as: Authorization: Bearer \$(cat $home/admin-token))
  Data directory  $home
  Server log      $home/run/server.log

Try:
  .venv/bin/platform status $SERVICE --env dev
  .venv/bin/platform logs $SERVICE --env dev --since 10m
  .venv/bin/platform deploy history $SERVICE
  .venv/bin/platform catalog ls
  .venv/bin/platform catalog ls --kind component --owner storefront-team
  .venv/bin/platform catalog get component:default/checkout -o yaml
  .venv/bin/platform catalog validate examples/catalog
  curl -s -H "Authorization: Bearer \$(cat $home/admin-token)" '$url/api/catalog/entity-facets?facet=kind'

Stop it:
  .venv/bin/platform server stop --all
EOF
