"""Users: local portal accounts (argon2 password hashes) for sign-in.

Revision ID: 0009_users
Revises: 0008_resources
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_users"
down_revision = "0008_resources"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "auth_users",
        sa.Column("ref", sa.String(500), nullable=False),
        sa.Column("password_hash", sa.String(500), nullable=True),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("first_login_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("ref", name="pk_auth_users"),
    )


def downgrade() -> None:
    op.drop_table("auth_users")
