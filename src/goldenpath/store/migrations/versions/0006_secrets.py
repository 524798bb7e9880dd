"""Secrets: encrypted, versioned secrets per service and environment; master key ids.

Revision ID: 0006_secrets
Revises: 0005_deploy
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_secrets"
down_revision = "0005_deploy"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Create ``secrets_versions`` (one sealed row per secret version; '' scope = all)."""
    op.create_table(
        "secrets_versions",
        sa.Column("id", _ID, nullable=False, autoincrement=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("service", sa.String(63), nullable=False),
        sa.Column("environment", sa.String(40), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=False),
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_secrets_versions"),
        sa.UniqueConstraint(
            "name", "service", "environment", "version", name="uq_secrets_versions_name"
        ),
    )
    op.create_index(
        "ix_secrets_versions_scope",
        "secrets_versions",
        ["service", "environment", "name", "version"],
    )
    op.create_index("ix_secrets_versions_key_id", "secrets_versions", ["key_id"])


def downgrade() -> None:
    """Drop ``secrets_versions`` (every stored secret is lost)."""
    op.drop_index("ix_secrets_versions_key_id", table_name="secrets_versions")
    op.drop_index("ix_secrets_versions_scope", table_name="secrets_versions")
    op.drop_table("secrets_versions")
