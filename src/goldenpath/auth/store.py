"""Tables and queries of the auth domain (the one module here that speaks SQLAlchemy).

Tables (created by Alembic revision ``0002_auth``):

- ``auth_tokens``: one row per API token; only the SHA-256 hex digest of the secret is kept.
- ``audit_log``: one row per mutating request (who, action, target, outcome, time).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Engine,
    Integer,
    String,
    Table,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import OperationalError

from goldenpath.auth.models import AuditEntry, Role, TokenRead
from goldenpath.store.metadata import metadata

__all__ = [
    "audit_log",
    "auth_tokens",
    "count_tokens",
    "find_token_by_hash",
    "get_token",
    "insert_audit",
    "insert_token",
    "list_audit",
    "list_tokens",
    "revoke_token",
    "touch_token",
]

_log = logging.getLogger(__name__)

auth_tokens = Table(
    "auth_tokens",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("owner", String(500), nullable=False, index=True),
    Column("role", String(20), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_used_at", DateTime(timezone=True), nullable=True),
    Column("expires_at", DateTime(timezone=True), nullable=True),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("at", DateTime(timezone=True), nullable=False, index=True),
    Column("actor", String(500), nullable=True),
    Column("token_id", String(36), nullable=True),
    Column("action", String(200), nullable=False),
    Column("target", String(2000), nullable=False),
    Column("outcome", Integer, nullable=False),
)


def _utc(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything stored is UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def _token(row: Any) -> TokenRead:
    return TokenRead(
        id=row.id,
        name=row.name,
        owner=row.owner,
        role=Role(row.role),
        created_at=_utc(row.created_at) or datetime.now(UTC),
        last_used_at=_utc(row.last_used_at),
        expires_at=_utc(row.expires_at),
        revoked_at=_utc(row.revoked_at),
    )


def insert_token(engine: Engine, *, info: TokenRead, token_hash: str) -> None:
    """Store a new token row (``token_hash`` = SHA-256 hex of the secret)."""
    with engine.begin() as conn:
        conn.execute(
            insert(auth_tokens).values(
                id=info.id,
                name=info.name,
                owner=info.owner,
                role=info.role.value,
                token_hash=token_hash,
                created_at=info.created_at,
                expires_at=info.expires_at,
            )
        )


def count_tokens(engine: Engine) -> int:
    """Number of token rows, revoked ones included (0 means: first start)."""
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(auth_tokens)).scalar_one())


def find_token_by_hash(engine: Engine, token_hash: str) -> TokenRead | None:
    """The token whose secret hashes to ``token_hash``, or None."""
    with engine.connect() as conn:
        row = conn.execute(
            select(auth_tokens).where(auth_tokens.c.token_hash == token_hash)
        ).first()
    return _token(row) if row is not None else None


def get_token(engine: Engine, token_id: str) -> TokenRead | None:
    """The token with id ``token_id``, or None."""
    with engine.connect() as conn:
        row = conn.execute(select(auth_tokens).where(auth_tokens.c.id == token_id)).first()
    return _token(row) if row is not None else None


def list_tokens(engine: Engine, *, limit: int, after: str | None = None) -> list[TokenRead]:
    """Tokens ordered by id, at most ``limit``, starting after id ``after`` (keyset page)."""
    query = select(auth_tokens).order_by(auth_tokens.c.id).limit(limit)
    if after:
        query = query.where(auth_tokens.c.id > after)
    with engine.connect() as conn:
        return [_token(row) for row in conn.execute(query)]


def touch_token(engine: Engine, token_id: str, at: datetime) -> None:
    """Record ``at`` as the token's last use; best effort (a busy database skips it)."""
    try:
        with engine.begin() as conn:
            conn.execute(
                update(auth_tokens).where(auth_tokens.c.id == token_id).values(last_used_at=at)
            )
    except OperationalError:
        _log.warning("could not record the last use of token %s (database busy)", token_id)


def revoke_token(engine: Engine, token_id: str, at: datetime) -> bool:
    """Mark the token revoked at ``at``; False when no such token exists."""
    with engine.begin() as conn:
        result = conn.execute(
            update(auth_tokens)
            .where(auth_tokens.c.id == token_id, auth_tokens.c.revoked_at.is_(None))
            .values(revoked_at=at)
        )
        if result.rowcount:
            return True
        exists = conn.execute(select(auth_tokens.c.id).where(auth_tokens.c.id == token_id)).first()
        return exists is not None


def insert_audit(
    engine: Engine,
    *,
    at: datetime,
    actor: str | None,
    token_id: str | None,
    action: str,
    target: str,
    outcome: int,
) -> None:
    """Append one audit row."""
    with engine.begin() as conn:
        conn.execute(
            insert(audit_log).values(
                at=at,
                actor=actor,
                token_id=token_id,
                action=action[:200],
                target=target[:2000],
                outcome=outcome,
            )
        )


def list_audit(
    engine: Engine, *, limit: int, before: int | None = None, actor: str | None = None
) -> Sequence[AuditEntry]:
    """Newest audit rows first, at most ``limit``, with id below ``before`` (keyset page)."""
    query = select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
    if before is not None:
        query = query.where(audit_log.c.id < before)
    if actor:
        query = query.where(audit_log.c.actor == actor)
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return [
        AuditEntry(
            id=row.id,
            at=_utc(row.at) or row.at,
            actor=row.actor,
            token_id=row.token_id,
            action=row.action,
            target=row.target,
            outcome=row.outcome,
        )
        for row in rows
    ]
