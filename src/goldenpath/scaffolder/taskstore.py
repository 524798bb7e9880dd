"""Tables and queries of scaffolder tasks (the one scaffolder module that speaks SQLAlchemy).

Tables (created by Alembic revision ``0004_scaffolder``; SQLite and PostgreSQL):

- ``scaffolder_tasks``: one row per task: ``spec`` (Backstage ``TaskSpec``, secret values
  redacted), ``status``, ``created_by``, times, ``claimed_by`` (the worker running it),
  ``output``/``error`` once it ended. Secret values are never stored.
- ``scaffolder_task_events``: the task's log, ``id`` ascending (SSE ids, ``?after=``).

Status changes are compare-and-set on the old status (``UPDATE … WHERE status = :old``) so
two workers, or a worker and a canceller, never both win; the transition table lives in
:mod:`goldenpath.scaffolder.tasks`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine

from goldenpath.scaffolder.tasks import (
    EventType,
    TaskEventRecord,
    TaskRecord,
    TaskStatus,
    check_transition,
)
from goldenpath.store.metadata import metadata

__all__ = [
    "add_event",
    "claim",
    "count_tasks",
    "finish",
    "get_task",
    "heartbeat",
    "insert_task",
    "list_events",
    "list_tasks",
    "request_cancel",
    "scaffolder_task_events",
    "scaffolder_tasks",
    "tasks_with_cancel_requested",
    "unfinished_tasks",
]

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

scaffolder_tasks = sa.Table(
    "scaffolder_tasks",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("spec", sa.JSON, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("created_by", sa.String(500), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_heartbeat_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("claimed_by", sa.String(200), nullable=True),
    sa.Column("cancel_requested_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("held_in_memory", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("output", sa.JSON, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Index("ix_scaffolder_tasks_status", "status", "created_at"),
    sa.Index("ix_scaffolder_tasks_created_at", "created_at", "id"),
    sa.Index("ix_scaffolder_tasks_created_by", "created_by", "created_at"),
)

scaffolder_task_events = sa.Table(
    "scaffolder_task_events",
    metadata,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column(
        "task_id",
        sa.String(36),
        sa.ForeignKey("scaffolder_tasks.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("type", sa.String(20), nullable=False),
    sa.Column("body", sa.JSON, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_scaffolder_task_events_task_id", "task_id", "id"),
)

_T = scaffolder_tasks
_E = scaffolder_task_events


def _utc(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything stored is UTC."""
    if value is None:
        return None
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


def _task(row: Any) -> TaskRecord:
    return TaskRecord(
        id=row.id,
        spec=dict(row.spec or {}),
        status=TaskStatus(row.status),
        created_by=row.created_by,
        created_at=_utc(row.created_at) or datetime.now(UTC),
        last_heartbeat_at=_utc(row.last_heartbeat_at),
        completed_at=_utc(row.completed_at),
        claimed_by=row.claimed_by,
        cancel_requested_at=_utc(row.cancel_requested_at),
        held_in_memory=bool(row.held_in_memory),
        output=row.output,
        error=row.error,
    )


def _event(row: Any) -> TaskEventRecord:
    return TaskEventRecord(
        id=int(row.id),
        task_id=row.task_id,
        type=EventType(row.type),
        body=dict(row.body or {}),
        created_at=_utc(row.created_at) or datetime.now(UTC),
    )


def insert_task(engine: Engine, task: TaskRecord) -> None:
    """Store a new task row (status ``open``; ``claimed_by`` = the server holding it)."""
    with engine.begin() as conn:
        conn.execute(
            _T.insert().values(
                id=task.id,
                spec=task.spec,
                status=task.status.value,
                created_by=task.created_by,
                created_at=task.created_at,
                claimed_by=task.claimed_by,
                last_heartbeat_at=task.last_heartbeat_at,
                held_in_memory=task.held_in_memory,
            )
        )


def get_task(engine: Engine, task_id: str) -> TaskRecord | None:
    """The task ``task_id`` or None."""
    with engine.connect() as conn:
        row = conn.execute(sa.select(_T).where(_T.c.id == task_id)).first()
    return None if row is None else _task(row)


def _filters(created_by: str | None, status: str | None) -> list[Any]:
    conditions: list[Any] = []
    if created_by:
        conditions.append(_T.c.created_by == created_by)
    if status:
        conditions.append(_T.c.status == status)
    return conditions


def list_tasks(
    engine: Engine,
    *,
    created_by: str | None = None,
    status: str | None = None,
    limit: int = 50,
    after: tuple[datetime, str] | None = None,
) -> list[TaskRecord]:
    """Tasks newest first; ``after`` = ``(created_at, id)`` of the last task of the previous
    page (keyset pagination)."""
    query = sa.select(_T).where(*_filters(created_by, status))
    if after is not None:
        at, last_id = after
        query = query.where(
            sa.or_(_T.c.created_at < at, sa.and_(_T.c.created_at == at, _T.c.id < last_id))
        )
    query = query.order_by(_T.c.created_at.desc(), _T.c.id.desc()).limit(limit)
    with engine.connect() as conn:
        return [_task(row) for row in conn.execute(query)]


