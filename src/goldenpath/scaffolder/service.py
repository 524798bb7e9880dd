"""``ScaffolderService``: the scaffolder's use cases, the one object the API (and portal) call.

Templates come from the catalog (kind ``Template``); a run is a task stored in the database
(:mod:`goldenpath.scaffolder.taskstore`) and executed by worker threads
(:mod:`goldenpath.scaffolder._workers`). Secret values (``secrets`` and parameters marked
``ui:field: Secret``) are held in this process's memory only for the run; the stored spec has
them redacted. Backstage equivalents: ``POST /v2/tasks``, ``GET /v2/tasks/{id}``,
``/events``, ``/cancel``, ``POST /v2/dry-run`` (scaffolder-backend ``router.ts``).
"""

from __future__ import annotations

import base64
import binascii
import shutil
import tempfile
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from goldenpath.catalog.owners import owner_facts
from goldenpath.catalog.refs import parse_entity_ref
from goldenpath.catalog.service import CatalogService
from goldenpath.errors import Forbidden, InvalidInput, NotFound
from goldenpath.scaffolder import _workers, actions, runner, taskstore
from goldenpath.scaffolder import templates as tpl
from goldenpath.scaffolder.actions.base import ActionRegistry, ActionServices, confine
from goldenpath.scaffolder.tasks import (
    TERMINAL,
    TaskRecord,
    TaskStatus,
    check_transition,
    event_json,
    redact_values,
    task_json,
)
from goldenpath.settings import Settings

__all__ = ["MAX_DRY_RUN_BYTES", "ScaffolderService"]

#: decoded size limit of a dry run's ``directoryContents`` (Backstage accepts 10 MB bodies)
MAX_DRY_RUN_BYTES = 10 * 1024 * 1024
_MAX_LIST = 500


def _utcnow() -> datetime:
    return datetime.now(UTC)


