"""The insights tables (Alembic revision ``0010_insights``); private to the insights store.

- ``insights_incidents``: incidents opened by hand, by Alertmanager or by the platform
  (rollbacks, failed canaries); ``fingerprint`` dedupes the automatic ones (unique when set;
  both backends allow many NULLs in a UNIQUE column).
- ``insights_deployments``: deployment events imported from outside (an existing CI), unique
  per ``(source, external_id)``.
- ``insights_survey``: developer-satisfaction answers (NPS score 0-10 and a comment).

Times are stored as UTC (PostgreSQL ``timestamptz``; SQLite the UTC wall clock as text) and
read back aware UTC through :func:`utc`.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from goldenpath.store.metadata import metadata

__all__ = ["deployments", "incidents", "survey", "utc", "utc_or_none"]

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

incidents = sa.Table(
    "insights_incidents",
    metadata,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
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
    sa.Column("labels", sa.JSON, nullable=False),
    sa.UniqueConstraint("fingerprint", name="uq_insights_incidents_fingerprint"),
    sa.Index("ix_insights_incidents_service", "service", "id"),
    sa.Index("ix_insights_incidents_state", "state", "id"),
    sa.Index("ix_insights_incidents_opened_at", "opened_at"),
)

deployments = sa.Table(
    "insights_deployments",
    metadata,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("source", sa.String(100), nullable=False),
    sa.Column("external_id", sa.String(200), nullable=False),
    sa.Column("service", sa.String(63), nullable=False),
    sa.Column("environment", sa.String(40), nullable=False),
    sa.Column("sha", sa.String(64), nullable=True),
    sa.Column("committed_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("succeeded", sa.Boolean, nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("rollback_of", sa.String(200), nullable=True),
    sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("source", "external_id", name="uq_insights_deployments_source_external_id"),
    sa.Index("ix_insights_deployments_service", "service", "environment", "finished_at"),
)

survey = sa.Table(
    "insights_survey",
    metadata,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("user_ref", sa.String(500), nullable=False),
    sa.Column("score", sa.SmallInteger, nullable=False),
    sa.Column("comment", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("score >= 0 AND score <= 10", name="score_range"),
    sa.Index("ix_insights_survey_created_at", "created_at"),
)


def utc(value: datetime) -> datetime:
    """Aware UTC (a naive value is taken as UTC already)."""
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


def utc_or_none(value: datetime | None) -> datetime | None:
    """:func:`utc` that lets None through."""
    return None if value is None else utc(value)
