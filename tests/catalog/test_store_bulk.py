"""A load that at least doubles the catalog rebuilds the search/relation indexes: same answers;
a first one stores each entity's stitched relations as it inserts it.

Runs on SQLite and PostgreSQL with 6,000 generated components (over the bulk threshold).
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import Engine

from goldenpath.catalog.service import CatalogService
from goldenpath.catalog.store import stitch
from goldenpath.catalog.store.tables import catalog_entities

DOC = """apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: c-{i}
  tags: [t{t}]
spec:
  type: service
  lifecycle: production
  owner: group:team-{g}
"""


def test_bulk_load_keeps_indexes_and_answers(
    catalog: CatalogService, engine: Engine, tmp_path: Path
) -> None:
    root = tmp_path / "big"
    root.mkdir()
    for f in range(60):
        docs = [DOC.format(i=f * 100 + j, t=j % 7, g=j % 10) for j in range(100)]
        (root / f"f{f:02d}.yaml").write_text("---\n".join(docs))
    indexes_before = {
        t: {ix["name"] for ix in sa.inspect(engine).get_indexes(t)}
        for t in ("catalog_search", "catalog_relations")
    }
    keys_before = {
        t: sa.inspect(engine).get_foreign_keys(t) for t in ("catalog_search", "catalog_relations")
    }

    report = catalog.register_location(type="file", target=str(root)).report

    assert report is not None and len(report.added) == 6001
    for table, names in indexes_before.items():
        assert {ix["name"] for ix in sa.inspect(engine).get_indexes(table)} == names
    # the foreign keys (dropped for the load on PostgreSQL) are back, as they were
    for table, keys in keys_before.items():
        assert keys and sa.inspect(engine).get_foreign_keys(table) == keys
    owned = catalog.query_entities(filters=["relations.ownedBy=group:default/team-3"], limit=5)
    assert owned.total_items == 600 and len(owned.items) == 5
    facets = catalog.facets(facets=["metadata.tags"])["metadata.tags"]
    assert sum(f["count"] for f in facets) == 6000
    assert catalog.get_entity_by_ref("component:c-5999")["metadata"]["tags"] == ["t1"]  # 99 % 7
    assert catalog.refresh().unchanged and not catalog.refresh().updated
    uid = catalog.get_entity_by_ref("component:c-7")["metadata"]["uid"]
    with engine.connect() as conn:
        row_id = conn.execute(
            sa.text("SELECT id FROM catalog_entities WHERE entity_id = :u"), {"u": uid}
        ).scalar_one()
    derived = (("catalog_search", "entity_row_id"), ("catalog_relations", "originating_row_id"))

    def rows_of_c7() -> list[int]:
        with engine.connect() as conn:
            return [
                conn.execute(
                    sa.text(f"SELECT count(*) FROM {table} WHERE {column} = :i"), {"i": row_id}
                ).scalar_one()
                for table, column in derived
            ]

    assert all(rows_of_c7())  # the bulk load keyed its rows by its row id
    catalog.delete_entity_by_uid(uid)  # its search and relation rows go with it (cascade)
    assert rows_of_c7() == [0, 0]
    if engine.dialect.name == "postgresql":
        # vacuumed after the load, so index-only scans need not wait for autovacuum
        with engine.connect() as conn:
            vacuumed = conn.execute(
                sa.text(
                    "SELECT relname FROM pg_stat_user_tables WHERE last_vacuum IS NOT NULL"
                    " AND relname LIKE 'catalog_%'"
                )
            ).scalars()
            assert {"catalog_entities", "catalog_search", "catalog_relations"} <= set(vacuumed)


def test_dense_filtered_pages_walk_every_match_once_in_order(
    catalog: CatalogService, tmp_path: Path
) -> None:
    root = tmp_path / "big"
    root.mkdir()
    for f in range(30):
        docs = [DOC.format(i=f * 100 + j, t=j % 2, g=j % 10) for j in range(100)]
        (root / f"f{f:02d}.yaml").write_text("---\n".join(docs))
    catalog.register_location(type="file", target=str(root))

    seen: list[str] = []
    page = catalog.query_entities(
        filters=["kind=component,metadata.tags=t1"], limit=200, fields="metadata.name"
    )
    assert page.total_items == 1500
    while True:
        seen.extend(e["metadata"]["name"] for e in page.items)
        if not page.next_cursor:
            break
        page = catalog.query_entities(cursor=page.next_cursor, limit=200)
    expected = sorted(f"c-{i}" for i in range(3000) if (i % 100) % 2 == 1)
    assert seen == expected


def test_json_rows_arrive_exactly_as_sent(engine: Engine) -> None:
    """Rows given as JSON per key keep tabs, quotes, unicode and nulls, and each its key."""
    import orjson

    from goldenpath.catalog.store import bulk
    from goldenpath.catalog.store.tables import catalog_search

    odd = ["tab\there", 'line\nbreak \\ back"slash', "ünïcødé ✓", "it's", None]
    rows = [(7, f"k{i}", v, v) for i, v in enumerate(odd)] + [(12, "k9", "x", "X")]
    with engine.begin() as conn:
        # rows of an entity that does not exist: no foreign key checks for this test
        if engine.dialect.name == "sqlite":
            conn.execute(sa.text("PRAGMA foreign_keys=OFF"))
        else:
            conn.execute(sa.text("SET LOCAL session_replication_role = replica"))
        bulk.insert_keyed_json_rows(
            conn,
            catalog_search,
            ("entity_row_id", "key", "value", "original_value"),
            [
                (7, orjson.dumps([r[1:] for r in rows[:2]])),
                (9, b"[]"),
                (7, orjson.dumps([r[1:] for r in rows[2:5]])),
                (12, orjson.dumps([r[1:] for r in rows[5:]])),
            ],
        )
        got = conn.execute(
            sa.text(
                "SELECT entity_row_id, key, value, original_value FROM catalog_search ORDER BY key"
            )
        ).all()
        conn.rollback()
    assert [tuple(r) for r in got] == rows


GROUPS = "---\n".join(
    f"""apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {{name: team-{g}}}
