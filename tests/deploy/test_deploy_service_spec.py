"""Reading a service's spec at the resolved commit (``git show <sha>:<path>``), with real git
repositories and the real local builder's ``resolve`` (mirrors under a temp home)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any, cast

import pytest

from goldenpath.deploy._request import DeployRequest, read_workload
from goldenpath.deploy._workload import check_deployable, read_spec
from goldenpath.drivers.base import RuntimeDriver
from goldenpath.drivers.local.build import LocalBuilder
from goldenpath.errors import InvalidInput, NotFound
from goldenpath.workloads import WorkloadError

SPEC = """\
kind: Service
metadata: {{name: hello}}
spec:
  language: python
  run:
    command: [python, app.py]
    env: {{APP_VERSION: "{version}"}}
"""


def git(repo: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "A",
        "GIT_AUTHOR_EMAIL": "a@x",
        "GIT_COMMITTER_NAME": "A",
        "GIT_COMMITTER_EMAIL": "a@x",
    }
    done = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, env=env, check=True
    )
    return done.stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "hello"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    (path / "platform.yaml").write_text(SPEC.format(version="v1"))
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "v1")
    return path


@pytest.fixture
def driver(tmp_path: Path) -> RuntimeDriver:
    return cast(RuntimeDriver, LocalBuilder(tmp_path / "home"))


def version_of(request: DeployRequest, driver: RuntimeDriver, home: Path) -> Any:
    workload, revision = read_workload(request, driver=driver, home=home)
    return workload.env["APP_VERSION"], revision


def test_the_spec_is_read_at_the_resolved_commit_not_the_working_tree(
    repo: Path, driver: RuntimeDriver, tmp_path: Path
) -> None:
    first = git(repo, "rev-parse", "HEAD")
    (repo / "platform.yaml").write_text(SPEC.format(version="v2"))
    git(repo, "commit", "-q", "-am", "v2")
    (repo / "platform.yaml").write_text(SPEC.format(version="uncommitted"))
    home = tmp_path / "home"
    version, revision = version_of(DeployRequest(repo=str(repo)), driver, home)
    assert version == "v2" and revision.sha == git(repo, "rev-parse", "HEAD")
    version, revision = version_of(DeployRequest(repo=str(repo), ref=first), driver, home)
    assert version == "v1" and revision.sha == first
    # a file:// URL of the same repository reads the same way
    version, _ = version_of(DeployRequest(repo=f"file://{repo}", ref=first), driver, home)
    assert version == "v1"


def test_spec_text_wins_and_environment_overrides_apply(
    repo: Path, driver: RuntimeDriver, tmp_path: Path
) -> None:
    text = (
        SPEC.format(version="inline")
        + "  environments:\n    production:\n      runtime: {replicas: 3}\n"
    )
    request = DeployRequest(repo=str(repo), spec_text=text, environment="production")
    workload, revision = read_workload(request, driver=driver, home=tmp_path / "home")
    assert workload.env["APP_VERSION"] == "inline" and workload.runtime.replicas == 3
    assert revision is not None


def test_missing_and_invalid_specs_name_file_commit_line_and_field(
    repo: Path, driver: RuntimeDriver, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    sha = git(repo, "rev-parse", "HEAD")
    with pytest.raises(NotFound, match=f"no score.yaml at commit {sha[:12]}"):
        read_workload(
            DeployRequest(repo=str(repo), spec_path="score.yaml"), driver=driver, home=home
        )
    (repo / "platform.yaml").write_text(SPEC.format(version="v2").replace("run:", "runn:"))
    git(repo, "commit", "-q", "-am", "typo")
    with pytest.raises(WorkloadError) as caught:
        read_workload(DeployRequest(repo=str(repo)), driver=driver, home=home)
    assert caught.value.line == 5 and "platform.yaml" in caught.value.source
    with pytest.raises(InvalidInput, match="relative to the repository root"):
        read_spec(str(repo), sha, "../etc/passwd")
    with pytest.raises(InvalidInput, match="nothing to deploy"):
        read_workload(DeployRequest(), driver=driver, home=home)
    with pytest.raises(NotFound):
        read_workload(DeployRequest(repo=str(tmp_path / "nope")), driver=driver, home=home)


def test_a_workload_without_a_build_kind_is_refused_with_the_fix(
    repo: Path, driver: RuntimeDriver, tmp_path: Path
) -> None:
    text = "kind: Service\nmetadata: {name: hello}\nspec:\n  run: {command: [hello]}\n"
    workload, _ = read_workload(DeployRequest(spec_text=text), driver=driver, home=tmp_path)
    with pytest.raises(
        InvalidInput, match=re.escape("spec.build.kind (python, node or package) or spec.language")
    ):
        check_deployable(workload, repo=None)
