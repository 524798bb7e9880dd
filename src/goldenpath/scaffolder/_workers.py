"""Worker threads that run scaffolder tasks, and the monitor that keeps them honest.

- A worker takes a task id from its queue, claims the task (``open → processing``, a
  compare-and-set, so two servers never run one task), runs the template with the values and
  secrets held in memory, writes each step event to the task log, and ends the task with one
  ``completion`` event in the same transaction as its final status.
- The monitor (one thread) writes heartbeats for the tasks this server holds every
  ``scaffolder.heartbeat_interval`` seconds, relays cancellation requests (also those made
  through another server), stops tasks that exceed ``scaffolder.task_timeout``, and sweeps
  tasks of dead servers: a holder whose process is gone (same host) or whose heartbeat is
  older than ``scaffolder.stale_after`` seconds. Their ``processing`` tasks — and ``open`` ones
  whose secrets died with them — fail with a completion event; other ``open`` tasks are run.

Holder ids are ``<host>:<pid>:<process start time>:<nonce>``, so a PID reused by another
process is never mistaken for the old server.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import shutil
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from goldenpath import processes
from goldenpath.errors import PlatformError
from goldenpath.scaffolder import runner, taskstore
from goldenpath.scaffolder import templates as tpl
from goldenpath.scaffolder.actions.base import mask_secrets
from goldenpath.scaffolder.tasks import (
    STALE_MESSAGE,
    EventType,
    TaskRecord,
    TaskStatus,
)

if TYPE_CHECKING:
    from goldenpath.scaffolder.service import ScaffolderService

__all__ = ["LOST_SECRETS_MESSAGE", "WorkerPool", "event_body"]

_log = logging.getLogger(__name__)

LOST_SECRETS_MESSAGE = (
    "the server stopped before this task started and its secret values were held only in "
    "that server's memory; run it again"
)


def event_body(event: Any) -> dict[str, Any] | None:
    """The Backstage log-event body of a runner ``StepEvent``: ``{message, stepId, status?}``
    (``status`` ``processing`` at a step's start, its outcome at its end). The runner's own
    completion event → None: the task writes the one completion event itself."""
    kind = getattr(event, "type", "log")
    if kind == "completion":
        return None
    body: dict[str, Any] = {"message": event.message, "stepId": event.step_id}
    if kind == "step-start":
        body["status"] = "processing"
    elif kind == "step-end" and event.status:
        body["status"] = event.status
    return body


@dataclass(slots=True)
class _Held:
    """What exists only in memory: validated values and secrets, for one run."""

    values: dict[str, Any]
    secrets: dict[str, str]


@dataclass(slots=True)
class _Run:
    cancel: threading.Event = field(default_factory=threading.Event)
    started: float = field(default_factory=time.monotonic)
    reason: str | None = None  # "cancel" | "timeout" | "shutdown"
    cancelled_by: str | None = None


class WorkerPool:
    """The task workers and monitor of one :class:`ScaffolderService` (one per process)."""

    def __init__(self, service: ScaffolderService) -> None:
        self.svc = service
        self.settings = service.settings.scaffolder
        self.holder = processes.holder_id()
        self._lock = threading.Lock()
        self._held: dict[str, _Held] = {}
        self._running: dict[str, _Run] = {}
        self._adopted: set[str] = set()  # open tasks of dead servers, queued here
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # -- called by the service ---------------------------------------------------------

    def hold(self, task_id: str, *, values: dict[str, Any], secrets: dict[str, str]) -> None:
        """Keep a new task's values and secrets in memory until a worker takes it."""
        with self._lock:
            self._held[task_id] = _Held(values, secrets)

    def forget(self, task_id: str) -> None:
        """Drop what :meth:`hold` kept (the task could not be stored)."""
        with self._lock:
            self._held.pop(task_id, None)

    def enqueue(self, task_id: str) -> None:
        """Queue ``task_id`` for the next free worker."""
        self._queue.put(task_id)

    def cancel(self, task: TaskRecord, *, by: str | None) -> dict[str, Any]:
        """Cancel ``task`` (see :meth:`ScaffolderService.cancel_task`)."""
        now = self.svc.clock()
        engine = self.svc.engine
        message = f"Run cancelled by {by or 'an anonymous caller'}"
        if task.status is TaskStatus.OPEN:
            done = taskstore.finish(
                engine,
                task.id,
                from_status=TaskStatus.OPEN,
                to_status=TaskStatus.CANCELLED,
                now=now,
                completion={"message": message, "status": TaskStatus.CANCELLED.value},
                error=message,
            )
            if done:
                with self._lock:
                    self._held.pop(task.id, None)
                self.svc.notify_events()
                return {"status": TaskStatus.CANCELLED.value}
            task = taskstore.get_task(engine, task.id) or task
            if task.status is not TaskStatus.PROCESSING:
                return {"status": task.status.value}
        taskstore.add_event(
            engine,
            task.id,
            type=EventType.LOG,
            body={"message": f"cancellation requested by {by or 'an anonymous caller'}"},
            now=now,
        )
        # a run of this process is interrupted before the request is stored, naming who
        # cancelled it (the heartbeat, seeing the stored request, interrupts anonymously)
        with self._lock:
            run = self._running.get(task.id)
        if run is not None:
            self._interrupt(run, "cancel", by)
        taskstore.request_cancel(engine, task.id, now=now)
        self.svc.notify_events()
        return {"status": TaskStatus.CANCELLED.value}

    def recover(self) -> int:
        """Sweep tasks of dead servers now; returns how many were failed."""
        return self._sweep()

    def start(self) -> None:
        """Recover, then start ``scaffolder.workers`` worker threads and the monitor."""
        if self._threads:
            return
        self._stop.clear()
        self.recover()
        for index in range(self.settings.workers):
            self._spawn(self._work_loop, f"scaffolder-worker-{index}")
        self._spawn(self._monitor_loop, "scaffolder-monitor")

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the threads; running tasks are interrupted and failed (server stopping)."""
        self._stop.set()
        with self._lock:
            runs = list(self._running.values())
        for run in runs:
            self._interrupt(run, "shutdown", None)
        for _ in self._threads:
            self._queue.put(None)
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._threads = []

    # -- threads -----------------------------------------------------------------------

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _work_loop(self) -> None:
        while not self._stop.is_set():
            task_id = self._queue.get()
            if task_id is None:
                return
            try:
                self._execute(task_id)
            except Exception:  # a worker must survive anything one task does
                _log.exception("scaffolder task %s: unexpected error", task_id)

    def _monitor_loop(self) -> None:
        while not self._stop.wait(self.settings.heartbeat_interval):
            try:
                self._tick()
            except Exception:  # the database may be briefly unavailable; try next tick
                _log.warning("scaffolder monitor tick failed", exc_info=True)

    def _tick(self) -> None:
        engine, now = self.svc.engine, self.svc.clock()
        with self._lock:
            running = dict(self._running)
            held = set(self._held)
        taskstore.heartbeat(engine, set(running) | held, holder=self.holder, now=now)
        for task_id in taskstore.tasks_with_cancel_requested(engine, running):
            self._interrupt(running[task_id], "cancel", None)
        for run in running.values():
            if time.monotonic() - run.started > self.settings.task_timeout:
                self._interrupt(run, "timeout", None)
        self._sweep()

    @staticmethod
    def _interrupt(run: _Run, reason: str, by: str | None) -> None:
        if run.reason is None:
            run.reason, run.cancelled_by = reason, by
        run.cancel.set()

    def _sweep(self) -> int:
        """Fail or adopt the unfinished tasks of dead holders; returns how many failed."""
        engine, now = self.svc.engine, self.svc.clock()
        cutoff = now - timedelta(seconds=self.settings.stale_after)
        failed = 0
        with self._lock:
            tracked = set(self._running) | set(self._held) | self._adopted
        for task in taskstore.unfinished_tasks(engine):
            if task.id in tracked:
                continue  # ours and alive; an untracked task of ours goes stale like others
            beat = task.last_heartbeat_at or task.created_at
            holder = task.claimed_by
            if beat >= cutoff and holder and not processes.holder_gone(holder):
                continue
            if task.status is TaskStatus.OPEN and not task.held_in_memory:
                with self._lock:
                    self._adopted.add(task.id)
                self.enqueue(task.id)  # nothing was lost: any server may run it
                continue
            message = (
                STALE_MESSAGE if task.status is TaskStatus.PROCESSING else LOST_SECRETS_MESSAGE
            )
            if self._fail(task.id, task.status, message):
                failed += 1
                _log.warning("scaffolder task %s failed: %s", task.id, message)
        if failed:
            self.svc.notify_events()
        return failed

    def _fail(self, task_id: str, current: TaskStatus, message: str) -> bool:
        return taskstore.finish(
            self.svc.engine,
            task_id,
            from_status=current,
            to_status=TaskStatus.FAILED,
            now=self.svc.clock(),
            completion=_completion(TaskStatus.FAILED, None, message),
            error=message,
        )

    # -- one task ------------------------------------------------------------------------

    def _execute(self, task_id: str) -> None:
        engine = self.svc.engine
        with self._lock:
            self._adopted.discard(task_id)
        if not taskstore.claim(engine, task_id, holder=self.holder, now=self.svc.clock()):
            with self._lock:
                self._held.pop(task_id, None)
            return
        run = _Run()
        with self._lock:
            held = self._held.pop(task_id, None)
            self._running[task_id] = run
        try:
            status, output, error = self._run(task_id, held, run)
        except Exception as e:  # e.g. the database went away before the run started
            _log.exception("scaffolder task %s could not run", task_id)
            status, output, error = TaskStatus.FAILED, None, f"internal error: {type(e).__name__}"
        finally:
            with self._lock:
                self._running.pop(task_id, None)
        done = taskstore.finish(
            engine,
            task_id,
            from_status=TaskStatus.PROCESSING,
            to_status=status,
            now=self.svc.clock(),
            completion=_completion(status, output, error),
            output=output,
            error=error,
        )
        if not done:
            _log.warning("scaffolder task %s ended elsewhere before this worker finished", task_id)
        self.svc.notify_events()

    def _run(
        self, task_id: str, held: _Held | None, run: _Run
    ) -> tuple[TaskStatus, dict[str, Any] | None, str | None]:
        task = taskstore.get_task(self.svc.engine, task_id)
        if task is None:
            return TaskStatus.FAILED, None, "the task disappeared"
        if task.held_in_memory and held is None:
            return TaskStatus.FAILED, None, LOST_SECRETS_MESSAGE
        spec = task.spec
        info = spec.get("templateInfo") or {}
        entity: Mapping[str, Any] = info.get("entity") or {}
        values = held.values if held else dict(spec.get("parameters") or {})
        secrets = held.secrets if held else {}
        masks = list(secrets.values())
        workspace = self.svc.workspace_root() / task_id
        try:
            template = tpl.TemplateSpec.from_entity(entity, ref=info.get("entityRef"))
            names = template.secret_parameters()
            masks += [str(values[n]) for n in names if values.get(n)]
            base, version = tpl.template_source_dir(entity, cache_dir=self.svc.cache_dir)
            template.base_dir = base
            result = runner.run_template(
                template,
                values,
                registry=self.svc.registry,
                workspace=workspace,
                services=self.svc.services(),
                secrets=secrets,
                user=self.svc.user_context(task.created_by),
                dry_run=bool(spec.get("dryRun")),
                on_event=lambda e: self._record(task_id, e, masks),
                cancel=run.cancel,
                answers={
                    "template": str(info.get("entityRef") or ""),
                    "version": version,
                    "source": str(info.get("baseUrl") or ""),
                },
            )
        except PlatformError as e:
            return self._outcome(run, TaskStatus.FAILED, None, mask_secrets(e.message, masks))
        except Exception as e:
            _log.exception("scaffolder task %s crashed", task_id)
            text = mask_secrets(f"internal error: {type(e).__name__}: {e}", masks)
            return self._outcome(run, TaskStatus.FAILED, None, text)
        finally:
            if not self.settings.keep_workspaces:
                shutil.rmtree(workspace, ignore_errors=True)
        status = TaskStatus(result.status)
        return self._outcome(run, status, dict(result.output or {}), result.error)

    def _outcome(
        self, run: _Run, status: TaskStatus, output: dict[str, Any] | None, error: str | None
    ) -> tuple[TaskStatus, dict[str, Any] | None, str | None]:
        """Turn an interrupted run's failure into what interrupted it."""
        if status is TaskStatus.COMPLETED or run.reason is None:
            return status, output, error
        if run.reason == "timeout":
            limit = self.settings.task_timeout
            return (
                TaskStatus.FAILED,
                output,
                f"the task ran longer than {limit:g} s (scaffolder.task_timeout) and was stopped",
            )
        if run.reason == "shutdown":
            return TaskStatus.FAILED, output, STALE_MESSAGE
        by = run.cancelled_by or "a user"
        return TaskStatus.CANCELLED, output, f"Run cancelled by {by}"

    def _record(self, task_id: str, event: Any, masks: list[str]) -> None:
        body = event_body(event)
        if body is None:
            return
        body["message"] = mask_secrets(str(body.get("message") or ""), masks)
        with contextlib.suppress(Exception):  # a lost log line must not fail the run
            taskstore.add_event(
                self.svc.engine, task_id, type=EventType.LOG, body=body, now=self.svc.clock()
            )
            self.svc.notify_events()


def _completion(
    status: TaskStatus, output: Mapping[str, Any] | None, error: str | None
) -> dict[str, Any]:
    """Backstage's completion body: ``{message: "Run completed with status: <s>", output}``
    or ``{…, error: {name, message}}``; goldenpath adds ``status``."""
    body: dict[str, Any] = {
        "message": f"Run completed with status: {status.value}",
        "status": status.value,
    }
    if output is not None:
        body["output"] = dict(output)
    if error:
        body["error"] = {"name": "Error", "message": error}
    return body
