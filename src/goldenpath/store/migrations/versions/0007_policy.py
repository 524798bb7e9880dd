"""Policy: recorded guardrail decisions (allow/deny/warn, rule, input digest, who).

Revision ID: 0007_policy
Revises: 0006_secrets
"""

from __future__ import annotations

revision = "0007_policy"
down_revision = "0006_secrets"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """No schema change yet: the slot keeps the revision chain linear for the domain's tables."""


def downgrade() -> None:
    """Nothing to undo."""
