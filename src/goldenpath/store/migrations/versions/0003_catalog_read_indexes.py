"""Catalog read path: indexes for filtered pages and relation lookups.

Revision ID: 0003_catalog_read_indexes
Revises: 0002_auth
"""

from __future__ import annotations

revision = "0003_catalog_read_indexes"
down_revision = "0002_auth"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """No schema change yet (reserved for the read-path indexes)."""


def downgrade() -> None:
    """Nothing to undo."""
