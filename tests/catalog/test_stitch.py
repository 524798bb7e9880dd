"""Stored stitched relations: every write leaves each entity's stored ``relations`` array equal
to what ``catalog_relations`` says, and a stale (NULL) array is never served stale.

Runs on SQLite and PostgreSQL (the ``engine`` fixture).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa

from goldenpath.catalog.service import CatalogService
from goldenpath.catalog.store import stitch
from goldenpath.catalog.store.tables import catalog_entities

E = catalog_entities.c

GROUPS = """
    apiVersion: backstage.io/v1alpha1
    kind: Group
    metadata: {name: team-a}
    spec: {type: team, children: []}
    ---
    apiVersion: backstage.io/v1alpha1
    kind: Group
    metadata: {name: team-b}
    spec: {type: team, children: []}
"""


def _component(name: str, owner: str) -> str:
    return f"""
        apiVersion: backstage.io/v1alpha1
        kind: Component
        metadata: {{name: {name}}}
        spec: {{type: service, lifecycle: production, owner: {owner}}}
    """


def _owned(catalog: CatalogService, group: str) -> set[str]:
    entity = catalog.get_entity_by_ref(f"group:default/{group}")
    return {r["targetRef"] for r in entity["relations"] if r["type"] == "ownerOf"}


def _assert_stitched(catalog: CatalogService) -> None:
    """Nothing is stale, and every stored array is what the relation rows give."""
    with catalog.engine.connect() as conn:
        rows = conn.execute(sa.select(E.entity_ref, E.relations)).all()
        live = stitch.relations_json(conn, [r[0] for r in rows])
    assert [ref for ref, stored in rows if stored is None] == []
    for ref, stored in rows:
        assert stored.encode() == live.get(ref, b"[]"), ref


def _two_locations(catalog: CatalogService, tmp: Path, file_tree: Any) -> tuple[Path, Any]:
    org = file_tree(tmp / "org", {"groups.yaml": GROUPS})
    apps = file_tree(
        tmp / "apps",
        {
            "a.yaml": _component("alpha", "team-a"),
            "b.yaml": _component("beta", "team-a"),
        },
    )
    catalog.register_location(type="file", target=str(org))
    apps_location = catalog.register_location(type="file", target=str(apps))
    return apps, apps_location


def test_an_import_stores_every_entitys_relations(
    catalog: CatalogService, tmp_path: Path, file_tree: Any
) -> None:
    _two_locations(catalog, tmp_path, file_tree)
    assert _owned(catalog, "team-a") == {"component:default/alpha", "component:default/beta"}
    _assert_stitched(catalog)


def test_a_changed_owner_moves_the_relation_between_stored_groups(
    catalog: CatalogService, tmp_path: Path, file_tree: Any
) -> None:
    apps, _ = _two_locations(catalog, tmp_path, file_tree)
    (apps / "b.yaml").write_text(_component("beta", "team-b"))
    catalog.refresh()
    assert _owned(catalog, "team-a") == {"component:default/alpha"}
    assert _owned(catalog, "team-b") == {"component:default/beta"}
    _assert_stitched(catalog)


def test_deleting_an_entity_or_a_location_restitches_the_groups_left(
    catalog: CatalogService, tmp_path: Path, file_tree: Any
) -> None:
    _, apps_location = _two_locations(catalog, tmp_path, file_tree)
    uid = catalog.get_entity_by_ref("component:default/alpha")["metadata"]["uid"]
    catalog.delete_entity_by_uid(uid)
    assert _owned(catalog, "team-a") == {"component:default/beta"}
    _assert_stitched(catalog)
    catalog.delete_location(apps_location.location["id"])
    assert _owned(catalog, "team-a") == set()
    _assert_stitched(catalog)


def test_a_new_entity_adds_itself_to_a_stored_group(
    catalog: CatalogService, tmp_path: Path, file_tree: Any
) -> None:
    apps, _ = _two_locations(catalog, tmp_path, file_tree)
    (apps / "c.yaml").write_text(_component("gamma", "team-b"))
    catalog.refresh()
    assert _owned(catalog, "team-b") == {"component:default/gamma"}
    _assert_stitched(catalog)


def test_a_stale_array_is_rebuilt_on_read_and_stored_by_the_next_write(
    catalog: CatalogService, tmp_path: Path, file_tree: Any
) -> None:
    """What a database upgraded to the column looks like: every array stale (NULL)."""
    apps, _ = _two_locations(catalog, tmp_path, file_tree)
    before = catalog.get_entity_json_by_ref("group:default/team-a")
    page = catalog.query_entities_json(filters=["kind=group"], limit=10)
    with catalog.engine.begin() as conn:
        stitch.mark_all_stale(conn)
    assert catalog.get_entity_json_by_ref("group:default/team-a") == before
    assert catalog.query_entities_json(filters=["kind=group"], limit=10).items == page.items
    (apps / "c.yaml").write_text(_component("gamma", "team-b"))
    catalog.refresh()  # any write stitches every stale entity
    _assert_stitched(catalog)


def test_arrays_sort_by_type_then_target_and_drop_repeats() -> None:
    """``arrays_of`` keys each pair as one string; its order must still be that of the
    (type, target) pairs — a type that is a prefix of another included."""
    rows = [
        ("group:default/a", "ownerOf", "component:default/x"),
        ("group:default/a", "owner", "component:default/z"),
        ("group:default/a", "ownerOf", "component:default/w"),
        ("group:default/a", "ownerOf", "component:default/w"),  # repeated
        ("group:default/a", "ownerOfX", "api:default/a"),
        ("group:default/a", "hasMember", "user:default/ann"),
        ("group:default/a", "ownerOf", "component:default/w-2"),
        ("group:default/a", "ownerOf", "component:default/w.2"),
        ("component:default/x", "ownedBy", "group:default/a"),
    ]
    plain: dict[str, list[bytes]] = {}
    for source, type_, target in sorted(set(rows)):
        kind, _, rest = target.partition(":")
        namespace, _, name = rest.partition("/")
        plain.setdefault(source, []).append(
            orjson.dumps(
                {
                    "type": type_,
                    "targetRef": target,
                    "target": {"kind": kind, "namespace": namespace, "name": name},
                }
            )
        )
    assert stitch.arrays_of(iter(rows)) == {s: b"[" + b",".join(v) + b"]" for s, v in plain.items()}
    types = [r["type"] for r in orjson.loads(stitch.arrays_of(rows)["group:default/a"])]
    assert types == ["hasMember", "owner", "ownerOf", "ownerOf", "ownerOf", "ownerOf", "ownerOfX"]
