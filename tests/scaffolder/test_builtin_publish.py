"""Publishing the built-in golden paths into the platform git host, as first start does."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest

from goldenpath.catalog.service import CatalogService
from goldenpath.scaffolder import builtin
from goldenpath.scaffolder.actions import ActionServices, default_registry
from goldenpath.scaffolder.githost import GitHost
from goldenpath.scaffolder.runner import run_template
from goldenpath.scaffolder.templates import TemplateSpec, load_template_file, template_source_dir
from goldenpath.settings import Settings


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=repo, capture_output=True, text=True, check=True, timeout=60
    )
    return done.stdout.strip()


def test_published_templates_register_in_the_catalog_and_check_out_with_skeletons(
    tmp_path: Path, catalog: CatalogService
) -> None:
    host = GitHost(tmp_path / "git")
    targets = builtin.publish_builtin_templates(host)

    clone = host.clone_url("platform", "templates")
    assert targets == [
        f"{clone}/blob/main/python-service/template.yaml",
        f"{clone}/blob/main/node-service/template.yaml",
        f"{clone}/blob/main/actions/rotate-database-password/template.yaml",
        f"{clone}/blob/main/actions/create-preview-environment/template.yaml",
        f"{clone}/blob/main/actions/run-incident-runbook/template.yaml",
    ]
    for target, path in zip(targets, builtin.BUILTIN_TEMPLATES, strict=True):
        name = path.rsplit("/", 1)[-1]
        result = catalog.register_location(type="url", target=target)
        templates = [e for e in result.entities if e["kind"] == "Template"]
        assert [e["metadata"]["name"] for e in templates] == [name]
        entity = catalog.get_entity_by_ref(f"template:default/{name}")
        source, version = template_source_dir(entity, cache_dir=tmp_path / "cache")
        assert len(version) == 40
        assert (source / "skeleton").is_dir() or path.startswith("actions/")
        assert not list(source.rglob("__pycache__"))
        assert load_template_file(source / "template.yaml").steps


def test_publishing_commits_only_changes_and_keeps_other_templates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    host = GitHost(tmp_path / "git")
    bare = host.path("platform", "templates")
    builtin.publish_builtin_templates(host)
    first = _git(bare, "rev-parse", "main")

    builtin.publish_builtin_templates(host)
    assert _git(bare, "rev-parse", "main") == first

    work = tmp_path / "work"
    _git(tmp_path, "clone", "--quiet", str(bare), str(work))
    (work / "team-template").mkdir()
    (work / "team-template" / "template.yaml").write_text("kind: Template\n")
    _git(work, "add", "--all")
    _git(work, "-c", "user.name=t", "-c", "user.email=t@x", "commit", "--quiet", "-m", "team")
    _git(work, "push", "--quiet", "origin", "HEAD:main")

    changed = tmp_path / "package"
    shutil.copytree(builtin.builtin_dir(), changed)
    readme = changed / "python-service" / "skeleton" / "README.md.njk"
    readme.write_text(readme.read_text() + "\nNew release note.\n")
    monkeypatch.setattr(builtin, "builtin_dir", lambda: changed)
    builtin.publish_builtin_templates(host)

    assert _git(bare, "rev-list", "--count", "main") == "3"
    tree = _git(bare, "ls-tree", "--name-only", "main")
    assert tree.split() == ["actions", "node-service", "python-service", "team-template"]
    shown = _git(bare, "show", "main:python-service/skeleton/README.md.njk")
    assert shown.endswith("New release note.")


def test_python_service_runs_from_the_catalog_to_a_registered_repository(
    tmp_path: Path, catalog: CatalogService, settings: Settings
) -> None:
    host = GitHost(settings.home / "git")
    for target in builtin.publish_builtin_templates(host):
        catalog.register_location(type="url", target=target)
    entity = catalog.get_entity_by_ref("template:default/python-service")
    source, _ = template_source_dir(entity, cache_dir=tmp_path / "cache")
    spec = TemplateSpec.from_entity(entity, base_dir=source, ref="template:default/python-service")

    started = time.perf_counter()
    result = run_template(
        spec,
        {"name": "billing", "owner": "group:default/team-a", "database": "postgres"},
        registry=default_registry(),
        workspace=tmp_path / "workspace",
        services=ActionServices(settings=settings, catalog=catalog, githost=host),
        user={"ref": "user:default/alice"},
    )
    elapsed = time.perf_counter() - started

    assert result.status == "completed", result.error
    # fetch, publish, register; the deploy step only runs when deployTo names an environment
    assert [s["status"] for s in result.steps] == ["completed"] * 4 + ["skipped"]
    assert host.exists("team-a", "billing")
    links = {link["title"]: link for link in result.output["links"]}
    assert links["Repository"]["url"] == host.clone_url("team-a", "billing")
    assert links["Open in catalog"]["entityRef"] == "component:default/billing"
    component = catalog.get_entity_by_ref("component:default/billing")
    assert component["spec"]["owner"] == "group:default/team-a"
    assert catalog.get_entity_by_ref("resource:default/billing")["spec"]["type"] == "database"
    api = catalog.get_entity_by_ref("api:default/billing")
    assert "/items/{id}" in api["spec"]["definition"]
    print(f"python-service: parameters to registered repository in {elapsed:.2f} s")
