"""Local builds from real git repositories with real uv and npm (``LocalBuilder``).

Each test makes its own origin repository and data directory under ``tmp_path``; Python
packages come from uv's default cache (PyPI on a cold cache), npm packages from npm's.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from goldenpath.drivers.base import BuildRequest, Release
from goldenpath.drivers.local.build import LocalBuilder
from goldenpath.errors import InvalidInput, NotFound, Unavailable

GIT_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "Ada Lovelace",
    "GIT_AUTHOR_EMAIL": "ada@example.com",
    "GIT_COMMITTER_NAME": "Ada Lovelace",
    "GIT_COMMITTER_EMAIL": "ada@example.com",
}

FASTAPI_APP = """\
from fastapi import FastAPI

app = FastAPI()


@app.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}
"""

HELLO_PYPROJECT = """\
[project]
name = "hello"
version = "0.1.0"
requires-python = ">=3.11"
dependencies = [{deps}]

[project.scripts]
hello = "hello:main"

[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"
"""


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=repo, env=GIT_ENV, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def commit(repo: Path, files: dict[str, str], message: str = "change") -> str:
    """Write ``files`` into ``repo`` (made on first use, branch ``main``) and commit them;
    returns the new sha."""
    if not (repo / ".git").exists():
        repo.mkdir(parents=True, exist_ok=True)
        git(repo, "init", "--quiet", "-b", "main")
    for name, text in files.items():
        path = repo / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def hello_project(deps: str = "") -> dict[str, str]:
    return {
        "pyproject.toml": HELLO_PYPROJECT.format(deps=deps),
        "hello/__init__.py": "def main():\n    print('hello from the release')\n",
    }


def run_in(release: Release, *argv: str) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` as a replica would: in the workdir, ``path_prepend`` first on PATH."""
    path = os.pathsep.join([*(str(p) for p in release.path_prepend), os.environ["PATH"]])
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"} | {"PATH": path}
    return subprocess.run(
        list(argv), cwd=release.workdir, env=env, capture_output=True, text=True, timeout=60
    )


@pytest.fixture
def builder(tmp_path: Path) -> LocalBuilder:
    return LocalBuilder(tmp_path / "home", timeout=300)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def spawned() -> Iterator[list[subprocess.Popen[bytes]]]:
    processes: list[subprocess.Popen[bytes]] = []
    yield processes
    for proc in processes:
        proc.kill()
        proc.wait(timeout=10)


def test_requirements_build_serves_fastapi_from_the_final_directory(
    builder: LocalBuilder, tmp_path: Path, spawned: list[subprocess.Popen[bytes]]
) -> None:
    origin = tmp_path / "origin"
    sha = commit(origin, {"main.py": FASTAPI_APP, "requirements.txt": "fastapi\nuvicorn\n"})
    lines: list[str] = []

    release = builder.build(
        BuildRequest(service="api", kind="python", repo=str(origin), ref="main"), lines.append
    )

    assert re.fullmatch(rf"{sha[:12]}-[0-9a-f]{{12}}", release.id)
    assert release.path == tmp_path / "home" / "releases" / "api" / release.id
    assert release.revision is not None and release.revision.sha == sha
    assert release.revision.author == "Ada Lovelace <ada@example.com>"
    assert release.revision.subject == "change"
    assert not release.cached
    assert (release.workdir / "main.py").read_text() == FASTAPI_APP
    assert not (release.workdir / ".git").exists()
    assert (release.path / "release.json").is_file()
    assert [p.name for p in release.path.parent.iterdir()] == [release.id]  # no temp dirs
    assert lines[0] == f"fetching {origin}"
    assert f"exporting {sha[:12]}" in lines
    assert any(re.fullmatch(r"uv pip install -r requirements\.txt \(\d+\.\d s\)", x) for x in lines)

    port = free_port()
    uvicorn = release.path_prepend[0] / "uvicorn"
    proc = subprocess.Popen(
        [str(uvicorn), "main:app", "--host", "127.0.0.1", "--port", str(port)],
        cwd=release.workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    spawned.append(proc)
    deadline = time.monotonic() + 30
    while True:
        try:
            response = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
            break
        except httpx.HTTPError:
            assert proc.poll() is None, "uvicorn from the release exited"
            assert time.monotonic() < deadline, "uvicorn from the release never answered"
            time.sleep(0.2)
    assert response.json() == {"status": "ok"}


def test_pyproject_console_script_runs_and_second_build_is_cached(
    builder: LocalBuilder, tmp_path: Path
) -> None:
    origin = tmp_path / "origin"
    commit(origin, hello_project())
    request = BuildRequest(service="hello", kind="python", repo=str(origin), ref="main")

    first = builder.build(request)
    assert run_in(first, "hello").stdout == "hello from the release\n"

    lines: list[str] = []
    started = time.monotonic()
    second = builder.build(request, lines.append)
    elapsed = time.monotonic() - started

    assert second.id == first.id and second.cached and second.path == first.path
    assert lines[-1] == f"cached release {first.id}"
    assert elapsed < 2.0
    assert builder.release("hello", first.id) == second
    assert builder.releases("hello") == [second]


def test_uv_lock_project_is_synced_frozen(builder: LocalBuilder, tmp_path: Path) -> None:
    origin = tmp_path / "origin"
    project = hello_project('"idna"')
    origin.mkdir()
    for name, text in project.items():
        (origin / name).parent.mkdir(parents=True, exist_ok=True)
        (origin / name).write_text(text)
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"} | {
        "UV_PYTHON_DOWNLOADS": "never"
    }
    uv = Path(sys.executable).parent / "uv"
    subprocess.run(
        [str(uv), "lock", "--quiet", "--python", sys.executable], cwd=origin, env=env, check=True
    )
    # another Python, as a project may ask for: builds still use this one (and uv must not
    # swap in another venv, which would not survive the move into place)
    other = "3.12" if sys.version_info[:2] != (3, 12) else "3.11"
    commit(origin, {".python-version": f"{other}\n"})
    lines: list[str] = []

    release = builder.build(
        BuildRequest(service="locked", kind="python", repo=str(origin), ref="main"), lines.append
    )

    assert any(line.startswith("uv sync --frozen (") for line in lines)
    assert f".python-version asks for {other}; building with Python 3." in "\n".join(lines)
    assert run_in(release, "hello").stdout == "hello from the release\n"
    assert run_in(release, "python", "-c", "import idna; print('idna ok')").stdout == "idna ok\n"


def test_new_commit_gets_a_new_release_and_old_one_stays(
    builder: LocalBuilder, tmp_path: Path
) -> None:
    origin = tmp_path / "origin"
    commit(origin, {"app.py": "VERSION = 1\n"}, "first")
    request = BuildRequest(service="svc", kind="python", repo=str(origin), ref="main")
    first = builder.build(request)
    second_sha = commit(origin, {"app.py": "VERSION = 2\n"}, "second")

    second = builder.build(request)

    assert second.id != first.id and second.id.startswith(second_sha[:12])
    assert not second.cached
    assert (second.workdir / "app.py").read_text() == "VERSION = 2\n"
    assert (first.workdir / "app.py").read_text() == "VERSION = 1\n"
    assert [r.id for r in builder.releases("svc")] == [second.id, first.id]
    other = builder.build(BuildRequest(**{**request.__dict__, "extra_packages": ("idna",)}))
    assert other.id.split("-")[0] == second.id.split("-")[0] and other.id != second.id


def test_failed_build_quotes_the_command_and_leaves_no_release(
    builder: LocalBuilder, tmp_path: Path
) -> None:
    origin = tmp_path / "origin"
    commit(origin, {"app.py": "pass\n"})
    script = "for i in range(30): print(f'line {i}')\nraise SystemExit(3)"
    request = BuildRequest(
        service="broken",
        kind="python",
        repo=str(origin),
        ref="main",
        build_command=("python", "-c", script),
    )
    lines: list[str] = []

    with pytest.raises(InvalidInput) as caught:
        builder.build(request, lines.append)

    message = caught.value.message
    assert "python -c" in message and "exited with 3" in message
    assert "line 29" in message and "line 10" in message and "line 9\n" not in message
    assert caught.value.details["output_tail"][-1] == "line 29"
    assert "line 0" in lines  # everything went to the log
    assert list((tmp_path / "home" / "releases" / "broken").iterdir()) == []
    assert builder.releases("broken") == []


def test_bad_requirements_fail_with_uv_output(builder: LocalBuilder, tmp_path: Path) -> None:
    origin = tmp_path / "origin"
    commit(origin, {"requirements.txt": "this is not === a requirement\n"})
    with pytest.raises(InvalidInput) as caught:
        builder.build(BuildRequest(service="bad", kind="python", repo=str(origin), ref="main"))
    assert "`uv pip install -r requirements.txt` exited with" in caught.value.message
    assert "requirements.txt" in "\n".join(caught.value.details["output_tail"])


def test_git_host_down_known_refs_and_releases_still_work(
    builder: LocalBuilder, tmp_path: Path
) -> None:
    origin = tmp_path / "origin"
    sha = commit(origin, {"app.py": "pass\n"}, "only commit")
    request = BuildRequest(service="svc", kind="python", repo=str(origin), ref="main")
    built = builder.build(request)
    origin.rename(tmp_path / "origin-moved")  # the git host is gone

    assert builder.resolve(str(origin), sha).sha == sha
    assert builder.resolve(str(origin), "main").subject == "only commit"
    release = builder.release("svc", built.id)
    assert release is not None and release.revision == built.revision
    assert (release.workdir / "app.py").is_file()
    lines: list[str] = []
    again = builder.build(request, lines.append)
    assert again.cached and again.id == built.id
    assert any("using the local mirror" in line for line in lines)
    with pytest.raises(Unavailable, match="origin"):
        builder.resolve(str(origin), "no-such-branch")


def test_unknown_repository_and_ref_are_not_found(builder: LocalBuilder, tmp_path: Path) -> None:
    origin = tmp_path / "origin"
    commit(origin, {"a.txt": "a\n"})
    with pytest.raises(NotFound, match="no-such-branch"):
        builder.resolve(str(origin), "no-such-branch")
    with pytest.raises(NotFound):
        builder.resolve(str(tmp_path / "nowhere"), "main")
    with pytest.raises(InvalidInput):
        builder.resolve(str(origin), "--upload-pack=touch /tmp/x")


def test_subdir_is_exported_alone_and_must_exist(builder: LocalBuilder, tmp_path: Path) -> None:
    origin = tmp_path / "origin"
    commit(origin, {"services/api/app.py": "pass\n", "README.md": "monorepo\n"})
    base = BuildRequest(service="mono", kind="python", repo=str(origin), ref="main")

    release = builder.build(BuildRequest(**{**base.__dict__, "subdir": "services/api"}))

    assert sorted(p.name for p in release.workdir.iterdir()) == [".venv", "app.py"]
    with pytest.raises(InvalidInput, match="services/missing"):
        builder.build(BuildRequest(**{**base.__dict__, "subdir": "services/missing"}))
    with pytest.raises(InvalidInput, match=r"\.\."):
        builder.build(BuildRequest(**{**base.__dict__, "subdir": "../outside"}))


def test_release_lookups_refuse_unknown_and_unfinished(
    builder: LocalBuilder, tmp_path: Path
) -> None:
    origin = tmp_path / "origin"
    commit(origin, {"app.py": "pass\n"})
    request = BuildRequest(service="svc", kind="python", repo=str(origin), ref="main")
    built = builder.build(request)
    assert builder.release("svc", "0123456789ab-0123456789ab") is None
    assert builder.release("svc", "../svc") is None
    assert builder.release("other", built.id) is None

    (built.path / "release.json").unlink()  # as if the build died before finishing
    assert builder.release("svc", built.id) is None and builder.releases("svc") == []
    rebuilt = builder.build(request)
    assert rebuilt.id == built.id and not rebuilt.cached
    assert json.loads((rebuilt.path / "release.json").read_text())["id"] == built.id


def test_package_build_installs_datasette(builder: LocalBuilder) -> None:
    lines: list[str] = []
    started = time.monotonic()
    release = builder.build(
        BuildRequest(service="data", kind="package", package="datasette"), lines.append
    )
    elapsed = time.monotonic() - started

    assert re.fullmatch(r"pkg-[0-9a-f]{12}", release.id) and release.revision is None
    assert list(release.workdir.iterdir()) == []
    version = run_in(release, "datasette", "--version")
    assert version.returncode == 0 and version.stdout.startswith("datasette, version ")
    assert any(line.startswith("uv pip install datasette (") for line in lines)
    assert elapsed < 60
    again = builder.build(BuildRequest(service="data", kind="package", package="datasette"))
    assert again.id == release.id and again.cached
    with pytest.raises(InvalidInput, match="options are not allowed"):
        builder.build(BuildRequest(service="data", kind="package", package="--index-url=x"))


def test_node_build_runs_npm_ci_and_the_build_script(builder: LocalBuilder, tmp_path: Path) -> None:
    origin = tmp_path / "origin"
    manifest = {
        "name": "tiny",
        "version": "1.0.0",
        "private": True,
        "dependencies": {"ms": "2.1.3"},
        "scripts": {"build": "node -e \"require('fs').writeFileSync('dist.txt', 'built')\""},
    }
    origin.mkdir()
    (origin / "package.json").write_text(json.dumps(manifest))
    subprocess.run(
        ["npm", "install", "--package-lock-only", "--no-audit", "--no-fund"],
        cwd=origin,
        check=True,
        capture_output=True,
        timeout=120,
    )
    commit(origin, {"index.js": "console.log(require('ms')(60000))\n"})
    lines: list[str] = []

    release = builder.build(
        BuildRequest(service="web", kind="node", repo=str(origin), ref="main"), lines.append
    )

    assert any(line.startswith("npm ci (") for line in lines)
    assert any(line.startswith("npm run build (") for line in lines)
    assert (release.workdir / "dist.txt").read_text() == "built"
    assert release.path_prepend == (release.workdir / "node_modules" / ".bin",)
    assert run_in(release, "node", "index.js").stdout == "1m\n"


def test_credentials_in_repo_urls_never_reach_logs_or_errors(builder: LocalBuilder) -> None:
    repo = "http://deploy:s3cret-token@127.0.0.1:1/team/api.git"  # nothing listens on port 1
    lines: list[str] = []
    with pytest.raises(Unavailable) as caught:
        builder.build(
            BuildRequest(service="api", kind="python", repo=repo, ref="main"), lines.append
        )
    assert "http://***@127.0.0.1:1/team/api.git" in caught.value.message
    assert "s3cret" not in caught.value.message and "s3cret" not in "\n".join(lines)
