"""The built-in ``node-service`` golden path renders services whose own tests pass.

Variants: TypeScript + Fastify, JavaScript + Express, and TypeScript + Express on
PostgreSQL (its database tests run against a real cluster). Each is rendered through the
real runner (``fetch:template`` steps only), then ``npm install`` (npm's cache is kept under
``~/.cache`` between runs) and the generated ``npm test`` (``node --test``) run in it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from scaffoldhelpers import core_registry, files_under

from goldenpath.catalog import processing
from goldenpath.scaffolder.builtin import builtin_dir
from goldenpath.scaffolder.runner import run_template
from goldenpath.scaffolder.templates import TemplateSpec, load_template_file
from goldenpath.settings import CatalogSettings

TEMPLATE = builtin_dir() / "node-service" / "template.yaml"
NPM_CACHE = Path.home() / ".cache" / "goldenpath-tests" / "npm"

pytestmark = pytest.mark.skipif(
    not (shutil.which("node") and shutil.which("npm")),
    reason="node and npm are needed to run the generated service's tests (install Node.js 20+)",
)


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
        fetch_only,
        values,
        registry=core_registry(),
        workspace=workspace,
        user={"ref": "user:default/alice"},
    )
    assert result.status == "completed", result.error
    return workspace


def npm(repo: Path, *args: str, database_url: str | None = None) -> str:
    """Run ``npm <args>`` in ``repo``; returns its stdout, failing the test with the output.
    ``npm(repo, "node", …)`` runs node itself, with the same environment."""
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(npm_config_cache=str(NPM_CACHE), npm_config_update_notifier="false")
    if database_url:
        env["DATABASE_URL"] = database_url
    done = subprocess.run(
        list(args) if args[0] == "node" else ["npm", *args],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, f"npm {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def install_and_test(repo: Path, database_url: str | None = None) -> str:
    npm(repo, "install", "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error")
    return npm(repo, "test", database_url=database_url)


def tap_counts(output: str) -> dict[str, int]:
    """``{"pass": n, "fail": n, "skipped": n, ...}`` from node --test's TAP summary."""
    counts = {}
    for line in output.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == "#" and parts[2].isdigit():
            counts[parts[1]] = int(parts[2])
    return counts


def catalog_refs(path: Path) -> set[str]:
    settings = CatalogSettings()
    documents = processing.process_file(
        path, rules=processing.KindRules.from_kinds(settings.allowed_kinds)
    )
    assert not [(d.ref, e.path, e.message) for d in documents for e in d.errors]
    return {str(d.ref) for d in documents}


def test_typescript_fastify_service_passes_its_own_tests(tmp_path: Path) -> None:
    repo = render(
        tmp_path,
        {"name": "quotes", "owner": "group:default/team-a", "language": "typescript"},
    )
    files = files_under(repo)
    assert {"src/app.ts", "src/store.ts", "test/app.test.ts", "tsconfig.json"} <= set(files)
    assert not [p for p in files if p.endswith(".js")]
    package = json.loads(files["package.json"])
    assert set(package["dependencies"]) == {"fastify", "pino", "prom-client"}
    assert "typescript" in package["devDependencies"]
    assert not [
        p for p, text in files.items() if "${{" in text or "{%" in text or p.endswith(".njk")
    ]

    counts = tap_counts(install_and_test(repo))
    assert counts["pass"] == 5 and counts["fail"] == 0, counts


def test_javascript_express_service_passes_its_own_tests(tmp_path: Path) -> None:
    repo = render(
        tmp_path,
        {
            "name": "greeter",
            "owner": "team-b",
            "system": "edge",
            "language": "javascript",
            "framework": "express",
        },
    )
    files = files_under(repo)
    assert {"src/app.js", "src/server.js", "test/app.test.js", "Dockerfile"} <= set(files)
    assert not [p for p in files if p.endswith(".ts")]
    assert set(json.loads(files["package.json"])["dependencies"]) == {
        "express",
        "pino",
        "prom-client",
    }
    assert catalog_refs(repo / "catalog-info.yaml") == {
        "component:default/greeter",
        "api:default/greeter",
    }
    platform = yaml.safe_load(files["platform.yaml"])
    assert platform["metadata"]["team"] == "team-b"
    assert (platform["spec"]["language"], platform["spec"]["framework"]) == (
        "javascript",
        "express",
    )
    workflow = yaml.safe_load(files[".github/workflows/platform.yml"])
    assert workflow["jobs"]["build"]["with"] == {"language": "javascript", "node-version": 20}

    counts = tap_counts(install_and_test(repo))
    assert counts["pass"] == 5 and counts["fail"] == 0, counts


def test_typescript_express_postgres_service_passes_its_tests_on_postgresql(
    tmp_path: Path, pg_url: str
) -> None:
    repo = render(
        tmp_path,
        {
            "name": "catalogue",
            "owner": "group:default/team-c",
            "language": "typescript",
            "framework": "express",
            "database": "postgres",
        },
    )
    assert catalog_refs(repo / "catalog-info.yaml") == {
        "component:default/catalogue",
        "api:default/catalogue",
        "resource:default/catalogue",
    }
    assert "pg" in json.loads((repo / "package.json").read_text())["dependencies"]

    database = f"catalogue_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{database}"')
    counts = tap_counts(install_and_test(repo, pg_url.rsplit("/", 1)[0] + "/" + database))
    assert counts["pass"] == 10 and counts["fail"] == 0 and counts["skipped"] == 0, counts

    # Already compiled by `npm test`: run the suite again without DATABASE_URL.
    output = npm(repo, "node", "--test", "dist/test/")
    without_db = tap_counts(output)
    assert without_db["pass"] == 5 and without_db["fail"] == 0, without_db
    assert "# SKIP DATABASE_URL is not set" in output


def test_template_is_a_valid_catalog_template_offering_language_and_framework() -> None:
    assert catalog_refs(TEMPLATE) == {"template:default/node-service"}
    spec = load_template_file(TEMPLATE)
    values = spec.validate_values({"name": "svc"})
    assert (values["language"], values["framework"], values["database"]) == (
        "typescript",
        "fastify",
        "none",
    )
