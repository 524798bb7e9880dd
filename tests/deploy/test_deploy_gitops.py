"""Deploys to a ``kubernetes`` environment commit validated manifests to its GitOps
repository (real git; the scripted driver of ``test_deploy_reconciler_scripted`` proves no
local process is started): a deploy commits with its id, the same render again makes no
commit, a rollback restores the earlier commit's folder, the reconciler leaves the
environment alone, and ``kubectl kustomize`` builds what was committed.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import Engine
from test_deploy_reconciler_scripted import Clock, ScriptedDriver

from goldenpath.deploy.service import DeployRequest, DeployService
from goldenpath.drivers.kubernetes.gitops import GitOpsRepo
from goldenpath.settings import Settings

SPEC = """\
kind: Service
metadata: {{name: orders, team: team-a, tier: standard}}
spec:
  language: python
  run: {{command: [uvicorn, app:app, --port, $PORT], port: 8000, readiness: /readyz}}
  runtime: {{replicas: {replicas}, cpu: 250m, memory: 256Mi}}
"""


def _snapshot(folder: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(folder.glob("*.yaml"))}


def test_kubernetes_environment_deploys_commit_and_roll_back_through_git(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    settings = settings.model_copy(
        update={"deploy": settings.deploy.model_copy(update={"reconcile_interval": 0.0})}
    )
    driver = ScriptedDriver(settings.home)
    svc = DeployService(engine=engine, settings=settings, driver=driver, clock=Clock())
    gitops = tmp_path / "gitops"
    env = svc.create_environment(
        "prod-k8s",
        actor="ann",
        driver="kubernetes",
        settings={"gitops_repo": str(gitops), "domain": "example.com"},
    )
    assert env.driver == "kubernetes"

    def deploy(replicas: int) -> object:
        request = DeployRequest(environment="prod-k8s", spec_text=SPEC.format(replicas=replicas))
        return svc.deploy(request, actor="ann")

    d1 = deploy(2)
    assert d1.state == "succeeded" and d1.message.startswith("committed"), d1.message
    folder = gitops / "prod-k8s" / "orders"
    first = _snapshot(folder)
    assert any(name.startswith("deployment-") for name in first)
    assert "orders.prod-k8s.example.com" in "".join(first.values())
    repo = GitOpsRepo(gitops)
    assert [h["deploymentId"] for h in repo.history("prod-k8s", "orders")] == [d1.id]

    same = deploy(2)
    assert same.state == "succeeded" and same.message.startswith("unchanged"), same.message
    assert len(repo.history("prod-k8s", "orders")) == 1  # no commit

    d3 = deploy(4)
    assert d3.state == "succeeded" and _snapshot(folder) != first
    back = svc.rollback("orders", "prod-k8s", actor="bob", to=d1.id)
    assert back.state == "succeeded" and back.kind == "rollback", back.message
    assert _snapshot(folder) == first

    report = svc.reconcile_once()
    assert report.errors == [] and driver.versions("prod-k8s", "orders") == set()
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl not installed: the kustomize build is not checked")
    built = subprocess.run(
        ["kubectl", "kustomize", str(gitops / "prod-k8s")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert built.returncode == 0, built.stderr
    assert "kind: Ingress" in built.stdout


def test_a_direct_apply_that_cannot_reach_the_cluster_fails_the_deploy_and_keeps_the_commit(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\nclusters:\n- cluster: {server: 'https://127.0.0.1:1'}\n"
        "  name: c\ncontexts:\n- context: {cluster: c, user: u}\n  name: c\n"
        "current-context: c\nusers:\n- name: u\n  user: {token: t}\n"
    )
    svc = DeployService(
        engine=engine, settings=settings, driver=ScriptedDriver(settings.home), clock=Clock()
    )
    gitops = tmp_path / "gitops"
    svc.create_environment(
        "prod-k8s",
        actor="ann",
        driver="kubernetes",
        settings={"gitops_repo": str(gitops), "kubeconfig": str(kubeconfig)},
    )
    request = DeployRequest(environment="prod-k8s", spec_text=SPEC.format(replicas=2))
    d = svc.deploy(request, actor="ann")
    assert d.state == "failed" and "apply failed: cannot reach" in d.message, d.message
    assert d.message.startswith("committed")  # the commit stays: Argo CD / Flux can apply it
    assert [h["deploymentId"] for h in GitOpsRepo(gitops).history("prod-k8s", "orders")] == [d.id]
