"""Catalog: locations, entities, search, relations, errors, leases; full text per dialect.

SQLite gets an FTS5 external-content table ``catalog_fts`` over ``catalog_entities.search_text``
kept in sync by triggers; PostgreSQL gets a generated ``tsvector`` column ``search_tsv`` with a
GIN index. Tables mirror ``goldenpath.catalog.store.tables`` and ``goldenpath.store.leases``.

Revision ID: 0001_catalog
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_catalog"
down_revision = None
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TS = sa.DateTime(timezone=True)

_SQLITE_FTS = [
    "CREATE VIRTUAL TABLE catalog_fts USING fts5(search_text, content='catalog_entities', "
    "content_rowid='id', tokenize='unicode61')",
    "CREATE TRIGGER catalog_entities_fts_ai AFTER INSERT ON catalog_entities BEGIN "
    "INSERT INTO catalog_fts(rowid, search_text) VALUES (new.id, new.search_text); END",
    "CREATE TRIGGER catalog_entities_fts_ad AFTER DELETE ON catalog_entities BEGIN "
    "INSERT INTO catalog_fts(catalog_fts, rowid, search_text) "
    "VALUES ('delete', old.id, old.search_text); END",
    "CREATE TRIGGER catalog_entities_fts_au AFTER UPDATE OF search_text ON catalog_entities BEGIN "
    "INSERT INTO catalog_fts(catalog_fts, rowid, search_text) "
    "VALUES ('delete', old.id, old.search_text); "
    "INSERT INTO catalog_fts(rowid, search_text) VALUES (new.id, new.search_text); END",
]

_PG_FTS = [
    "ALTER TABLE catalog_entities ADD COLUMN search_tsv tsvector GENERATED ALWAYS AS "
    "(to_tsvector('simple', coalesce(search_text, ''))) STORED",
    "CREATE INDEX ix_catalog_entities_search_tsv ON catalog_entities USING gin (search_tsv)",
]


def _entity_fk(name: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [name],
        ["catalog_entities.entity_id"],
        ondelete="CASCADE",
    )


def _create_core() -> None:
    op.create_table(
        "catalog_locations",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("type", sa.String(20), nullable=False),
        sa.Column("target", sa.String(2000), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_catalog_locations"),
        sa.UniqueConstraint("type", "target", name="uq_catalog_locations_type_target"),
    )
    op.create_table(
        "catalog_entities",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("entity_id", sa.String(36), nullable=False),
        sa.Column("entity_ref", sa.String(700), nullable=False),
        sa.Column("kind", sa.String(100), nullable=False),
        sa.Column("namespace", sa.String(100), nullable=False),
        sa.Column("name", sa.String(300), nullable=False),
        sa.Column("location_id", sa.String(36), nullable=False),
        sa.Column("location_key", sa.String(2000), nullable=True),
        sa.Column("parent_ref", sa.String(700), nullable=True),
        sa.Column("hash", sa.String(40), nullable=False),
        sa.Column("etag", sa.String(40), nullable=False),
        sa.Column("generation", sa.Integer, nullable=False),
        sa.Column("entity", sa.Text, nullable=False),
        sa.Column("search_text", sa.Text, nullable=True),
        sa.Column("orphaned_at", _TS, nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["location_id"],
            ["catalog_locations.id"],
            ondelete="CASCADE",
            name="fk_catalog_entities_location_id_catalog_locations",
        ),
        sa.UniqueConstraint("entity_id", name="uq_catalog_entities_entity_id"),
        sa.UniqueConstraint("entity_ref", name="uq_catalog_entities_entity_ref"),
    )
    op.create_index("ix_catalog_entities_location_id", "catalog_entities", ["location_id"])
    op.create_index(
        "ix_catalog_entities_kind_namespace_name", "catalog_entities", ["kind", "namespace", "name"]
    )
    op.create_index("ix_catalog_entities_name", "catalog_entities", ["name"])
    op.create_index("ix_catalog_entities_kind_ref", "catalog_entities", ["kind", "entity_ref"])


def _create_derived() -> None:
    op.create_table(
        "catalog_search",
        sa.Column("entity_id", sa.String(36), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("value", sa.String(200), nullable=True),
        sa.Column("original_value", sa.String(200), nullable=True),
        _entity_fk("entity_id"),
    )
    op.create_index(
        "ix_catalog_search_key_value",
        "catalog_search",
        ["key", "value", "original_value", "entity_id"],
    )
    op.create_index("ix_catalog_search_entity_id", "catalog_search", ["entity_id", "key", "value"])
    op.create_table(
        "catalog_relations",
        sa.Column("originating_entity_id", sa.String(36), nullable=False),
        sa.Column("source_entity_ref", sa.String(700), nullable=False),
        sa.Column("type", sa.String(100), nullable=False),
        sa.Column("target_entity_ref", sa.String(700), nullable=False),
        _entity_fk("originating_entity_id"),
    )
    op.create_index("ix_catalog_relations_source", "catalog_relations", ["source_entity_ref"])
    op.create_index(
        "ix_catalog_relations_target", "catalog_relations", ["target_entity_ref", "type"]
    )
    op.create_index(
        "ix_catalog_relations_originating", "catalog_relations", ["originating_entity_id"]
    )
    op.create_table(
        "catalog_errors",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("location_id", sa.String(36), nullable=True),
        sa.Column("source", sa.String(2000), nullable=False),
        sa.Column("doc_index", sa.Integer, nullable=True),
        sa.Column("entity_ref", sa.String(700), nullable=True),
        sa.Column("stage", sa.String(40), nullable=False),
        sa.Column("path", sa.String(500), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["location_id"],
            ["catalog_locations.id"],
            ondelete="CASCADE",
            name="fk_catalog_errors_location_id_catalog_locations",
        ),
    )
    op.create_index("ix_catalog_errors_location_id", "catalog_errors", ["location_id"])
    op.create_index("ix_catalog_errors_entity_ref", "catalog_errors", ["entity_ref"])
    state = op.create_table(
        "catalog_state",
        sa.Column("id", sa.Integer, autoincrement=False, nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_catalog_state"),
    )
    op.bulk_insert(state, [{"id": 1, "version": 0}])
    op.create_table(
        "leases",
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("holder", sa.String(200), nullable=False),
        sa.Column("expires_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_leases"),
    )


def upgrade() -> None:
    """Create the catalog tables, the leases table and the dialect's full-text index."""
    _create_core()
    _create_derived()
    statements = _SQLITE_FTS if op.get_bind().dialect.name == "sqlite" else _PG_FTS
    for statement in statements:
        op.execute(statement)


def downgrade() -> None:
    """Drop everything :func:`upgrade` created."""
    if op.get_bind().dialect.name == "sqlite":
        for trigger in ("ai", "ad", "au"):
            op.execute(f"DROP TRIGGER IF EXISTS catalog_entities_fts_{trigger}")
        op.execute("DROP TABLE IF EXISTS catalog_fts")
    for table in (
        "leases",
        "catalog_state",
        "catalog_errors",
        "catalog_relations",
        "catalog_search",
        "catalog_entities",
        "catalog_locations",
    ):
        op.drop_table(table)
