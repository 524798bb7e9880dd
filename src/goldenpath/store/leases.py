"""Leases: named, expiring locks kept in the database instead of in memory.

A lease survives only as long as its holder keeps renewing it, so a crashed holder never
blocks others for longer than the lease's time to live. The catalog refresh takes the
``catalog-refresh`` lease (a second refresh gets :class:`goldenpath.errors.Conflict`); the
reconciler claims its work the same way. Works identically on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from goldenpath.store.metadata import metadata

__all__ = ["acquire", "holder_of", "leases", "release", "renew"]

leases = sa.Table(
    "leases",
    metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("holder", sa.String(200), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
)


def _now() -> datetime:
    return datetime.now(UTC)


def _utc(value: datetime) -> datetime:
    """Aware UTC: PostgreSQL compares instants; SQLite stores the UTC wall clock as text."""
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


def acquire(
    engine: Engine, name: str, holder: str, *, ttl: float, now: datetime | None = None
) -> bool:
    """Take lease ``name`` for ``holder`` for ``ttl`` seconds.

    Succeeds when the lease is free, expired, or already held by ``holder`` (then it is
    extended). Returns ``False`` when someone else holds an unexpired lease.
    """
    now = _utc(now or _now())
    expires = now + timedelta(seconds=ttl)
    with engine.begin() as conn:
        taken = conn.execute(
            leases.update()
            .where(leases.c.name == name)
            .where(sa.or_(leases.c.expires_at <= now, leases.c.holder == holder))
            .values(holder=holder, expires_at=expires)
        ).rowcount
    if taken:
        return True
    try:
        with engine.begin() as conn:
            conn.execute(leases.insert().values(name=name, holder=holder, expires_at=expires))
    except IntegrityError:
        return False
    return True


def renew(
    engine: Engine, name: str, holder: str, *, ttl: float, now: datetime | None = None
) -> bool:
    """Extend a lease ``holder`` still holds; ``False`` when it was lost (expired and taken)."""
    now = _utc(now or _now())
    with engine.begin() as conn:
        return bool(
            conn.execute(
                leases.update()
                .where(leases.c.name == name, leases.c.holder == holder)
                .values(expires_at=now + timedelta(seconds=ttl))
            ).rowcount
        )


def release(engine: Engine, name: str, holder: str) -> None:
    """Give the lease up (no-op when ``holder`` does not hold it)."""
    with engine.begin() as conn:
        conn.execute(leases.delete().where(leases.c.name == name, leases.c.holder == holder))


def holder_of(engine: Engine, name: str, *, now: datetime | None = None) -> str | None:
    """Who holds an unexpired lease ``name`` right now, or ``None``."""
    now = _utc(now or _now())
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(leases.c.holder).where(leases.c.name == name, leases.c.expires_at > now)
        ).first()
    return None if row is None else str(row[0])
