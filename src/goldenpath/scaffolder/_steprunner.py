"""One step of a run, as Backstage's ``NunjucksWorkflowRunner.executeStep`` does it.

Private to :mod:`goldenpath.scaffolder.runner`: the run state (:class:`RunState`) and the
step machinery — ``if`` (once, or per iteration with ``each``), ``each`` expansion, input
rendering (the only place ``secrets`` are visible) with derived-secret redaction, input
validation of every iteration before the first runs, dry-run skips with example outputs,
and the ``always()``/``failure()`` status checks that let clean-up steps run after a
failure.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import jsonschema

from goldenpath.errors import PlatformError
from goldenpath.scaffolder.actions.base import (
    Action,
    ActionContext,
    ActionRegistry,
    ActionServices,
    mask_secrets,
)
from goldenpath.scaffolder.answers import write_answers
from goldenpath.scaffolder.expressions import TemplateError, evaluate_condition, render_value
from goldenpath.scaffolder.templates import TemplateSpec
from goldenpath.scaffolder.workspace import safe_path

#: an ``if`` that calls a status check runs even after a failed step (Backstage)
_STATUS_CHECK = re.compile(r"\b(always|failure)\s*\(\s*\)")
_FAILURE_CALL = re.compile(r"\bfailure\s*\(\s*\)")


@dataclass
class StepEvent:
    """One line of a task's log (secrets already masked).

    ``type``: ``log`` (a message), ``step-start``, ``step-end`` (``status`` ``completed``,
    ``skipped`` or ``failed``) or ``completion`` (``status`` of the run).
    """

    type: Literal["log", "step-start", "step-end", "completion"]
    step_id: str | None
    message: str
    status: str | None = None
    at: datetime = field(default_factory=lambda: datetime.now(UTC))


class StepFailed(Exception):
    """A step failed; ``message`` names the step and the reason (not yet masked)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass
class RunState:
    """Everything one run carries from step to step."""

    template: TemplateSpec
    registry: ActionRegistry
    workspace: Path
    services: ActionServices
    secrets: dict[str, str]
    masks: list[str]
    user: dict[str, Any]
    dry_run: bool
    on_event: Callable[[StepEvent], None] | None
    cancel: threading.Event | None
    answers: Mapping[str, str] | None
    answer_values: dict[str, Any]
    context: dict[str, Any]
    answers_written: bool = False
    failed: bool = False

    def emit(self, kind: Any, step_id: str | None, message: str, status: str | None = None) -> None:
        """Send an event with every secret (and value derived from one) masked."""
        if self.on_event is not None:
            self.on_event(StepEvent(kind, step_id, self.mask(message), status))

    def mask(self, text: str) -> str:
        """``text`` with every known secret value replaced by ``***``."""
        return mask_secrets(text, self.masks)

    def cancelled(self) -> bool:
        """True once the caller asked the run to stop."""
        return self.cancel is not None and self.cancel.is_set()

    def write_answers(self, relative: Any = ".") -> None:
        """Write the answers file once, below ``relative`` (a publish step's sourcePath)."""
        if self.answers is None or self.answers_written:
            return
        root = safe_path(self.workspace, str(relative or "."), what="sourcePath")
        write_answers(
            root,
            template=str(self.answers.get("template") or ""),
            version=str(self.answers.get("version") or ""),
            source=str(self.answers.get("source") or ""),
            values=self.answer_values,
        )
        self.answers_written = True


