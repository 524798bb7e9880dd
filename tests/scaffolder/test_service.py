"""ScaffolderService on a real store (SQLite and PostgreSQL), a real catalog and worker
threads: tasks run, log, redact secrets, cancel, time out, and a dead server's tasks fail."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine

from goldenpath import processes
from goldenpath.catalog.service import CatalogService
from goldenpath.errors import Conflict, Forbidden, InvalidInput, NotFound
from goldenpath.scaffolder import taskstore
from goldenpath.scaffolder._workers import LOST_SECRETS_MESSAGE
from goldenpath.scaffolder.actions.base import Action, ActionContext, ActionRegistry
from goldenpath.scaffolder.service import ScaffolderService
from goldenpath.scaffolder.tasks import STALE_MESSAGE, TaskRecord, TaskStatus
from goldenpath.settings import Settings

TEMPLATE = """\
apiVersion: scaffolder.backstage.io/v1beta3
kind: Template
metadata:
  name: {name}
  title: Test template
spec:
  owner: group:default/team-a
  type: service
  parameters:
    - title: Basics
      required: [name]
      properties:
        name:
          type: string
          pattern: '^[a-z][a-z0-9-]+$'
        password:
          type: string
          ui:field: Secret
  steps:
{steps}
  output:
    text:
      - title: Hello
        content: made ${{{{ parameters.name }}}}
"""

WRITE_STEP = """\
    - id: write
      name: Write a file
      action: test:write
      input:
        path: ${{ parameters.name }}.txt
        content: "token=${{ secrets.token }} password=${{ parameters.password }}"
"""

SLEEP_STEPS = "".join(
    f"""\
    - id: sleep{i}
      action: test:sleep
      input: {{seconds: 0.3}}
"""
    for i in range(6)
)


def _write(ctx: ActionContext) -> None:
    target = ctx.resolve(ctx.input["path"])
    target.write_text(ctx.input["content"])
    ctx.log(f"wrote {ctx.input['path']}: {ctx.input['content']}")
    ctx.output("path", ctx.input["path"])


def _sleep(ctx: ActionContext) -> None:
    time.sleep(float(ctx.input.get("seconds", 0.1)))
    ctx.log("slept")


def test_registry() -> ActionRegistry:
    """Actions for these tests: write a file (logging secrets, which must be masked), sleep."""
    return ActionRegistry(
        [
            Action("test:write", "write a file", _write, supports_dry_run=True),
            Action("test:sleep", "sleep", _sleep, supports_dry_run=True),
        ]
    )


test_registry.__test__ = False  # type: ignore[attr-defined]


@pytest.fixture
def make_template(tmp_path: Path, catalog: CatalogService) -> Callable[[str, str], str]:
    """Register a template with the given steps; returns its ref."""

    def make(name: str, steps: str) -> str:
        folder = tmp_path / "templates" / name
        folder.mkdir(parents=True)
        (folder / "template.yaml").write_text(TEMPLATE.format(name=name, steps=steps))
        catalog.register_location(type="file", target=str(folder / "template.yaml"))
        return f"template:default/{name}"

    return make


def _service(
    engine: Engine, settings: Settings, catalog: CatalogService, **scaffolder: Any
) -> ScaffolderService:
    settings.scaffolder = settings.scaffolder.model_copy(
        update={"heartbeat_interval": 0.1, "stale_after": 5.0, "workers": 1, **scaffolder}
    )
    return ScaffolderService(
        engine=engine,
        settings=settings,
        catalog=catalog,
        registry=test_registry(),
        githost=object(),
    )


@pytest.fixture
def service(
    engine: Engine, settings: Settings, catalog: CatalogService
) -> Iterator[ScaffolderService]:
    svc = _service(engine, settings, catalog)
    svc.start()
    try:
        yield svc
    finally:
        svc.stop()


def _wait(svc: ScaffolderService, task_id: str, timeout: float = 20.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        task = svc.get_task(task_id)
        if task["status"] in ("completed", "failed", "cancelled"):
            return task
        time.sleep(0.05)
    raise AssertionError(f"task {task_id} still {svc.get_task(task_id)['status']}")


def _dump(engine: Engine) -> str:
    with engine.connect() as conn:
        rows = [
            *conn.execute(sa.select(taskstore.scaffolder_tasks)),
            *conn.execute(sa.select(taskstore.scaffolder_task_events)),
        ]
    return json.dumps([list(map(str, r)) for r in rows])


def test_task_runs_logs_and_never_stores_secrets(
    service: ScaffolderService, make_template: Callable[[str, str], str]
) -> None:
    ref = make_template("writer", WRITE_STEP)
    task_id = service.create_task(
        template_ref=ref,
        values={"name": "my-api", "password": "pa55word"},
        secrets={"token": "tok-123"},
        user_ref="user:default/jane",
    )
    task = _wait(service, task_id)
    assert task["status"] == "completed", task
    assert task["output"] == {"text": [{"title": "Hello", "content": "made my-api"}]}
    assert task["createdBy"] == "user:default/jane"
    assert task["spec"]["parameters"] == {"name": "my-api", "password": "***"}
    assert task["spec"]["templateInfo"]["entityRef"] == ref
    events = service.events(task_id)
    assert [e["type"] for e in events][-1] == "completion"
    assert events[-1]["body"]["status"] == "completed"
    steps = [(e["body"].get("stepId"), e["body"].get("status")) for e in events]
    assert ("write", "processing") in steps and ("write", "completed") in steps
    assert any("token=*** password=***" in e["body"]["message"] for e in events)
    assert service.events(task_id, after=events[-2]["id"]) == events[-1:]
    dump = _dump(service.engine)
    assert "tok-123" not in dump and "pa55word" not in dump


def test_waiting_for_events_of_a_task_that_just_ended_returns_its_completion(
    service: ScaffolderService,
    make_template: Callable[[str, str], str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The race a portal test hit once under load: the events were read just before the
    task's end was committed, its status just after — and the stream ended without the
    completion event. Replayed here: the first read misses the last event."""
    task_id = service.create_task(
        template_ref=make_template("ender", WRITE_STEP),
        values={"name": "my-api"},
        secrets=None,
        user_ref=None,
    )
    assert _wait(service, task_id)["status"] == "completed"
    events = service.events(task_id)
    before_completion = events[-2]["id"]
    real = service.events
    reads: list[int] = []

    def events_read_before_the_commit(task: str, after: int | None = None) -> Any:
        reads.append(1)
        return [] if len(reads) == 1 else real(task, after)

    monkeypatch.setattr(service, "events", events_read_before_the_commit)
    found = service.wait_events(task_id, before_completion, timeout=0.1)
    assert [e["type"] for e in found] == ["completion"]


