"""Alembic revision 0002_auth (SQLite and PostgreSQL): follows 0001_catalog, undoes cleanly."""

from __future__ import annotations

from sqlalchemy import Engine, inspect

from goldenpath.store import migrate


def test_auth_tables_come_and_go_with_the_revision(engine: Engine) -> None:
    assert {"auth_tokens", "audit_log"} <= set(inspect(engine).get_table_names())
    unique = inspect(engine).get_unique_constraints("auth_tokens")
    assert any(c["column_names"] == ["token_hash"] for c in unique)
    migrate.downgrade(engine, "0001_catalog")
    tables = set(inspect(engine).get_table_names())
    assert not {"auth_tokens", "audit_log"} & tables
    assert "catalog_entities" in tables
    migrate.upgrade(engine)
    assert {"auth_tokens", "audit_log"} <= set(inspect(engine).get_table_names())