def run_step(run: RunState, step: Mapping[str, Any], record: dict[str, Any]) -> None:
    """Run one step, updating ``record`` (status, output) and ``run.context["steps"]``.

    Raises:
        StepFailed: the step failed (cancelled, bad ``each``, invalid input, the action
            raised).
    """
    step_id, name, action_id = record["id"], record["name"], record["action"]
    if run.cancelled():
        raise StepFailed(f'the run was cancelled before step "{step_id}" ({name})')
    condition = step.get("if", True)
    if run.failed and not (isinstance(condition, str) and _STATUS_CHECK.search(condition)):
        _skip(run, record, f"Skipping step {step_id} because a previous step failed")
        return
    action = run.registry.get(action_id)
    run.emit("step-start", step_id, f"Beginning step {name}")
    if run.failed and isinstance(condition, str):
        condition = _FAILURE_CALL.sub("true", condition)
    if "each" not in step and not evaluate_condition(
        condition, run.context, location=f"{step_id}.if"
    ):
        _skip(run, record, f"Skipping step {step_id} because its if condition was false")
        return
    if action_id.startswith("publish:"):
        _answers_before_publish(run, step, step_id)
    if run.dry_run:
        shown = render_value(step.get("input") or {}, run.context, secrets=_starred(run.secrets))
        text = json.dumps(shown, indent=2, default=str)
        run.emit("log", step_id, f"Running {action_id} in dry-run mode with inputs: {text}")
        if not action.supports_dry_run:
            record["output"] = example_output(action.output_schema)
            run.context["steps"][step_id] = {"output": record["output"]}
            _skip(run, record, f"Skipping because {action_id} does not support dry-run")
            return
    outputs = _iterate(run, action, step, step_id, condition)
    record["status"] = "completed"
    record["output"] = outputs
    run.context["steps"][step_id] = {"output": outputs}
    run.emit("step-end", step_id, f"Finished step {name}", "completed")


def _skip(run: RunState, record: dict[str, Any], message: str) -> None:
    record["status"] = "skipped"
    run.emit("step-end", record["id"], message, "skipped")


def _starred(secrets: Mapping[str, str]) -> dict[str, str]:
    return {k: "***" for k in secrets}


def _answers_before_publish(run: RunState, step: Mapping[str, Any], step_id: str) -> None:
    source = render_value((step.get("input") or {}).get("sourcePath"), run.context)
    try:
        run.write_answers(source if isinstance(source, str) else ".")
    except (OSError, PlatformError) as e:
        raise StepFailed(f'step "{step_id}": cannot write the answers file: {e}') from e


@dataclass
class _Iteration:
    each: dict[str, Any] | None
    context: dict[str, Any]
    blind_each: dict[str, Any] | None = None  # ``each`` rendered without the secrets
    input: dict[str, Any] = field(default_factory=dict)
    runs: bool = True


def _iterate(
    run: RunState, action: Action, step: Mapping[str, Any], step_id: str, condition: Any
) -> dict[str, Any]:
    """Prepare every iteration (``if``, input, validation), then run them in order."""
    secret_context = {**run.context, "secrets": run.secrets}
    iterations = [
        _Iteration(each, {**secret_context, "each": each} if each is not None else secret_context)
        for each in _each_items(step, step_id, secret_context)
    ]
    if "each" in step and run.secrets:
        blind = _each_items(step, step_id, run.context, fail=False)
        for item, other in zip(iterations, blind + [None] * len(iterations), strict=False):
            item.blind_each = other
            run.masks.extend(m for m in derived_values(item.each, other) if m not in run.masks)
    for item in iterations:
        if item.each is not None:
            item.runs = evaluate_condition(condition, item.context, location=f"{step_id}.if")
        if item.runs:
            item.input = _render_input(run, step, step_id, item)
            _validate_input(action, item.input, step_id, item.each)
    outputs: dict[str, Any] = {}
    for item in iterations:
        if run.cancelled():
            raise StepFailed(f'the run was cancelled during step "{step_id}"')
        if item.each is not None:
            verb = "Running" if item.runs else "Skipping"
            shown = json.dumps({"key": item.each["key"], "value": item.each["value"]}, default=str)
            run.emit("log", step_id, f"{verb} step each: {shown}")
        if not item.runs:
            continue
        produced = _invoke(run, action, step_id, item.input)
        if item.each is None:
            outputs = produced
        else:
            for key, value in produced.items():
                outputs.setdefault(key, []).append(value)
    return outputs


def _each_items(
    step: Mapping[str, Any], step_id: str, context: dict[str, Any], *, fail: bool = True
) -> list[dict[str, Any] | None]:
    """``[{"key", "value"}]`` per item of the rendered ``each`` (keys of a list are
    ``"0"``, ``"1"``…), or ``[None]`` for a step without ``each``."""
    if "each" not in step:
        return [None]
    rendered = render_value(step["each"], context, location=f"{step_id}.each")
    if isinstance(rendered, list):
        return [{"key": str(i), "value": v} for i, v in enumerate(rendered)]
    if isinstance(rendered, dict):
        return [{"key": k, "value": v} for k, v in rendered.items()]
    if not fail:
        return []
    raise StepFailed(
        f'step "{step_id}": each must render to a list or an object; '
        f"{str(step['each'])[:80]!r} rendered to {type(rendered).__name__}"
    )


