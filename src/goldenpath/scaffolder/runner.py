"""Run a template's steps in a workspace: the scaffolder's task runner.

What Backstage's ``NunjucksWorkflowRunner`` does: check the values and the actions first,
then each step in order (``if``, ``each``, input rendering with ``secrets``, input
validation, the action; see :mod:`._steprunner`), collect ``steps[id].output``, and render
the template ``output`` at the end (``links``/``text`` items with a false ``if`` dropped).
After a failed step only steps whose ``if`` calls ``always()`` or ``failure()`` run, and
the run fails with the first error. Every message that leaves the runner (events,
errors) has the secret values, and values derived from them, masked.

Backstage docs: "Writing Templates" (steps, ``if``, ``each``, outputs) and "Dry Run".
"""

from __future__ import annotations

import base64
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from goldenpath.errors import InvalidInput, NotFound, PlatformError
from goldenpath.scaffolder._steprunner import RunState, StepEvent, StepFailed, run_step
from goldenpath.scaffolder.actions.base import ActionRegistry, ActionServices
from goldenpath.scaffolder.expressions import render_value
from goldenpath.scaffolder.templates import TemplateSpec

__all__ = ["RunResult", "StepEvent", "check_template", "directory_contents", "run_template"]

#: Largest dry-run file tree returned, in bytes (sum of file sizes).
MAX_DRY_RUN_BYTES = 50 * 1024 * 1024


@dataclass
class RunResult:
    """What a run produced.

    Attributes:
        status: ``completed`` or ``failed`` (a cancelled run is ``failed``).
        output: the rendered template ``output`` (``links``, ``text``, …); ``{}`` on failure.
        steps: ``[{"id", "name", "action", "status", "output"}]`` per step, status
            ``completed`` | ``skipped`` | ``failed`` | ``open`` (never reached).
        error: the first failing step and the reason (secrets masked), else ``None``.
        files: in a dry run, the workspace as Backstage's ``directoryContents``
            ``[{"path", "base64Content", "executable"}]``; else ``[]``.
        workspace: the directory the steps wrote to.
    """

    status: Literal["completed", "failed"]
    output: dict[str, Any]
    steps: list[dict[str, Any]]
    error: str | None
    files: list[dict[str, Any]]
    workspace: Path


def _step_ids(template: TemplateSpec) -> list[str]:
    return [str(step.get("id") or f"step-{i}") for i, step in enumerate(template.steps, 1)]


def check_template(template: TemplateSpec, registry: ActionRegistry) -> None:
    """Check that every step's action is registered and step ids are unique.

    Raises:
        NotFound: an unknown action; the message names the step and the action and lists
            the available actions.
        InvalidInput: two steps share an ``id``.
    """
    seen: set[str] = set()
    for index, (step, step_id) in enumerate(zip(template.steps, _step_ids(template), strict=True)):
        action = str(step.get("action"))
        if action not in registry:
            raise NotFound(
                f'spec.steps[{index}] ("{step_id}"): action "{action}" is not registered; '
                f"available actions: {', '.join(registry.ids())}"
            )
        if step_id in seen:
            raise InvalidInput(
                f'spec.steps[{index}]: step id "{step_id}" is used twice; step ids must be unique'
            )
        seen.add(step_id)


def directory_contents(root: Path) -> list[dict[str, Any]]:
    """Files below ``root`` as Backstage's dry-run ``directoryContents``:
    ``[{"path": "a/b.txt", "base64Content": …, "executable": bool}]``, sorted by path.
    ``.git`` directories and symbolic links are left out.

    Raises:
        InvalidInput: the files add up to more than :data:`MAX_DRY_RUN_BYTES`.
    """
    items: list[dict[str, Any]] = []
    total = 0
    for dirpath, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d != ".git" and not os.path.islink(Path(dirpath, d)))
        for name in sorted(files):
            path = Path(dirpath, name)
            if path.is_symlink() or not path.is_file():
                continue
            data = path.read_bytes()
            total += len(data)
            if total > MAX_DRY_RUN_BYTES:
                raise InvalidInput(
                    f"the dry run produced more than {MAX_DRY_RUN_BYTES} bytes of files"
                )
            items.append(
                {
                    "path": path.relative_to(root).as_posix(),
                    "base64Content": base64.b64encode(data).decode("ascii"),
                    "executable": bool(path.stat().st_mode & 0o111),
                }
            )
    items.sort(key=lambda item: item["path"])
    return items


def _masks(
    template: TemplateSpec, values: Mapping[str, Any], secrets: Mapping[str, str]
) -> list[str]:
    masks = [v for v in secrets.values() if isinstance(v, str) and v]
    for name in template.secret_parameters():
        value = values.get(name)
        if isinstance(value, str) and value:
            masks.append(value)
    return masks


def _answer_values(
    template: TemplateSpec, values: Mapping[str, Any], secrets: Mapping[str, str]
) -> dict[str, Any]:
    hidden = template.secret_parameters()
    secret_values = {v for v in secrets.values() if v}
    return {
        k: v
        for k, v in values.items()
        if k not in hidden and not (isinstance(v, str) and v in secret_values)
    }


