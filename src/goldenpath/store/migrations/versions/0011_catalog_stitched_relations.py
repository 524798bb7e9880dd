"""Catalog: each entity row keeps its stitched ``relations`` array.

``catalog_entities.relations`` holds the entity's ``relations`` JSON array as the API returns
it (``goldenpath.catalog.store.stitch``), so reads no longer gather relation rows per request.
NULL means stale: existing rows start stale, readers stitch them from ``catalog_relations``
meanwhile, and the catalog's next write (a refresh pass that changes something, an entity or
location deleted) stores them all. A partial index finds the stale rows.

Revision ID: 0011_catalog_stitched_relations
Revises: 0010_insights
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_catalog_stitched_relations"
down_revision = "0010_insights"
branch_labels = None
depends_on = None

_TABLE = "catalog_entities"
_INDEX = "ix_catalog_entities_unstitched"


def upgrade() -> None:
    """Add the column (NULL: stale) and the partial index of stale rows."""
    op.add_column(_TABLE, sa.Column("relations", sa.Text, nullable=True))
    op.create_index(
        _INDEX,
        _TABLE,
        ["id"],
        sqlite_where=sa.text("relations IS NULL"),
        postgresql_where=sa.text("relations IS NULL"),
    )


def downgrade() -> None:
    """Drop the index and the column."""
    op.drop_index(_INDEX, table_name=_TABLE)
    op.drop_column(_TABLE, "relations")