def _render_input(
    run: RunState, step: Mapping[str, Any], step_id: str, item: _Iteration
) -> dict[str, Any]:
    raw = step.get("input") or {}
    context = {k: v for k, v in item.context.items() if k != "secrets"}
    problems: list[TemplateError] = []
    rendered = render_value(
        raw, context, secrets=run.secrets, location=f"{step_id}.input", errors=problems
    )
    if run.secrets:
        # Values computed from secrets (``secrets.x | reverse``, ``secrets.x[0]``…) are
        # secrets too (GHSA-8qp7-fhr9-fw53): find them by rendering without the secrets.
        blind_context = {**context, "each": item.blind_each} if item.each is not None else context
        blind = render_value(raw, blind_context, secrets={}, location=f"{step_id}.input")
        run.masks.extend(m for m in derived_values(rendered, blind) if m not in run.masks)
    for problem in problems:
        run.emit("log", step_id, f"warning: {problem.message}")
    return rendered if isinstance(rendered, dict) else {}


def _invoke(run: RunState, action: Action, step_id: str, inputs: dict[str, Any]) -> dict[str, Any]:
    ctx = ActionContext(
        step_id=step_id,
        input=inputs,
        workspace=run.workspace,
        template_dir=run.template.base_dir,
        template_ref=run.template.ref,
        secrets=run.secrets,
        user=run.user,
        dry_run=run.dry_run,
        services=run.services,
        logger=lambda message: run.emit("log", step_id, message),
    )
    try:
        action.handler(ctx)
    except PlatformError as e:
        raise StepFailed(f'step "{step_id}" ({action.id}) failed: {e.message}') from e
    except Exception as e:  # a foreign failure fails the step, it never crashes the run
        raise StepFailed(f'step "{step_id}" ({action.id}) failed: {type(e).__name__}: {e}') from e
    return ctx.outputs


def derived_values(with_secrets: Any, without: Any) -> list[str]:
    """String leaves of ``with_secrets`` that differ from ``without`` (the same input
    rendered with and without the secrets): the values a secret went into."""
    if with_secrets == without:
        return []
    if isinstance(with_secrets, dict):
        other = without if isinstance(without, dict) else {}
        return [m for k, v in with_secrets.items() for m in derived_values(v, other.get(k))]
    if isinstance(with_secrets, list):
        rest = without if isinstance(without, list) else []
        padded = rest + [None] * (len(with_secrets) - len(rest))
        return [m for v, o in zip(with_secrets, padded, strict=False) for m in derived_values(v, o)]
    if isinstance(with_secrets, str) and with_secrets:
        return [with_secrets]
    return []


def _validate_input(
    action: Action, inputs: dict[str, Any], step_id: str, each: dict[str, Any] | None
) -> None:
    validator = jsonschema.Draft7Validator(dict(action.input_schema))
    errors = sorted(validator.iter_errors(inputs), key=lambda e: list(e.path))
    if not errors:
        return
    reasons = []
    for error in errors[:5]:
        where = "input" + "".join(
            f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path
        )
        reasons.append(f"{where}: {error.message}")
    action_id = f"{action.id}[{each['key']}]" if each is not None else action.id
    raise StepFailed(
        f'step "{step_id}": invalid input passed to action {action_id}: ' + "; ".join(reasons)
    )


def example_output(schema: Mapping[str, Any]) -> Any:
    """What a step skipped in a dry run outputs: ``examples[0]`` where given, else a
    placeholder per type (``'<example>'``, ``0``, ``false``), as Backstage's
    ``generateExampleOutput``."""
    examples = schema.get("examples")
    if isinstance(examples, list) and examples:
        return examples[0]
    kind = schema.get("type")
    if kind == "object":
        props = schema.get("properties") or {}
        return {k: example_output(v) for k, v in props.items() if isinstance(v, Mapping)}
    if kind == "array":
        items = schema.get("items")
        first = items[0] if isinstance(items, list) and items else items
        return [example_output(first)] if isinstance(first, Mapping) else []
    return {"string": "<example>", "number": 0, "integer": 0, "boolean": False}.get(
        str(kind), "<unknown>"
    )
