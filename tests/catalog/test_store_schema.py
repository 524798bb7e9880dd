"""Catalog migrations on both backends: 0001 round trip, 0003 (read indexes), 0012 (row
keys, with data) and 0014 (no uid search rows, with data) down and up; 0013 (lz4 for the
entity JSON) on PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine

from goldenpath.store import migrate

TABLES = {
    "catalog_locations",
    "catalog_entities",
    "catalog_search",
    "catalog_relations",
    "catalog_errors",
    "catalog_state",
    "leases",
}


def test_migration_round_trip(engine: Engine) -> None:
    assert set(sa.inspect(engine).get_table_names()) >= TABLES
    migrate.downgrade(engine, "base")
    assert not TABLES & set(sa.inspect(engine).get_table_names())
    migrate.upgrade(engine)
    assert set(sa.inspect(engine).get_table_names()) >= TABLES
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT version FROM catalog_state")).scalar() == 0


def _relation_indexes(engine: Engine) -> dict[str, list[str]]:
    return {
        ix["name"]: list(ix["column_names"])
        for ix in sa.inspect(engine).get_indexes("catalog_relations")
        if ix["name"]
    }


def test_read_index_migration_upgrades_and_downgrades(engine: Engine) -> None:
    covering = {
        "ix_catalog_relations_source_type_target": [
            "source_entity_ref",
            "type",
            "target_entity_ref",
        ],
        "ix_catalog_relations_target_type_source": [
            "target_entity_ref",
            "type",
            "source_entity_ref",
        ],
    }
    assert _relation_indexes(engine).items() >= covering.items()
    migrate.downgrade(engine, "0002_auth")
    before = _relation_indexes(engine)
    assert before["ix_catalog_relations_source"] == ["source_entity_ref"]
    assert before["ix_catalog_relations_target"] == ["target_entity_ref", "type"]
    assert not covering.keys() & before.keys()
    migrate.upgrade(engine)
    after = _relation_indexes(engine)
    assert after.items() >= covering.items()
    assert "ix_catalog_relations_source" not in after


CATALOG = """apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: team-a}
spec: {type: team, children: []}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: svc-1, tags: [go]}
spec: {type: service, lifecycle: production, owner: team-a, dependsOn: [component:svc-2]}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: svc-2, tags: [java]}
spec: {type: website, lifecycle: experimental, owner: team-a}
"""


def _derived_by_ref(engine: Engine, entity_column: str, search: str, relations: str) -> Any:
    """Each derived row with its entity's ref in place of the key (``entity_column`` of
    ``catalog_entities`` is what the derived tables' key columns hold)."""
    with engine.connect() as conn:
        found = conn.execute(sa.text(f"SELECT {entity_column}, entity_ref FROM catalog_entities"))
        refs = {key: ref for key, ref in found}
        rows = {
            "search": conn.execute(
                sa.text(f"SELECT {search}, key, value, original_value FROM catalog_search")
            ).all(),
            "relations": conn.execute(
                sa.text(
                    f"SELECT {relations}, source_entity_ref, type, target_entity_ref"
                    " FROM catalog_relations"
                )
            ).all(),
        }
    return {name: sorted((refs[r[0]], *r[1:]) for r in got) for name, got in rows.items()}


def test_row_key_migration_keeps_every_derived_row(
    engine: Engine, catalog: Any, tmp_path: Path
) -> None:
    """0012 re-keys search and relation rows by the entity's row id; down and up again, every
    row still belongs to its entity, and filters and deletes work on the result."""
    (tmp_path / "catalog-info.yaml").write_text(CATALOG)
    catalog.register_location(type="file", target=str(tmp_path / "catalog-info.yaml"))
    migrate.downgrade(engine, "0013_catalog_lz4")  # the schema 0012 made (uid search rows)
    at_0013 = _derived_by_ref(engine, "id", "entity_row_id", "originating_row_id")
    assert len(at_0013["relations"]) >= 6 and len(at_0013["search"]) >= 20

    migrate.downgrade(engine, "0011_catalog_stitched_relations")
    columns = {c["name"] for c in sa.inspect(engine).get_columns("catalog_search")}
    assert "entity_id" in columns and "entity_row_id" not in columns
    assert _derived_by_ref(engine, "entity_id", "entity_id", "originating_entity_id") == at_0013

    migrate.upgrade(engine, "0013_catalog_lz4")
    assert _derived_by_ref(engine, "id", "entity_row_id", "originating_row_id") == at_0013
    migrate.upgrade(engine)
    owned = catalog.query_entities(filters=["relations.ownedBy=group:default/team-a"])
    assert sorted(e["metadata"]["name"] for e in owned.items) == ["svc-1", "svc-2"]
    tagged = catalog.query_entities(filters=["metadata.tags=go"])
    assert [e["metadata"]["name"] for e in tagged.items] == ["svc-1"]
    uid = catalog.get_entity_by_ref("component:svc-1")["metadata"]["uid"]
    catalog.delete_entity_by_uid(uid)  # the rebuilt tables' foreign keys still cascade
    left = _derived_by_ref(engine, "id", "entity_row_id", "originating_row_id")
    assert all(r[0] != "component:default/svc-1" for r in left["search"])
    assert all(r[0] != "component:default/svc-1" for r in left["relations"])


