"""Deploy: environments, deployment records, their transitions and per-service targets.

Revision ID: 0005_deploy
Revises: 0004_scaffolder
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_deploy"
down_revision = "0004_scaffolder"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _environments() -> None:
    op.create_table(
        "deploy_environments",
        sa.Column("name", sa.String(40), nullable=False),
        sa.Column("driver", sa.String(40), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("parent", sa.String(40), nullable=True),
        sa.Column("ephemeral", sa.Boolean(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_deploy_environments"),
    )
    op.create_index("ix_deploy_environments_expires_at", "deploy_environments", ["expires_at"])


def _deployments() -> None:
    op.create_table(
        "deploy_deployments",
        sa.Column("id", _ID, nullable=False, autoincrement=True),
        sa.Column("service", sa.String(63), nullable=False),
        sa.Column("environment", sa.String(40), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("strategy", sa.String(20), nullable=False),
        sa.Column("repo", sa.Text(), nullable=True),
        sa.Column("ref", sa.String(500), nullable=True),
        sa.Column("sha", sa.String(64), nullable=True),
        sa.Column("committed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("commit_author", sa.String(500), nullable=True),
        sa.Column("release_id", sa.String(200), nullable=True),
        sa.Column("workload", sa.JSON(), nullable=False),
        sa.Column("steps", sa.JSON(), nullable=False),
        sa.Column("step_index", sa.Integer(), nullable=False),
        sa.Column("progress", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("triggered_by", sa.String(200), nullable=False),
        sa.Column("rollback_of", _ID, nullable=True),
        sa.Column("previous_id", _ID, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_deploy_deployments"),
    )
    op.create_index(
        "ix_deploy_deployments_service", "deploy_deployments", ["service", "environment", "id"]
    )
    op.create_index(
        "ix_deploy_deployments_environment", "deploy_deployments", ["environment", "id"]
    )
    op.create_index("ix_deploy_deployments_state", "deploy_deployments", ["state", "id"])


def _transitions() -> None:
    op.create_table(
        "deploy_transitions",
        sa.Column("id", _ID, nullable=False, autoincrement=True),
        sa.Column(
            "deployment_id",
            _ID,
            sa.ForeignKey(
                "deploy_deployments.id",
                ondelete="CASCADE",
                name="fk_deploy_transitions_deployment_id_deploy_deployments",
            ),
            nullable=False,
        ),
        sa.Column("from_state", sa.String(20), nullable=True),
        sa.Column("to_state", sa.String(20), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_deploy_transitions"),
    )
    op.create_index(
        "ix_deploy_transitions_deployment_id", "deploy_transitions", ["deployment_id", "id"]
    )


def _targets() -> None:
    op.create_table(
        "deploy_targets",
        sa.Column("service", sa.String(63), nullable=False),
        sa.Column(
            "environment",
            sa.String(40),
            sa.ForeignKey(
                "deploy_environments.name",
                ondelete="CASCADE",
                name="fk_deploy_targets_environment_deploy_environments",
            ),
            nullable=False,
        ),
        sa.Column("stable_id", _ID, nullable=True),
        sa.Column("active_id", _ID, nullable=True),
        sa.Column("weights", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("service", "environment", name="pk_deploy_targets"),
    )
    op.create_index("ix_deploy_targets_environment", "deploy_targets", ["environment"])


def upgrade() -> None:
    """Create ``deploy_environments``, ``deploy_deployments``, ``deploy_transitions`` and
    ``deploy_targets``."""
    _environments()
    _deployments()
    _transitions()
    _targets()


def downgrade() -> None:
    """Drop the deploy tables (children first)."""
    op.drop_index("ix_deploy_targets_environment", table_name="deploy_targets")
    op.drop_table("deploy_targets")
    op.drop_index("ix_deploy_transitions_deployment_id", table_name="deploy_transitions")
    op.drop_table("deploy_transitions")
    op.drop_index("ix_deploy_deployments_state", table_name="deploy_deployments")
    op.drop_index("ix_deploy_deployments_environment", table_name="deploy_deployments")
    op.drop_index("ix_deploy_deployments_service", table_name="deploy_deployments")
    op.drop_table("deploy_deployments")
    op.drop_index("ix_deploy_environments_expires_at", table_name="deploy_environments")
    op.drop_table("deploy_environments")
