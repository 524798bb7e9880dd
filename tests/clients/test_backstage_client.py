"""Backstage's own ``@backstage/catalog-client`` (pinned in package.json) against our server.

A real server runs in a subprocess (``goldenpath.api.serve.run`` on 127.0.0.1, port 0); the
node script ``backstage_client.mjs`` lists, gets, queries with cursor paging, gets by refs,
fetches facets and ancestry with a token, and prints JSON this test asserts on.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

HERE = Path(__file__).resolve().parent
SAMPLE_CATALOG = HERE.parent / "api" / "data" / "catalog"


@pytest.fixture(scope="session")
def node_modules() -> Path:
    """``npm ci`` into tests/clients once when node_modules is missing."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are needed to run @backstage/catalog-client")
    modules = HERE / "node_modules"
    if not (modules / "@backstage" / "catalog-client").is_dir():
        done = subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts"],
            cwd=HERE,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, f"npm ci failed:\n{done.stdout}\n{done.stderr}"
    return modules


@pytest.fixture
def server(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A real goldenpath server on a free port; stopped by PID at the end."""
    home = tmp_path / "home"
    env = {
        **os.environ,
        "GOLDENPATH_HOME": str(home),
        "GOLDENPATH_SERVER__PORT": "0",
        "GOLDENPATH_SERVER__HOST": "127.0.0.1",
        "GOLDENPATH_CATALOG__REFRESH_INTERVAL": "0",
    }
    env.pop("GOLDENPATH_DATABASE_URL", None)
    code = (
        "from goldenpath.api.serve import run\n"
        "from goldenpath.settings import load_settings\n"
        "run(load_settings())\n"
    )
    log = (tmp_path / "server.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=log, stderr=log)
    server_json = home / "run" / "server.json"
    try:
        deadline = time.monotonic() + 120  # generous: CI machines run other suites at once
        while not server_json.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"server did not start:\n{(tmp_path / 'server.log').read_text()}")
            time.sleep(0.1)
        info = json.loads(server_json.read_text())
        info["token"] = (home / "admin-token").read_text().strip()
        yield info
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        log.close()


def _run_client(node_modules: Path, server: dict[str, Any]) -> dict[str, Any]:
    done = subprocess.run(
        ["node", str(HERE / "backstage_client.mjs")],
        cwd=HERE,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "GP_URL": server["url"], "GP_TOKEN": server["token"]},
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_backstage_catalog_client_works_against_our_server(
    node_modules: Path, server: dict[str, Any]
) -> None:
    registered = httpx.post(
        f"{server['url']}/api/catalog/locations",
        json={"type": "file", "target": str(SAMPLE_CATALOG)},
        headers={"Authorization": f"Bearer {server['token']}"},
        timeout=30,
    )
    assert registered.status_code == 201, registered.text

    out = _run_client(node_modules, server)

    components = ["audit-trail", "checkout", "ledger", "payments", "storefront"]
    assert [e["metadata"]["name"] for e in out["list"]] == components
    assert out["list"][1] == {
        "kind": "Component",
        "metadata": {"name": "checkout"},
        "spec": {"type": "service"},
    }
    assert out["listOr"] == ["platform-admins", "shop", "team-a"]
    assert out["get"]["metadata"]["name"] == "checkout"
    assert out["get"]["spec"]["owner"] == "team-a"
    assert out["getMissing"] is None
    assert out["query"] == {
        "totalItems": 5,
        "pages": [components[:2], components[2:4], components[4:]],
    }
    assert sorted(out["queryText"]["pages"][0]) == ["checkout", "payments"]
    assert out["byRefs"] == ["checkout", None, "team-a"]
    kinds = {f["value"]: f["count"] for f in out["facets"]["kind"]}
    assert kinds["Component"] == 5 and kinds["Group"] == 2 and kinds["User"] == 2
    assert {f["value"]: f["count"] for f in out["facetsFiltered"]["spec.type"]} == {
        "service": 3,
        "website": 1,
        "library": 1,
    }
    assert out["ancestors"]["rootEntityRef"] == "component:default/checkout"
    assert str(SAMPLE_CATALOG) in [loc["target"] for loc in out["locations"]]
    assert out["unauthorized"] == {"name": "ResponseError", "status": 401}
