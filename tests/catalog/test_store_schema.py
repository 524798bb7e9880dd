"""Migration 0001_catalog on both backends: upgrade, downgrade to base, upgrade again."""

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
