"""Scaffolder tasks as data: statuses, the transition table, redaction and the wire shapes.

Pure functions, no IO. A task is one run of a template (Backstage ``TaskSpec`` +
``TaskStatus``); its log is a sequence of events (``log`` lines and one ``completion``).
Every status change goes through :func:`check_transition`, and the store applies it with a
compare-and-set on the old status, so two workers never both move the same task.

Shapes follow Backstage's scaffolder backend (``SerializedTask``, ``SerializedTaskEvent``):
https://backstage.io/docs/features/software-templates/writing-templates (tasks API).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from goldenpath.errors import Conflict
from goldenpath.scaffolder.actions.base import MASK

__all__ = [
    "REDACTED",
    "STALE_MESSAGE",
    "TERMINAL",
    "TRANSITIONS",
    "EventType",
    "TaskEventRecord",
    "TaskRecord",
    "TaskStatus",
    "check_transition",
    "event_json",
    "redact_values",
    "task_json",
]

#: what a secret parameter value is replaced with in stored specs and in logs
REDACTED = MASK

#: the error of a task whose server died while it ran (issue 3: never left running forever)
STALE_MESSAGE = "the server stopped while this task ran; run it again"


class TaskStatus(enum.StrEnum):
    """Backstage's task statuses."""

    OPEN = "open"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class EventType(enum.StrEnum):
    """Backstage's task event types: log lines and the final completion."""

    LOG = "log"
    COMPLETION = "completion"


#: allowed status changes (FROM → set of TO); everything else is a Conflict
TRANSITIONS: Mapping[TaskStatus, frozenset[TaskStatus]] = {
    TaskStatus.OPEN: frozenset({TaskStatus.PROCESSING, TaskStatus.CANCELLED, TaskStatus.FAILED}),
    TaskStatus.PROCESSING: frozenset(
        {TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED}
    ),
    TaskStatus.COMPLETED: frozenset(),
    TaskStatus.FAILED: frozenset(),
    TaskStatus.CANCELLED: frozenset(),
}

TERMINAL = frozenset(s for s, targets in TRANSITIONS.items() if not targets)


def check_transition(task_id: str, current: TaskStatus | str, target: TaskStatus | str) -> None:
    """Refuse a status change the table does not allow.

    Raises:
        Conflict: ``current → target`` is not in :data:`TRANSITIONS` (e.g. cancelling a
            completed task).
    """
    current, target = TaskStatus(current), TaskStatus(target)
    if target not in TRANSITIONS[current]:
        raise Conflict(f"task {task_id} is {current.value}; it cannot become {target.value}")


@dataclass(frozen=True, slots=True)
class TaskRecord:
    """One stored task (times are aware UTC)."""

    id: str
    spec: dict[str, Any]
    status: TaskStatus
    created_by: str | None
    created_at: datetime
    last_heartbeat_at: datetime | None = None
    completed_at: datetime | None = None
    claimed_by: str | None = None
    cancel_requested_at: datetime | None = None
    held_in_memory: bool = False
    output: dict[str, Any] | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class TaskEventRecord:
    """One stored event; ``body`` is ``{message, stepId?, status?, output?, error?}``."""

    id: int
    task_id: str
    type: EventType
    body: dict[str, Any]
    created_at: datetime


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def task_json(task: TaskRecord) -> dict[str, Any]:
    """Backstage's ``GET /v2/tasks/{id}`` body: ``{id, spec, status, createdAt,
    lastHeartbeatAt, createdBy}`` plus goldenpath's ``completedAt``, ``output`` and ``error``.
    Secrets are never part of it."""
    return {
        "id": task.id,
        "spec": task.spec,
        "status": task.status.value,
        "createdAt": _iso(task.created_at),
        "lastHeartbeatAt": _iso(task.last_heartbeat_at),
        "createdBy": task.created_by,
        "completedAt": _iso(task.completed_at),
        "output": task.output,
        "error": task.error,
    }


def event_json(event: TaskEventRecord) -> dict[str, Any]:
    """Backstage's ``SerializedTaskEvent``: ``{id, taskId, body, type, createdAt}``."""
    return {
        "id": event.id,
        "taskId": event.task_id,
        "body": event.body,
        "type": event.type.value,
        "createdAt": _iso(event.created_at),
    }


def redact_values(
    values: Mapping[str, Any],
    *,
    secret_names: Iterable[str],
    secrets: Mapping[str, str] | None = None,
) -> tuple[dict[str, Any], bool]:
    """``values`` fit to store: the parameters named in ``secret_names`` (those marked
    ``ui:field: Secret``/``ui:widget: password``) and any value equal to a secret replaced by
    :data:`REDACTED`. Returns ``(redacted values, whether anything was redacted)``."""
    names = set(secret_names)
    secret_values = {v for v in (secrets or {}).values() if isinstance(v, str) and v}
    redacted: dict[str, Any] = {}
    changed = False
    for key, value in values.items():
        if key in names or (isinstance(value, str) and value in secret_values):
            redacted[key] = REDACTED
            changed = True
        else:
            redacted[key] = value
    return redacted, changed
