"""Render Backstage software-template expressions (``${{ parameters.name | upper }}``).

Backstage docs: "Writing Templates" (https://backstage.io/docs/features/software-templates/writing-templates)
and its "Builtin filters" section. Backstage's scaffolder 4.x renders with nunjitsu, a
Nunjucks 3.2.4 subset; this module reproduces that rendering on a Jinja2
``ImmutableSandboxedEnvironment`` (see :mod:`._environment`) and is differential-tested
against Backstage's own code (``tests/scaffolder/test_expressions_oracle.py``).

Two modes, as in the scaffolder:

* **step** — :func:`render_value`: template parameters, step ``input``, ``output``. Every
  string leaf of a JSON value is rendered; a string that is exactly one ``${{ expr }}``
  keeps the expression's JSON type; a string whose rendering fails is returned unchanged
  (the task runner swallows the error); an ``undefined`` result drops an object key.
* **file** — :func:`render_string`: ``fetch:template`` file contents and paths, with the
  ``values`` context; always a string; errors raise :class:`TemplateError`.

Undefined names and members render as ``''`` (Nunjucks never raises on them). Rendering is
bounded: source size, work units (loops, lookups, calls), output size and wall-clock time.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal

from jinja2.environment import TemplateExpression
from jinja2.exceptions import TemplateError as JinjaTemplateError
from jinja2.exceptions import TemplateSyntaxError

from goldenpath.errors import InvalidInput
from goldenpath.scaffolder import _js
from goldenpath.scaffolder._environment import (
    MAX_STRING,
    NunjucksEnvironment,
    compile_source,
    environment_for,
)
from goldenpath.scaffolder._translate import TranslationError, translate
from goldenpath.scaffolder.filters import DEFAULT_INTEGRATIONS, FilterError

__all__ = [
    "DEFAULT_INTEGRATIONS",
    "TemplateError",
    "evaluate_condition",
    "render_string",
    "render_value",
    "try_render_string",
]

#: Largest template source accepted, in characters.
MAX_SOURCE = 1024 * 1024
#: Work units one render may spend (one per loop iteration, lookup, call, operator).
MAX_WORK_UNITS = 1_000_000
#: Wall-clock bound on one render, in seconds.
MAX_SECONDS = 5.0


class TemplateError(InvalidInput):
    """A template expression could not be rendered.

    ``message`` names where (``location``: a step id, a file path, a parameter) and what
    went wrong; ``details`` holds ``location``, ``line`` (one-based, when known) and
    ``problem``. Never includes context values, so secrets cannot leak through it.
    """

    def __init__(
        self, problem: str, *, location: str | None = None, line: int | None = None
    ) -> None:
        where = location or "template"
        at_line = f" (line {line})" if line else ""
        super().__init__(
            f"{where}{at_line}: cannot render template: {problem.rstrip('.')}. "
            "Fix the ${{ … }} expression (see Backstage 'Writing Templates' "
            "for the supported syntax and filters).",
            details={"location": location, "line": line, "problem": problem},
        )
        self.location = location
        self.line = line
        self.problem = problem


_CR = "\ue000"


class _Undefined:
    """Marker for a step value that rendered to JS ``undefined`` (dropped from objects)."""


_UNDEFINED = _Undefined()


def _integrations(integrations: Mapping[str, str] | None) -> tuple[tuple[str, str], ...]:
    return tuple(
        sorted((integrations if integrations is not None else DEFAULT_INTEGRATIONS).items())
    )


def _to_json(value: Any) -> Any:
    """Convert a rendered value to plain JSON data (``undefined`` → :data:`_UNDEFINED`)."""
    if _js.is_undefined(value):
        return _UNDEFINED
    if isinstance(value, dict):
        out = {str(k): _to_json(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v is not _UNDEFINED}
    if isinstance(value, (list, tuple)):
        return [None if (item := _to_json(v)) is _UNDEFINED else item for v in value]
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return int(value) if value.is_integer() else value
    if isinstance(value, _js.RegexLiteral):
        return {}
    if value is None or isinstance(value, (str, int, bool)):
        return value
    return _js.to_str(value)


def _problem(error: Exception, env: NunjucksEnvironment) -> tuple[str, int | None]:
    """Describe a foreign failure as (problem, one-based line or None)."""
    if isinstance(error, TranslationError):
        return str(error), error.line
    if isinstance(error, TemplateSyntaxError):
        message = (error.message or "syntax error").rstrip(".")
        if message.startswith("No filter named"):
            message += f"; available filters: {', '.join(sorted(env.filters))}"
        elif message.startswith("No test named"):
            message += f"; available tests: {', '.join(sorted(env.tests))}"
        return message, error.lineno
    if isinstance(error, RecursionError):
        return "template nests too deeply", None
    if isinstance(error, TimeoutError):
        return f"regular expression ran longer than the {MAX_SECONDS} s render limit", None
    if isinstance(error, FilterError):
        return str(error), None
    if isinstance(error, JinjaTemplateError):
        return error.message or type(error).__name__, None
    return f"{type(error).__name__}: {error}", None


def _evaluate(
    env: NunjucksEnvironment, template: str, context: Mapping[str, Any], keep_type: bool
) -> Any:
    variable_start = "{{" if env.cookiecutter else "${{"
    if not any(marker in template for marker in (variable_start, "{%", "{#")):
        return template  # plain text renders as itself, byte for byte
    # Jinja2 rewrites every line break to one sequence; carriage returns it would change
    # are hidden behind a private-use character and restored afterwards.
    protect = "\r" in template and env.newline_sequence == "\n"
    source = template.replace("\r", _CR) if protect else template
    compiled = compile_source(env, translate(source, variable_start=variable_start), keep_type)
    if isinstance(compiled, TemplateExpression):
        return _to_json(compiled(**context))
    size, chunks = 0, []
    for chunk in compiled.generate(**context):
        size += len(chunk)
        if size > MAX_STRING:
            raise ValueError(f"output exceeds {MAX_STRING} characters")
        chunks.append(chunk)
    output = "".join(chunks)
    return output.replace(_CR, "\r") if protect else output


def _render(
    env: NunjucksEnvironment,
    template: str,
    context: Mapping[str, Any],
    *,
    keep_type: bool,
    location: str | None,
) -> Any:
    """Render one string; raises :class:`TemplateError` on any failure or limit.

    Secret values (``context["secrets"]``) are masked as ``***`` in the error message.
    """
    if len(template) > MAX_SOURCE:
        problem = f"template is {len(template)} characters, over the {MAX_SOURCE} limit"
        raise TemplateError(problem, location=location)
    token = _js.current_budget().set(_js.Budget(MAX_WORK_UNITS, MAX_SECONDS))
    try:
        return _evaluate(env, template, context, keep_type)
    except Exception as e:  # every foreign failure becomes one typed error, here
        problem, line = _problem(e, env)
        secrets = context.get("secrets")
        for secret in secrets.values() if isinstance(secrets, dict) else ():
            if isinstance(secret, str) and secret:
                problem = problem.replace(secret, "***")
        raise TemplateError(problem, location=location, line=line) from e
    finally:
        _js.current_budget().reset(token)


def _render_tree(
    value: Any, env: NunjucksEnvironment, context: Mapping[str, Any], errors: Any
) -> Any:
    if isinstance(value, str):
        try:
            return _render(env, value, context, keep_type=True, location=errors.location)
        except TemplateError as e:
            errors.append(e)
            return value
    if isinstance(value, dict):
        rendered = {k: _render_tree(v, env, context, errors) for k, v in value.items()}
        return {k: v for k, v in rendered.items() if v is not _UNDEFINED}
    if isinstance(value, (list, tuple)):
        return [
            None if (item := _render_tree(v, env, context, errors)) is _UNDEFINED else item
            for v in value
        ]
    return value


class _Errors(list[TemplateError]):
    def __init__(self, location: str | None) -> None:
        super().__init__()
        self.location = location


def render_value(
    value: Any,
    context: Mapping[str, Any],
    *,
    secrets: Mapping[str, str] | None = None,
    integrations: Mapping[str, str] | None = None,
    location: str | None = None,
    errors: list[TemplateError] | None = None,
) -> Any:
    """Render a step value (step ``input``, ``if``, ``each``, template ``output``).

    ``value`` is any JSON value; every string leaf is rendered against ``context``
    (``parameters``, ``steps``, ``user``, ``each``, …) plus ``secrets``. A sole
    ``${{ expr }}`` keeps the expression's JSON type; a failing string is returned
    unchanged, as Backstage's task runner does, and its :class:`TemplateError` (secrets
    masked) is appended to ``errors`` when given, for the task log. An object key whose
    value renders to ``undefined`` is dropped, a list item becomes ``None`` and a
    top-level ``undefined`` is ``None``. ``integrations`` maps SCM hosts to integration
    types for ``parseRepoUrl``/``projectSlug`` (default :data:`DEFAULT_INTEGRATIONS`).
    Never raises for template problems. Backstage docs: "Writing Templates".
    """
    env = environment_for(
        cookiecutter=False,
        trim_blocks=False,
        lstrip_blocks=False,
        step=True,
        integrations=_integrations(integrations),
    )
    full = dict(context)
    if secrets is not None:
        full["secrets"] = dict(secrets)
    collected = _Errors(location)
    result = _render_tree(value, env, full, collected)
    if errors is not None:
        errors.extend(collected)
    return None if result is _UNDEFINED else result


def render_string(
    template: str,
    context: Mapping[str, Any],
    *,
    mode: Literal["file", "step"] = "file",
    cookiecutter_compat: bool = False,
    trim_blocks: bool = False,
    lstrip_blocks: bool = False,
    integrations: Mapping[str, str] | None = None,
    location: str | None = None,
) -> str:
    """Render ``template`` to a string, raising :class:`TemplateError` on failure.

    ``mode="file"`` is ``fetch:template``: ``context`` is the template's ``values`` and is
    exposed as ``values`` (or ``cookiecutter`` with ``cookiecutter_compat``, which also
    switches the delimiters to ``{{ }}`` and adds the ``jsonify`` filter). ``mode="step"``
    renders against ``context`` as given, with ``always()``/``failure()``. ``location``
    (a file path or step id) is named in errors. Backstage docs: "Writing Templates",
    ``fetch:template``.
    """
    step = mode == "step"
    crlf = "\r\n" in template and "\n" not in template.replace("\r\n", "")
    env = environment_for(
        cookiecutter=cookiecutter_compat and not step,
        trim_blocks=trim_blocks,
        lstrip_blocks=lstrip_blocks,
        step=step,
        integrations=_integrations(integrations),
        newline="\r\n" if crlf else "\n",
    )
    if step:
        full = dict(context)
    else:
        full = {"cookiecutter" if cookiecutter_compat else "values": dict(context)}
    result = _render(env, template, full, keep_type=False, location=location)
    return str(result)


def try_render_string(
    template: str, context: Mapping[str, Any], **options: Any
) -> tuple[str | None, str | None]:
    """:func:`render_string` returning ``(output, None)`` or ``(None, problem)``."""
    try:
        return render_string(template, context, **options), None
    except TemplateError as e:
        return None, e.problem


def evaluate_condition(
    value: Any,
    context: Mapping[str, Any],
    *,
    secrets: Mapping[str, str] | None = None,
    location: str | None = None,
) -> bool:
    """Decide a step's ``if:`` the way Backstage's task runner does.

    ``False`` skips the step; any other non-string runs it; a string is rendered in step
    mode (``always()`` is true, ``failure()`` false) and the result is truthy unless it is
    ``False``, ``None``, ``0``, ``''``, undefined or an empty list (a non-empty string such
    as ``'false'`` is truthy, as in Backstage). Backstage docs: "Writing Templates",
    conditional steps.
    """
    if value is False:
        return False
    if not isinstance(value, str):
        return True
    rendered = render_value(value, context, secrets=secrets, location=location)
    if isinstance(rendered, list):
        return len(rendered) > 0
    return _js.truthy(rendered)
