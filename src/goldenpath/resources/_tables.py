"""The resources tables (Alembic revision ``0008_resources``) and row → record mapping.

Private to :mod:`goldenpath.resources.store`. ``resources_claims`` holds one row per
(environment, name) — the unique constraint is what makes two concurrent creates of one name
end up as one resource; a deleted claim keeps its row (state ``deleted``) until the name is
claimed again. ``resources_consumers`` records which services declared a claim;
``resources_backups`` the backup files taken of it. ``resource`` holds what the provisioner
made (database, role, instance names) — never a password.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, cast

import sqlalchemy as sa

from goldenpath.resources.model import Backup, Claim, ClaimState
from goldenpath.store.metadata import metadata

__all__ = ["backups", "claims", "consumers", "to_backup", "to_claim", "utc"]

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

claims = sa.Table(
    "resources_claims",
    metadata,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(63), nullable=False),
    sa.Column("environment", sa.String(40), nullable=False),
    sa.Column("type", sa.String(63), nullable=False),
    sa.Column("size", sa.String(40), nullable=False),
    sa.Column("composition", sa.String(200), nullable=False),
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("owner", sa.String(200), nullable=True),
    sa.Column("params", sa.JSON, nullable=False),
    sa.Column("outputs_ref", sa.JSON, nullable=False),
    sa.Column("resource", sa.JSON, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("created_by", sa.String(200), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("environment", "name", name="uq_resources_claims_environment_name"),
    sa.Index("ix_resources_claims_type", "type", "environment"),
)

consumers = sa.Table(
    "resources_consumers",
    metadata,
    sa.Column(
        "claim_id",
        _ID,
        sa.ForeignKey("resources_claims.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("service", sa.String(63), primary_key=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

backups = sa.Table(
    "resources_backups",
    metadata,
    sa.Column("environment", sa.String(40), primary_key=True),
    sa.Column("claim", sa.String(63), primary_key=True),
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("path", sa.Text, nullable=False),
    sa.Column("size_bytes", sa.BigInteger, nullable=False),
    sa.Column("reason", sa.String(20), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("created_by", sa.String(200), nullable=False),
)


def utc(value: datetime) -> datetime:
    """Aware UTC (a naive value is taken as UTC already: SQLite keeps the wall clock)."""
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


def to_claim(row: Any, services: Iterable[str]) -> Claim:
    """A ``resources_claims`` row plus its consumers as a :class:`Claim`."""
    return Claim(
        id=int(row.id),
        name=row.name,
        type=row.type,
        size=row.size,
        environment=row.environment,
        owner=row.owner,
        composition=row.composition,
        state=cast(ClaimState, row.state),
        message=row.message,
        outputs_ref=list(row.outputs_ref or []),
        created_at=utc(row.created_at),
        created_by=row.created_by,
        updated_at=utc(row.updated_at),
        consumers=sorted(services),
        params=dict(row.params or {}),
        storage_quota_mb=(row.resource or {}).get("storage_quota_mb"),
    )


def to_backup(row: Any) -> Backup:
    """A ``resources_backups`` row as a :class:`Backup`."""
    return Backup(
        id=row.id,
        claim=row.claim,
        environment=row.environment,
        path=row.path,
        size_bytes=int(row.size_bytes),
        created_at=utc(row.created_at),
        created_by=row.created_by,
        reason=row.reason,
    )
