"""Catalog migrations on both backends: 0001 round trip, 0003 (read indexes) down and up."""

from __future__ import annotations

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
