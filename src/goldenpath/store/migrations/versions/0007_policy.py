"""Policy: recorded guardrail decisions (allow/deny/warn, rules, input digest, who).

Revision ID: 0007_policy
Revises: 0006_secrets
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_policy"
down_revision = "0006_secrets"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Create ``policy_decisions`` with its action and allowed indexes."""
    op.create_table(
        "policy_decisions",
        sa.Column("id", _ID, nullable=False, autoincrement=True),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("allowed", sa.Boolean(), nullable=False),
        sa.Column("denials", sa.JSON(), nullable=False),
        sa.Column("warnings", sa.JSON(), nullable=False),
        sa.Column("input_digest", sa.String(64), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("subject", sa.String(500), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_policy_decisions"),
    )
    op.create_index("ix_policy_decisions_action", "policy_decisions", ["action", "id"])
    op.create_index("ix_policy_decisions_allowed", "policy_decisions", ["allowed", "id"])


def downgrade() -> None:
    """Drop ``policy_decisions``."""
    op.drop_index("ix_policy_decisions_allowed", table_name="policy_decisions")
    op.drop_index("ix_policy_decisions_action", table_name="policy_decisions")
    op.drop_table("policy_decisions")
