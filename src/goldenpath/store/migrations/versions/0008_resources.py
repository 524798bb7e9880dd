"""Resources: claims (type, class, environment, owner), their state and outputs; backups.

Revision ID: 0008_resources
Revises: 0007_policy
"""

from __future__ import annotations

revision = "0008_resources"
down_revision = "0007_policy"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """No schema change yet: the slot keeps the revision chain linear for the domain's tables."""


def downgrade() -> None:
    """Nothing to undo."""
