"""Insights: incidents, imported deployment events, developer-satisfaction survey answers.

Revision ID: 0010_insights
Revises: 0009_users
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_insights"
down_revision = "0009_users"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _incidents() -> None:
    op.create_table(
        "insights_incidents",
        sa.Column("id", _ID, nullable=False, autoincrement=True),
        sa.Column("title", sa.String(500), nullable=False),
        sa.Column("service", sa.String(63), nullable=True),
        sa.Column("severity", sa.String(20), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("root_cause_deployment", _ID, nullable=True),
        sa.Column("root_cause_sha", sa.String(64), nullable=True),
        sa.Column("fingerprint", sa.String(300), nullable=True),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("opened_by", sa.String(200), nullable=False),
        sa.Column("resolved_by", sa.String(200), nullable=True),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_insights_incidents"),
        sa.UniqueConstraint("fingerprint", name="uq_insights_incidents_fingerprint"),
    )
    op.create_index("ix_insights_incidents_service", "insights_incidents", ["service", "id"])
    op.create_index("ix_insights_incidents_state", "insights_incidents", ["state", "id"])
    op.create_index("ix_insights_incidents_opened_at", "insights_incidents", ["opened_at"])


def _deployments() -> None:
    op.create_table(
        "insights_deployments",
        sa.Column("id", _ID, nullable=False, autoincrement=True),
        sa.Column("source", sa.String(100), nullable=False),
        sa.Column("external_id", sa.String(200), nullable=False),
        sa.Column("service", sa.String(63), nullable=False),
        sa.Column("environment", sa.String(40), nullable=False),
        sa.Column("sha", sa.String(64), nullable=True),
        sa.Column("committed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("succeeded", sa.Boolean(), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("rollback_of", sa.String(200), nullable=True),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_insights_deployments"),
        sa.UniqueConstraint(
            "source", "external_id", name="uq_insights_deployments_source_external_id"
        ),
    )
    op.create_index(
        "ix_insights_deployments_service",
        "insights_deployments",
        ["service", "environment", "finished_at"],
    )


def _survey() -> None:
    op.create_table(
        "insights_survey",
        sa.Column("id", _ID, nullable=False, autoincrement=True),
        sa.Column("user_ref", sa.String(500), nullable=False),
        sa.Column("score", sa.SmallInteger(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_insights_survey"),
        sa.CheckConstraint("score >= 0 AND score <= 10", name="ck_insights_survey_score_range"),
    )
    op.create_index("ix_insights_survey_created_at", "insights_survey", ["created_at"])


def upgrade() -> None:
    """Create ``insights_incidents``, ``insights_deployments`` and ``insights_survey``."""
    _incidents()
    _deployments()
    _survey()


def downgrade() -> None:
    """Drop the insights tables."""
    op.drop_index("ix_insights_survey_created_at", table_name="insights_survey")
    op.drop_table("insights_survey")
    op.drop_index("ix_insights_deployments_service", table_name="insights_deployments")
    op.drop_table("insights_deployments")
    op.drop_index("ix_insights_incidents_opened_at", table_name="insights_incidents")
    op.drop_index("ix_insights_incidents_state", table_name="insights_incidents")
    op.drop_index("ix_insights_incidents_service", table_name="insights_incidents")
    op.drop_table("insights_incidents")
