"""Catalog and auth commands against a real server started by `platform server start`."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from cli_helpers import COMPONENTS, ORG, SYSTEM, build_file_tree, run_platform, stop_everything


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """(home, catalog tree) with a running server and the tree imported once."""
    root = tmp_path_factory.mktemp("served")
    home = root / "home"
    home.mkdir()
    tree = build_file_tree(
        root / "catalog",
        {"org.yaml": ORG, "components.yaml": COMPONENTS, "systems/shop.yaml": SYSTEM},
    )
    try:
        started = run_platform(home, "server", "start")
        assert started.returncode == 0, started.stderr
        yield home, tree
    finally:
        stop_everything(home)


@pytest.fixture(scope="module")
def imported(served: tuple[Path, Path]) -> dict[str, object]:
    home, tree = served
    result = run_platform(home, "catalog", "import", str(tree), "-o", "json")
    assert result.returncode == 0, result.stderr
    data: dict[str, object] = json.loads(result.stdout)
    return data


def test_import_reports_added_and_rejected(
    served: tuple[Path, Path], imported: dict[str, object]
) -> None:
    _, tree = served
    assert set(imported) >= {"added", "updated", "invalid", "errors", "location"}
    added = imported["added"]
    assert isinstance(added, list)
    assert {
        "group:default/team-a",
        "user:default/jane",
        "component:default/petstore",
        "api:default/petstore-api",
        "system:default/shop",
    } <= set(added)
    assert not any("broken" in ref.lower() for ref in added)
    assert imported["location"] == {
        "id": imported["location"]["id"],  # type: ignore[index]
        "type": "file",
        "target": str(tree),
    }
    errors = imported["errors"]
    assert isinstance(errors, list) and errors
    assert any("Broken_Name!" in json.dumps(error) for error in errors)
    assert len(imported["invalid"]) == 1  # type: ignore[arg-type]


def test_second_import_of_the_same_location_is_a_conflict(
    served: tuple[Path, Path], imported: dict[str, object]
) -> None:
    home, tree = served
    result = run_platform(home, "catalog", "import", str(tree))
    assert result.returncode == 4
    assert "error:" in result.stderr
    dry = run_platform(home, "catalog", "import", str(tree), "--dry-run", "-o", "json")
    assert dry.returncode == 0, dry.stderr
    assert json.loads(dry.stdout)["exists"] is True


def test_ls_filters_and_output_formats(served: tuple[Path, Path], imported: object) -> None:
    home, _ = served
    page = json.loads(
        run_platform(home, "catalog", "ls", "--kind", "component", "-o", "json").stdout
    )
    assert [item["metadata"]["name"] for item in page["items"]] == ["petstore"]
    assert page["totalItems"] == 1

    owned = yaml.safe_load(
        run_platform(home, "catalog", "ls", "--owner", "team-a", "-o", "yaml").stdout
    )
    assert {i["metadata"]["name"] for i in owned["items"]} == {"petstore", "petstore-api", "shop"}

    text = run_platform(home, "catalog", "ls", "-q", "pets", "-o", "json").stdout
    assert "petstore" in {i["metadata"]["name"] for i in json.loads(text)["items"]}

    table = run_platform(home, "catalog", "ls", "--kind", "api")
    assert table.returncode == 0
    assert "api:default/petstore-api" in table.stdout and "openapi" in table.stdout


def test_ls_by_an_owner_not_in_the_catalog_says_so(
    served: tuple[Path, Path], imported: object
) -> None:
    home, _ = served
    typo = run_platform(home, "catalog", "ls", "--owner", "team")
    assert typo.returncode == 0 and "0 of 0" in typo.stdout
    assert "no owner group:default/team in the catalog" in typo.stderr
    assert "did you mean group:default/team-a?" in typo.stderr
    # a typo past the first four characters: found by their prefix, ranked by likeness
    misspelt = run_platform(home, "catalog", "ls", "--owner", "teamm-a")
    assert "no owner group:default/teamm-a in the catalog" in misspelt.stderr
    assert "did you mean group:default/team-a?" in misspelt.stderr
    unknown = run_platform(home, "catalog", "ls", "--owner", "user:nobody", "-o", "json")
    assert json.loads(unknown.stdout)["items"] == []  # stdout stays machine-readable
    assert "no owner user:default/nobody" in unknown.stderr
    assert "platform catalog ls --kind group" in unknown.stderr
    # an owner that exists but owns nothing of the kind asked for: no hint
    exists = run_platform(home, "catalog", "ls", "--owner", "team-a", "--kind", "group")
    assert exists.returncode == 0 and "no owner" not in exists.stderr


def test_ls_pages_with_a_cursor(served: tuple[Path, Path], imported: object) -> None:
    home, _ = served
    first = json.loads(run_platform(home, "catalog", "ls", "--limit", "2", "-o", "json").stdout)
    cursor = first["pageInfo"]["nextCursor"]
    assert len(first["items"]) == 2 and cursor
    second = json.loads(
        run_platform(home, "catalog", "ls", "--limit", "2", "--cursor", cursor, "-o", "json").stdout
    )
    names = [i["metadata"]["name"] for i in first["items"] + second["items"]]
    assert len(set(names)) == len(names) == 2 + len(second["items"])
    more = run_platform(home, "catalog", "ls", "--limit", "2")
    assert "--cursor" in more.stderr


def test_get_by_ref_bare_name_and_not_found(served: tuple[Path, Path], imported: object) -> None:
    home, _ = served
    result = run_platform(home, "catalog", "get", "component:default/petstore", "-o", "yaml")
    assert result.returncode == 0, result.stderr
    entity = yaml.safe_load(result.stdout)
    assert entity["metadata"]["name"] == "petstore" and entity["metadata"]["uid"]
    assert {"type": "ownedBy", "targetRef": "group:default/team-a"}.items() <= next(
        r for r in entity["relations"] if r["type"] == "ownedBy"
    ).items()

    bare = json.loads(run_platform(home, "catalog", "get", "petstore-api", "-o", "json").stdout)
    assert bare["kind"] == "API"
    table = run_platform(home, "catalog", "get", "petstore")
    assert "component:default/petstore" in table.stdout and "ownedBy" in table.stdout

    missing = run_platform(home, "catalog", "get", "component:default/nope")
    assert missing.returncode == 3 and "error:" in missing.stderr
    bad = run_platform(home, "catalog", "get", "component:")
    assert bad.returncode == 1 and "[<kind>:][<namespace>/]<name>" in bad.stderr


def test_errors_locations_and_refresh(served: tuple[Path, Path], imported: object) -> None:
    home, tree = served
    errors = json.loads(run_platform(home, "catalog", "errors", "-o", "json").stdout)
    assert any("Broken_Name!" in json.dumps(e) for e in errors["items"])
    assert "Broken_Name!" in run_platform(home, "catalog", "errors").stdout

    locations = json.loads(run_platform(home, "catalog", "locations", "-o", "json").stdout)
    assert {"type": "file", "target": str(tree)} in [
        {k: loc["data"][k] for k in ("type", "target")} for loc in locations
    ]

    (tree / "systems" / "shop.yaml").unlink()
    shutil.copy(tree / "org.yaml", tree / "org-copy.yml")  # same refs from the same location
    refreshed = run_platform(home, "catalog", "refresh", "-o", "json")
    assert refreshed.returncode == 0, refreshed.stderr
    report = json.loads(refreshed.stdout)
    assert "system:default/shop" in json.dumps(report)
    gone = run_platform(home, "catalog", "get", "system:default/shop", "-o", "json")
    orphan_or_gone = gone.returncode == 3 or (
        json.loads(gone.stdout)["metadata"]["annotations"].get("backstage.io/orphan") == "true"
    )
    assert orphan_or_gone


def test_auth_tokens_roles_and_revocation(served: tuple[Path, Path], imported: object) -> None:
    home, _ = served
    me = json.loads(run_platform(home, "auth", "whoami", "-o", "json").stdout)
    assert me["user"] == "user:default/admin" and me["role"] == "admin"

    created = run_platform(
        home,
        "auth",
        "token",
        "create",
        "user:default/jane",
        "--role",
        "viewer",
        "--name",
        "ro",
        "-o",
        "json",
    )
    assert created.returncode == 0, created.stderr
    token = json.loads(created.stdout)
    assert token["token"].startswith("gp_") and token["owner"] == "user:default/jane"

    as_jane = {"GOLDENPATH_SERVER__TOKEN": token["token"]}
    whoami = json.loads(run_platform(home, "auth", "whoami", "-o", "json", **as_jane).stdout)
    assert whoami["user"] == "user:default/jane" and whoami["role"] == "viewer"
    assert run_platform(home, "catalog", "ls", **as_jane).returncode == 0
    assert run_platform(home, "catalog", "refresh", **as_jane).returncode == 5  # read-only
    assert run_platform(home, "auth", "token", "ls", **as_jane).returncode == 5  # admin only

    listed = json.loads(run_platform(home, "auth", "token", "ls", "-o", "json").stdout)
    assert token["id"] in [t["id"] for t in listed["items"]]
    assert "gp_" not in json.dumps(listed)

    assert run_platform(home, "auth", "token", "revoke", token["id"]).returncode == 0
    assert run_platform(home, "auth", "whoami", **as_jane).returncode == 5
    assert run_platform(home, "auth", "token", "revoke", "no-such-id").returncode == 3

    unknown = run_platform(home, "auth", "token", "create", "user:default/ghost", "--name", "x")
    assert unknown.returncode == 1 and "ghost" in unknown.stderr


def test_no_wait_returns_the_registered_location(served: tuple[Path, Path], tmp_path: Path) -> None:
    home, _ = served
    tree = build_file_tree(
        tmp_path / "more",
        {
            "catalog-info.yaml": COMPONENTS.split("---")[0]
            .replace("petstore", "inventory")
            .replace("providesApis: [petstore-api]", "")
        },
    )
    result = run_platform(home, "catalog", "import", str(tree), "--no-wait", "-o", "json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["location"]["target"] == str(tree) and data["location"]["id"]
    assert "component:default/inventory" in data["added"]
    table = run_platform(home, "catalog", "get", "component:default/inventory")
    assert table.returncode == 0 and "Sells pets" in table.stdout


def test_import_of_more_entities_than_one_by_refs_request_takes(tmp_path: Path) -> None:
    """Waiting for 1,500 entities asks for them in requests of at most 1,000 refs (the API's
    limit): the import used to fail after registering, on a 422 from its own wait."""
    docs = [
        f"apiVersion: backstage.io/v1alpha1\nkind: Resource\nmetadata: {{name: r-{i}}}\n"
        "spec: {type: database, owner: team-a}\n"
        for i in range(1500)
    ]
    tree = build_file_tree(
        tmp_path / "bulk",
        {f"part-{p}.yaml": "---\n".join(docs[p * 100 : (p + 1) * 100]) for p in range(15)},
    )
    home = tmp_path / "home"
    home.mkdir()
    try:
        result = run_platform(home, "catalog", "import", str(tree), "-o", "json")
        assert result.returncode == 0, result.stderr
        report = json.loads(result.stdout)
        assert len(report["added"]) == 1501 and not report["errors"]  # + the Location entity
        listed = run_platform(home, "catalog", "ls", "--kind", "resource", "-o", "json")
        assert json.loads(listed.stdout)["totalItems"] == 1500
    finally:
        stop_everything(home)
