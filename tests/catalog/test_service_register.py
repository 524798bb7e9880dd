"""Registering locations: files, directories, globs, git repositories; bad locations change nothing.

Every test runs on SQLite and PostgreSQL (the ``engine`` fixture is parametrised).
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from goldenpath.catalog.service import CatalogService
from goldenpath.errors import Conflict, Forbidden, InvalidInput, NotFound
from goldenpath.settings import Settings

COMPONENT = """
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: {name}
  description: {name} does things
spec:
  type: service
  lifecycle: production
  owner: {owner}
"""

GROUP = """
apiVersion: backstage.io/v1alpha1
kind: Group
metadata:
  name: {name}
spec:
  type: team
  children: []
"""


def _names(svc: CatalogService, kind: str) -> set[str]:
    page = svc.query_entities(filters=[f"kind={kind}"], limit=500)
    return {e["metadata"]["name"] for e in page.items}


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-C", str(repo), *args],
        check=True,
        capture_output=True,
        env={
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@example.com",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@example.com",
            "HOME": str(repo),
            "PATH": "/usr/bin:/bin",
        },
    )


def _make_repo(root: Path, file_tree: Any, files: dict[str, str]) -> Path:
    file_tree(root, files)
    _git(root, "init", "-q", "-b", "main")
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "catalog")
    return root


def test_register_file_stores_entities_with_uid_etag_and_generated_location(
    catalog: CatalogService, tmp_path: Path, file_tree: Any
) -> None:
    file_tree(
        tmp_path / "src", {"catalog-info.yaml": COMPONENT.format(name="svc-a", owner="team-a")}
    )
    target = str(tmp_path / "src" / "catalog-info.yaml")

    result = catalog.register_location(type="file", target=target)

    assert result.report is not None and "component:default/svc-a" in result.report.added
    entity = catalog.get_entity_by_ref("Component:SVC-A")
    assert len(entity["metadata"]["uid"]) == 36 and entity["metadata"]["etag"]
    ann = entity["metadata"]["annotations"]
    assert ann["backstage.io/managed-by-location"] == f"file:{target}"
    assert ann["backstage.io/managed-by-origin-location"] == f"file:{target}"
    generated = [e for e in result.entities if e["kind"] == "Location"]
    assert generated and generated[0]["metadata"]["name"].startswith("generated-")
    assert catalog.get_entity_by_uid(entity["metadata"]["uid"])["metadata"]["name"] == "svc-a"
    assert [loc["target"] for loc in catalog.list_locations()] == [target]


def test_register_directory_reads_every_yaml_file_below_it(
    catalog: CatalogService, tmp_path: Path, file_tree: Any
) -> None:
    file_tree(
        tmp_path / "cat",
        {
            "a.yaml": COMPONENT.format(name="svc-a", owner="team-a"),
            "nested/deeper/b.yml": COMPONENT.format(name="svc-b", owner="team-a"),
            "nested/notes.txt": "not yaml",
            ".hidden/c.yaml": COMPONENT.format(name="svc-hidden", owner="team-a"),
        },
    )
    catalog.register_location(type="file", target=str(tmp_path / "cat"))
    assert _names(catalog, "component") == {"svc-a", "svc-b"}


def test_register_glob(catalog: CatalogService, tmp_path: Path, file_tree: Any) -> None:
    file_tree(
        tmp_path / "mono",
        {
            "svc1/catalog-info.yaml": COMPONENT.format(name="one", owner="team-a"),
            "svc2/catalog-info.yaml": COMPONENT.format(name="two", owner="team-a"),
            "svc2/other.yaml": COMPONENT.format(name="three", owner="team-a"),
        },
    )
    catalog.register_location(type="file", target=str(tmp_path / "mono/*/catalog-info.yaml"))
    assert _names(catalog, "component") == {"one", "two"}


def test_register_git_repository_reads_catalog_info_at_the_root(
    catalog: CatalogService, tmp_path: Path, file_tree: Any
) -> None:
    repo = _make_repo(
        tmp_path / "repo",
        file_tree,
        {
            "catalog-info.yaml": COMPONENT.format(name="from-git", owner="team-a"),
            "other/catalog-info.yaml": COMPONENT.format(name="not-read", owner="team-a"),
        },
    )
    result = catalog.register_location(type="url", target=f"file://{repo}")
    assert result.report is not None and result.report.added
    entity = catalog.get_entity_by_ref("component:from-git")
    assert entity["metadata"]["annotations"]["backstage.io/managed-by-location"].startswith("url:")
    assert _names(catalog, "component") == {"from-git"}


def test_register_git_blob_url_with_a_path(
    catalog: CatalogService, tmp_path: Path, file_tree: Any
) -> None:
    repo = _make_repo(
        tmp_path / "repo",
        file_tree,
        {
            "services/pay/catalog-info.yaml": COMPONENT.format(name="pay", owner="team-a"),
        },
    )
    catalog.register_location(
        type="url", target=f"file://{repo}/blob/main/services/pay/catalog-info.yaml"
    )
    assert _names(catalog, "component") == {"pay"}


def test_location_entities_are_followed_relative_to_their_file_with_cycles_cut(
    catalog: CatalogService, tmp_path: Path, file_tree: Any
) -> None:
    file_tree(
        tmp_path / "root",
        {
            "catalog-info.yaml": """
            apiVersion: backstage.io/v1alpha1
            kind: Location
            metadata: {name: top}
            spec:
              targets: [./teams/catalog-info.yaml, ./components/*.yaml]
        """,
            "teams/catalog-info.yaml": GROUP.format(name="team-a")
            + """---
apiVersion: backstage.io/v1alpha1
kind: Location
metadata: {name: loop}
spec:
  target: ./catalog-info.yaml
""",
            "components/x.yaml": COMPONENT.format(name="x", owner="team-a"),
        },
    )
    catalog.register_location(type="file", target=str(tmp_path / "root/catalog-info.yaml"))
    assert _names(catalog, "component") == {"x"}
    assert _names(catalog, "group") == {"team-a"}
    ancestry = catalog.ancestry("component:default/x")
    chain = [item["entity"]["metadata"]["name"] for item in ancestry["items"]]
    assert chain[:2] == ["x", "top"] and chain[2].startswith("generated-")
    assert ancestry["items"][0]["parentEntityRefs"] == ["location:default/top"]


def test_location_target_escaping_its_directory_is_refused(
    catalog: CatalogService, tmp_path: Path, file_tree: Any
) -> None:
    file_tree(
        tmp_path / "root",
        {
            "catalog-info.yaml": """
            apiVersion: backstage.io/v1alpha1
            kind: Location
            metadata: {name: evil}
            spec:
              targets: [../../../../etc/passwd, ./ok.yaml]
        """,
            "ok.yaml": COMPONENT.format(name="ok", owner="team-a"),
        },
    )
    catalog.register_location(type="file", target=str(tmp_path / "root/catalog-info.yaml"))
    errors = catalog.list_errors()
    assert any(
        "escapes the directory" in e["message"] and "etc/passwd" in e["message"] for e in errors
    )
    loc = catalog.get_entity_by_ref("location:default/evil")
    assert loc["status"]["items"][0]["type"] == "backstage.io/catalog-processing"
    assert _names(catalog, "component") == {"ok"}


def test_registering_twice_is_a_conflict_but_dry_run_says_exists(
    catalog: CatalogService, tmp_path: Path, file_tree: Any
) -> None:
    file_tree(tmp_path, {"c.yaml": COMPONENT.format(name="c", owner="team-a")})
    catalog.register_location(type="file", target=str(tmp_path / "c.yaml"))
    with pytest.raises(Conflict, match="already exists"):
        catalog.register_location(type="file", target=str(tmp_path / "c.yaml"))
    dry = catalog.register_location(type="file", target=str(tmp_path / "c.yaml"), dry_run=True)
    assert dry.exists is True


def test_dry_run_writes_nothing(catalog: CatalogService, tmp_path: Path, file_tree: Any) -> None:
    file_tree(tmp_path, {"c.yaml": COMPONENT.format(name="c", owner="team-a")})
    dry = catalog.register_location(type="file", target=str(tmp_path / "c.yaml"), dry_run=True)
    assert dry.exists is False
    assert {e["metadata"]["name"] for e in dry.entities if e["kind"] == "Component"} == {"c"}
    assert catalog.list_locations() == []
    assert catalog.query_entities().total_items == 0


@pytest.mark.parametrize("target", ["/nonexistent/dir/catalog-info.yaml", "/nonexistent/*.yaml"])
def test_missing_file_location_is_not_found_and_registers_nothing(
    catalog: CatalogService, target: str
) -> None:
    with pytest.raises(NotFound, match="does not exist"):
        catalog.register_location(type="file", target=target)
    assert catalog.list_locations() == []


def test_nonexistent_git_url_is_refused_and_registers_nothing(
    catalog: CatalogService, tmp_path: Path, file_tree: Any
) -> None:
    file_tree(tmp_path, {"c.yaml": COMPONENT.format(name="kept", owner="team-a")})
    catalog.register_location(type="file", target=str(tmp_path / "c.yaml"))
    before = catalog.query_entities().total_items
    with pytest.raises(InvalidInput, match=r"git clone of .* failed"):
        catalog.register_location(type="url", target=f"file://{tmp_path}/no-such-repo.git")
    assert len(catalog.list_locations()) == 1
    assert catalog.query_entities().total_items == before


def test_location_outside_allowed_roots_is_forbidden(
    engine: Any, tmp_path: Path, file_tree: Any
) -> None:
    allowed = tmp_path / "allowed"
    file_tree(
        tmp_path,
        {
            "allowed/in.yaml": COMPONENT.format(name="in", owner="t"),
            "outside/out.yaml": COMPONENT.format(name="out", owner="t"),
        },
    )
    settings = Settings(home=tmp_path / "home", catalog={"allowed_roots": [allowed]})
    svc = CatalogService(engine=engine, settings=settings)
    with pytest.raises(Forbidden, match="outside the allowed roots"):
        svc.register_location(type="file", target=str(tmp_path / "outside/out.yaml"))
    with pytest.raises(Forbidden):
        svc.register_location(type="file", target=str(allowed / ".." / ".." / "etc" / "passwd"))
    svc.register_location(type="file", target=str(allowed / "in.yaml"))
    assert _names(svc, "component") == {"in"}


def test_delete_location_removes_its_entities(
    catalog: CatalogService, tmp_path: Path, file_tree: Any
) -> None:
    file_tree(tmp_path, {"c.yaml": COMPONENT.format(name="c", owner="team-a")})
    result = catalog.register_location(type="file", target=str(tmp_path / "c.yaml"))
    catalog.delete_location(result.location["id"])
    assert catalog.query_entities().total_items == 0
    with pytest.raises(NotFound):
        catalog.delete_location(result.location["id"])


def test_validate_documents_writes_nothing_and_reports_per_document(
    catalog: CatalogService, tmp_path: Path, file_tree: Any
) -> None:
    file_tree(
        tmp_path,
        {
            "c.yaml": COMPONENT.format(name="good", owner="t")
            + "---\n"
            + COMPONENT.format(name="Bad Name!", owner="t")
        },
    )
    docs = catalog.validate_documents([tmp_path])
    assert [d.valid for d in docs] == [True, False]
    assert any(e.path == "metadata.name" for e in docs[1].errors)
    assert catalog.query_entities().total_items == 0
    with pytest.raises(NotFound):
        catalog.validate_documents([tmp_path / "missing.yaml"])


def test_processing_in_a_worker_pool_gives_the_same_entities(
    catalog: CatalogService, tmp_path: Path, file_tree: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from goldenpath.catalog import ingest

    monkeypatch.setattr(ingest, "POOL_THRESHOLD", 1)
    file_tree(
        tmp_path / "cat",
        {f"c{i}.yaml": COMPONENT.format(name=f"p{i}", owner="t") for i in range(4)},
    )
    catalog.register_location(type="file", target=str(tmp_path / "cat"))
    assert _names(catalog, "component") == {"p0", "p1", "p2", "p3"}


def test_a_relative_file_target_is_refused_and_nothing_is_registered(
    catalog: CatalogService,
) -> None:
    with pytest.raises(InvalidInput, match="relative; pass an absolute path"):
        catalog.register_location(type="file", target="../../etc/passwd")
    assert catalog.list_locations() == []
