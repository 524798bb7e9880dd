"""An unmodified open-source web application nobody here wrote, deployed from PyPI.

``datasette`` through a platform.yaml that names only the package and its command: the
real CLI against an auto-started server builds it with uv (network to PyPI is allowed here),
runs it under supervisord and routes it through HAProxy; it must answer 200 on the
host-named URL (``Host: datasette.dev.localhost``) and on the direct one.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from test_cli_deploy_server import _platform
from test_cli_deploy_server import home as home  # the fixture

SPEC = """\
kind: Service
metadata:
  name: datasette
spec:
  build:
    package: datasette
  run:
    command: datasette serve --host 127.0.0.1 --port $PORT
"""


@pytest.fixture
def spec_dir(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "datasette"
    folder.mkdir()
    (folder / "platform.yaml").write_text(SPEC)
    yield folder


def test_datasette_from_pypi_serves_200_through_the_router(home: Path, spec_dir: Path) -> None:
    deployed = _platform(home, spec_dir, "deploy", "--env", "dev")
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr

    status = _platform(home, spec_dir, "status", "datasette", "--env", "dev", "-o", "json")
    (dev,) = json.loads(status.stdout)
    urls = dev["urls"]
    direct = httpx.get(urls["direct"] + "/-/versions.json", timeout=10)
    assert direct.status_code == 200 and "datasette" in direct.json()
    port = urls["http"].rsplit(":", 1)[1]
    by_host = httpx.get(
        f"http://127.0.0.1:{port}/", headers={"Host": "datasette.dev.localhost"}, timeout=10
    )
    assert by_host.status_code == 200 and "Datasette" in by_host.text
