"""The built-in ``python-service`` golden path renders a service whose own tests pass.

Each variant is rendered through the real runner (``fetch:template`` steps only: publishing
and registering are other helpers' tests), then the generated repository's own pytest suite
runs in a subprocess, against a real PostgreSQL for ``database: postgres``. The generated
``catalog-info.yaml`` and ``template.yaml`` go through the catalog's own processing.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from scaffoldhelpers import core_registry, files_under

from goldenpath.catalog import processing
from goldenpath.errors import InvalidInput
from goldenpath.scaffolder.builtin import builtin_dir
from goldenpath.scaffolder.runner import run_template
from goldenpath.scaffolder.templates import TemplateSpec, load_template_file
from goldenpath.settings import CatalogSettings

TEMPLATE = builtin_dir() / "python-service" / "template.yaml"
USER = {"ref": "user:default/alice"}


def render(tmp_path: Path, values: dict[str, Any]) -> Path:
    """Run the template's fetch steps into ``tmp_path/<name>``; returns the repository root."""
    spec = load_template_file(TEMPLATE)
    fetch_only = TemplateSpec.from_entity(
        {
            **spec.entity,
            "spec": {
                **spec.entity["spec"],
                "steps": [s for s in spec.steps if s["action"].startswith("fetch:")],
                "output": {},
            },
        },
        base_dir=spec.base_dir,
        ref=spec.ref,
    )
    workspace = tmp_path / str(values["name"])
    result = run_template(
        fetch_only, values, registry=core_registry(), workspace=workspace, user=USER
    )
    assert result.status == "completed", result.error
    return workspace


def catalog_entities(path: Path) -> dict[str, dict[str, Any]]:
    """Process ``path`` with the catalog's pipeline; every document must be valid."""
    settings = CatalogSettings()
    documents = processing.process_file(
        path, rules=processing.KindRules.from_kinds(settings.allowed_kinds)
    )
    problems = [(d.ref, e.path, e.message) for d in documents for e in d.errors]
    assert not problems
    return {str(d.ref): d.entity for d in documents if d.entity is not None}


def own_tests(repo: Path, database_url: str | None = None) -> subprocess.CompletedProcess[str]:
    """The generated repository's pytest suite, run with this venv's interpreter (it has
    fastapi, httpx, prometheus-client and psycopg)."""
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    if database_url:
        env["DATABASE_URL"] = database_url
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_in_memory_service_passes_its_own_tests(tmp_path: Path) -> None:
    repo = render(tmp_path, {"name": "inventory-api", "owner": "group:default/team-a"})

    files = files_under(repo)
    assert {
        "app/main.py",
        "tests/test_api.py",
        "Dockerfile",
        ".github/workflows/platform.yml",
        "catalog-info.yaml",
        "openapi.yaml",
        "platform.yaml",
        "mkdocs.yml",
        "docs/index.md",
        "README.md",
        "pyproject.toml",
    } <= set(files)
    assert "app/pg_store.py" not in files
    assert "tests/test_postgres.py" not in files
    assert "psycopg" not in files["pyproject.toml"]
    assert not [
        p for p, text in files.items() if "${{" in text or "{%" in text or p.endswith(".njk")
    ]

    done = own_tests(repo)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "5 passed" in done.stdout
    assert "skipped" not in done.stdout


