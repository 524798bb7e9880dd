"""GitOpsRepo against real git repositories (a local clone and a bare "remote")."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from goldenpath.drivers.kubernetes.gitops import GitOpsRepo
from goldenpath.errors import InvalidInput, NotFound


def deployment(name: str, image: str = "nginx:1.27", replicas: int = 2) -> dict[str, Any]:
    labels = {"app.kubernetes.io/name": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "main", "image": image}]},
            },
        },
    }


def service(name: str, port: int = 80) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {
            "selector": {"app.kubernetes.io/name": name},
            "ports": [{"port": port, "targetPort": 8080}],
        },
    }


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


def commits(cwd: Path, ref: str = "HEAD") -> int:
    return int(git(cwd, "rev-list", "--count", ref))


def tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".git" not in p.relative_to(root).parts
    }


@pytest.fixture
def bare(tmp_path: Path) -> Path:
    path = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(path)], check=True)
    return path


def test_write_commits_with_the_deployment_id_and_pushes(tmp_path: Path, bare: Path) -> None:
    repo = GitOpsRepo(tmp_path / "clone", remote=str(bare))
    sha = repo.write(
        "staging", "my-api", [deployment("my-api"), service("my-api")],
        deployment_id=41, author="Alice <alice@example.com>",
    )  # fmt: skip
    assert sha is not None and len(sha) == 40
    clone = tmp_path / "clone"
    assert git(clone, "log", "-1", "--format=%s") == "deploy my-api to staging (deployment 41)"
    assert git(clone, "log", "-1", "--format=%an <%ae>") == "Alice <alice@example.com>"
    assert git(bare, "rev-parse", "refs/heads/main") == sha
    assert repo.push_error is None
    folder = clone / "staging" / "my-api"
    assert sorted(p.name for p in folder.iterdir()) == [
        "deployment-my-api.yaml",
        "kustomization.yaml",
        "service-my-api.yaml",
    ]
    assert yaml.safe_load((folder / "kustomization.yaml").read_text())["resources"] == [
        "deployment-my-api.yaml",
        "service-my-api.yaml",
    ]
    assert yaml.safe_load((folder / "deployment-my-api.yaml").read_text()) == deployment("my-api")
    env = yaml.safe_load((clone / "staging" / "kustomization.yaml").read_text())
    assert env["kind"] == "Kustomization" and env["resources"] == ["my-api"]
    assert git(clone, "status", "--porcelain") == ""


def test_unchanged_render_makes_no_commit(tmp_path: Path) -> None:
    repo = GitOpsRepo(tmp_path / "clone")
    objects = [deployment("web"), service("web")]
    first = repo.write("dev", "web", objects, deployment_id=1, author="alice")
    before = commits(tmp_path / "clone")
    assert repo.write("dev", "web", objects, deployment_id=2, author="bob") is None
    # a fresh instance on the same clone agrees
    again = GitOpsRepo(tmp_path / "clone").write("dev", "web", objects, deployment_id=3, author="x")
    assert again is None
    assert commits(tmp_path / "clone") == before
    assert git(tmp_path / "clone", "rev-parse", "HEAD") == first


def test_removed_object_file_disappears_and_services_are_listed(tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    repo = GitOpsRepo(clone)
    repo.write("prod", "web", [deployment("web"), service("web")], deployment_id=1, author="a")
    repo.write("prod", "api", [deployment("api")], deployment_id=2, author="a")
    env = yaml.safe_load((clone / "prod" / "kustomization.yaml").read_text())
    assert env["resources"] == ["api", "web"]
    assert repo.write("prod", "web", [deployment("web")], deployment_id=3, author="a")
    assert not (clone / "prod" / "web" / "service-web.yaml").exists()
    assert "service-web.yaml" not in git(clone, "ls-files", "prod/web")
    kust = yaml.safe_load((clone / "prod" / "web" / "kustomization.yaml").read_text())
    assert kust["resources"] == ["deployment-web.yaml"]
    # no objects at all: the service leaves the environment
    assert repo.write("prod", "web", [], deployment_id=4, author="a")
    assert not (clone / "prod" / "web").exists()
    env = yaml.safe_load((clone / "prod" / "kustomization.yaml").read_text())
    assert env["resources"] == ["api"]


def test_rollback_restores_the_tree_offline(tmp_path: Path, bare: Path) -> None:
    clone = tmp_path / "clone"
    repo = GitOpsRepo(clone, remote=str(bare))
    repo.write("prod", "web", [deployment("web"), service("web")], deployment_id=5, author="a")
    repo.write("prod", "other", [deployment("other")], deployment_id=6, author="a")
    snapshot = tree(clone / "prod" / "web")
    repo.write(
        "prod", "web", [deployment("web", image="nginx:1.28", replicas=5)],
        deployment_id=7, author="a",
    )  # fmt: skip
    assert tree(clone / "prod" / "web") != snapshot
    shutil.rmtree(bare)  # the remote is gone
    sha = repo.rollback("prod", "web", to_deployment_id=5, actor="Bob <bob@example.com>")
    assert tree(clone / "prod" / "web") == snapshot
    assert git(clone, "rev-parse", "HEAD") == sha
    assert git(clone, "log", "-1", "--format=%s") == "rollback web in prod to deployment 5"
    assert git(clone, "status", "--porcelain") == ""
    assert repo.push_error is not None and "kept" in repo.push_error
    assert (clone / "prod" / "other" / "deployment-other.yaml").exists()  # untouched
    history = repo.history("prod", "web")
    assert [(h["action"], h["deploymentId"]) for h in history] == [
        ("rollback", 5),
        ("deploy", 7),
        ("deploy", 5),
    ]
    assert history[0]["sha"] == sha and history[0]["at"].endswith("Z")
    assert history[2]["message"] == "deploy web to prod (deployment 5)"
    with pytest.raises(NotFound, match="deployment 6"):
        repo.rollback("prod", "web", to_deployment_id=6, actor="a")


def test_rollback_brings_back_a_removed_service(tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    repo = GitOpsRepo(clone)
    repo.write("dev", "web", [deployment("web")], deployment_id=1, author="a")
    repo.write("dev", "web", [], deployment_id=2, author="a")
    assert not (clone / "dev").exists()
    repo.rollback("dev", "web", to_deployment_id=1, actor="a")
    assert yaml.safe_load((clone / "dev" / "kustomization.yaml").read_text())["resources"] == [
        "web"
    ]


def test_failed_push_keeps_the_commit_and_the_next_push_sends_it(
    tmp_path: Path, bare: Path
) -> None:
    clone = tmp_path / "clone"
    moved = tmp_path / "moved.git"
    repo = GitOpsRepo(clone, remote=str(bare))
    repo.write("dev", "web", [deployment("web")], deployment_id=1, author="a")
    bare.rename(moved)
    sha = repo.write("dev", "web", [deployment("web", replicas=3)], deployment_id=2, author="a")
    assert sha is not None and repo.push_error is not None
    assert git(clone, "rev-parse", "HEAD") == sha
    moved.rename(bare)
    repo.push()
    assert repo.push_error is None
    assert git(bare, "rev-parse", "refs/heads/main") == sha


def test_a_second_writer_is_rebased_onto(tmp_path: Path, bare: Path) -> None:
    one = GitOpsRepo(tmp_path / "one", remote=str(bare))
    two = GitOpsRepo(tmp_path / "two", remote=str(bare))
    one.write("dev", "web", [deployment("web")], deployment_id=1, author="a")
    two.write("dev", "api", [deployment("api")], deployment_id=2, author="a")
    assert one.write("dev", "db", [deployment("db")], deployment_id=3, author="a")
    assert one.push_error is None and two.push_error is None
    git(tmp_path, "clone", "-q", str(bare), "check")
    env = yaml.safe_load((tmp_path / "check" / "dev" / "kustomization.yaml").read_text())
    assert env["resources"] == ["api", "db", "web"]


def test_an_existing_clone_of_the_remote_is_picked_up(tmp_path: Path, bare: Path) -> None:
    GitOpsRepo(tmp_path / "one", remote=str(bare)).write(
        "dev", "web", [deployment("web")], deployment_id=1, author="a"
    )
    fresh = GitOpsRepo(tmp_path / "two", remote=str(bare))
    assert [h["deploymentId"] for h in fresh.history("dev", "web")] == [1]
    assert fresh.write("dev", "web", [deployment("web")], deployment_id=2, author="a") is None


def test_interrupted_write_is_reset_to_head(tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    repo = GitOpsRepo(clone)
    repo.write("dev", "web", [deployment("web")], deployment_id=1, author="a")
    # a writer that died after changing files but before committing
    (clone / "dev" / "web" / "deployment-web.yaml").write_text("half written")
    (clone / ".git" / "goldenpath-dirty").touch()
    assert (
        GitOpsRepo(clone).write("dev", "web", [deployment("web")], deployment_id=2, author="a")
        is None
    )
    assert yaml.safe_load((clone / "dev" / "web" / "deployment-web.yaml").read_text())["kind"] == (
        "Deployment"
    )


def test_diff_reports_object_by_object(tmp_path: Path) -> None:
    repo = GitOpsRepo(tmp_path / "clone")
    repo.write("prod", "web", [deployment("web"), service("web")], deployment_id=1, author="a")
    new = [
        deployment("web", image="nginx:1.28"),
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "web"}, "data": {"a": "1"}},
    ]
    changes = repo.diff("prod", "web", new)
    assert [(c["kind"], c["name"], c["change"]) for c in changes] == [
        ("ConfigMap", "web", "added"),
        ("Deployment", "web", "changed"),
        ("Service", "web", "removed"),
    ]
    changed = changes[1]["diff"]
    assert "-        image: nginx:1.27" in changed and "+        image: nginx:1.28" in changed
    assert changes[2]["diff"].startswith("--- a/prod/web/service-web.yaml")
    assert repo.diff("prod", "web", [deployment("web"), service("web")]) == []
    assert commits(tmp_path / "clone") == 2  # initial + deployment 1: diff wrote nothing


@pytest.mark.parametrize(
    ("env", "svc", "objects", "message"),
    [
        ("Prod", "web", [deployment("web")], "environment 'Prod'"),
        ("prod", "../x", [deployment("web")], "service '../x'"),
        ("bootstrap", "web", [deployment("web")], "reserved"),
        ("prod", "web", [{"kind": "Deployment", "metadata": {}}], "metadata.name"),
        ("prod", "web", [deployment("web"), deployment("web")], "deployment-web.yaml"),
    ],
)
def test_bad_input_is_refused(
    tmp_path: Path, env: str, svc: str, objects: list[dict[str, Any]], message: str
) -> None:
    repo = GitOpsRepo(tmp_path / "clone")
    with pytest.raises(InvalidInput, match=message):
        repo.write(env, svc, objects, deployment_id=1, author="a")


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl (kubernetes-client) missing")
def test_kubectl_kustomize_builds_every_environment(tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    repo = GitOpsRepo(clone)
    for env in ("dev", "staging", "production"):
        for name in ("web", "api"):
            repo.write(env, name, [deployment(name), service(name)], deployment_id=1, author="a")
    repo.write_bootstrap("https://git.example.com/gitops.git", ["dev"], author="a")
    for env in ("dev", "staging", "production"):
        built = subprocess.run(
            ["kubectl", "kustomize", env], cwd=clone, capture_output=True, text=True, timeout=60
        )
        assert built.returncode == 0, built.stderr
        docs = list(yaml.safe_load_all(built.stdout))
        assert sorted((d["kind"], d["metadata"]["name"]) for d in docs) == [
            ("Deployment", "api"),
            ("Deployment", "web"),
            ("Service", "api"),
            ("Service", "web"),
        ]


def test_write_many_is_one_commit_that_each_service_can_roll_back_to(tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    repo = GitOpsRepo(clone)
    both = {"web": [deployment("web")], "api": [deployment("api")]}
    sha = repo.write_many("dev", both, deployment_id=10, author="a")
    assert git(clone, "log", "-1", "--format=%s") == "deploy 2 services to dev (deployment 10)"
    assert repo.history("api", "api") == []
    assert [h["sha"] for h in repo.history("dev", "api")] == [sha]
    assert repo.write_many("dev", both, deployment_id=11, author="a") is None
    repo.write("dev", "api", [deployment("api", replicas=9)], deployment_id=12, author="a")
    repo.rollback("dev", "api", to_deployment_id=10, actor="a")
    assert yaml.safe_load((clone / "dev" / "api" / "deployment-api.yaml").read_text()) == (
        deployment("api")
    )
