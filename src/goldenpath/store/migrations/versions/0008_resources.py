"""Resources: claims (type, class, environment, owner), their state and outputs; backups.

Revision ID: 0008_resources
Revises: 0007_policy
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_resources"
down_revision = "0007_policy"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _claims() -> None:
    op.create_table(
        "resources_claims",
        sa.Column("id", _ID, nullable=False, autoincrement=True),
        sa.Column("name", sa.String(63), nullable=False),
        sa.Column("environment", sa.String(40), nullable=False),
        sa.Column("type", sa.String(63), nullable=False),
        sa.Column("size", sa.String(40), nullable=False),
        sa.Column("composition", sa.String(200), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("owner", sa.String(200), nullable=True),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("outputs_ref", sa.JSON(), nullable=False),
        sa.Column("resource", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_resources_claims"),
        sa.UniqueConstraint("environment", "name", name="uq_resources_claims_environment_name"),
    )
    op.create_index("ix_resources_claims_type", "resources_claims", ["type", "environment"])


def _consumers() -> None:
    op.create_table(
        "resources_consumers",
        sa.Column(
            "claim_id",
            _ID,
            sa.ForeignKey(
                "resources_claims.id",
                ondelete="CASCADE",
                name="fk_resources_consumers_claim_id_resources_claims",
            ),
            nullable=False,
        ),
        sa.Column("service", sa.String(63), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("claim_id", "service", name="pk_resources_consumers"),
    )


def _backups() -> None:
    op.create_table(
        "resources_backups",
        sa.Column("environment", sa.String(40), nullable=False),
        sa.Column("claim", sa.String(63), nullable=False),
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.String(20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("environment", "claim", "id", name="pk_resources_backups"),
    )


def upgrade() -> None:
    """Create ``resources_claims``, ``resources_consumers`` and ``resources_backups``."""
    _claims()
    _consumers()
    _backups()


def downgrade() -> None:
    """Drop the resources tables (children first)."""
    op.drop_table("resources_backups")
    op.drop_table("resources_consumers")
    op.drop_index("ix_resources_claims_type", table_name="resources_claims")
    op.drop_table("resources_claims")
