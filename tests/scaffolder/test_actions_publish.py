"""publish:git against the platform git host and real remotes; publish:github,
publish:github:pull-request and publish:gitlab against a local fake of their HTTP APIs
(``*_fake_github_api_*``: GitHub/GitLab themselves are a boundary these tests cannot reach),
whose ``clone_url`` is a real local bare repository so the git push is real."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest

from goldenpath.errors import Conflict, InvalidInput, Unavailable
from goldenpath.scaffolder.actions import publish
from goldenpath.scaffolder.actions.base import ActionContext, ActionServices
from goldenpath.scaffolder.githost import NULL_SHA, GitHost, commit_directory, push
from goldenpath.settings import Settings

TOKEN = "ghp_fakeT0kenValue123"
ACTIONS = {a.id: a for a in publish.ACTIONS}


def _git(*args: str, cwd: Path | None = None) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def _workspace(root: Path, files: dict[str, str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for rel, body in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(body, encoding="utf-8")
    return root


def _run(
    action_id: str,
    workspace: Path,
    inputs: dict[str, Any],
    *,
    dry_run: bool = False,
    githost: GitHost | None = None,
    settings: Settings | None = None,
    user: dict[str, Any] | None = None,
    secrets: dict[str, str] | None = None,
) -> tuple[dict[str, Any], list[str]]:
    logs: list[str] = []
    ctx = ActionContext(
        step_id="publish",
        input=inputs,
        workspace=workspace,
        dry_run=dry_run,
        services=ActionServices(settings=settings, githost=githost),
        user=user or {},
        secrets=secrets or {},
        logger=logs.append,
    )
    ACTIONS[action_id].handler(ctx)
    return ctx.outputs, logs


SERVICE_FILES = {
    "README.md": "# my-api\n",
    "src/app.py": "print('hi')\n",
    "catalog-info.yaml": "kind: Component\n",
    ".gitignore": "local.env\n",
    "local.env": "SECRET=1\n",
}


# -- publish:git -----------------------------------------------------------------------


def test_publish_git_creates_and_pushes_to_the_platform_git_host(tmp_path: Path) -> None:
    host = GitHost(tmp_path / "git")
    ws = _workspace(tmp_path / "ws", SERVICE_FILES)
    out, logs = _run(
        "publish:git",
        ws,
        {"repoUrl": "platform.local?owner=team-a&repo=my-api", "gitCommitMessage": "Create"},
        githost=host,
    )
    assert out["remoteUrl"] == host.clone_url("team-a", "my-api")
    assert out["repoContentsUrl"] == host.contents_url("team-a", "my-api", "main")
    bare = host.path("team-a", "my-api")
    assert _git("rev-parse", "main", cwd=bare) == out["commitHash"]
    assert _git("log", "-1", "--format=%an <%ae>|%s", cwd=bare) == (
        "goldenpath <goldenpath@localhost>|Create"
    )
    files = _git("ls-tree", "-r", "--name-only", "main", cwd=bare).splitlines()
    assert files == [".gitignore", "README.md", "catalog-info.yaml", "src/app.py"]
    # a plain clone checks out the published branch
    clone = tmp_path / "clone"
    _git("clone", "--quiet", out["remoteUrl"], str(clone))
    assert (clone / "src" / "app.py").read_text() == "print('hi')\n"
    assert any("pushed" in line for line in logs)


def test_publish_git_author_from_input_else_from_the_task_user(tmp_path: Path) -> None:
    host = GitHost(tmp_path / "git")
    user = {
        "ref": "user:default/jane",
        "entity": {
            "metadata": {"name": "jane"},
            "spec": {"profile": {"displayName": "Jane Doe", "email": "jane@example.com"}},
        },
    }
    _run(
        "publish:git",
        _workspace(tmp_path / "ws1", {"a": "1"}),
        {"repoUrl": "platform.local?owner=t&repo=one"},
        githost=host,
        user=user,
    )
    _run(
        "publish:git",
        _workspace(tmp_path / "ws2", {"a": "1"}),
        {
            "repoUrl": "platform.local?owner=t&repo=two",
            "gitAuthorName": "Bot",
            "gitAuthorEmail": "bot@example.com",
            "defaultBranch": "trunk",
        },
        githost=host,
        user=user,
    )
    assert _git("log", "-1", "--format=%an <%ae>", cwd=host.path("t", "one")) == (
        "Jane Doe <jane@example.com>"
    )
    two = host.path("t", "two")
    assert _git("log", "-1", "--format=%an <%ae>|%cn", "trunk", cwd=two) == (
        "Bot <bot@example.com>|Bot"
    )
    assert _git("symbolic-ref", "HEAD", cwd=two) == "refs/heads/trunk"


def test_publish_git_refuses_a_repository_that_already_has_content(tmp_path: Path) -> None:
    host = GitHost(tmp_path / "git")
    inputs = {"repoUrl": "platform.local?owner=team-a&repo=my-api"}
    first, _ = _run("publish:git", _workspace(tmp_path / "a", {"x": "1"}), inputs, githost=host)
    with pytest.raises(Conflict, match=r"already exists .* not empty; choose another repo name"):
        _run("publish:git", _workspace(tmp_path / "b", {"y": "2"}), inputs, githost=host)
    assert _git("rev-parse", "main", cwd=host.path("team-a", "my-api")) == first["commitHash"]


def test_publish_git_to_a_remote_url_and_sourcepath(tmp_path: Path) -> None:
    bare = tmp_path / "remote.git"
    _git("init", "--quiet", "--bare", str(bare))
    ws = _workspace(tmp_path / "ws", {"service/main.py": "x = 1\n", "notes.txt": "not published"})
    out, _ = _run(
        "publish:git",
        ws,
        {"remoteUrl": str(bare), "sourcePath": "service", "defaultBranch": "dev"},
    )
    assert out["remoteUrl"] == str(bare)
    assert out["repoContentsUrl"] == f"{bare.as_uri()}/tree/dev"
    assert _git("ls-tree", "-r", "--name-only", "dev", cwd=bare) == "main.py"
    with pytest.raises(Conflict, match="already has branches"):
        _run("publish:git", _workspace(tmp_path / "ws2", {"a": "b"}), {"remoteUrl": str(bare)})


@pytest.mark.parametrize(
    "inputs,message",
    [
        ({"repoUrl": "github.com?owner=o&repo=r"}, "use publish:github or publish:gitlab"),
        ({"repoUrl": "platform.local?repo=r"}, "has no owner"),
        ({"repoUrl": "platform.local?owner=../..&repo=r"}, "not a valid name"),
        ({"repoUrl": "no-query"}, "not on the form"),
        ({"remoteUrl": "ext::sh -c touch% /tmp/pwned"}, "not a git URL"),
        ({"remoteUrl": "relative/path.git"}, "not a git URL"),
        ({"remoteUrl": "--upload-pack=evil"}, "may not start with"),
        ({"repoUrl": "platform.local?owner=o&repo=r", "sourcePath": "../up"}, "escapes"),
        ({"repoUrl": "platform.local?owner=o&repo=r", "sourcePath": "nope"}, "not a directory"),
        ({"repoUrl": "platform.local?owner=o&repo=r", "defaultBranch": "a..b"}, "branch name"),
    ],
)
def test_publish_git_bad_input_is_refused_before_anything_is_written(
    tmp_path: Path, inputs: dict[str, Any], message: str
) -> None:
    host = GitHost(tmp_path / "git")
    ws = _workspace(tmp_path / "ws", {"a": "1"})
    with pytest.raises(InvalidInput, match=re.escape(message)):
        _run("publish:git", ws, inputs, githost=host)
    assert not (tmp_path / "git").exists() and not (ws / ".git").exists()


def test_publish_git_dry_run_reports_without_creating_anything(tmp_path: Path) -> None:
    host = GitHost(tmp_path / "git")
    ws = _workspace(tmp_path / "ws", {"a": "1"})
    out, logs = _run(
        "publish:git", ws, {"repoUrl": "platform.local?owner=t&repo=r"}, dry_run=True, githost=host
    )
    assert out == {
        "remoteUrl": host.clone_url("t", "r"),
        "repoContentsUrl": host.contents_url("t", "r"),
        "commitHash": NULL_SHA,
    }
    assert not (tmp_path / "git").exists() and not (ws / ".git").exists()
    assert logs and "dry run" in logs[0]


def test_publish_git_dry_run_needs_no_git_host_and_names_where_it_would_publish(
    tmp_path: Path,
) -> None:
    ws = _workspace(tmp_path / "ws", {"a": "1"})
    inputs = {"repoUrl": "platform.local?owner=team-a&repo=svc"}
    out, _ = _run("publish:git", ws, inputs, dry_run=True)
    assert out["commitHash"] == NULL_SHA
    assert "team-a/svc" in out["remoteUrl"] and out["repoContentsUrl"].endswith("/tree/main")
    with pytest.raises(Unavailable, match="no platform git host"):
        _run("publish:git", ws, inputs)


# -- a fake GitHub / GitLab API --------------------------------------------------------


class FakeApi:
    """GitHub (``/…``) and GitLab (``/api/v4/…``) REST endpoints backed by local bare repos."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.requests: list[dict[str, Any]] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                parts = urlsplit(self.path)
                api.requests.append(
                    {
                        "method": self.command,
                        "path": unquote(parts.path),
                        "query": parts.query,
                        "headers": dict(self.headers),
                        "json": body,
                    }
                )
                status, payload = api.route(self.command, unquote(parts.path), body)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = _serve

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)

    def bare(self, owner: str, repo: str) -> Path:
        return self.root / owner / f"{repo}.git"

    def route(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        m = re.fullmatch(r"/users/([^/]+)", path)
        if method == "GET" and m:
            kind = "Organization" if m[1].startswith("org") else "User"
            return 200, {"login": m[1], "type": kind}
        m = re.fullmatch(r"/orgs/([^/]+)/repos|/user/repos", path)
        if method == "POST" and m:
            return self._create(m[1] or "octo", body["name"])
        m = re.fullmatch(r"/repos/([^/]+)/([^/]+)", path)
        if method == "GET" and m:
            if not self.bare(m[1], m[2]).exists():
                return 404, {"message": "Not Found"}
            return 200, self._repo(m[1], m[2])
        if re.fullmatch(r"/repos/[^/]+/[^/]+/topics", path):
            return 200, {"names": body["names"]}
        if re.fullmatch(r"/repos/[^/]+/[^/]+/branches/[^/]+/protection", path):
            return 403, {"message": "Upgrade to GitHub Pro or make this repository public."}
        m = re.fullmatch(r"/repos/([^/]+)/([^/]+)/pulls", path)
        if m and method == "GET":
            return 200, []
        if m and method == "POST":
            html = f"https://github.example/{m[1]}/{m[2]}/pull/7"
            return 201, {"number": 7, "html_url": html, "base": {"ref": body["base"]}}
        if re.fullmatch(r"/repos/[^/]+/[^/]+/pulls/\d+/requested_reviewers", path):
            return 201, {}
        return self._gitlab(method, path, body)

    def _gitlab(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        m = re.fullmatch(r"/api/v4/namespaces/(.+)", path)
        if method == "GET" and m:
            if m[1] == "nobody":
                return 404, {"message": "404 Namespace Not Found"}
            return 200, {"id": 42, "full_path": m[1]}
        if method == "POST" and path == "/api/v4/projects":
            bare = self.bare("gl", body["path"])
            _git("init", "--quiet", "--bare", str(bare))
            return 201, {
                "id": 99,
                "http_url_to_repo": str(bare),
                "path_with_namespace": f"grp/{body['path']}",
            }
        if method == "POST" and re.fullmatch(r"/api/v4/projects/99/.+", path):
            return 201, {}
        return 404, {"message": f"no route {method} {path}"}

    def _repo(self, owner: str, name: str) -> dict[str, Any]:
        return {
            "full_name": f"{owner}/{name}",
            "clone_url": str(self.bare(owner, name)),
            "html_url": f"https://github.example/{owner}/{name}",
            "default_branch": "main",
        }

    def _create(self, owner: str, name: str) -> tuple[int, Any]:
        bare = self.bare(owner, name)
        if bare.exists():
            return 422, {
                "message": "Repository creation failed.",
                "errors": [{"message": "name already exists on this account"}],
            }
        _git("init", "--quiet", "--bare", str(bare))
        return 201, self._repo(owner, name)


@pytest.fixture
def fake_api(tmp_path: Path) -> Iterator[FakeApi]:
    api = FakeApi(tmp_path / "remotes")
    yield api
    api.close()


def _settings(tmp_path: Path, api: FakeApi, *, token: str | None = TOKEN) -> Settings:
    return Settings(
        home=tmp_path / "home",
        integrations={
            "github": {"token": token, "api_base_url": api.url},
            "gitlab": {"token": token, "api_base_url": f"{api.url}/api/v4"},
        },
    )


def test_publish_github_fake_github_api_creates_the_repo_and_pushes(
    tmp_path: Path, fake_api: FakeApi
) -> None:
    ws = _workspace(tmp_path / "ws", SERVICE_FILES)
    out, logs = _run(
        "publish:github",
        ws,
        {
            "repoUrl": "github.com?owner=org-acme&repo=my-api",
            "description": "My API",
            "repoVisibility": "internal",
            "topics": ["python"],
            "collaborators": [{"user": "x", "access": "push"}],
        },
        settings=_settings(tmp_path, fake_api),
    )
    bare = fake_api.bare("org-acme", "my-api")
    assert out == {
        "remoteUrl": str(bare),
        "repoContentsUrl": "https://github.example/org-acme/my-api/blob/main",
        "commitHash": _git("rev-parse", "main", cwd=bare),
    }
    calls = [(r["method"], r["path"]) for r in fake_api.requests]
    assert calls == [
        ("GET", "/users/org-acme"),
        ("POST", "/orgs/org-acme/repos"),
        ("PUT", "/repos/org-acme/my-api/topics"),
        ("PUT", "/repos/org-acme/my-api/branches/main/protection"),
    ]
    create = fake_api.requests[1]
    assert create["headers"]["Authorization"] == f"Bearer {TOKEN}"
    assert create["json"]["name"] == "my-api" and create["json"]["private"] is True
    assert create["json"]["visibility"] == "internal"
    assert create["json"]["description"] == "My API"
    # branch protection refused by the plan: logged, not fatal; unknown inputs are named
    assert any("could not protect branch main" in line for line in logs)
    assert any("ignored: collaborators" in line for line in logs)
    assert all(TOKEN not in line for line in logs)


def test_publish_github_fake_github_api_user_repo_and_name_taken(
    tmp_path: Path, fake_api: FakeApi
) -> None:
    settings = _settings(tmp_path, fake_api)
    inputs = {"repoUrl": "github.com?owner=octo&repo=tool", "protectDefaultBranch": False}
    _run("publish:github", _workspace(tmp_path / "a", {"a": "1"}), inputs, settings=settings)
    assert ("POST", "/user/repos") in [(r["method"], r["path"]) for r in fake_api.requests]
    with pytest.raises(Conflict, match="name already exists"):
        _run("publish:github", _workspace(tmp_path / "b", {"b": "1"}), inputs, settings=settings)


def test_publish_github_without_a_token_fails_clearly_and_dry_run_needs_none(
    tmp_path: Path, fake_api: FakeApi
) -> None:
    settings = _settings(tmp_path, fake_api, token=None)
    ws = _workspace(tmp_path / "ws", {"a": "1"})
    inputs = {"repoUrl": "github.com?owner=acme&repo=svc"}
    with pytest.raises(InvalidInput) as caught:
        _run("publish:github", ws, inputs, settings=settings)
    assert caught.value.message == (
        "publish:github needs a token: set GOLDENPATH_INTEGRATIONS__GITHUB__TOKEN or pass "
        "input.token"
    )
    out, _ = _run("publish:github", ws, inputs, settings=settings, dry_run=True)
    assert out == {
        "remoteUrl": "https://github.com/acme/svc.git",
        "repoContentsUrl": "https://github.com/acme/svc/blob/main",
        "commitHash": NULL_SHA,
    }
    assert fake_api.requests == [] and not (ws / ".git").exists()
    with pytest.raises(InvalidInput, match="has no github integration"):
        _run("publish:github", ws, {"repoUrl": "ghe.corp?owner=a&repo=b"}, settings=settings)


def test_publish_github_token_from_input_is_used(tmp_path: Path, fake_api: FakeApi) -> None:
    settings = _settings(tmp_path, fake_api, token=None)
    _run(
        "publish:github",
        _workspace(tmp_path / "ws", {"a": "1"}),
        {"repoUrl": "github.com?owner=octo&repo=t2", "token": "from-input-123"},
        settings=settings,
        secrets={"gh": "from-input-123"},
    )
    assert fake_api.requests[0]["headers"]["Authorization"] == "Bearer from-input-123"


def test_publish_github_pull_request_fake_github_api(tmp_path: Path, fake_api: FakeApi) -> None:
    bare = fake_api.bare("acme", "infra")
    _git("init", "--quiet", "--bare", "-b", "main", str(bare))
    seed = _workspace(tmp_path / "seed", {"README.md": "infra\n"})
    base = commit_directory(seed, branch="main", message="seed", author=("a", "a@b"))
    push(seed, str(bare), branch="main")

    ws = _workspace(tmp_path / "ws", {"out/svc.yaml": "kind: Component\n"})
    out, _ = _run(
        "publish:github:pull-request",
        ws,
        {
            "repoUrl": "github.com?owner=acme&repo=infra",
            "branchName": "add-svc",
            "title": "Add svc",
            "description": "Adds the svc catalog file",
            "sourcePath": "out",
            "targetPath": "catalog",
            "reviewers": ["jane"],
        },
        settings=_settings(tmp_path, fake_api),
    )
    assert out == {
        "targetBranchName": "main",
        "remoteUrl": "https://github.example/acme/infra/pull/7",
        "pullRequestNumber": 7,
    }
    assert _git("rev-parse", "add-svc~1", cwd=bare) == base
    assert _git("ls-tree", "-r", "--name-only", "add-svc", cwd=bare).splitlines() == [
        "README.md",
        "catalog/svc.yaml",
    ]
    assert _git("log", "-1", "--format=%s", "add-svc", cwd=bare) == "Add svc"
    pulls = next(
        r for r in fake_api.requests if r["method"] == "POST" and r["path"].endswith("/pulls")
    )
    assert pulls["json"] == {
        "title": "Add svc",
        "body": "Adds the svc catalog file",
        "head": "add-svc",
        "base": "main",
        "draft": False,
    }
    assert any(r["path"].endswith("/pulls/7/requested_reviewers") for r in fake_api.requests)
    # the branch exists now: a second run without update is refused
    with pytest.raises(Conflict, match="already exists"):
        _run(
            "publish:github:pull-request",
            ws,
            {
                "repoUrl": "github.com?owner=acme&repo=infra",
                "branchName": "add-svc",
                "title": "again",
                "description": "again",
            },
            settings=_settings(tmp_path, fake_api),
        )


def test_publish_gitlab_fake_github_api_gitlab_project(tmp_path: Path, fake_api: FakeApi) -> None:
    out, _ = _run(
        "publish:gitlab",
        _workspace(tmp_path / "ws", {"main.go": "package main\n"}),
        {
            "repoUrl": "gitlab.com?owner=grp&repo=svc",
            "settings": {"visibility": "internal", "description": "svc"},
            "projectVariables": [{"key": "A", "value": "1"}],
        },
        settings=_settings(tmp_path, fake_api),
    )
    bare = fake_api.bare("gl", "svc")
    assert out["remoteUrl"] == str(bare).removesuffix(".git")
    assert out["repoContentsUrl"] == f"{out['remoteUrl']}/-/blob/main"
    assert out["projectId"] == 99
    assert out["commitHash"] == _git("rev-parse", "main", cwd=bare)
    create = next(r for r in fake_api.requests if r["path"] == "/api/v4/projects")
    assert create["json"] == {
        "description": "svc",
        "namespace_id": 42,
        "name": "svc",
        "path": "svc",
        "visibility": "internal",
    }
    assert create["headers"]["Authorization"] == f"Bearer {TOKEN}"
    assert ("POST", "/api/v4/projects/99/variables") in [
        (r["method"], r["path"]) for r in fake_api.requests
    ]
    with pytest.raises(Exception, match="Namespace Not Found"):
        _run(
            "publish:gitlab",
            _workspace(tmp_path / "ws2", {"a": "1"}),
            {"repoUrl": "gitlab.com?owner=nobody&repo=x"},
            settings=_settings(tmp_path, fake_api),
        )


def test_publish_git_runs_no_hook_or_config_a_template_wrote_into_the_workspace(
    tmp_path: Path,
) -> None:
    marker = tmp_path / "pwned"
    script = f"#!/bin/sh\ntouch {marker}\n"
    ws = _workspace(
        tmp_path / "ws",
        {
            "app.py": "x = 1\n",
            ".git/hooks/pre-push": script,
            ".git/hooks/pre-commit": script,
            ".git/config": f"[core]\n\tfsmonitor = touch {marker}\n\thooksPath = .git/hooks\n",
            "sub/.git/hooks/pre-push": script,
        },
    )
    for hook in ws.rglob("pre-*"):
        hook.chmod(0o755)
    host = GitHost(tmp_path / "git")
    _run("publish:git", ws, {"repoUrl": "platform.local?owner=t&repo=r"}, githost=host)
    assert not marker.exists()
    published = _git("ls-tree", "-r", "--name-only", "main", cwd=host.path("t", "r"))
    assert published.splitlines() == ["app.py"]


def test_publish_github_unreachable_api_is_unavailable(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there once the block ends
    settings = Settings(
        home=tmp_path / "home",
        integrations={"github": {"token": TOKEN, "api_base_url": f"http://127.0.0.1:{port}"}},
    )
    ws = _workspace(tmp_path / "ws", {"a": "1"})
    with pytest.raises(Unavailable, match=re.escape("GitHub API at http://127.0.0.1")) as caught:
        _run("publish:github", ws, {"repoUrl": "github.com?owner=o&repo=r"}, settings=settings)
    assert TOKEN not in caught.value.message