def count_tasks(engine: Engine, *, created_by: str | None = None, status: str | None = None) -> int:
    """How many tasks match the filters."""
    query = sa.select(sa.func.count()).select_from(_T).where(*_filters(created_by, status))
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def unfinished_tasks(engine: Engine, *, limit: int = 1000) -> list[TaskRecord]:
    """``open`` and ``processing`` tasks, oldest first (recovery decides which are dead)."""
    query = (
        sa.select(_T)
        .where(_T.c.status.in_([TaskStatus.OPEN.value, TaskStatus.PROCESSING.value]))
        .order_by(_T.c.created_at, _T.c.id)
        .limit(limit)
    )
    with engine.connect() as conn:
        return [_task(row) for row in conn.execute(query)]


def claim(engine: Engine, task_id: str, *, holder: str, now: datetime) -> bool:
    """``open → processing`` for ``holder``; False when someone else claimed it first."""
    check_transition(task_id, TaskStatus.OPEN, TaskStatus.PROCESSING)
    with engine.begin() as conn:
        result = conn.execute(
            _T.update()
            .where(_T.c.id == task_id, _T.c.status == TaskStatus.OPEN.value)
            .values(status=TaskStatus.PROCESSING.value, claimed_by=holder, last_heartbeat_at=now)
        )
    return bool(result.rowcount)


def heartbeat(engine: Engine, task_ids: Iterable[str], *, holder: str, now: datetime) -> None:
    """Refresh ``last_heartbeat_at`` of the tasks ``holder`` holds (queued or processing)."""
    ids = list(task_ids)
    if not ids:
        return
    with engine.begin() as conn:
        conn.execute(
            _T.update()
            .where(
                _T.c.id.in_(ids),
                _T.c.claimed_by == holder,
                _T.c.status.in_([TaskStatus.OPEN.value, TaskStatus.PROCESSING.value]),
            )
            .values(last_heartbeat_at=now)
        )


def request_cancel(engine: Engine, task_id: str, *, now: datetime) -> None:
    """Mark a running task for cancellation (its worker sees it on its next heartbeat)."""
    with engine.begin() as conn:
        conn.execute(
            _T.update()
            .where(_T.c.id == task_id, _T.c.cancel_requested_at.is_(None))
            .values(cancel_requested_at=now)
        )


def tasks_with_cancel_requested(engine: Engine, task_ids: Iterable[str]) -> set[str]:
    """Which of ``task_ids`` have a pending cancellation request."""
    ids = list(task_ids)
    if not ids:
        return set()
    query = sa.select(_T.c.id).where(_T.c.id.in_(ids), _T.c.cancel_requested_at.is_not(None))
    with engine.connect() as conn:
        return {str(row[0]) for row in conn.execute(query)}


def add_event(
    engine: Engine,
    task_id: str,
    *,
    type: EventType,
    body: Mapping[str, Any],
    now: datetime,
) -> int:
    """Append an event to the task's log; returns its id."""
    with engine.begin() as conn:
        result = conn.execute(
            _E.insert().values(task_id=task_id, type=type.value, body=dict(body), created_at=now)
        )
        key = result.inserted_primary_key
        assert key is not None
        return int(key[0])


def list_events(
    engine: Engine, task_id: str, *, after: int | None = None, limit: int = 10_000
) -> list[TaskEventRecord]:
    """The task's events with ``id > after``, oldest first."""
    query = sa.select(_E).where(_E.c.task_id == task_id)
    if after is not None:
        query = query.where(_E.c.id > after)
    query = query.order_by(_E.c.id).limit(limit)
    with engine.connect() as conn:
        return [_event(row) for row in conn.execute(query)]


def finish(
    engine: Engine,
    task_id: str,
    *,
    from_status: TaskStatus,
    to_status: TaskStatus,
    now: datetime,
    completion: Mapping[str, Any],
    output: Mapping[str, Any] | None = None,
    error: str | None = None,
) -> bool:
    """End a task: ``from_status → to_status`` and its ``completion`` event, in one
    transaction. False (and nothing written) when the task was no longer in ``from_status``.

    Raises:
        Conflict: the transition is not allowed by the table.
    """
    check_transition(task_id, from_status, to_status)
    with engine.begin() as conn:
        result = conn.execute(
            _T.update()
            .where(_T.c.id == task_id, _T.c.status == from_status.value)
            .values(
                status=to_status.value,
                completed_at=now,
                output=dict(output) if output is not None else None,
                error=error,
            )
        )
        if not result.rowcount:
            return False
        conn.execute(
            _E.insert().values(
                task_id=task_id,
                type=EventType.COMPLETION.value,
                body=dict(completion),
                created_at=now,
            )
        )
    return True