def test_bad_values_and_unknown_actions_never_become_tasks(
    service: ScaffolderService, make_template: Callable[[str, str], str]
) -> None:
    ref = make_template("writer", WRITE_STEP)
    with pytest.raises(InvalidInput) as bad:
        service.create_task(
            template_ref=ref, values={"name": "Bad Name"}, secrets=None, user_ref=None
        )
    assert bad.value.details["errors"][0]["path"] == "/name"
    unknown = make_template("unknown", "    - id: x\n      action: nope:nothing\n")
    with pytest.raises(NotFound, match='action "nope:nothing" is not registered; available'):
        service.create_task(
            template_ref=unknown, values={"name": "ok"}, secrets=None, user_ref=None
        )
    with pytest.raises(NotFound):
        service.create_task(template_ref="missing", values={}, secrets=None, user_ref=None)
    assert service.list_tasks()["totalTasks"] == 0


def test_cancel_running_task_by_its_creator(
    service: ScaffolderService, make_template: Callable[[str, str], str]
) -> None:
    ref = make_template("sleeper", SLEEP_STEPS)
    task_id = service.create_task(
        template_ref=ref, values={"name": "x1"}, secrets=None, user_ref="user:default/jane"
    )
    while service.get_task(task_id)["status"] != "processing":
        time.sleep(0.02)
    with pytest.raises(Forbidden):
        service.cancel_task(task_id, user_ref="user:default/joe")
    assert service.cancel_task(task_id, user_ref="user:default/jane") == {"status": "cancelled"}
    task = _wait(service, task_id)
    assert task["status"] == "cancelled"
    assert task["error"] == "Run cancelled by user:default/jane"
    ran = [
        e["body"].get("stepId")
        for e in service.events(task_id)
        if e["body"].get("status") == "completed"
    ]
    assert len(ran) < 6
    with pytest.raises(Conflict):
        service.cancel_task(task_id, user_ref="user:default/jane")


def test_task_timeout_fails_the_task(
    engine: Engine,
    settings: Settings,
    catalog: CatalogService,
    make_template: Callable[[str, str], str],
) -> None:
    svc = _service(engine, settings, catalog, task_timeout=0.4)
    ref = make_template("sleeper", SLEEP_STEPS)
    svc.start()
    try:
        task = _wait(
            svc,
            svc.create_task(template_ref=ref, values={"name": "x1"}, secrets=None, user_ref=None),
        )
    finally:
        svc.stop()
    assert task["status"] == "failed"
    assert "longer than 0.4 s (scaffolder.task_timeout)" in task["error"]


