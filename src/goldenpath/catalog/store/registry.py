"""Registered locations: the ``catalog_locations`` rows (Backstage's ``locations`` table)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from goldenpath.catalog.store import stitch
from goldenpath.catalog.store.tables import catalog_entities, catalog_locations
from goldenpath.catalog.store.writes import bump_version

__all__ = ["delete_location", "find_location", "get_location", "insert_location", "list_locations"]

L = catalog_locations.c


def _row(r: Any) -> dict[str, Any]:
    return {"id": r.id, "type": r.type, "target": r.target}


def insert_location(conn: Connection, *, type: str, target: str, now: datetime) -> dict[str, Any]:
    """Insert and return ``{"id", "type", "target"}`` (the caller checked it does not exist)."""
    location = {"id": str(uuid.uuid4()), "type": type, "target": target}
    conn.execute(catalog_locations.insert().values(**location, created_at=now))
    return location


def find_location(conn: Connection, *, type: str, target: str) -> dict[str, Any] | None:
    """The location registered with exactly this type and target, if any."""
    row = conn.execute(
        sa.select(catalog_locations).where(L.type == type, L.target == target)
    ).first()
    return _row(row) if row else None


def get_location(conn: Connection, location_id: str) -> dict[str, Any] | None:
    """One location by id, or ``None``."""
    row = conn.execute(sa.select(catalog_locations).where(L.id == location_id)).first()
    return _row(row) if row else None


def list_locations(
    conn: Connection, *, limit: int, after_id: str | None = None
) -> list[dict[str, Any]]:
    """Locations in registration order (then id), at most ``limit`` after ``after_id``."""
    stmt = sa.select(catalog_locations).order_by(L.created_at, L.id).limit(limit)
    if after_id is not None:
        anchor = sa.select(L.created_at).where(L.id == after_id).scalar_subquery()
        stmt = stmt.where(
            sa.or_(L.created_at > anchor, sa.and_(L.created_at == anchor, L.id > after_id))
        )
    return [_row(r) for r in conn.execute(stmt)]


def delete_location(conn: Connection, location_id: str) -> bool:
    """Delete a location; its entities, search rows, relations and errors go with it (cascade);
    entities of other locations that lose relations are stitched again."""
    e = catalog_entities.c
    ids = list(conn.execute(sa.select(e.entity_id).where(e.location_id == location_id)).scalars())
    stitch.mark_sources_stale(conn, ids)
    deleted = bool(conn.execute(catalog_locations.delete().where(L.id == location_id)).rowcount)
    if deleted:
        stitch.stitch_stale(conn)
        bump_version(conn)
    return deleted
