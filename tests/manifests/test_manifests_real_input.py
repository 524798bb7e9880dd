"""Real input: every Score file of ../shared/fixtures/real/score and both golden-path services
render for dev/staging/production, and every built-in object validates (strict)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from goldenpath.drivers.kubernetes.gitops import GitOpsRepo
from goldenpath.errors import InvalidInput
from goldenpath.manifests.render import render_service
from goldenpath.manifests.target import RenderTarget
from goldenpath.manifests.validate import validate
from goldenpath.scaffolder.expressions import render_string
from goldenpath.workloads import Workload, WorkloadError, load_workload, parse_workload

SCORE_DIR = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "real" / "score"
ENVIRONMENTS = ("dev", "staging", "production")
BUILTIN = Path(__file__).resolve().parents[2] / "src" / "goldenpath" / "scaffolder" / "builtin"

# What cannot be rendered, and the error that says so (docs/kubernetes.md lists them).
CANNOT_RENDER = {
    "score-spec__score-compose__examples__08-service-port-resource__scoreB.yaml": (
        "containers.example.variables.DEPENDENCY_URL: output 'port' of service-port resource "
        "'dependency' cannot be rendered for Kubernetes: params.port 'web' is not a port number"
    ),
}


def _targets() -> list[RenderTarget]:
    return [
        RenderTarget(environment=env, namespace=f"apps-{env}", production=env == "production")
        for env in ENVIRONMENTS
    ]


def _score_files() -> list[Path]:
    if not SCORE_DIR.is_dir():
        return []
    return sorted(p for p in SCORE_DIR.iterdir() if p.suffix in (".yaml", ".yml"))


@pytest.mark.skipif(not SCORE_DIR.is_dir(), reason=f"{SCORE_DIR} is missing (../shared)")
def test_every_loadable_score_file_renders_and_validates_in_every_environment() -> None:
    rendered = 0
    for path in _score_files():
        try:
            workload = load_workload(path)
        except WorkloadError:
            continue  # not a valid Score file: the workloads tests cover the message
        for target in _targets():
            expected = CANNOT_RENDER.get(path.name)
            if expected is not None:
                with pytest.raises(InvalidInput) as caught:
                    render_service(workload, target)
                assert caught.value.message == f"{path}: {expected}; set params.port to the " + (
                    "number (or write the port literally)"
                )
                continue
            objects = render_service(workload, target, secret_names=["API_KEY"])
            assert validate(objects, kubernetes_version="1.30") == [], path.name
            kinds = {o["kind"] for o in objects}
            assert {"ServiceAccount", "Service", "Deployment", "NetworkPolicy"} <= kinds
            assert "ExternalSecret" in kinds, path.name
            rendered += 1
    assert rendered >= 3 * 70  # the fixture set holds 77 loadable files


def _golden(template: str, database: str) -> Workload:
    text = (BUILTIN / template / "skeleton" / "platform.yaml.njk").read_text(encoding="utf-8")
    values = {
        "name": "orders",
        "ownerName": "team-shop",
        "database": database,
        "language": "node",
        "framework": "express",
    }
    return parse_workload(render_string(text, values, mode="file"), source="orders/platform.yaml")


@pytest.mark.parametrize("template", ["python-service", "node-service"])
@pytest.mark.parametrize("database", ["postgres", "none"])
def test_golden_path_services_render_and_validate(template: str, database: str) -> None:
    workload = _golden(template, database)
    for target in _targets():
        objects = render_service(workload, target, image="registry.local/orders:1.0.0")
        assert validate(objects, kubernetes_version=target.kubernetes_version) == []
        kinds = [o["kind"] for o in objects]
        for kind in (
            "ServiceAccount",
            "Service",
            "Deployment",
            "Ingress",
            "HorizontalPodAutoscaler",
            "PodDisruptionBudget",  # the templates run 2 replicas
            "NetworkPolicy",
        ):
            assert kind in kinds, (template, kind)
        assert ("Cluster" in kinds) is (database == "postgres")
        ingress = next(o for o in objects if o["kind"] == "Ingress")
        assert ingress["spec"]["tls"][0]["hosts"] == [f"orders.{target.environment}.example.com"]


@pytest.mark.skipif(not SCORE_DIR.is_dir(), reason=f"{SCORE_DIR} is missing (../shared)")
@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_every_environment_folder_of_the_real_input_builds_with_kubectl_kustomize(
    tmp_path: Path,
) -> None:
    """Every renderable Score file and both golden paths, each in its own namespace, written
    to a GitOps repository per environment: ``kubectl kustomize <env>`` builds them all."""
    repo = GitOpsRepo(tmp_path / "gitops")
    workloads = []
    for path in _score_files():
        try:
            workloads.append(load_workload(path))
        except WorkloadError:
            continue
        if path.name in CANNOT_RENDER:
            workloads.pop()
    workloads += [
        _golden(t, db) for t in ("python-service", "node-service") for db in ("postgres", "none")
    ]
    for env in ENVIRONMENTS:
        services = {}
        for i, workload in enumerate(workloads):
            folder = f"s{i:03d}-{workload.name}".lower()[:63].rstrip("-")
            target = RenderTarget(environment=env, namespace=folder, production=env == "production")
            services[folder] = render_service(workload, target, secret_names=["API_KEY"])
        assert repo.write_many(env, services, deployment_id=1, author="test") is not None
        built = subprocess.run(
            ["kubectl", "kustomize", str(tmp_path / "gitops" / env)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert built.returncode == 0, built.stderr[-2000:]
        assert built.stdout.count("\nkind: Deployment") + built.stdout.count(
            "\nkind: Rollout"
        ) >= len(workloads)
