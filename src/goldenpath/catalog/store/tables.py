"""The catalog's tables, declared on the shared :data:`goldenpath.store.metadata.metadata`.

Migrations ``0001_catalog`` to ``0014_catalog_search_uid`` create exactly these (plus the
dialect-specific full-text parts: an FTS5 table ``catalog_fts`` kept in sync by triggers on
SQLite, a generated ``tsvector`` column ``search_tsv`` with a GIN index on PostgreSQL).

Shapes follow Backstage's catalog backend (``final_entities``, ``search``, ``relations``,
``locations``): https://backstage.io/docs/features/software-catalog/life-of-an-entity
"""

from __future__ import annotations

import sqlalchemy as sa

from goldenpath.store.metadata import metadata

__all__ = [
    "MAX_VALUE_LENGTH",
    "catalog_entities",
    "catalog_errors",
    "catalog_locations",
    "catalog_relations",
    "catalog_search",
    "catalog_state",
]

#: search values longer than this are stored as NULL (still matched by "exists"), as Backstage
MAX_VALUE_LENGTH = 200

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

catalog_locations = sa.Table(
    "catalog_locations",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("type", sa.String(20), nullable=False),
    sa.Column("target", sa.String(2000), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("type", "target", name="uq_catalog_locations_type_target"),
)

catalog_entities = sa.Table(
    "catalog_entities",
    metadata,
    # integer row id: the FTS5 content rowid on SQLite and a compact join key
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("entity_id", sa.String(36), nullable=False, unique=True),  # metadata.uid
    sa.Column("entity_ref", sa.String(700), nullable=False, unique=True),  # lower-cased
    sa.Column("kind", sa.String(100), nullable=False),  # lower-cased
    sa.Column("namespace", sa.String(100), nullable=False),
    sa.Column("name", sa.String(300), nullable=False),
    sa.Column(
        "location_id",
        sa.String(36),
        sa.ForeignKey("catalog_locations.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("location_key", sa.String(2000), nullable=True),  # source file key
    sa.Column("parent_ref", sa.String(700), nullable=True),  # emitting Location entity
    sa.Column("hash", sa.String(40), nullable=False),
    sa.Column("etag", sa.String(40), nullable=False),
    sa.Column("generation", sa.Integer, nullable=False, default=1),
    sa.Column("entity", sa.Text, nullable=False),  # JSON, without relations
    # the stitched ``relations`` JSON array (``store.stitch``); NULL: stale, rebuilt on read
    sa.Column("relations", sa.Text, nullable=True),
    sa.Column("search_text", sa.Text, nullable=True),  # name title description tags owner
    sa.Column("orphaned_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_catalog_entities_location_id", "location_id"),
    sa.Index("ix_catalog_entities_kind_namespace_name", "kind", "namespace", "name"),
    sa.Index("ix_catalog_entities_name", "name"),
    # dense pages filtered by one kind walk this in entity_ref order
    sa.Index("ix_catalog_entities_kind_ref", "kind", "entity_ref"),
    # the stale rows the next stitch pass fills (few, usually none)
    sa.Index(
        "ix_catalog_entities_unstitched",
        "id",
        sqlite_where=sa.text("relations IS NULL"),
        postgresql_where=sa.text("relations IS NULL"),
    ),
)

catalog_search = sa.Table(
    "catalog_search",
    metadata,
    # the entity's integer row id (migration 0012; was its 36-character uid): at 100k
    # entities the 1.5M rows and their two indexes are 30 % smaller and load faster
    sa.Column(
        "entity_row_id",
        _ID,
        sa.ForeignKey("catalog_entities.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("key", sa.String(200), nullable=False),  # lower-cased leaf path
    sa.Column("value", sa.String(MAX_VALUE_LENGTH), nullable=True),  # lower-cased
    sa.Column("original_value", sa.String(MAX_VALUE_LENGTH), nullable=True),
    # covering for filters (key, value → entity) and facets (… → original_value)
    sa.Index("ix_catalog_search_key_value", "key", "value", "original_value", "entity_row_id"),
    sa.Index("ix_catalog_search_entity_row_id", "entity_row_id", "key", "value"),
)

catalog_relations = sa.Table(
    "catalog_relations",
    metadata,
    # the row id of the entity whose spec gave the relation (migration 0012; was its uid)
    sa.Column(
        "originating_row_id",
        _ID,
        sa.ForeignKey("catalog_entities.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("source_entity_ref", sa.String(700), nullable=False),
    sa.Column("type", sa.String(100), nullable=False),
    sa.Column("target_entity_ref", sa.String(700), nullable=False),
    # covering (migration 0003): stitching reads (source → type, target) in API order, and
    # relations.<type>=<ref> filters read (target → type, source), both without the table
    sa.Index(
        "ix_catalog_relations_source_type_target", "source_entity_ref", "type", "target_entity_ref"
    ),
    sa.Index(
        "ix_catalog_relations_target_type_source", "target_entity_ref", "type", "source_entity_ref"
    ),
    sa.Index("ix_catalog_relations_originating", "originating_row_id"),
)

catalog_errors = sa.Table(
    "catalog_errors",
    metadata,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column(
        "location_id",
        sa.String(36),
        sa.ForeignKey("catalog_locations.id", ondelete="CASCADE"),
        nullable=True,
    ),
    sa.Column("source", sa.String(2000), nullable=False),
    sa.Column("doc_index", sa.Integer, nullable=True),
    sa.Column("entity_ref", sa.String(700), nullable=True),
    sa.Column("stage", sa.String(40), nullable=False),
    sa.Column("path", sa.String(500), nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_catalog_errors_location_id", "location_id"),
    sa.Index("ix_catalog_errors_entity_ref", "entity_ref"),
)

#: one row (id 1): ``version`` goes up with every write, so readers can cache counts and facets
catalog_state = sa.Table(
    "catalog_state",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("version", sa.BigInteger, nullable=False),
)
