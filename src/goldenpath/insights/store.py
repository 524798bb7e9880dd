"""Incidents, imported deployments and survey answers in the database (the one insights module
speaking SQL), plus the read-only scan of the deploy store's production deployments.

Tables (Alembic revision ``0010_insights``, SQLite and PostgreSQL; declared in
:mod:`goldenpath.insights._tables`). Invariants without table locks: an automatic incident is
inserted with ``INSERT … ON CONFLICT DO NOTHING`` on its unique fingerprint (two racing
writers open it once); resolving is a compare-and-set on ``state = 'open'`` (the loser gets
:class:`~goldenpath.errors.Conflict`); imported events are unique per ``(source, id)``.
Winners are read with ``RETURNING``, never ``rowcount``. Every function raises only
:mod:`goldenpath.errors` classes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy import Connection, Engine
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from goldenpath.deploy import _tables as deploy_tables
from goldenpath.errors import Conflict, InvalidInput, NotFound
from goldenpath.insights import _tables as t
from goldenpath.insights.imports import DeploymentImport
from goldenpath.insights.incidents import STATES, Incident, IncidentSource, IncidentState
from goldenpath.insights.survey import SurveyAnswer

__all__ = [
    "DeployRow",
    "ImportedRow",
    "deployment_sha",
    "get_incident",
    "imported_after",
    "incident_by_fingerprint",
    "incidents_opened_since",
    "insert_imports",
    "insert_incident",
    "insert_survey",
    "last_import_id",
    "list_incidents",
    "production_deployments",
    "resolve_incident",
    "survey_since",
]

_I, _M, _S = t.incidents, t.deployments, t.survey
_D = deploy_tables.deployments
_MAX_LIMIT = 1000
_CHUNK = 500


@dataclass(frozen=True)
class DeployRow:
    """The columns of a platform deployment the DORA metrics read (times aware UTC)."""

    id: int
    service: str
    kind: str
    strategy: str
    sha: str | None
    committed_at: datetime | None
    state: str
    created_at: datetime
    finished_at: datetime | None
    rollback_of: int | None


@dataclass(frozen=True)
class ImportedRow:
    """One stored imported deployment event with its row ``id`` (the import watermark)."""

    id: int
    event: DeploymentImport


def _insert(conn: Connection) -> Any:
    return pg_insert if conn.dialect.name == "postgresql" else sqlite_insert


def _to_incident(row: Any) -> Incident:
    return Incident(
        id=int(row.id),
        title=row.title,
        service=row.service,
        severity=row.severity,
        state=cast(IncidentState, row.state),
        source=cast(IncidentSource, row.source),
        root_cause_deployment=(
            None if row.root_cause_deployment is None else int(row.root_cause_deployment)
        ),
        root_cause_sha=row.root_cause_sha,
        fingerprint=row.fingerprint,
        opened_at=t.utc(row.opened_at),
        resolved_at=t.utc_or_none(row.resolved_at),
        opened_by=row.opened_by,
        resolved_by=row.resolved_by,
        labels=dict(row.labels or {}),
    )


# --- incidents ---------------------------------------------------------------------------


def insert_incident(engine: Engine, values: Mapping[str, Any]) -> tuple[Incident, bool]:
    """Insert an incident (``values``: the table's columns but ``id``); with a fingerprint
    already stored, nothing is written. Returns ``(incident, created)`` where ``incident`` is
    the stored one (the existing one for a duplicate fingerprint)."""
    row = {**values, "labels": dict(values.get("labels") or {})}
    with engine.begin() as conn:
        statement = _insert(conn)(_I).values(**row).on_conflict_do_nothing().returning(_I.c.id)
        key = conn.execute(statement).scalar()
        if key is None:
            found = conn.execute(
                sa.select(_I).where(_I.c.fingerprint == values["fingerprint"])
            ).first()
            assert found is not None  # only the fingerprint is unique besides the id
            return _to_incident(found), False
        return _load(conn, int(key)), True


def _load(conn: Connection, incident_id: int) -> Incident:
    row = conn.execute(sa.select(_I).where(_I.c.id == incident_id)).first()
    if row is None:
        raise NotFound(
            f"incident {incident_id} does not exist; `platform incident ls` lists them",
            details={"id": incident_id},
        )
    return _to_incident(row)


def get_incident(engine: Engine, incident_id: int) -> Incident:
    """Incident ``incident_id`` (NotFound naming how to list them)."""
    with engine.connect() as conn:
        return _load(conn, incident_id)


def incident_by_fingerprint(engine: Engine, fingerprint: str) -> Incident | None:
    """The incident with ``fingerprint``, or None."""
    with engine.connect() as conn:
        row = conn.execute(sa.select(_I).where(_I.c.fingerprint == fingerprint)).first()
    return None if row is None else _to_incident(row)


def resolve_incident(engine: Engine, incident_id: int, *, actor: str, at: datetime) -> Incident:
    """Mark an open incident resolved by ``actor`` at ``at`` (compare-and-set on the state).

    Raises:
        NotFound: no such incident.
        Conflict: it is resolved already (names when and by whom).
    """
    with engine.begin() as conn:
        moved = conn.execute(
            _I.update()
            .where(_I.c.id == incident_id, _I.c.state == "open")
            .values(state="resolved", resolved_at=at, resolved_by=actor)
            .returning(_I.c.id)
        ).first()
        found = _load(conn, incident_id)
        if moved is None:
            raise Conflict(
                f"incident {incident_id} is already resolved (by {found.resolved_by} at "
                f"{found.resolved_at:%Y-%m-%d %H:%M}Z); open a new incident if it is back",
                details={"id": incident_id, "state": found.state},
            )
        return found


def list_incidents(
    engine: Engine,
    *,
    service: str | None = None,
    state: str | None = None,
    limit: int = 100,
) -> list[Incident]:
    """Incidents newest first, optionally of one service and/or state, at most ``limit``.

    Raises:
        InvalidInput: ``limit`` outside 1-1000 or an unknown state.
    """
    if not 1 <= limit <= _MAX_LIMIT:
        raise InvalidInput(f"limit {limit} is out of range; use 1-{_MAX_LIMIT}")
    query = sa.select(_I)
    if service is not None:
        query = query.where(_I.c.service == service)
    if state is not None:
        if state not in STATES:
            raise InvalidInput(
                f"incident state {state!r} is unknown; use {' or '.join(STATES)}",
                details={"field": "state"},
            )
        query = query.where(_I.c.state == state)
    with engine.connect() as conn:
        rows = conn.execute(query.order_by(_I.c.id.desc()).limit(limit))
        return [_to_incident(row) for row in rows]


def incidents_opened_since(engine: Engine, since: datetime) -> list[Incident]:
    """Every incident opened at or after ``since``, or still open, oldest first."""
    query = sa.select(_I).where(sa.or_(_I.c.opened_at >= since, _I.c.state == "open"))
    with engine.connect() as conn:
        return [_to_incident(row) for row in conn.execute(query.order_by(_I.c.id))]


# --- imported deployments ----------------------------------------------------------------


def insert_imports(engine: Engine, events: Sequence[DeploymentImport], *, now: datetime) -> int:
    """Store ``events``; those whose ``(source, external_id)`` is stored already are skipped.
    Returns how many rows were inserted (one transaction; multi-row inserts of 500)."""
    rows = [
        {
            "source": e.source,
            "external_id": e.external_id,
            "service": e.service,
            "environment": e.environment,
            "sha": e.sha,
            "committed_at": e.committed_at,
            "finished_at": e.finished_at,
            "succeeded": e.succeeded,
            "kind": e.kind,
            "rollback_of": e.rollback_of,
            "imported_at": now,
        }
        for e in events
    ]
    inserted = 0
    with engine.begin() as conn:
        for i in range(0, len(rows), _CHUNK):
            statement = (
                _insert(conn)(_M)
                .values(rows[i : i + _CHUNK])
                .on_conflict_do_nothing()
                .returning(_M.c.id)
            )
            inserted += len(conn.execute(statement).all())
    return inserted


def imported_after(engine: Engine, after_id: int, *, environment: str) -> list[ImportedRow]:
    """Imported events of ``environment`` with a row id above ``after_id``, by id."""
    query = (
        sa.select(_M).where(_M.c.id > after_id, _M.c.environment == environment).order_by(_M.c.id)
    )
    with engine.connect() as conn:
        return [
            ImportedRow(
                id=int(row.id),
                event=DeploymentImport(
                    source=row.source,
                    external_id=row.external_id,
                    service=row.service,
                    environment=row.environment,
                    sha=row.sha,
                    committed_at=t.utc_or_none(row.committed_at),
                    finished_at=t.utc(row.finished_at),
                    succeeded=bool(row.succeeded),
                    kind=row.kind,
                    rollback_of=row.rollback_of,
                ),
            )
            for row in conn.execute(query)
        ]


def last_import_id(engine: Engine) -> int:
    """The highest imported row id (0 when none)."""
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.max(_M.c.id))).scalar() or 0)


# --- the deploy store's production deployments (read-only) -------------------------------


def production_deployments(
    engine: Engine, *, environment: str, after_id: int, also: Iterable[int] = ()
) -> list[DeployRow]:
    """Deployments to ``environment`` with an id above ``after_id`` or in ``also`` (the ones
    still in flight at the previous scan), by id; only the columns DORA needs, no
    transitions."""
    columns = (
        _D.c.id,
        _D.c.service,
        _D.c.kind,
        _D.c.strategy,
        _D.c.sha,
        _D.c.committed_at,
        _D.c.state,
        _D.c.created_at,
        _D.c.finished_at,
        _D.c.rollback_of,
    )
    wanted = sorted(set(also))
    which = _D.c.id > after_id
    if wanted:
        which = sa.or_(which, _D.c.id.in_(wanted))
    query = sa.select(*columns).where(_D.c.environment == environment, which).order_by(_D.c.id)
    with engine.connect() as conn:
        return [
            DeployRow(
                id=int(row.id),
                service=row.service,
                kind=row.kind,
                strategy=row.strategy,
                sha=row.sha,
                committed_at=t.utc_or_none(row.committed_at),
                state=row.state,
                created_at=t.utc(row.created_at),
                finished_at=t.utc_or_none(row.finished_at),
                rollback_of=None if row.rollback_of is None else int(row.rollback_of),
            )
            for row in conn.execute(query)
        ]


def deployment_sha(engine: Engine, deployment_id: int) -> tuple[str, str | None] | None:
    """``(service, sha)`` of platform deployment ``deployment_id``, None when it is unknown."""
    query = sa.select(_D.c.service, _D.c.sha).where(_D.c.id == deployment_id)
    with engine.connect() as conn:
        row = conn.execute(query).first()
    return None if row is None else (row.service, row.sha)


# --- survey ------------------------------------------------------------------------------


def insert_survey(
    engine: Engine, *, user: str, score: int, comment: str, at: datetime
) -> SurveyAnswer:
    """Store one survey answer."""
    with engine.begin() as conn:
        key = conn.execute(
            _S.insert()
            .values(user_ref=user, score=score, comment=comment, created_at=at)
            .returning(_S.c.id)
        ).scalar_one()
    return SurveyAnswer(id=int(key), user=user, score=score, comment=comment, created_at=at)


def survey_since(engine: Engine, since: datetime) -> list[SurveyAnswer]:
    """Survey answers created at or after ``since``, oldest first."""
    query = sa.select(_S).where(_S.c.created_at >= since).order_by(_S.c.created_at, _S.c.id)
    with engine.connect() as conn:
        return [
            SurveyAnswer(
                id=int(row.id),
                user=row.user_ref,
                score=int(row.score),
                comment=row.comment,
                created_at=t.utc(row.created_at),
            )
            for row in conn.execute(query)
        ]
