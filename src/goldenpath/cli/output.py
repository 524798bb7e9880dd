"""Presenting results: Rich tables for people, JSON or YAML for scripts.

Every command takes ``--output/-o table|json|yaml`` (:data:`OutputOption`). Results go to
stdout; progress, hints and errors go to stderr (:func:`stderr`), so ``-o json`` output can
always be piped into ``jq``.
"""

from __future__ import annotations

import enum
import json
import os
from collections.abc import Callable, Iterable, Sequence
from typing import Annotated, Any

import typer
import yaml
from rich.console import Console, RenderableType
from rich.measure import Measurement
from rich.table import Table

__all__ = [
    "OutputFormat",
    "OutputOption",
    "emit",
    "emit_json_line",
    "make_table",
    "markdown",
    "stderr",
    "stdout",
]


#: the widest a table prints when stdout is not a terminal and COLUMNS is not set
PIPED_MAX_WIDTH = 400


class OutputFormat(enum.StrEnum):
    """How a command prints its result."""

    table = "table"
    json = "json"
    yaml = "yaml"


OutputOption = Annotated[
    OutputFormat,
    typer.Option(
        "--output",
        "-o",
        help="table (for people), json or yaml (for scripts; diagnostics go to stderr).",
        case_sensitive=False,
    ),
]


def stdout() -> Console:
    """A Rich console on the current ``sys.stdout`` (resolved per call, so tests can capture)."""
    return Console(soft_wrap=False)


def stderr() -> Console:
    """A Rich console on ``sys.stderr`` for progress, hints and errors."""
    return Console(stderr=True, soft_wrap=True)


def markdown(text: str) -> RenderableType:
    """``text`` rendered as Markdown by Rich (a template's output text, for instance).

    ``rich.markdown`` (markdown-it, Pygments) is imported here, on first use: at module level
    it added ~0.1 s to the start of every ``platform`` command.
    """
    from rich.markdown import Markdown  # deferred on purpose (start-up time)

    return Markdown(text)


def emit(
    data: Any,
    fmt: OutputFormat,
    table: Callable[[Any], Any] | None = None,
) -> None:
    """Print ``data`` in format ``fmt``. A table sent to a pipe or a file (no terminal,
    no ``COLUMNS``) prints as wide as its cells need, up to :data:`PIPED_MAX_WIDTH`, instead
    of folding values into 80 columns; on a terminal it fits the terminal.

    Args:
        data: JSON-compatible value (dicts, lists, strings, numbers, None).
        fmt: the requested :class:`OutputFormat`.
        table: builds the Rich renderable for ``table`` output from ``data``; when omitted
            the table format falls back to YAML, which reads well for nested documents.
    """
    if fmt is OutputFormat.json:
        typer.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))
    elif fmt is OutputFormat.yaml or table is None:
        typer.echo(_yaml(data), nl=False)
    else:
        console, rendered = stdout(), table(data)
        if not console.is_terminal and not os.environ.get("COLUMNS"):
            # piped or redirected: a table as wide as its cells (up to PIPED_MAX_WIDTH)
            # rather than folded into 80 columns, so `| grep` finds whole values
            natural = Measurement.get(
                console, console.options.update_width(PIPED_MAX_WIDTH), rendered
            ).maximum
            console.width = max(console.width, min(natural, PIPED_MAX_WIDTH))
        console.print(rendered)


def emit_json_line(data: Any) -> None:
    """Print one compact JSON object on its own line (JSON Lines)."""
    typer.echo(json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str))


def make_table(
    columns: Sequence[str], rows: Iterable[Sequence[Any]], *, title: str | None = None
) -> Table:
    """A Rich table with the given column headers; ``None`` cells print as empty."""
    result = Table(title=title, header_style="bold", show_lines=False)
    for column in columns:
        result.add_column(column, overflow="fold")
    for row in rows:
        result.add_row(*("" if cell is None else str(cell) for cell in row))
    return result


def _yaml(data: Any) -> str:
    return yaml.safe_dump(
        json.loads(json.dumps(data, default=str)),
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
    )