spec: {{type: team, children: []}}
"""
    for g in range(10)
)
LINKED = """apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: c-{i}
spec:
  type: service
  lifecycle: production
  owner: group:team-{g}
  dependsOn: [component:c-{dep}]
"""


def _stitched_as_stored(engine: Engine) -> list[str]:
    """Refs whose stored relations array differs from what ``catalog_relations`` gives
    (stale ones included)."""
    e = catalog_entities.c
    with engine.connect() as conn:
        rows = conn.execute(sa.select(e.entity_ref, e.relations)).all()
        live = stitch.relations_json(conn, [r[0] for r in rows])
    return [ref for ref, stored in rows if (stored or "").encode() != live.get(ref, b"[]")]


def _linked_catalog(root: Path) -> Path:
    root.mkdir()
    for f in range(60):
        docs = [
            LINKED.format(i=f * 100 + j, g=j % 10, dep=(f * 100 + j + 1) % 6000) for j in range(100)
        ]
        (root / f"f{f:02d}.yaml").write_text("---\n".join(docs))
    return root


def test_a_first_bulk_load_stores_every_entitys_relations_as_the_rows_give_them(
    catalog: CatalogService, engine: Engine, tmp_path: Path
) -> None:
    """The groups are stored first without any relation; the bulk load (6,000 components,
    each owned by a group and depending on the next) builds the stitched arrays from the
    rows it writes — the groups' ownerOf arrays included — and they match the table."""
    (tmp_path / "org").mkdir()
    (tmp_path / "org" / "groups.yaml").write_text(GROUPS)
    catalog.register_location(type="file", target=str(tmp_path / "org"))
    catalog.register_location(type="file", target=str(_linked_catalog(tmp_path / "big")))

    assert _stitched_as_stored(engine) == []
    group = catalog.get_entity_by_ref("group:default/team-3")
    assert sum(r["type"] == "ownerOf" for r in group["relations"]) == 600
    c = catalog.get_entity_by_ref("component:default/c-42")
    assert {(r["type"], r["targetRef"]) for r in c["relations"]} == {
        ("ownedBy", "group:default/team-2"),
        ("dependsOn", "component:default/c-43"),
        ("dependencyOf", "component:default/c-41"),
    }
    owned = catalog.query_entities(filters=["relations.ownedBy=group:default/team-3"], limit=5)
    assert owned.total_items == 600


def test_a_bulk_load_beside_stored_relations_stitches_from_the_table(
    catalog: CatalogService, engine: Engine, tmp_path: Path
) -> None:
    """With relation rows stored before (a group with a parent), the arrays need them too:
    every entity is stitched from the table, with the same result."""
    (tmp_path / "org").mkdir()
    (tmp_path / "org" / "groups.yaml").write_text(
        GROUPS.replace(
            "metadata: {name: team-3}\nspec: {type: team, children: []}",
            "metadata: {name: team-3}\nspec: {type: team, parent: team-4, children: []}",
        )
    )
    catalog.register_location(type="file", target=str(tmp_path / "org"))
    assert _stitched_as_stored(engine) == []
    catalog.register_location(type="file", target=str(_linked_catalog(tmp_path / "big")))

    assert _stitched_as_stored(engine) == []
    group = catalog.get_entity_by_ref("group:default/team-3")
    assert ("childOf", "group:default/team-4") in {
        (r["type"], r["targetRef"]) for r in group["relations"]
    }
    assert sum(r["type"] == "ownerOf" for r in group["relations"]) == 600