def run_template(
    template: TemplateSpec,
    values: Mapping[str, Any],
    *,
    registry: ActionRegistry,
    workspace: Path,
    services: ActionServices | None = None,
    secrets: Mapping[str, str] | None = None,
    user: Mapping[str, Any] | None = None,
    dry_run: bool = False,
    on_event: Callable[[StepEvent], None] | None = None,
    cancel: threading.Event | None = None,
    answers: Mapping[str, str] | None = None,
) -> RunResult:
    """Run ``template`` with ``values`` in ``workspace`` (created when missing).

    Checks first, before any step runs: ``values`` against the parameter pages (defaults
    applied), then every action exists (:func:`check_template`). Then each step in order:
    ``if`` (:func:`evaluate_condition`; ``False`` → ``skipped``), ``each`` (the step runs
    once per item with ``each.key``/``each.value``; every output name collects a list), the
    ``input`` rendered with :func:`render_value` against ``parameters``, ``steps``,
    ``user``, ``secrets`` and ``each``, validated against the action's ``input_schema``,
    then the action. In a dry run an action without dry-run support is skipped with a log
    line. The first failure stops the run; ``cancel`` is honoured between steps and
    iterations. With ``answers`` (``{"template", "version", "source"}``) the answers file
    is written right before the first ``publish:*`` step (into its ``sourcePath``), or
    after the last step, without secret values.

    Raises:
        InvalidInput: ``values`` fail the parameter schema (``details["errors"]``), duplicate
            step ids.
        NotFound: a step names an unknown action.
    """
    validated = template.validate_values(values)
    check_template(template, registry)
    secret_map = {str(k): str(v) for k, v in (secrets or {}).items()}
    workspace.mkdir(parents=True, exist_ok=True)
    run = RunState(
        template=template,
        registry=registry,
        workspace=workspace,
        services=services or ActionServices(),
        secrets=secret_map,
        masks=_masks(template, validated, secret_map),
        user=dict(user or {}),
        dry_run=dry_run,
        on_event=on_event,
        cancel=cancel,
        answers=answers,
        answer_values=_answer_values(template, validated, secret_map),
        context={
            "parameters": validated,
            "steps": {},
            "user": dict(user or {}),
            "context": {"task": {"id": workspace.name}},
        },
    )
    records = _records(template)
    error = _run_steps(run, records)
    output: dict[str, Any] = {}
    if error is None:
        try:
            run.write_answers()
        except (OSError, PlatformError) as e:
            error = run.mask(f"cannot write the answers file: {e}")
    if error is None:
        output = _render_output(template.output, run.context)
    files: list[dict[str, Any]] = []
    if dry_run:
        try:
            files = directory_contents(workspace)
        except InvalidInput as e:
            error = error or e.message
    status: Literal["completed", "failed"] = "failed" if error else "completed"
    run.emit("completion", None, error or "Run completed", status)
    return RunResult(status, output, records, error, files, workspace)


def _records(template: TemplateSpec) -> list[dict[str, Any]]:
    """One result record per step, all ``open``; ids default to ``step-<n>`` and names to
    the action, as Backstage does."""
    return [
        {
            "id": step_id,
            "name": str(step.get("name") or step.get("action")),
            "action": str(step.get("action")),
            "status": "open",
            "output": {},
        }
        for step, step_id in zip(template.steps, _step_ids(template), strict=True)
    ]


def _run_steps(run: RunState, records: list[dict[str, Any]]) -> str | None:
    """Run the steps in order; returns the (masked) error of the first failure, or None.

    After a failure the remaining steps are skipped unless their ``if`` calls a status
    check (``${{ failure() }}`` clean-up steps), as Backstage does; a cancelled run stops.
    """
    first: str | None = None
    for step, record in zip(run.template.steps, records, strict=True):
        try:
            run_step(run, step, record)
        except StepFailed as e:
            record["status"] = "failed"
            error = run.mask(e.message)
            run.emit("step-end", record["id"], error, "failed")
            first = first or error
            run.failed = True
            if run.cancelled():
                break
    return first


def _render_output(output: Mapping[str, Any], context: Mapping[str, Any]) -> dict[str, Any]:
    """The template ``output`` rendered (no secrets in scope); ``links``/``text`` items
    whose ``if`` is falsy are dropped and the ``if`` key removed (Backstage
    ``filterConditionalItems``)."""
    rendered = render_value(dict(output), context, location="spec.output")
    if not isinstance(rendered, dict):
        return {}
    for key in ("links", "text"):
        items = rendered.get(key)
        if isinstance(items, list):
            rendered[key] = [
                {k: v for k, v in item.items() if k != "if"} if isinstance(item, dict) else item
                for item in items
                if not (isinstance(item, dict) and "if" in item and not _truthy(item["if"]))
            ]
    return rendered


def _truthy(value: Any) -> bool:
    return len(value) > 0 if isinstance(value, list) else bool(value)
