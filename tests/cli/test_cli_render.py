"""``platform render`` through the real CLI and server: the local platform.yaml becomes
validated Kubernetes objects for the environment (nothing built or recorded); ``--out``
writes a folder ``kubectl kustomize`` builds; a viewer may render.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from cli_helpers import run_platform
from test_cli_deploy_server import home as home  # the fixture

SPEC = """\
kind: Service
metadata:
  name: orders
  team: platform-admins
  tier: critical
spec:
  language: python
  run:
    command: [uvicorn, app:app, --port, $PORT]
    port: 8000
    readiness: /readyz
  runtime: {replicas: 3, cpu: 500m, memory: 256Mi}
  monitoring: {slo: 99.9}
  deployment: {strategy: canary, canary: true}
"""


def _render(home: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_platform(home, "render", "-f", str(cwd / "platform.yaml"), *args)


def test_render_prints_valid_objects_and_writes_a_kustomize_folder(
    home: Path, tmp_path: Path
) -> None:
    (tmp_path / "platform.yaml").write_text(SPEC)
    done = _render(home, tmp_path, "--env", "production")
    assert done.returncode == 0, done.stdout + done.stderr
    objects = [o for o in yaml.safe_load_all(done.stdout) if o]
    kinds = {o["kind"] for o in objects}
    assert {"Rollout", "Service", "Ingress", "HorizontalPodAutoscaler"} <= kinds
    assert {"PodDisruptionBudget", "NetworkPolicy", "ServiceAccount"} <= kinds
    for obj in objects:
        labels = obj["metadata"].get("labels") or {}
        assert labels.get("backstage.io/kubernetes-id") == "orders", obj["kind"]
        assert obj["metadata"].get("namespace", "production") == "production"

    as_json = json.loads(_render(home, tmp_path, "--env", "production", "-o", "json").stdout)
    assert as_json["errors"] == [] and as_json["service"] == "orders"
    assert run_platform(home, "deploy", "history", "-o", "json").stdout.strip() == "[]"

    out = tmp_path / "out"
    wrote = _render(home, tmp_path, "--env", "staging", "--out", str(out))
    assert wrote.returncode == 0, wrote.stderr
    assert (out / "kustomization.yaml").is_file() and len(list(out.glob("*.yaml"))) > 5
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl not installed: the kustomize build is not checked")
    built = subprocess.run(
        ["kubectl", "kustomize", str(out)], capture_output=True, text=True, timeout=60
    )
    assert built.returncode == 0, built.stderr
    assert "kind: Ingress" in built.stdout


def test_ci_render_writes_the_github_and_gitlab_pipelines_into_the_repository(
    home: Path, tmp_path: Path
) -> None:
    (tmp_path / "platform.yaml").write_text(SPEC)
    spec = str(tmp_path / "platform.yaml")
    done = run_platform(home, "ci", "render", "-f", spec)
    assert done.returncode == 0, done.stdout + done.stderr
    workflow = yaml.safe_load((tmp_path / ".github/workflows/platform.yml").read_text())
    jobs = workflow["jobs"]
    assert {"build", "test", "security", "deploy-staging", "deploy-production"} <= set(jobs)
    assert all("uses" in job for job in jobs.values())  # the platform's reusable workflows

    dry = run_platform(home, "ci", "render", "-f", spec, "--system", "gitlab", "--dry-run")
    assert dry.returncode == 0 and "stages:" in dry.stdout
    assert not (tmp_path / ".gitlab-ci.yml").exists()  # a dry run writes nothing
    wrote = run_platform(home, "ci", "render", "-f", spec, "--system", "gitlab")
    assert wrote.returncode == 0, wrote.stderr
    gitlab = yaml.safe_load((tmp_path / ".gitlab-ci.yml").read_text())
    assert {"build", "test", "staging", "production"} <= set(gitlab["stages"])


def test_deploy_to_a_kubernetes_environment_commits_to_its_gitops_repository(
    home: Path, tmp_path: Path
) -> None:
    (tmp_path / "platform.yaml").write_text(SPEC)
    gitops = tmp_path / "gitops"
    created = run_platform(
        home, "env", "create", "prod-k8s", "--driver", "kubernetes",
        "--set", f"gitops_repo={gitops}", "--set", "domain=example.com", "-o", "json",
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["driver"] == "kubernetes"
    bad = run_platform(home, "env", "create", "x-k8s", "--set", "novalue")
    assert bad.returncode != 0 and "KEY=VALUE" in bad.stderr

    repo = tmp_path / "orders"
    repo.mkdir()
    (repo / "platform.yaml").write_text(SPEC)
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "orders"]):
        subprocess.run(
            ["git", "-c", "user.name=Dev", "-c", "user.email=dev@example.com", *args],
            cwd=repo,
            check=True,
            capture_output=True,
        )
    done = run_platform(home, "deploy", "--env", "prod-k8s", "-f", str(repo / "platform.yaml"))
    assert done.returncode == 0, done.stdout + done.stderr
    (latest,) = json.loads(run_platform(home, "deploy", "history", "orders", "-o", "json").stdout)
    assert latest["state"] == "succeeded" and latest["message"].startswith("committed")
    assert (gitops / "prod-k8s" / "orders" / "kustomization.yaml").is_file()
    # platform diff: nothing after the deploy; a changed spec shows the changed objects
    spec = str(repo / "platform.yaml")
    same = run_platform(home, "diff", "--env", "prod-k8s", "-f", spec, "--exit-code")
    assert same.returncode == 0 and "no changes" in same.stdout, same.stdout + same.stderr
    (repo / "platform.yaml").write_text(SPEC.replace("replicas: 3", "replicas: 5"))
    changed = run_platform(home, "diff", "--env", "prod-k8s", "-f", spec, "-o", "json")
    assert changed.returncode == 0, changed.stderr
    kinds = {c["kind"] for c in json.loads(changed.stdout)["changes"]}
    assert "Rollout" in kinds or "HorizontalPodAutoscaler" in kinds
    assert (
        run_platform(home, "diff", "--env", "prod-k8s", "-f", spec, "--exit-code").returncode == 1
    )
    local = run_platform(home, "diff", "--env", "dev", "-f", spec)
    assert local.returncode == 1 and "platform render" in local.stderr
