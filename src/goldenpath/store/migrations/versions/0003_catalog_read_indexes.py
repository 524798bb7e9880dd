"""Catalog read path: covering indexes for relation lookups.

Both relation indexes of ``0001_catalog`` made every lookup visit the table row of each
relation (``source_entity_ref`` alone; ``target_entity_ref, type``). They are replaced by
covering indexes, so the two hot reads are index-only scans:

- stitching an entity's ``relations`` reads ``(source, type, target)`` for its ref, already
  in the order the API returns them;
- a ``relations.<type>=<ref>`` filter (Backstage's owner filter) reads
  ``(target, type, source)`` for the target and gets the matching sources from the index.

Revision ID: 0003_catalog_read_indexes
Revises: 0002_auth
"""

from __future__ import annotations

from alembic import op

revision = "0003_catalog_read_indexes"
down_revision = "0002_auth"
branch_labels = None
depends_on = None

_TABLE = "catalog_relations"
_NEW = {
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
_OLD = {
    "ix_catalog_relations_source": ["source_entity_ref"],
    "ix_catalog_relations_target": ["target_entity_ref", "type"],
}


def _analyze() -> None:
    """Fresh planner statistics for the new indexes (SQLite samples; a few milliseconds)."""
    if op.get_bind().dialect.name == "sqlite":
        op.execute("PRAGMA analysis_limit=1000")
    op.execute(f"ANALYZE {_TABLE}")


def upgrade() -> None:
    """Replace the two relation indexes by covering ones (SQLite and PostgreSQL)."""
    for name, columns in _NEW.items():
        op.create_index(name, _TABLE, columns)
    for name in _OLD:
        op.drop_index(name, table_name=_TABLE)
    _analyze()


def downgrade() -> None:
    """Restore the relation indexes of ``0001_catalog``."""
    for name, columns in _OLD.items():
        op.create_index(name, _TABLE, columns)
    for name in _NEW:
        op.drop_index(name, table_name=_TABLE)
    _analyze()
