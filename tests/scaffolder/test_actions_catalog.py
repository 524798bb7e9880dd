"""catalog:register, catalog:write and catalog:fetch against a real CatalogService (SQLite)
and repositories published to the platform git host with real git."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from goldenpath.catalog.service import CatalogService
from goldenpath.errors import Conflict, InvalidInput, NotFound
from goldenpath.scaffolder.actions import catalog as catalog_actions
from goldenpath.scaffolder.actions import publish
from goldenpath.scaffolder.actions.base import ActionContext, ActionServices
from goldenpath.scaffolder.actions.catalog import catalog_info_url
from goldenpath.scaffolder.githost import GitHost
from goldenpath.settings import Settings
from goldenpath.store import migrate
from goldenpath.store.engine import make_engine

ACTIONS = {a.id: a for a in [*catalog_actions.ACTIONS, *publish.ACTIONS]}

CATALOG_INFO = textwrap.dedent(
    """\
    apiVersion: backstage.io/v1alpha1
    kind: API
    metadata:
      name: my-api-http
    spec:
      type: openapi
      lifecycle: experimental
      owner: group:default/team-a
      definition: "openapi: 3.0.0"
    ---
    apiVersion: backstage.io/v1alpha1
    kind: Component
    metadata:
      name: my-api
    spec:
      type: service
      lifecycle: experimental
      owner: group:default/team-a
      providesApis: [my-api-http]
    """
)


@pytest.fixture
def catalog(tmp_path: Path) -> Iterator[CatalogService]:
    engine = make_engine(f"sqlite:///{tmp_path / 'catalog.db'}")
    migrate.upgrade(engine)
    home = tmp_path / "home"
    home.mkdir()
    yield CatalogService(engine=engine, settings=Settings(home=home))
    engine.dispose()


def _run(
    action_id: str,
    workspace: Path,
    inputs: dict[str, Any],
    *,
    catalog: CatalogService | None = None,
    githost: GitHost | None = None,
    dry_run: bool = False,
) -> dict[str, Any]:
    workspace.mkdir(parents=True, exist_ok=True)
    ctx = ActionContext(
        step_id="step",
        input=inputs,
        workspace=workspace,
        dry_run=dry_run,
        services=ActionServices(catalog=catalog, githost=githost),
    )
    ACTIONS[action_id].handler(ctx)
    return ctx.outputs


def _published(tmp_path: Path, host: GitHost, repo: str = "my-api") -> tuple[Path, dict[str, Any]]:
    ws = tmp_path / f"ws-{repo}"
    ws.mkdir()
    (ws / "catalog-info.yaml").write_text(CATALOG_INFO)
    out = _run(
        "publish:git", ws, {"repoUrl": f"platform.local?owner=team-a&repo={repo}"}, githost=host
    )
    return ws, out


def test_register_the_published_repository_in_the_catalog(
    tmp_path: Path, catalog: CatalogService
) -> None:
    host = GitHost(tmp_path / "git")
    ws, published = _published(tmp_path, host)
    out = _run(
        "catalog:register",
        ws,
        {"repoContentsUrl": published["repoContentsUrl"], "catalogInfoPath": "/catalog-info.yaml"},
        catalog=catalog,
    )
    url = f"{host.clone_url('team-a', 'my-api')}/blob/main/catalog-info.yaml"
    assert out == {"entityRef": "component:default/my-api", "catalogInfoUrl": url}
    assert [(loc["type"], loc["target"]) for loc in catalog.list_locations()] == [("url", url)]
    entity = catalog.get_entity_by_ref("component:default/my-api")
    assert entity["metadata"]["annotations"]["backstage.io/managed-by-location"] == f"url:{url}"
    assert catalog.get_entity_by_ref("api:default/my-api-http")["spec"]["type"] == "openapi"

    # Registering twice is a conflict, unless the location is optional.
    with pytest.raises(Conflict, match="already exists"):
        _run("catalog:register", ws, {"catalogInfoUrl": url}, catalog=catalog)
    again = _run("catalog:register", ws, {"catalogInfoUrl": url, "optional": True}, catalog=catalog)
    assert again == out


def test_register_an_unreadable_location(tmp_path: Path, catalog: CatalogService) -> None:
    url = (tmp_path / "missing.git").as_uri() + "/blob/main/catalog-info.yaml"
    with pytest.raises(InvalidInput, match=r"git clone of .* failed"):
        _run("catalog:register", tmp_path / "ws", {"catalogInfoUrl": url}, catalog=catalog)
    out = _run(
        "catalog:register",
        tmp_path / "ws",
        {"catalogInfoUrl": url, "optional": True},
        catalog=catalog,
    )
    assert out == {"catalogInfoUrl": url}
    assert catalog.list_locations() == []


def test_register_dry_run_registers_nothing_and_reads_the_workspace_copy(
    tmp_path: Path, catalog: CatalogService
) -> None:
    ws = tmp_path / "ws"
    (ws / "sub").mkdir(parents=True)
    (ws / "sub" / "catalog-info.yaml").write_text(CATALOG_INFO)
    contents = "file:///nowhere/team-a/my-api.git/tree/main"
    out = _run(
        "catalog:register",
        ws,
        {"repoContentsUrl": contents, "catalogInfoPath": "sub/catalog-info.yaml"},
        catalog=catalog,
        dry_run=True,
    )
    assert out == {
        "entityRef": "component:default/my-api",
        "catalogInfoUrl": "file:///nowhere/team-a/my-api.git/blob/main/sub/catalog-info.yaml",
    }
    assert catalog.list_locations() == []
    bare = _run("catalog:register", ws, {"repoContentsUrl": contents}, dry_run=True)
    assert bare == {"catalogInfoUrl": f"{contents.replace('/tree/', '/blob/')}/catalog-info.yaml"}


@pytest.mark.parametrize(
    "contents,path,expected",
    [
        (
            "https://github.com/o/r/blob/main",
            "/catalog-info.yaml",
            "https://github.com/o/r/blob/main/catalog-info.yaml",
        ),
        (
            "https://gitlab.com/g/r/-/blob/dev/",
            "/catalog-info.yaml",
            "https://gitlab.com/g/r/-/blob/dev/catalog-info.yaml",
        ),
        ("file:///g/o/r.git/tree/main", "x.yaml", "file:///g/o/r.git/blob/main/x.yaml"),
        (
            "https://github.com/o/r/tree/main/services/a",
            "catalog-info.yaml",
            "https://github.com/o/r/blob/main/services/a/catalog-info.yaml",
        ),
        (
            "https://github.com/o/r/tree/main/services/a",
            "/root.yaml",
            "https://github.com/o/r/blob/main/root.yaml",
        ),
        (
            "https://github.com/o/r/tree/main/a",
            "../b.yaml",
            "https://github.com/o/r/blob/main/b.yaml",
        ),
    ],
)
def test_catalog_info_url_joins_like_backstage(contents: str, path: str, expected: str) -> None:
    assert catalog_info_url(contents, path) == expected


@pytest.mark.parametrize(
    "contents,path,message",
    [
        ("https://github.com/o/r", "/catalog-info.yaml", "not a repository contents URL"),
        ("/local/repo.git/tree/main", "/c.yaml", "not a repository contents URL"),
        ("https://github.com/o/r/blob/main", "../../etc/passwd", "inside the repository"),
        ("https://github.com/o/r/blob/main", "/", "inside the repository"),
    ],
)
def test_catalog_info_url_refuses_what_is_not_a_repository_file(
    contents: str, path: str, message: str
) -> None:
    with pytest.raises(InvalidInput, match=re.escape(message)):
        catalog_info_url(contents, path)


def test_catalog_write_writes_the_entity_as_yaml(tmp_path: Path) -> None:
    entity = yaml.safe_load_all(CATALOG_INFO)
    component = list(entity)[1]
    ws = tmp_path / "ws"
    _run("catalog:write", ws, {"entity": component})
    assert yaml.safe_load((ws / "catalog-info.yaml").read_text()) == component
    assert (ws / "catalog-info.yaml").read_text().startswith("apiVersion: backstage.io/v1alpha1")
    _run("catalog:write", ws, {"entity": component, "filePath": "deploy/info.yaml"})
    _run("catalog:write", ws, {"entity": component, "filename": "other.yaml"})
    assert yaml.safe_load((ws / "deploy" / "info.yaml").read_text()) == component
    assert (ws / "other.yaml").is_file()
    with pytest.raises(InvalidInput, match="escapes the workspace"):
        _run("catalog:write", ws, {"entity": component, "filePath": "../outside.yaml"})
    assert not (tmp_path / "outside.yaml").exists()


def test_catalog_fetch(tmp_path: Path, catalog: CatalogService) -> None:
    host = GitHost(tmp_path / "git")
    ws, published = _published(tmp_path, host)
    _run("catalog:register", ws, {"repoContentsUrl": published["repoContentsUrl"]}, catalog=catalog)

    one = _run(
        "catalog:fetch", ws, {"entityRef": "my-api", "defaultKind": "component"}, catalog=catalog
    )
    assert one["entity"]["metadata"]["name"] == "my-api"
    many = _run(
        "catalog:fetch",
        ws,
        {
            "entityRefs": ["component:my-api", "api:default/my-api-http", "component:gone"],
            "optional": True,
        },
        catalog=catalog,
    )
    assert [e and e["kind"] for e in many["entities"]] == ["Component", "API", None]
    with pytest.raises(NotFound, match="entity component:gone not found"):
        _run("catalog:fetch", ws, {"entityRef": "component:gone"}, catalog=catalog)
    with pytest.raises(NotFound, match="entity component:gone not found"):
        _run("catalog:fetch", ws, {"entityRefs": ["component:gone"]}, catalog=catalog)
    missing = _run(
        "catalog:fetch", ws, {"entityRef": "component:gone", "optional": True}, catalog=catalog
    )
    assert missing == {"entity": None}
    assert _run("catalog:fetch", ws, {"optional": True}, catalog=catalog) == {}
    with pytest.raises(InvalidInput, match="missing entityRef"):
        _run("catalog:fetch", ws, {}, catalog=catalog)
    with pytest.raises(InvalidInput, match="missing or empty kind"):
        _run("catalog:fetch", ws, {"entityRef": "my-api"}, catalog=catalog)
