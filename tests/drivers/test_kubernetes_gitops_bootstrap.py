"""Argo CD / Flux bootstrap manifests, and GitOpsRepo.write_bootstrap."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from goldenpath.drivers.kubernetes.bootstrap import bootstrap
from goldenpath.drivers.kubernetes.gitops import GitOpsRepo
from goldenpath.errors import InvalidInput

URL = "https://git.example.com/platform/gitops.git"


def test_argocd_applicationsets_and_flux_objects() -> None:
    files = bootstrap(URL, ["staging", "production"], branch="live")
    assert sorted(files) == [
        "argocd/applicationset-production.yaml",
        "argocd/applicationset-staging.yaml",
        "flux/gitrepository-goldenpath.yaml",
        "flux/kustomization-production.yaml",
        "flux/kustomization-staging.yaml",
    ]
    appset = files["argocd/applicationset-staging.yaml"]
    assert (appset["apiVersion"], appset["kind"]) == ("argoproj.io/v1alpha1", "ApplicationSet")
    generator = appset["spec"]["generators"][0]["git"]
    assert generator == {"repoURL": URL, "revision": "live", "directories": [{"path": "staging/*"}]}
    template = appset["spec"]["template"]
    assert template["spec"]["source"] == {
        "repoURL": URL,
        "targetRevision": "live",
        "path": "{{path}}",
    }
    assert template["metadata"]["name"] == "staging-{{path.basename}}"
    assert template["spec"]["syncPolicy"]["automated"] == {"prune": True, "selfHeal": True}
    source = files["flux/gitrepository-goldenpath.yaml"]
    assert (source["apiVersion"], source["kind"]) == (
        "source.toolkit.fluxcd.io/v1",
        "GitRepository",
    )
    assert source["spec"]["url"] == URL and source["spec"]["ref"] == {"branch": "live"}
    kust = files["flux/kustomization-production.yaml"]
    assert (kust["apiVersion"], kust["kind"]) == ("kustomize.toolkit.fluxcd.io/v1", "Kustomization")
    assert kust["spec"]["path"] == "./production" and kust["spec"]["prune"] is True
    assert kust["spec"]["sourceRef"] == {"kind": "GitRepository", "name": "goldenpath"}


def test_argocd_application_per_environment() -> None:
    files = bootstrap(URL, ["dev"], tools=["argocd"], argocd="application")
    assert list(files) == ["argocd/application-dev.yaml"]
    app = files["argocd/application-dev.yaml"]
    assert (app["apiVersion"], app["kind"]) == ("argoproj.io/v1alpha1", "Application")
    assert app["spec"]["source"] == {"repoURL": URL, "targetRevision": "main", "path": "dev"}
    assert app["spec"]["destination"]["namespace"] == "dev"


@pytest.mark.parametrize(
    ("url", "envs", "message"),
    [("", ["dev"], "repository URL"), (URL, [], "at least one"), (URL, ["Dev"], "'Dev'")],
)
def test_bad_bootstrap_input(url: str, envs: list[str], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        bootstrap(url, envs)


def test_write_bootstrap_commits_under_bootstrap(tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    repo = GitOpsRepo(clone)
    sha = repo.write_bootstrap(URL, ["dev", "prod"], author="alice")
    assert sha is not None
    written = yaml.safe_load((clone / "bootstrap" / "flux" / "kustomization-prod.yaml").read_text())
    assert written == bootstrap(URL, ["dev", "prod"])["flux/kustomization-prod.yaml"]
    assert repo.write_bootstrap(URL, ["prod", "dev"], author="alice") is None
    assert repo.write_bootstrap(URL, ["dev", "prod"], author="alice", tools=["flux"])
    assert not (clone / "bootstrap" / "argocd").exists()
    log = subprocess.run(
        ["git", "log", "--format=%s"], cwd=clone, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert log[0] == "bootstrap GitOps for dev, prod"
