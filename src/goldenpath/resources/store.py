"""SQL for resources: claims (state changes as compare-and-set), consumers, backup rows.

The one module of :mod:`goldenpath.resources` that speaks SQLAlchemy. Every state change goes
through :func:`goldenpath.resources.model.check_transition` and is applied only when the row
still has the state the caller read, so two writers never both move one claim.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection, Engine
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from goldenpath.errors import Conflict, NotFound
from goldenpath.resources._tables import backups, claims, consumers, to_backup, to_claim, utc
from goldenpath.resources.model import Backup, Claim, check_transition

__all__ = [
    "add_backup",
    "add_consumer",
    "clear_consumers",
    "delete_backup",
    "find_claim",
    "insert_claim",
    "list_backups",
    "list_claims",
    "load_claim",
    "remove_consumer",
    "resource_of",
    "transition",
]


def _consumers_of(conn: Connection, ids: list[int]) -> dict[int, list[str]]:
    found: dict[int, list[str]] = defaultdict(list)
    if ids:
        query = sa.select(consumers.c.claim_id, consumers.c.service).where(
            consumers.c.claim_id.in_(ids)
        )
        for row in conn.execute(query):
            found[int(row.claim_id)].append(row.service)
    return found


def _select(conn: Connection, query: sa.Select[Any]) -> list[Claim]:
    rows = list(conn.execute(query))
    users = _consumers_of(conn, [int(r.id) for r in rows])
    return [to_claim(r, users[int(r.id)]) for r in rows]


def find_claim(engine: Engine, name: str, environment: str) -> Claim | None:
    """Claim ``name`` in ``environment`` (any state, including ``deleted``) or None."""
    with engine.connect() as conn:
        found = _select(
            conn,
            sa.select(claims).where(claims.c.environment == environment, claims.c.name == name),
        )
    return found[0] if found else None


def load_claim(engine: Engine, name: str, environment: str) -> Claim:
    """Claim ``name`` in ``environment`` unless it is missing or deleted.

    Raises:
        NotFound: naming the claim and how to list them.
    """
    found = find_claim(engine, name, environment)
    if found is None or found.state == "deleted":
        raise NotFound(
            f"resource {name!r} does not exist in environment {environment!r}; "
            f"`platform db ls --env {environment}` lists them",
            details={"name": name, "environment": environment},
        )
    return found


def resource_of(engine: Engine, claim_id: int) -> dict[str, Any]:
    """What the provisioner recorded for a claim (database/role/instance names, quota)."""
    with engine.connect() as conn:
        value = conn.execute(sa.select(claims.c.resource).where(claims.c.id == claim_id)).scalar()
    return dict(value or {})


def list_claims(
    engine: Engine,
    *,
    environment: str | None = None,
    type: str | None = None,
    include_deleted: bool = False,
) -> list[Claim]:
    """Claims by environment then name, optionally filtered."""
    query = sa.select(claims).order_by(claims.c.environment, claims.c.name)
    if environment is not None:
        query = query.where(claims.c.environment == environment)
    if type is not None:
        query = query.where(claims.c.type == type)
    if not include_deleted:
        query = query.where(claims.c.state != "deleted")
    with engine.connect() as conn:
        return _select(conn, query)


def insert_claim(engine: Engine, values: Mapping[str, Any]) -> int | None:
    """Insert a new claim row in state ``provisioning``; its id, or None when a row with
    this (environment, name) exists already (the caller re-reads it)."""
    check_transition(None, "provisioning")
    try:
        with engine.begin() as conn:
            key = conn.execute(
                claims.insert().values(**dict(values), state="provisioning")
            ).inserted_primary_key
    except IntegrityError:
        return None
    assert key is not None
    return int(key[0])


def transition(
    engine: Engine,
    claim: Claim,
    to_state: str,
    *,
    now: datetime,
    message: str,
    values: Mapping[str, Any] | None = None,
) -> Claim:
    """Move ``claim`` from the state it was read in to ``to_state`` (and write ``values``).

    Raises:
        Conflict: the table forbids the change, or another writer moved the claim meanwhile.
    """
    check_transition(claim.state, to_state)
    columns = {**dict(values or {}), "state": to_state, "message": message, "updated_at": utc(now)}
    with engine.begin() as conn:
        done = conn.execute(
            claims.update()
            .where(claims.c.id == claim.id, claims.c.state == claim.state)
            .values(**columns)
        ).rowcount
        if not done:
            raise Conflict(
                f"resource {claim.name!r} in {claim.environment} changed meanwhile; try again",
                details={"name": claim.name, "environment": claim.environment},
            )
        found = _select(conn, sa.select(claims).where(claims.c.id == claim.id))
    return found[0]


def _insert_ignore(conn: Connection, table: sa.Table, values: Mapping[str, Any]) -> None:
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    conn.execute(insert(table).values(**dict(values)).on_conflict_do_nothing())


def add_consumer(engine: Engine, claim_id: int, service: str, *, now: datetime) -> None:
    """Record that ``service`` uses the claim (a no-op when it is recorded already)."""
    with engine.begin() as conn:
        _insert_ignore(
            conn, consumers, {"claim_id": claim_id, "service": service, "created_at": utc(now)}
        )


def remove_consumer(engine: Engine, claim_id: int, service: str) -> bool:
    """Forget that ``service`` uses the claim; True when it was recorded."""
    with engine.begin() as conn:
        return bool(
            conn.execute(
                consumers.delete().where(
                    consumers.c.claim_id == claim_id, consumers.c.service == service
                )
            ).rowcount
        )


def clear_consumers(engine: Engine, claim_id: int) -> None:
    """Forget every consumer of the claim (it was deleted)."""
    with engine.begin() as conn:
        conn.execute(consumers.delete().where(consumers.c.claim_id == claim_id))


def add_backup(engine: Engine, backup: Backup) -> None:
    """Record a finished backup file."""
    with engine.begin() as conn:
        conn.execute(
            backups.insert().values(
                environment=backup.environment,
                claim=backup.claim,
                id=backup.id,
                path=backup.path,
                size_bytes=backup.size_bytes,
                reason=backup.reason,
                created_at=utc(backup.created_at),
                created_by=backup.created_by,
            )
        )


def list_backups(engine: Engine, name: str, environment: str) -> list[Backup]:
    """Backups of claim ``name`` in ``environment``, newest first."""
    query = (
        sa.select(backups)
        .where(backups.c.environment == environment, backups.c.claim == name)
        .order_by(backups.c.id.desc())
    )
    with engine.connect() as conn:
        return [to_backup(row) for row in conn.execute(query)]


def delete_backup(engine: Engine, backup: Backup) -> None:
    """Forget one backup row (its file is removed by the caller)."""
    with engine.begin() as conn:
        conn.execute(
            backups.delete().where(
                backups.c.environment == backup.environment,
                backups.c.claim == backup.claim,
                backups.c.id == backup.id,
            )
        )
