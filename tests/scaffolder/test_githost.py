"""The platform git host: bare repositories under <home>/git, safe names, real git round trips."""

from __future__ import annotations

import base64
import socket
import subprocess
from pathlib import Path

import pytest

from goldenpath.catalog.locations import parse_git_url
from goldenpath.errors import InvalidInput, NotFound
from goldenpath.scaffolder.githost import (
    GitHost,
    commit_directory,
    headers_for,
    push,
    remote_refs,
)


def _git(*args: str, cwd: Path | None = None) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def _work_tree(root: Path, files: dict[str, str]) -> Path:
    for rel, body in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(body, encoding="utf-8")
    return root


def test_ensure_repo_creates_one_bare_repository_idempotently(tmp_path: Path) -> None:
    host = GitHost(tmp_path / "git")
    first = host.ensure_repo("team-a", "my-api")
    second = host.ensure_repo("team-a", "my-api")
    assert first == second == tmp_path / "git" / "team-a" / "my-api.git"
    assert _git("rev-parse", "--is-bare-repository", cwd=first) == "true"
    assert _git("symbolic-ref", "HEAD", cwd=first) == "refs/heads/main"
    assert host.exists("team-a", "my-api") and host.is_empty("team-a", "my-api")


@pytest.mark.parametrize(
    "owner,repo",
    [
        ("..", "x"),
        ("team", ".."),
        ("team/sub", "x"),
        ("team", "a/b"),
        ("", "x"),
        ("team", "-rf"),
        ("team", ".hidden"),
        ("team", "x.git"),
        ("team", "with space"),
        ("team", "ünïcode"),
        ("team", "a" * 101),
    ],
)
def test_unsafe_names_are_refused_before_anything_is_created(
    tmp_path: Path, owner: str, repo: str
) -> None:
    host = GitHost(tmp_path / "git")
    with pytest.raises(InvalidInput, match="name"):
        host.ensure_repo(owner, repo)
    assert not (tmp_path / "git").exists()


def test_urls_are_file_urls_the_catalog_parses(tmp_path: Path) -> None:
    host = GitHost(tmp_path / "git")
    clone = host.clone_url("team-a", "my-api")
    assert clone == (tmp_path / "git" / "team-a" / "my-api.git").resolve().as_uri()
    assert host.contents_url("team-a", "my-api", "dev") == f"{clone}/tree/dev"
    assert parse_git_url(f"{clone}/blob/main/catalog-info.yaml") == (
        clone,
        "main",
        "catalog-info.yaml",
    )
    assert host.locate(clone) == ("team-a", "my-api")
    assert host.locate("https://github.com/o/r.git") is None


def test_commit_push_and_list_repos_round_trip(tmp_path: Path) -> None:
    host = GitHost(tmp_path / "git")
    host.ensure_repo("team-a", "empty")
    remote = host.ensure_repo("team-a", "svc")
    work = _work_tree(tmp_path / "work", {"README.md": "hi\n", "src/app.py": "print(1)\n"})
    sha = commit_directory(
        work, branch="main", message="first", author=("Jane Doe", "jane@example.com")
    )
    push(work, host.clone_url("team-a", "svc"), branch="main")

    assert _git("rev-parse", "refs/heads/main", cwd=remote) == sha
    assert (
        _git("log", "-1", "--format=%an <%ae>|%s", cwd=remote)
        == "Jane Doe <jane@example.com>|first"
    )
    assert _git("ls-tree", "-r", "--name-only", "main", cwd=remote).splitlines() == [
        "README.md",
        "src/app.py",
    ]
    listed = {r["repo"]: r for r in host.list_repos()}
    assert listed["svc"]["head"] == sha and listed["svc"]["default_branch"] == "main"
    assert listed["empty"]["head"] == ""
    assert listed["svc"]["clone_url"] == host.clone_url("team-a", "svc")
    assert remote_refs(host.clone_url("team-a", "svc")) == {"HEAD": sha, "refs/heads/main": sha}

    # Nothing new → the same commit; a change → a new one on top.
    assert commit_directory(work, branch="main", message="again", author=("a", "b@c")) == sha
    (work / "README.md").write_text("changed\n")
    assert commit_directory(work, branch="main", message="two", author=("a", "b@c")) != sha


def test_is_empty_of_a_missing_repository_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="publish:git"):
        GitHost(tmp_path / "git").is_empty("team-a", "nope")


def test_a_failed_push_quotes_git_without_the_token(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: nothing listens there
    work = _work_tree(tmp_path / "work", {"a.txt": "a"})
    commit_directory(work, branch="main", message="m", author=("a", "b@c"))
    token = "ghp_s3cr3tT0ken"
    with pytest.raises(InvalidInput) as caught:
        push(
            work,
            f"http://127.0.0.1:{port}/o/r.git",
            branch="main",
            headers=headers_for(token, username="x-access-token"),
        )
    message = caught.value.message
    assert "git push to http://127.0.0.1" in message
    encoded = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    assert token not in message and encoded not in message
