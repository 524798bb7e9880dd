"""Secrets: encrypted, versioned secrets per service and environment; master key ids.

Revision ID: 0006_secrets
Revises: 0005_deploy
"""

from __future__ import annotations

revision = "0006_secrets"
down_revision = "0005_deploy"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """No schema change yet: the slot keeps the revision chain linear for the domain's tables."""


def downgrade() -> None:
    """Nothing to undo."""
