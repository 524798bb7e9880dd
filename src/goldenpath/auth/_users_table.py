"""The ``auth_users`` table (Alembic revision ``0009_users``) and its queries.

Private to :mod:`goldenpath.auth`; :mod:`goldenpath.auth.users` is the public face. One row per
local portal account: the User entity ref (lower-case, the key), an argon2 password hash (None
until a password is set), the role its sign-ins get, a disabled flag and the times of the
first and last sign-in.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Engine,
    String,
    Table,
    false,
    insert,
    select,
    update,
)

from goldenpath.store.metadata import metadata

__all__ = ["auth_users", "get_user", "insert_user", "list_users", "update_user"]

auth_users = Table(
    "auth_users",
    metadata,
    Column("ref", String(500), primary_key=True),
    Column("password_hash", String(500), nullable=True),
    Column("role", String(20), nullable=False),
    Column("disabled", Boolean(), nullable=False, server_default=false()),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("last_login_at", DateTime(timezone=True), nullable=True),
    Column("first_login_at", DateTime(timezone=True), nullable=True),
)


def _utc(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything stored is UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def _row(row: Any) -> dict[str, Any]:
    doc = dict(row._mapping)
    for key in ("created_at", "updated_at", "last_login_at", "first_login_at"):
        doc[key] = _utc(doc[key])
    doc["disabled"] = bool(doc["disabled"])
    return doc


def get_user(engine: Engine, ref: str) -> dict[str, Any] | None:
    """The row of ``ref`` (lower-case entity ref) as a dict, or None."""
    with engine.connect() as conn:
        row = conn.execute(select(auth_users).where(auth_users.c.ref == ref)).first()
    return _row(row) if row is not None else None


def list_users(engine: Engine) -> list[dict[str, Any]]:
    """Every row, ordered by ref."""
    with engine.connect() as conn:
        return [_row(r) for r in conn.execute(select(auth_users).order_by(auth_users.c.ref))]


def insert_user(
    engine: Engine, *, ref: str, role: str, password_hash: str | None, now: datetime
) -> None:
    """Insert a new row (the caller checked that ``ref`` is free)."""
    with engine.begin() as conn:
        conn.execute(
            insert(auth_users).values(
                ref=ref,
                role=role,
                password_hash=password_hash,
                disabled=False,
                created_at=now,
                updated_at=now,
            )
        )


def update_user(engine: Engine, ref: str, **values: Any) -> bool:
    """Update columns of ``ref``'s row; False when no such row exists."""
    with engine.begin() as conn:
        result = conn.execute(update(auth_users).where(auth_users.c.ref == ref).values(**values))
    return bool(result.rowcount)
