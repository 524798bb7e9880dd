"""Catalog: no search rows for ``metadata.uid``; the entity table's ``entity_id`` answers it.

Every entity had one ``metadata.uid`` search row, a unique 36-character value repeated in
both search indexes; ``catalog_entities.entity_id`` holds the same value under a unique
index, so filters, ordering and facets on ``metadata.uid`` now read that column
(``catalog.store.where.COLUMNS``, ``catalog.store.search.COLUMN_ONLY_KEYS``). At 100k
entities the store of a bulk load took 1.1-1.4 s less without those 100k rows
(``benchmarks/store_floor.py``).

The downgrade writes the rows back from the column (uids are lower-case UUIDs, so value and
original value are the column's value).

Revision ID: 0014_catalog_search_uid
Revises: 0013_catalog_lz4
"""

from __future__ import annotations

from alembic import op

revision = "0014_catalog_search_uid"
down_revision = "0013_catalog_lz4"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("DELETE FROM catalog_search WHERE key = 'metadata.uid'")


def downgrade() -> None:
    op.execute(
        "INSERT INTO catalog_search (entity_row_id, key, value, original_value) "
        "SELECT id, 'metadata.uid', entity_id, entity_id FROM catalog_entities"
    )
