"""Helpers for the CLI tests: a file-tree builder and the real `platform` as a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from goldenpath import processes as pids

ORG = """\
apiVersion: backstage.io/v1alpha1
kind: Group
metadata:
  name: team-a
spec:
  type: team
  children: []
---
apiVersion: backstage.io/v1alpha1
kind: User
metadata:
  name: jane
spec:
  memberOf: [team-a]
"""

COMPONENTS = """\
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: petstore
  description: Sells pets
  tags: [python]
spec:
  type: service
  lifecycle: production
  owner: team-a
  providesApis: [petstore-api]
---
apiVersion: backstage.io/v1alpha1
kind: API
metadata:
  name: petstore-api
spec:
  type: openapi
  lifecycle: production
  owner: team-a
  definition: "openapi: 3.0.0"
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: Broken_Name!
spec:
  type: service
  lifecycle: production
  owner: team-a
"""

SYSTEM = """\
apiVersion: backstage.io/v1alpha1
kind: System
metadata:
  name: shop
spec:
  owner: team-a
"""


def build_file_tree(root: Path, files: dict[str, str]) -> Path:
    """Write ``{relative path: text}`` under ``root`` and return ``root``."""
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return root


def cli_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of a `platform` subprocess for data directory ``home``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOLDENPATH_")}
    env.update(
        GOLDENPATH_HOME=str(home),
        GOLDENPATH_CATALOG__REFRESH_INTERVAL="0",
        GOLDENPATH_SERVER__START_TIMEOUT="60",
        COLUMNS="200",
    )
    env.update(extra)
    return env


def run_platform(
    home: Path, *args: str, timeout: float = 120, **env: str
) -> subprocess.CompletedProcess[str]:
    """Run the real CLI (`python -m goldenpath.cli …`) and return the finished process."""
    return subprocess.run(
        [sys.executable, "-m", "goldenpath.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=cli_env(home, **env),
        check=False,
    )


def stop_everything(home: Path) -> None:
    """Teardown: `server stop --all`, then terminate any registered process still alive."""
    try:
        run_platform(home, "server", "stop", "--all", timeout=60)
    finally:
        for record in pids.read_all(home / "run"):
            pids.terminate(record, timeout=5)