@pytest.mark.parametrize("engine", ["postgresql"], indirect=True)  # SQLite compresses nothing
def test_entity_json_is_compressed_with_lz4_on_postgresql(
    engine: Engine, catalog: Any, tmp_path: Path
) -> None:
    """0013: where the server has lz4, a large entity's stored JSON is lz4-compressed
    (pglz before)."""
    with engine.connect() as conn:
        if not conn.exec_driver_sql(
            "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'"
        ).scalar():
            pytest.skip("this PostgreSQL is built without lz4")
    description = " ".join(f"word{i}" for i in range(2000))  # ~16 KB: compressed when stored
    (tmp_path / "catalog-info.yaml").write_text(
        "apiVersion: backstage.io/v1alpha1\nkind: Component\n"
        f"metadata: {{name: big, description: {description}}}\n"
        "spec: {type: service, lifecycle: production, owner: team-a}\n"
    )
    catalog.register_location(type="file", target=str(tmp_path / "catalog-info.yaml"))
    big = "component:default/big"

    def compression() -> str | None:
        with engine.connect() as conn:
            return conn.execute(
                sa.text(
                    "SELECT pg_column_compression(entity) FROM catalog_entities"
                    " WHERE entity_ref = :r"
                ),
                {"r": big},
            ).scalar()

    assert compression() == "lz4"
    assert catalog.get_entity_by_ref(big)["metadata"]["description"] == description
    migrate.downgrade(engine, "0012_catalog_row_keys")
    with engine.begin() as conn:  # a value written now takes the server's default again
        conn.execute(
            sa.text("UPDATE catalog_entities SET entity = entity || ' ' WHERE entity_ref = :r"),
            {"r": big},
        )
    assert compression() == "pglz"
    migrate.upgrade(engine)


def test_uid_search_rows_migration_moves_uid_reads_to_the_column(
    engine: Engine, catalog: Any, tmp_path: Path
) -> None:
    """0014 drops the ``metadata.uid`` search rows (the entity table's column answers them)
    and its downgrade writes them back from that column; filters, facets and order on the
    uid give the same answers either way."""
    (tmp_path / "catalog-info.yaml").write_text(CATALOG)
    catalog.register_location(type="file", target=str(tmp_path / "catalog-info.yaml"))

    def uid_rows() -> list[tuple[str, str, str]]:
        with engine.connect() as conn:
            return sorted(
                conn.execute(
                    sa.text(
                        "SELECT e.entity_ref, s.value, s.original_value FROM catalog_search s"
                        " JOIN catalog_entities e ON e.id = s.entity_row_id"
                        " WHERE s.key = 'metadata.uid'"
                    )
                ).all()
            )

    items = catalog.query_entities().items
    uids = {e["metadata"]["name"]: e["metadata"]["uid"] for e in items}
    assert uid_rows() == []  # a load at head writes none
    migrate.downgrade(engine, "0013_catalog_lz4")
    assert uid_rows() == sorted(
        (f"{e['kind'].lower()}:default/{e['metadata']['name']}", uid, uid)
        for e in items
        for uid in [e["metadata"]["uid"]]
    )
    migrate.upgrade(engine)
    assert uid_rows() == []
    found = catalog.query_entities(filters=[f"metadata.uid={uids['svc-1'].upper()}"])
    assert [e["metadata"]["name"] for e in found.items] == ["svc-1"]
    facets = catalog.facets(facets=["metadata.uid"], filters=["kind=component"])
    assert sorted(f["value"] for f in facets["metadata.uid"]) == sorted(
        [uids["svc-1"], uids["svc-2"]]
    )
    ordered = catalog.query_entities(order="metadata.uid")
    assert [e["metadata"]["uid"] for e in ordered.items] == sorted(uids.values())