class ScaffolderService:
    """Templates, tasks and dry runs over one store.

    Args:
        engine: a migrated database (revision ``0004_scaffolder`` or later).
        settings: the whole settings tree (``scaffolder``, ``home``).
        catalog: where Template and User entities are read.
        registry: the actions (default: :func:`goldenpath.scaffolder.actions.default_registry`).
        githost: the platform's git host (default: ``GitHost(settings.home / "git")``).
        deploy: the :class:`~goldenpath.deploy.service.DeployService` ``platform:deploy``
            calls (``None``: that action fails with a clear message).
        policy: a :class:`~goldenpath.policy.service.PolicyService`; every task (not dry
            runs) is checked against the ``scaffold`` policies before it exists.
        clock: current aware UTC time.
    """

    def __init__(
        self,
        *,
        engine: Engine,
        settings: Settings,
        catalog: CatalogService,
        registry: ActionRegistry | None = None,
        githost: Any = None,
        deploy: Any = None,
        policy: Any = None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        if githost is None:
            from goldenpath.scaffolder.githost import GitHost

            githost = GitHost(settings.home / "git")
        self.engine = engine
        self.settings = settings
        self.catalog = catalog
        self.registry = registry if registry is not None else actions.default_registry()
        self.githost = githost
        self.deploy = deploy
        self.policy = policy
        self.clock = clock
        self.cache_dir = settings.home / "cache" / "templates"
        self.workers = _workers.WorkerPool(self)
        self._events_changed = threading.Condition()

    # -- templates ---------------------------------------------------------------------

    def services(self) -> ActionServices:
        """What actions may call: settings, catalog, git host, deployments."""
        return ActionServices(
            settings=self.settings, catalog=self.catalog, githost=self.githost, deploy=self.deploy
        )

    def get_template(self, ref: str) -> tpl.TemplateSpec:
        """The Template ``ref`` (``template:default/x``, ``default/x`` or ``x``) from the catalog.

        Raises:
            InvalidInput: malformed ref, or the entity is not a ``Template``.
            NotFound: no such entity.
        """
        parsed = parse_entity_ref(ref, default_kind="template")
        if parsed.kind.lower() != "template":
            raise InvalidInput(f'"{ref}" is a {parsed.kind}, not a Template; pass template:<name>')
        entity = self.catalog.get_entity_by_ref(str(parsed))
        return tpl.TemplateSpec.from_entity(entity, ref=str(parsed))

    def list_actions(self) -> list[dict[str, Any]]:
        """Backstage ``GET /v2/actions``: ``[{id, description, schema: {input, output},
        examples, supportsDryRun}]`` sorted by id."""
        return [action.describe() for action in self.registry.list()]

    def user_context(self, user_ref: str | None) -> dict[str, Any]:
        """``{"ref", "entity"}`` for ``user.*`` in expressions (entity None when unknown)."""
        if not user_ref:
            return {"ref": None, "entity": None}
        try:
            entity: Any = self.catalog.get_entity_by_ref(user_ref)
        except (NotFound, InvalidInput):
            entity = None
        return {"ref": user_ref, "entity": entity}

    # -- tasks ---------------------------------------------------------------------------

    def create_task(
        self,
        *,
        template_ref: str,
        values: Mapping[str, Any],
        secrets: Mapping[str, str] | None,
        user_ref: str | None,
        dry_run: bool = False,
    ) -> str:
        """Validate and queue a run of ``template_ref``; returns the task id.

        Parameters are validated (defaults applied) and every action checked before the task
        exists, so bad input never becomes a task.

        Raises:
            InvalidInput: bad ref or values (``details.errors``: ``[{path, message}]``).
            NotFound: no such template, or a step names an unknown action.
        """
        template = self.get_template(template_ref)
        validated = template.validate_values(values)
        runner.check_template(template, self.registry)
        secrets = _clean_secrets(secrets)
        stored, redacted = redact_values(
            validated, secret_names=template.secret_parameters(), secrets=secrets
        )
        if self.policy is not None and not dry_run:
            self._enforce_policy(template, stored, user_ref)
        now = self.clock()
        task = TaskRecord(
            id=str(uuid.uuid4()),
            spec=_task_spec(template, stored, user_ref, dry_run=dry_run),
            status=TaskStatus.OPEN,
            created_by=user_ref,
            created_at=now,
            last_heartbeat_at=now,
            claimed_by=self.workers.holder,
            held_in_memory=redacted or bool(secrets),
        )
        self.workers.hold(task.id, values=validated, secrets=secrets)
        try:
            taskstore.insert_task(self.engine, task)
        except BaseException:
            self.workers.forget(task.id)
            raise
        self.workers.enqueue(task.id)
        return task.id

    def _enforce_policy(
        self, template: tpl.TemplateSpec, parameters: Mapping[str, Any], user_ref: str | None
    ) -> None:
        """The ``scaffold`` decision (docs/policy.md input); ``PolicyDenied`` stops the run
        before a task exists. ``parameters`` are the stored ones: secrets already removed."""
        owner = parameters.get("owner") or user_ref
        facts = owner_facts(self.catalog, str(owner) if owner else None)
        actor = user_ref or "user:default/guest"
        self.policy.enforce(
            "scaffold",
            {
                "action": "scaffold",
                "template": {
                    "ref": template.ref,
                    "type": (template.entity.get("spec") or {}).get("type"),
                },
                "parameters": dict(parameters),
                "owner": facts,
                "actor": actor,
            },
            actor=actor,
            subject=f"template {template.ref or '(inline)'}",
        )

    def get_task(self, task_id: str) -> dict[str, Any]:
        """Backstage's task body (see :func:`goldenpath.scaffolder.tasks.task_json`).

        Raises:
            NotFound: no such task.
        """
        return task_json(self._task(task_id))

    def _task(self, task_id: str) -> TaskRecord:
        task = taskstore.get_task(self.engine, task_id)
        if task is None:
            raise NotFound(f"task {task_id} does not exist; list tasks with `platform task ls`")
        return task

    def list_tasks(
        self,
        *,
        created_by: str | None = None,
        status: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> dict[str, Any]:
        """``{"tasks": [...], "totalTasks": n, "pageInfo": {"nextCursor"?}}``, newest first.

        Raises:
            InvalidInput: unknown ``status``, ``limit`` outside 1..500, malformed cursor.
        """
        if status is not None and status not in {s.value for s in TaskStatus}:
            raise InvalidInput(
                f"status: {status!r} is not a task status; use one of "
                + ", ".join(s.value for s in TaskStatus)
            )
        if not 1 <= limit <= _MAX_LIST:
            raise InvalidInput(f"limit: {limit} is outside 1..{_MAX_LIST}")
        after = _decode_cursor(cursor) if cursor else None
        items = taskstore.list_tasks(
            self.engine, created_by=created_by, status=status, limit=limit, after=after
        )
        info: dict[str, str] = {}
        if len(items) == limit:
            info["nextCursor"] = _encode_cursor(items[-1])
        total = taskstore.count_tasks(self.engine, created_by=created_by, status=status)
        return {"tasks": [task_json(t) for t in items], "totalTasks": total, "pageInfo": info}

    def events(self, task_id: str, after: int | None = None) -> list[dict[str, Any]]:
        """The task's events with ``id > after`` (Backstage ``SerializedTaskEvent`` shape).

        Raises:
            NotFound: no such task.
        """
        events = taskstore.list_events(self.engine, task_id, after=after)
        if not events:
            self._task(task_id)
        return [event_json(e) for e in events]

    def wait_events(
        self, task_id: str, after: int | None = None, *, timeout: float = 1.0
    ) -> list[dict[str, Any]]:
        """Like :meth:`events`, but waits up to ``timeout`` seconds for new ones (for SSE).
        A task that has ended returns its last events at once, its completion included."""
        events = self.events(task_id, after)
        if events:
            return events
        if self._task(task_id).status in TERMINAL:
            # it may have ended between the two reads: its completion event (written with
            # the status, in one transaction) is there now — a stream must not end without it
            return self.events(task_id, after)
        with self._events_changed:
            self._events_changed.wait(timeout)
        return self.events(task_id, after)

    def notify_events(self) -> None:
        """Wake :meth:`wait_events` callers (the workers call it after writing events)."""
        with self._events_changed:
            self._events_changed.notify_all()

    def cancel_task(
        self, task_id: str, *, user_ref: str | None, admin: bool = False
    ) -> dict[str, Any]:
        """Cancel a task: an open one at once, a running one at its next step boundary.

        Only its creator or an admin may cancel it. Returns ``{"status": "cancelled"}``
        (Backstage's body) or ``{"status": <status>}`` when it ended meanwhile.

        Raises:
            NotFound: no such task.
            Forbidden: someone else's task and not an admin.
            Conflict: the task already ended.
        """
        task = self._task(task_id)
        if not admin and task.created_by != user_ref:
            raise Forbidden(
                f"task {task_id} was created by {task.created_by}; "
                "only they or an admin may cancel it"
            )
        check_transition(task_id, task.status, TaskStatus.CANCELLED)
        return self.workers.cancel(task, by=user_ref)

    def recover(self) -> int:
        """Fail tasks a dead server left behind (``processing``, or ``open`` with secrets
        held only in that server's memory); returns how many. Called by :meth:`start`."""
        return self.workers.recover()

    def start(self) -> None:
        """Recover dead tasks, then start the worker threads and the heartbeat monitor."""
        self.workers.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the workers; a task still running is failed ("the server stopped …")."""
        self.workers.stop(timeout)

    # -- dry run -----------------------------------------------------------------------

    def dry_run(
        self,
        *,
        template: Mapping[str, Any] | None = None,
        template_ref: str | None = None,
        values: Mapping[str, Any],
        secrets: Mapping[str, str] | None = None,
        user_ref: str | None = None,
        directory_contents: Sequence[Mapping[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """Run a template without publishing or registering (Backstage ``POST /v2/dry-run``).

        ``template`` (a Template entity) runs against ``directory_contents`` (its files:
        ``[{path, base64Content}]``); ``template_ref`` runs a catalog template against its own
        directory. Returns ``{"log": [{"body": {message, stepId?, status?}}],
        "directoryContents": [{path, base64Content, executable}], "output", "steps",
        "status", "error"}``.

        Raises:
            InvalidInput: neither or both of template/template_ref, an invalid template or
                values, bad directory contents.
            NotFound: unknown template or action.
        """
        if (template is None) == (template_ref is None):
            raise InvalidInput("dry-run: pass exactly one of template (an entity) or templateRef")
        secrets = _clean_secrets(secrets)
        scratch = Path(tempfile.mkdtemp(prefix="dry-run-", dir=self.workspace_root()))
        try:
            answers: dict[str, str] | None = None
            if template is not None:
                base = scratch / "template"
                _write_contents(base, directory_contents or [])
                spec = tpl.TemplateSpec.from_entity(template, base_dir=base)
            else:
                assert template_ref is not None
                found = self.get_template(template_ref)
                base, version = tpl.template_source_dir(found.entity, cache_dir=self.cache_dir)
                spec = tpl.TemplateSpec.from_entity(found.entity, base_dir=base, ref=found.ref)
                answers = _answers(found, version)
            log: list[dict[str, Any]] = []
            result = runner.run_template(
                spec,
                values,
                registry=self.registry,
                workspace=scratch / "workspace",
                services=self.services(),
                secrets=secrets,
                user=self.user_context(user_ref),
                dry_run=True,
                on_event=lambda e: log.append({"body": _workers.event_body(e)}),
                answers=answers,
            )
            return {
                "log": [entry for entry in log if entry["body"] is not None],
                "directoryContents": result.files,
                "output": result.output,
                "steps": _steps(spec.steps),
                "status": result.status,
                "error": result.error,
            }
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def workspace_root(self) -> Path:
        """Where task workspaces are created (made when missing)."""
        root = self.settings.scaffolder_workspace_dir
        root.mkdir(parents=True, exist_ok=True)
        return root


def _clean_secrets(secrets: Mapping[str, Any] | None) -> dict[str, str]:
    if secrets is None:
        return {}
    if not isinstance(secrets, Mapping):
        raise InvalidInput("secrets must be an object of name → string")
    bad = [str(k) for k, v in secrets.items() if not isinstance(v, str)]
    if bad:
        raise InvalidInput(f"secrets: {', '.join(bad)} must be strings (values not shown)")
    return {str(k): v for k, v in secrets.items()}


def _steps(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Steps with Backstage's defaults: ``id`` ``step-<n>``, ``name`` = the action."""
    return [
        {
            **step,
            "id": step.get("id") or f"step-{i}",
            "name": step.get("name") or step.get("action"),
        }
        for i, step in enumerate(steps, start=1)
    ]


def _task_spec(
    template: tpl.TemplateSpec, parameters: dict[str, Any], user_ref: str | None, *, dry_run: bool
) -> dict[str, Any]:
    """Backstage ``TaskSpecV1beta3`` (+ ``dryRun``); ``templateInfo.entity`` is the whole
    Template entity so the task runs the version it was created from."""
    annotations = (template.entity.get("metadata") or {}).get("annotations") or {}
    return {
        "apiVersion": template.entity.get("apiVersion"),
        "steps": _steps(template.steps),
        "output": template.output,
        "parameters": parameters,
        "user": {"ref": user_ref},
        "templateInfo": {
            "entityRef": template.ref,
            "baseUrl": annotations.get("backstage.io/managed-by-location"),
            "entity": template.entity,
        },
        "dryRun": dry_run,
    }


def _answers(template: tpl.TemplateSpec, version: str) -> dict[str, str]:
    """The answers-file header of a run: template ref, source version and location key."""
    annotations = (template.entity.get("metadata") or {}).get("annotations") or {}
    return {
        "template": template.ref or "",
        "version": version,
        "source": str(annotations.get("backstage.io/managed-by-location") or ""),
    }


def _write_contents(base: Path, contents: Sequence[Mapping[str, Any]]) -> None:
    """Write a dry run's ``directoryContents`` below ``base`` (paths confined to it)."""
    base.mkdir(parents=True, exist_ok=True)
    total = 0
    for index, item in enumerate(contents):
        path, data = item.get("path"), item.get("base64Content")
        where = f"directoryContents[{index}]"
        if not isinstance(path, str) or not isinstance(data, str):
            raise InvalidInput(f"{where} must be {{path, base64Content}} strings")
        try:
            raw = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError) as e:
            raise InvalidInput(f"{where}.base64Content is not base64: {e}") from e
        total += len(raw)
        if total > MAX_DRY_RUN_BYTES:
            raise InvalidInput(f"directoryContents exceed {MAX_DRY_RUN_BYTES} bytes")
        target = confine(base, path, what=f"{where}.path")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(raw)


def _encode_cursor(task: TaskRecord) -> str:
    raw = f"{task.created_at.isoformat()}|{task.id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, _, task_id = raw.partition("|")
        when = datetime.fromisoformat(at)
    except (ValueError, UnicodeDecodeError) as e:
        raise InvalidInput(
            f"cursor: {cursor!r} is not a cursor from pageInfo.nextCursor; start without one"
        ) from e
    if not task_id:
        raise InvalidInput(f"cursor: {cursor!r} is not a cursor from pageInfo.nextCursor")
    return when, task_id