def test_postgres_service_passes_its_own_tests_against_postgresql(
    tmp_path: Path, pg_url: str
) -> None:
    repo = render(tmp_path, {"name": "orders", "owner": "team-b", "database": "postgres"})
    assert (repo / "app/pg_store.py").is_file()
    assert "psycopg[binary]" in (repo / "pyproject.toml").read_text()

    without_db = own_tests(repo)
    assert without_db.returncode == 0, without_db.stdout + without_db.stderr
    assert "5 passed, 3 skipped" in without_db.stdout
    assert "DATABASE_URL is not set" in without_db.stdout

    for lint in (["check", "--no-cache", "."], ["format", "--no-cache", "--check", "."]):
        done = subprocess.run(
            [str(Path(sys.executable).parent / "ruff"), *lint],
            cwd=repo,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, f"generated code fails ruff {lint[0]}:\n{done.stdout}"

    database = f"orders_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{database}"')
    database_url = pg_url.rsplit("/", 1)[0] + "/" + database
    with_db = own_tests(repo, database_url)
    assert with_db.returncode == 0, with_db.stdout + with_db.stderr
    assert "8 passed" in with_db.stdout
    assert "skipped" not in with_db.stdout
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT to_regclass('items')").fetchone() == ("items",)


def test_catalog_info_is_valid_with_owner_system_api_and_database(tmp_path: Path) -> None:
    repo = render(
        tmp_path,
        {
            "name": "payments",
            "description": 'Takes "payments": cards, SEPA',
            "owner": "group:default/team-pay",
            "system": "checkout",
            "database": "postgres",
        },
    )
    entities = catalog_entities(repo / "catalog-info.yaml")
    assert set(entities) == {
        "component:default/payments",
        "api:default/payments",
        "resource:default/payments",
    }
    component = entities["component:default/payments"]
    assert component["metadata"]["description"] == 'Takes "payments": cards, SEPA'
    assert component["metadata"]["annotations"]["backstage.io/techdocs-ref"] == "dir:."
    assert component["spec"]["owner"] == "group:default/team-pay"
    assert component["spec"]["system"] == "checkout"
    assert component["spec"]["providesApis"] == ["api:payments"]
    assert component["spec"]["dependsOn"] == ["resource:payments"]
    api = entities["api:default/payments"]
    assert api["spec"]["type"] == "openapi"
    definition = yaml.safe_load(api["spec"]["definition"])
    assert set(definition["paths"]) == {"/healthz", "/readyz", "/metrics", "/items", "/items/{id}"}
    assert entities["resource:default/payments"]["spec"]["type"] == "database"


def test_owner_defaults_to_the_user_and_no_database_means_no_resource(tmp_path: Path) -> None:
    repo = render(tmp_path, {"name": "solo"})
    entities = catalog_entities(repo / "catalog-info.yaml")
    assert set(entities) == {"component:default/solo", "api:default/solo"}
    assert entities["component:default/solo"]["spec"]["owner"] == "user:default/alice"
    assert "system" not in entities["component:default/solo"]["spec"]
    platform = yaml.safe_load((repo / "platform.yaml").read_text())
    assert platform["metadata"]["team"] == "alice"
    assert platform["spec"]["database"] == {"type": "none"}


def test_platform_yaml_and_ci_follow_the_seed_format(tmp_path: Path) -> None:
    repo = render(
        tmp_path, {"name": "ledger", "owner": "group:default/finance", "database": "postgres"}
    )
    platform = yaml.safe_load((repo / "platform.yaml").read_text())
    assert platform["kind"] == "Service"
    assert platform["metadata"] == {"name": "ledger", "team": "finance", "tier": "standard"}
    spec = platform["spec"]
    assert (spec["language"], spec["framework"]) == ("python", "fastapi")
    assert set(spec["runtime"]) == {"replicas", "cpu", "memory"}
    assert spec["database"] == {"type": "postgres", "size": "small"}
    assert spec["monitoring"] == {"alerts": True, "dashboard": True, "slo": 99.9}
    assert spec["deployment"] == {"strategy": "rolling", "canary": True, "rollback": "automatic"}

    workflow = yaml.safe_load((repo / ".github/workflows/platform.yml").read_text())
    jobs = workflow["jobs"]
    assert list(jobs) == ["build", "test", "security", "deploy-staging", "deploy-production"]
    assert all(
        job["uses"].startswith("org/platform-workflows/.github/workflows/")
        and job["uses"].endswith("@v2")
        for job in jobs.values()
    )
    assert jobs["build"]["with"]["language"] == "python"
    assert jobs["deploy-staging"]["if"] == "github.ref == 'refs/heads/main'"
    assert jobs["deploy-production"]["with"] == {"environment": "production", "strategy": "canary"}


def test_template_is_a_valid_catalog_template_with_a_checked_form() -> None:
    entities = catalog_entities(TEMPLATE)
    assert list(entities) == ["template:default/python-service"]

    spec = load_template_file(TEMPLATE)
    pages = spec.parameter_schema()["steps"]
    properties = {k for page in pages for k in page["schema"]["properties"]}
    assert {"name", "description", "owner", "system", "database", "repoUrl"} <= properties
    assert spec.validate_values({"name": "ok-name"})["database"] == "none"
    with pytest.raises(InvalidInput) as bad:
        spec.validate_values({"name": "Bad_Name", "database": "mysql"})
    paths = {e["path"] for e in bad.value.details["errors"]}
    assert paths == {"/name", "/database"}