def _dead_holder() -> str:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    started = processes.started_after_boot(proc.pid)
    proc.wait()
    return f"{socket.gethostname()}:{proc.pid}:{started!r}:dead"


def test_recover_fails_tasks_of_dead_servers_and_adopts_safe_ones(
    engine: Engine,
    settings: Settings,
    catalog: CatalogService,
    make_template: Callable[[str, str], str],
) -> None:
    ref = make_template("writer", WRITE_STEP)
    svc = _service(engine, settings, catalog)
    spec = svc.get_template(ref)
    now = svc.clock()
    entity_spec = {
        "templateInfo": {"entityRef": ref, "entity": spec.entity, "baseUrl": None},
        "parameters": {"name": "adopted"},
        "steps": spec.steps,
    }

    def insert(
        status: TaskStatus, holder: str, *, held: bool = False, beat_age: float = 0.0
    ) -> str:
        task_id = str(uuid.uuid4())
        record = TaskRecord(
            id=task_id,
            spec=entity_spec,
            status=TaskStatus.OPEN,
            created_by=None,
            created_at=now,
            last_heartbeat_at=now - timedelta(seconds=beat_age),
            claimed_by=holder,
            held_in_memory=held,
        )
        taskstore.insert_task(engine, record)
        if status is TaskStatus.PROCESSING:
            assert taskstore.claim(engine, task_id, holder=holder, now=record.last_heartbeat_at)  # type: ignore[arg-type]
        return task_id

    dead = _dead_holder()
    killed = insert(TaskStatus.PROCESSING, dead)
    stale = insert(TaskStatus.PROCESSING, "elsewhere:1:1.0:x", beat_age=60)
    alive = insert(TaskStatus.PROCESSING, "elsewhere:1:1.0:y")
    lost = insert(TaskStatus.OPEN, dead, held=True)
    adoptable = insert(TaskStatus.OPEN, dead)

    assert svc.recover() == 3
    for task_id, message in (
        (killed, STALE_MESSAGE),
        (stale, STALE_MESSAGE),
        (lost, LOST_SECRETS_MESSAGE),
    ):
        task = svc.get_task(task_id)
        assert (task["status"], task["error"]) == ("failed", message)
        completion = svc.events(task_id)[-1]
        assert completion["type"] == "completion"
        assert completion["body"]["error"]["message"] == message
    assert svc.get_task(alive)["status"] == "processing"
    svc.start()
    try:
        assert _wait(svc, adoptable)["status"] == "completed"
    finally:
        svc.stop()


def test_cancel_open_task_and_stop_fails_running_ones(
    engine: Engine,
    settings: Settings,
    catalog: CatalogService,
    make_template: Callable[[str, str], str],
) -> None:
    svc = _service(engine, settings, catalog)
    ref = make_template("sleeper", SLEEP_STEPS)
    queued = svc.create_task(
        template_ref=ref, values={"name": "q1"}, secrets=None, user_ref="user:default/jane"
    )
    assert svc.cancel_task(queued, user_ref="user:default/admin", admin=True) == {
        "status": "cancelled"
    }
    assert svc.get_task(queued)["status"] == "cancelled"
    assert svc.events(queued)[-1]["body"]["message"] == "Run cancelled by user:default/admin"
    running = svc.create_task(template_ref=ref, values={"name": "q2"}, secrets=None, user_ref=None)
    svc.start()
    while svc.get_task(running)["status"] != "processing":
        time.sleep(0.02)
    svc.stop()
    task = svc.get_task(running)
    assert (task["status"], task["error"]) == ("failed", STALE_MESSAGE)


def test_dry_run_with_inline_template_and_directory_contents(service: ScaffolderService) -> None:
    import base64

    import yaml

    entity = yaml.safe_load(TEMPLATE.format(name="inline", steps=WRITE_STEP))
    result = service.dry_run(
        template=entity,
        values={"name": "dry"},
        secrets={"token": "tok-9"},
        user_ref="user:default/jane",
        directory_contents=[
            {"path": "skeleton/a.txt", "base64Content": base64.b64encode(b"x").decode()}
        ],
    )
    assert result["status"] == "completed"
    files = {f["path"]: base64.b64decode(f["base64Content"]) for f in result["directoryContents"]}
    assert files == {"dry.txt": b"token=tok-9 password="}
    assert result["steps"][0]["id"] == "write"
    assert any("token=***" in entry["body"]["message"] for entry in result["log"])
    with pytest.raises(InvalidInput, match="escapes the workspace"):
        service.dry_run(
            template=entity,
            values={"name": "dry"},
            directory_contents=[{"path": "../evil", "base64Content": ""}],
        )
    assert service.list_tasks()["totalTasks"] == 0
