"""CI/CD pipelines: valid YAML that follows GitHub's and GitLab's schemas, seed 003's job graph.

The schemas are SchemaStore's ``github-workflows.json`` and ``gitlab-ci.json`` as vendored by
the check-jsonschema package (no network needed); without it the schema tests skip.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from goldenpath.manifests import pipelines
from goldenpath.workloads import Workload, WorkloadError, load_workload, parse_workload

SCORE_DIR = Path(__file__).resolve().parents[2] / ".." / "shared" / "fixtures" / "real" / "score"


def vendored_schema(name: str) -> dict[str, Any]:
    try:
        vendor = resources.files("check_jsonschema.builtin_schemas.vendor")
    except ModuleNotFoundError:
        pytest.skip("check-jsonschema (which vendors SchemaStore's schemas) is not installed")
    return dict(json.loads(vendor.joinpath(f"{name}.json").read_text()))


def schema_errors(schema: dict[str, Any], doc: Any) -> list[str]:
    cls = jsonschema.validators.validator_for(schema)
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in cls(schema).iter_errors(doc)
    ]


def service(
    deployment: str = "{strategy: rolling, canary: true}", language: str = "python"
) -> Workload:
    framework = "fastapi" if language == "python" else "express"
    return parse_workload(
        f"""kind: Service
metadata: {{name: payment-api, team: payments}}
spec:
  language: {language}
  framework: {framework}
  deployment: {deployment}
""",
        source="payment-api/platform.yaml",
    )


def sample_workloads() -> list[Workload]:
    found = [
        service(),
        service("{strategy: rolling}", "javascript"),
        service("{strategy: blue-green}"),
    ]
    if SCORE_DIR.is_dir():
        for path in sorted(SCORE_DIR.glob("*.yaml"))[:10]:
            try:
                found.append(load_workload(path))
            except WorkloadError:
                continue
    return found


def load(text: str) -> Any:
    assert text.startswith("# ")  # says it is generated
    return yaml.safe_load(text)


def test_github_workflow_follows_seed_003() -> None:
    files = pipelines.github_actions(service())
    assert list(files) == [".github/workflows/platform.yml"]
    doc = load(files[".github/workflows/platform.yml"])
    jobs = doc["jobs"]
    assert list(jobs) == ["build", "test", "security", "deploy-staging", "deploy-production"]
    assert doc["on"] == {"push": {"branches": ["main"]}, "pull_request": None}
    assert jobs["test"]["needs"] == jobs["security"]["needs"] == "build"
    assert jobs["deploy-staging"]["needs"] == ["test", "security"]
    assert jobs["deploy-staging"]["if"] == "github.ref == 'refs/heads/main'"
    assert jobs["deploy-production"]["needs"] == "deploy-staging"
    assert jobs["deploy-production"]["with"]["strategy"] == "canary"
    assert jobs["deploy-staging"]["with"]["environment"] == "staging"
    assert jobs["build"]["uses"] == "org/platform-workflows/.github/workflows/build.yml@v2"
    assert jobs["build"]["with"]["language"] == "python"


def test_production_strategy_follows_the_workload() -> None:
    assert pipelines.production_strategy(service("{strategy: canary}")) == "canary"
    assert pipelines.production_strategy(service("{strategy: rolling}")) == "rolling"
    assert pipelines.production_strategy(service("{strategy: blue-green}")) == "blue-green"
    gitlab = load(pipelines.gitlab_ci(service("{strategy: rolling}"))[".gitlab-ci.yml"])
    assert gitlab["deploy-production"]["variables"]["STRATEGY"] == "rolling"


@pytest.mark.parametrize("w", sample_workloads(), ids=lambda w: w.name)
def test_github_workflows_are_schema_valid(w: Workload) -> None:
    schema = vendored_schema("github-workflows")
    for path, text in pipelines.github_actions(w, repository="acme/ci", ref="v3").items():
        assert schema_errors(schema, load(text)) == [], path


def test_reusable_workflows_are_schema_valid_and_match_the_calls() -> None:
    schema = vendored_schema("github-workflows")
    reusable = {p: load(t) for p, t in pipelines.reusable_workflows().items()}
    for path, doc in reusable.items():
        assert schema_errors(schema, doc) == [], path
    for w in (service(), service("{strategy: rolling}", "javascript")):
        caller = load(pipelines.github_actions(w)[".github/workflows/platform.yml"])
        for job in caller["jobs"].values():
            repo, _, rest = job["uses"].partition("/.github/")
            assert repo == "org/platform-workflows"
            called = reusable[".github/" + rest.split("@")[0]]
            inputs = called["on"]["workflow_call"]["inputs"]
            given = set(job.get("with", {}))
            assert given <= set(inputs), job["uses"]  # no undeclared input
            assert {k for k, v in inputs.items() if v["required"]} <= given, job["uses"]


@pytest.mark.parametrize("w", sample_workloads(), ids=lambda w: w.name)
def test_gitlab_ci_is_schema_valid(w: Workload) -> None:
    schema = vendored_schema("gitlab-ci")
    files = pipelines.gitlab_ci(w)
    assert list(files) == [".gitlab-ci.yml"]
    doc = load(files[".gitlab-ci.yml"])
    assert schema_errors(schema, doc) == []
    stages = doc["stages"]
    assert stages == ["build", "test", "staging", "production"]
    jobs = {k: v for k, v in doc.items() if isinstance(v, dict) and "stage" in v}
    assert list(jobs) == ["build", "test", "security", "deploy-staging", "deploy-production"]
    for name, job in jobs.items():
        assert job["stage"] in stages
        for need in job.get("needs", []):  # needs only point backwards
            assert stages.index(jobs[need]["stage"]) <= stages.index(job["stage"]), name
    assert doc["deploy-production"]["environment"]["deployment_tier"] == "production"
    assert doc["variables"]["SERVICE"] == w.name


def test_schema_check_rejects_a_broken_workflow() -> None:
    schema = vendored_schema("github-workflows")
    doc = load(pipelines.github_actions(service())[".github/workflows/platform.yml"])
    doc["jobs"]["build"]["needz"] = "x"
    del doc["on"]
    assert len(schema_errors(schema, doc)) >= 1


def test_gitlab_templates_are_schema_valid_and_cover_every_extends() -> None:
    schema = vendored_schema("gitlab-ci")
    templates = load(pipelines.gitlab_templates()["templates/platform.yml"])
    assert schema_errors(schema, templates) == []
    doc = load(pipelines.gitlab_ci(service())[".gitlab-ci.yml"])
    assert doc["include"][0]["file"] == "/templates/platform.yml"
    extends = {job["extends"] for job in doc.values() if isinstance(job, dict) and "extends" in job}
    assert extends == set(templates)
    # a variable the deploy template reads is set by every deploy job
    for name in ("deploy-staging", "deploy-production"):
        assert {"ENVIRONMENT", "STRATEGY"} <= set(doc[name]["variables"])
