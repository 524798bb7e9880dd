"""Scaffolder: software-template tasks and their event logs.

Revision ID: 0004_scaffolder
Revises: 0003_catalog_read_indexes
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_scaffolder"
down_revision = "0003_catalog_read_indexes"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Create ``scaffolder_tasks`` and ``scaffolder_task_events``."""
    op.create_table(
        "scaffolder_tasks",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("created_by", sa.String(500), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claimed_by", sa.String(200), nullable=True),
        sa.Column("cancel_requested_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("held_in_memory", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("output", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_scaffolder_tasks"),
    )
    op.create_index("ix_scaffolder_tasks_status", "scaffolder_tasks", ["status", "created_at"])
    op.create_index("ix_scaffolder_tasks_created_at", "scaffolder_tasks", ["created_at", "id"])
    op.create_index(
        "ix_scaffolder_tasks_created_by", "scaffolder_tasks", ["created_by", "created_at"]
    )
    op.create_table(
        "scaffolder_task_events",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column(
            "task_id",
            sa.String(36),
            sa.ForeignKey(
                "scaffolder_tasks.id",
                ondelete="CASCADE",
                name="fk_scaffolder_task_events_task_id_scaffolder_tasks",
            ),
            nullable=False,
        ),
        sa.Column("type", sa.String(20), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_scaffolder_task_events_task_id", "scaffolder_task_events", ["task_id", "id"]
    )


def downgrade() -> None:
    """Drop the scaffolder tables."""
    op.drop_index("ix_scaffolder_task_events_task_id", table_name="scaffolder_task_events")
    op.drop_table("scaffolder_task_events")
    op.drop_index("ix_scaffolder_tasks_created_by", table_name="scaffolder_tasks")
    op.drop_index("ix_scaffolder_tasks_created_at", table_name="scaffolder_tasks")
    op.drop_index("ix_scaffolder_tasks_status", table_name="scaffolder_tasks")
    op.drop_table("scaffolder_tasks")
