"""``LocalBuilder`` under pressure: concurrent builds of one release, build timeouts, build
commands that use the environment they build (real git, uv, npm, processes)."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from pathlib import Path

import psutil
import pytest

from goldenpath.drivers.base import BuildRequest, Release
from goldenpath.drivers.local.build import LocalBuilder
from goldenpath.errors import InvalidInput

GIT_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "Ada Lovelace",
    "GIT_AUTHOR_EMAIL": "ada@example.com",
    "GIT_COMMITTER_NAME": "Ada Lovelace",
    "GIT_COMMITTER_EMAIL": "ada@example.com",
}


def make_repo(repo: Path, files: dict[str, str]) -> str:
    """A new repository at ``repo`` with ``files`` committed on ``main``; returns the sha."""
    repo.mkdir(parents=True)
    for name, text in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    for args in (["init", "--quiet", "-b", "main"], ["add", "--all"], ["commit", "-qm", "init"]):
        subprocess.run(["git", *args], cwd=repo, env=GIT_ENV, check=True, capture_output=True)
    done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True)
    return done.stdout.strip()


def gone(pid: int, *, within: float) -> bool:
    """True once ``pid`` no longer runs (exited or a zombie), polling up to ``within`` s."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False


def test_concurrent_builds_of_one_release_build_once(tmp_path: Path) -> None:
    origin = tmp_path / "origin"
    make_repo(origin, {"app.py": "pass\n"})
    request = BuildRequest(
        service="svc",
        kind="python",
        repo=str(origin),
        ref="main",
        build_command=("python", "-c", "import time; time.sleep(1); print('slow step done')"),
    )
    home = tmp_path / "home"
    results: list[Release] = []
    logs: list[list[str]] = [[], []]
    errors: list[BaseException] = []

    def build(index: int) -> None:
        try:  # one builder each, as two server processes would have
            results.append(LocalBuilder(home, timeout=120).build(request, logs[index].append))
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=build, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert not errors
    assert len(results) == 2 and results[0].id == results[1].id
    assert sorted(r.cached for r in results) == [False, True]
    ran = [log for log in logs if "slow step done" in log]
    assert len(ran) == 1  # the build command ran once
    assert [p.name for p in (home / "releases" / "svc").iterdir()] == [results[0].id]


def test_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    origin = tmp_path / "origin"
    make_repo(origin, {"app.py": "pass\n"})
    pid_file = tmp_path / "child.pid"
    request = BuildRequest(
        service="slow",
        kind="python",
        repo=str(origin),
        ref="main",
        build_command=("sh", "-c", f"sleep 60 & echo $! > {pid_file}; echo waiting; wait"),
    )
    started = time.monotonic()

    with pytest.raises(InvalidInput, match=r"timed out after 4 s") as caught:
        LocalBuilder(tmp_path / "home", timeout=4).build(request)

    assert time.monotonic() - started < 10
    assert "waiting" in caught.value.message
    assert gone(int(pid_file.read_text()), within=5)
    assert list((tmp_path / "home" / "releases" / "slow").iterdir()) == []


def test_node_build_command_finds_tools_of_its_own_dependencies(tmp_path: Path) -> None:
    tool = {"name": "mytool", "version": "1.0.0", "bin": {"mytool": "cli.js"}}
    cli = "#!/usr/bin/env node\nrequire('fs').writeFileSync('out.txt', 'from mytool');\n"
    manifest = {
        "name": "app",
        "version": "1.0.0",
        "private": True,
        "dependencies": {"mytool": "file:./tools/mytool"},
        "scripts": {"build": "exit 1"},  # replaced by build_command
    }
    origin = tmp_path / "origin"
    make_repo(
        origin,
        {
            "package.json": json.dumps(manifest),
            "tools/mytool/package.json": json.dumps(tool),
            "tools/mytool/cli.js": cli,
        },
    )
    lines: list[str] = []
    release = LocalBuilder(tmp_path / "home", timeout=120).build(
        BuildRequest(
            service="web", kind="node", repo=str(origin), ref="main", build_command=("mytool",)
        ),
        lines.append,
    )
    assert any(line.startswith("npm install (") for line in lines)  # no package-lock.json
    assert (release.workdir / "out.txt").read_text() == "from mytool"
    assert (release.path_prepend[0] / "mytool").resolve().is_file()  # links survive the move


def test_node_build_without_package_json_is_invalid(tmp_path: Path) -> None:
    origin = tmp_path / "origin"
    make_repo(origin, {"index.js": "1\n"})
    with pytest.raises(InvalidInput, match=r"no package\.json"):
        LocalBuilder(tmp_path / "home").build(
            BuildRequest(service="web", kind="node", repo=str(origin), ref="main")
        )
