"""The README's first command works, twice: sample catalog browsable, hello-api deployed.

Runs ``bash scripts/quickstart.sh`` for real on a throwaway ``GOLDENPATH_HOME``: setup
(a no-op once installed), a background server, the sample catalog import, ``hello-api``
created from the python-service golden path and deployed to ``dev`` (uv build, supervised
replicas, HAProxy), the "where to look" summary with the service's URL. A second run must
reuse the server, keep the catalog as it was and the service's URL. Everything is stopped
with ``platform server stop --all`` whatever happens.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]
PLATFORM = Path(sys.executable).with_name("platform")


@pytest.fixture
def home(tmp_path: Path) -> Iterator[dict[str, str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOLDENPATH_")}
    env["GOLDENPATH_HOME"] = str(tmp_path / "home")
    try:
        yield env
    finally:
        subprocess.run(
            [str(PLATFORM), "server", "stop", "--all"],
            env=env, capture_output=True, timeout=60, check=False,
        )  # fmt: skip


def _quickstart(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(ROOT / "scripts" / "quickstart.sh")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip


def _entities(env: dict[str, str]) -> list[dict]:
    result = subprocess.run(
        [str(PLATFORM), "catalog", "ls", "--kind", "component", "--limit", "50", "-o", "json"],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    data = json.loads(result.stdout)
    return data["items"] if isinstance(data, dict) else data


def test_quickstart_serves_the_sample_catalog_and_is_idempotent(home: dict[str, str]) -> None:
    first = _quickstart(home)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "goldenpath is running" in first.stdout
    token_file = Path(home["GOLDENPATH_HOME"]) / "admin-token"
    assert str(token_file) in first.stdout
    assert token_file.stat().st_mode & 0o777 == 0o600
    info = json.loads((Path(home["GOLDENPATH_HOME"]) / "run" / "server.json").read_text())
    assert f"{info['url']}/openapi.json" in first.stdout
    password_file = Path(home["GOLDENPATH_HOME"]) / "portal-password"
    assert (
        f"{info['url']}/   (sign in as admin; the password is in {password_file})" in first.stdout
    )
    assert password_file.stat().st_mode & 0o777 == 0o600
    password = password_file.read_text().strip()
    _portal_sign_in(info["url"], "admin", password)

    names = sorted(e["metadata"]["name"] for e in _entities(home))
    assert names == [
        "checkout", "fraud-detector", "hello-api", "payments", "payments-sdk",
        "product-catalog", "web-shop",
    ]  # fmt: skip
    service_url = _service_url(first.stdout)
    assert service_url.startswith("http://127.0.0.1:")
    answer = httpx.get(service_url + "/", timeout=10)
    assert answer.status_code == 200 and answer.json()["service"] == "hello-api"

    second = _quickstart(home)
    assert second.returncode == 0, second.stdout + second.stderr
    again = json.loads((Path(home["GOLDENPATH_HOME"]) / "run" / "server.json").read_text())
    assert again["pid"] == info["pid"], "the second run must reuse the running server"
    assert sorted(e["metadata"]["name"] for e in _entities(home)) == names
    assert _service_url(second.stdout) == service_url, "the service keeps its URL"
    assert httpx.get(service_url + "/healthz", timeout=10).status_code == 200
    assert password_file.read_text().strip() == password, "the password is set only once"
    _portal_sign_in(info["url"], "admin", password)


def _portal_sign_in(url: str, user: str, password: str) -> None:
    """Sign in to the portal at ``url`` through its form (CSRF field included) and land on
    the home page."""
    with httpx.Client(base_url=url, timeout=30) as client:
        form = client.get("/login")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert form.status_code == 200 and csrf, form.text[:500]
        body = {"csrf_token": csrf[1], "next": "/", "user": user, "password": password}
        signed_in = client.post("/login", data=body, follow_redirects=True)
        assert signed_in.status_code == 200 and "Sign out" in signed_in.text, signed_in.text[:500]


def _service_url(stdout: str) -> str:
    """The direct URL of hello-api from the summary's ``Service … (no DNS needed: URL)``."""
    line = next(x for x in stdout.splitlines() if x.strip().startswith("Service "))
    return line.rsplit("no DNS needed: ", 1)[1].rstrip(")").strip()
