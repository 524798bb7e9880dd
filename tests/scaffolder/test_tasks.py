"""Scaffolder tasks as data and in the store: transitions, redaction, claims, pagination,
migration 0004 (on SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine

from goldenpath.errors import Conflict
from goldenpath.scaffolder import taskstore
from goldenpath.scaffolder.tasks import (
    REDACTED,
    TERMINAL,
    EventType,
    TaskRecord,
    TaskStatus,
    check_transition,
    redact_values,
)
from goldenpath.store import migrate

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)

ALLOWED = [
    ("open", "processing"),
    ("open", "cancelled"),
    ("open", "failed"),
    ("processing", "completed"),
    ("processing", "failed"),
    ("processing", "cancelled"),
]


@pytest.mark.parametrize("current", [s.value for s in TaskStatus])
@pytest.mark.parametrize("target", [s.value for s in TaskStatus])
def test_transition_table(current: str, target: str) -> None:
    if (current, target) in ALLOWED:
        check_transition("t", current, target)
    else:
        with pytest.raises(Conflict, match=f"task t is {current}; it cannot become {target}"):
            check_transition("t", current, target)


def test_terminal_statuses() -> None:
    assert {TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED} == TERMINAL


def test_redaction_hides_secret_parameters_and_secret_values() -> None:
    values = {"name": "api", "password": "hunter2", "token_copy": "s3cr3t", "n": 3}
    stored, changed = redact_values(values, secret_names={"password"}, secrets={"token": "s3cr3t"})
    assert changed
    assert stored == {"name": "api", "password": REDACTED, "token_copy": REDACTED, "n": 3}
    assert redact_values({"name": "api"}, secret_names=set()) == ({"name": "api"}, False)


def _task(task_id: str, at: datetime, **kw: object) -> TaskRecord:
    return TaskRecord(
        id=task_id,
        spec={"templateInfo": {"entityRef": "template:default/x"}},
        status=TaskStatus.OPEN,
        created_by=str(kw.get("created_by", "user:default/jane")),
        created_at=at,
        last_heartbeat_at=at,
        claimed_by="host:1:1.0:abc",
    )


def test_claim_is_won_once_and_finish_writes_one_completion(engine: Engine) -> None:
    taskstore.insert_task(engine, _task("t1", T0))
    assert taskstore.claim(engine, "t1", holder="a", now=T0)
    assert not taskstore.claim(engine, "t1", holder="b", now=T0)
    assert taskstore.get_task(engine, "t1").claimed_by == "a"  # type: ignore[union-attr]
    taskstore.add_event(engine, "t1", type=EventType.LOG, body={"message": "hi"}, now=T0)
    kwargs = {"from_status": TaskStatus.PROCESSING, "to_status": TaskStatus.COMPLETED, "now": T0}
    assert taskstore.finish(engine, "t1", completion={"message": "done"}, output={"a": 1}, **kwargs)  # type: ignore[arg-type]
    assert not taskstore.finish(engine, "t1", completion={"message": "again"}, **kwargs)  # type: ignore[arg-type]
    events = taskstore.list_events(engine, "t1")
    assert [e.type for e in events] == [EventType.LOG, EventType.COMPLETION]
    assert events[0].id < events[1].id
    assert [e.body["message"] for e in taskstore.list_events(engine, "t1", after=events[0].id)] == [
        "done"
    ]
    done = taskstore.get_task(engine, "t1")
    assert done is not None and done.status is TaskStatus.COMPLETED and done.output == {"a": 1}
    assert done.completed_at == T0


def test_list_tasks_pages_newest_first_with_filters(engine: Engine) -> None:
    for i in range(5):
        by = "user:default/jane" if i % 2 == 0 else "user:default/joe"
        taskstore.insert_task(engine, _task(f"t{i}", T0 + timedelta(seconds=i), created_by=by))
    first = taskstore.list_tasks(engine, limit=2)
    assert [t.id for t in first] == ["t4", "t3"]
    rest = taskstore.list_tasks(engine, limit=10, after=(first[-1].created_at, first[-1].id))
    assert [t.id for t in rest] == ["t2", "t1", "t0"]
    assert taskstore.count_tasks(engine, created_by="user:default/jane") == 3
    assert taskstore.count_tasks(engine, status="open") == 5
    assert [t.id for t in taskstore.list_tasks(engine, created_by="user:default/joe")] == [
        "t3",
        "t1",
    ]


def test_migration_0004_round_trip(engine: Engine) -> None:
    tables = {"scaffolder_tasks", "scaffolder_task_events"}
    assert tables <= set(sa.inspect(engine).get_table_names())
    migrate.downgrade(engine, "0003_catalog_read_indexes")
    assert not tables & set(sa.inspect(engine).get_table_names())
    migrate.upgrade(engine)
    assert tables <= set(sa.inspect(engine).get_table_names())
