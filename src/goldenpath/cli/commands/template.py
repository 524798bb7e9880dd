"""``platform template``: list software templates, show their parameters, run them.

Thin edges over ``/api/catalog`` (templates are catalog entities of kind Template) and
``/api/scaffolder/v2`` (parameter schema, tasks, dry runs).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.console import Group
from rich.markup import escape

from goldenpath.catalog.refs import parse_entity_ref
from goldenpath.cli import context, output
from goldenpath.cli.commands import _tasks, template_upgrade
from goldenpath.cli.output import OutputFormat, OutputOption
from goldenpath.errors import InvalidInput

__all__ = ["app", "load_values", "template_ref"]

app = typer.Typer(
    help=(
        "Software templates (Backstage scaffolder.backstage.io/v1beta3): the golden paths.\n\n"
        "Examples:\n\n"
        "  platform template ls\n\n"
        "  platform template show python-service\n\n"
        "  platform template run python-service --set name=my-api --set owner=team-a\n\n"
        "  platform template run python-service --values values.yaml --dry-run"
    ),
    no_args_is_help=True,
    rich_markup_mode="markdown",
)

SCAFFOLDER = "/api/scaffolder/v2"


def template_ref(ref: str) -> str:
    """``template:<namespace>/<name>`` from ``name``, ``ns/name`` or a full ref.

    Raises:
        InvalidInput: malformed ref, or a kind other than template.
    """
    parsed = parse_entity_ref(ref, default_kind="template")
    if parsed.kind.lower() != "template":
        raise InvalidInput(f'"{ref}" is a {parsed.kind} ref; pass template:<name> or a bare name')
    return f"template:{parsed.namespace}/{parsed.name}"


def _parse_set(items: list[str], *, option: str) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise InvalidInput(f"{option} {item!r}: expected NAME=VALUE, e.g. {option} name=my-api")
        values[key.strip()] = raw
    return values


def load_values(path: Path | None, sets: list[str]) -> dict[str, Any]:
    """Parameter values from a YAML/JSON file, then ``--set NAME=VALUE`` (a YAML scalar:
    ``--set replicas=3`` is a number, ``--set flag=true`` a boolean).

    Raises:
        InvalidInput: unreadable file, not a mapping, malformed ``--set``.
    """
    values: dict[str, Any] = {}
    if path is not None:
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as e:
            raise InvalidInput(f"--values {path}: cannot read it: {e}") from e
        if loaded is not None and not isinstance(loaded, dict):
            raise InvalidInput(f"--values {path}: must be a mapping of parameter name → value")
        values.update(loaded or {})
    for key, raw in _parse_set(sets, option="--set").items():
        try:
            values[key] = yaml.safe_load(raw) if raw else ""
        except yaml.YAMLError:
            values[key] = raw
    return values


@app.command("ls")
def ls(fmt: OutputOption = OutputFormat.table) -> None:
    """List the templates in the catalog (ref, title, type, owner).

    Examples:

      platform template ls

      platform template ls -o json
    """
    params = [("filter", "kind=template"), ("orderField", "metadata.name,asc"), ("limit", 500)]
    with context.api_client() as client:
        page = client.get("/api/catalog/entities/by-query", params=params)
    output.emit(page.get("items") or [], fmt, _template_table)


def _template_table(items: list[dict[str, Any]]) -> Any:
    rows = []
    for item in items:
        meta, spec = item.get("metadata") or {}, item.get("spec") or {}
        description = str(meta.get("description") or "")
        rows.append(
            (
                f"template:{meta.get('namespace') or 'default'}/{meta.get('name')}",
                meta.get("title"),
                spec.get("type"),
                spec.get("owner"),
                description[:60] + ("…" if len(description) > 60 else ""),
            )
        )
    return output.make_table(["REF", "TITLE", "TYPE", "OWNER", "DESCRIPTION"], rows)


@app.command("show")
def show(
    ref: Annotated[str, typer.Argument(help="template:default/name, or just the name.")],
    fmt: OutputOption = OutputFormat.table,
) -> None:
    """Show a template's parameters, page by page (name, type, required, default, allowed
    values, description). -o json prints Backstage's parameter-schema body.

    Examples:

      platform template show python-service

      platform template show template:default/node-service -o json
    """
    parsed = parse_entity_ref(template_ref(ref))
    path = f"{SCAFFOLDER}/templates/{parsed.namespace}/template/{parsed.name}/parameter-schema"
    with context.api_client() as client:
        schema = client.get(path)
    output.emit(schema, fmt, _schema_view)


def _schema_view(schema: dict[str, Any]) -> Group:
    parts: list[Any] = [f"[bold]{escape(str(schema.get('title') or ''))}[/]"]
    if schema.get("description"):
        parts.append(escape(str(schema["description"])))
    for number, page in enumerate(schema.get("steps") or [], start=1):
        body = page.get("schema") or {}
        required = set(body.get("required") or [])
        rows = []
        for name, prop in (body.get("properties") or {}).items():
            prop = prop if isinstance(prop, dict) else {}
            allowed = prop.get("enum")
            rows.append(
                (
                    name,
                    prop.get("type"),
                    "yes" if name in required else "",
                    json.dumps(prop["default"]) if "default" in prop else "",
                    ", ".join(map(str, allowed)) if isinstance(allowed, list) else "",
                    prop.get("description") or prop.get("title"),
                )
            )
        title = f"page {number}: {page.get('title') or ''}"
        parts.append(
            output.make_table(
                ["NAME", "TYPE", "REQUIRED", "DEFAULT", "ALLOWED", "DESCRIPTION"], rows, title=title
            )
        )
    return Group(*parts)


@app.command("run")
def run(
    ref: Annotated[str, typer.Argument(help="template:default/name, or just the name.")],
    values_file: Annotated[
        Path | None, typer.Option("--values", "-f", help="YAML or JSON file of parameter values.")
    ] = None,
    sets: Annotated[
        list[str] | None,
        typer.Option("--set", help="NAME=VALUE (repeatable); overrides --values."),
    ] = None,
    secrets: Annotated[
        list[str] | None,
        typer.Option("--secret", help="NAME=VALUE for ${{ secrets.NAME }} (never stored)."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Render only: print the file tree, publish nothing.")
    ] = False,
    no_wait: Annotated[
        bool, typer.Option("--no-wait", help="Print the task id and return at once.")
    ] = False,
    fmt: OutputOption = OutputFormat.table,
) -> None:
    """Run a template with parameter values; follow its log until it ends.

    Values come from --values and --set; they are validated against the template's
    parameters before anything runs (exit 1 naming each failing parameter). With --dry-run
    the template is rendered without publishing or registering and the file tree is printed
    (-o json: {log, directoryContents, output, steps, status}). Otherwise a task is created
    and its log followed; the output links are printed at the end (-o json: the task).
    Exit code 1 when the run fails or is cancelled.

    Examples:

      platform template run python-service --set name=my-api --set owner=team-a

      platform template run python-service --values values.yaml --dry-run

      platform template run node-service -f values.yaml --no-wait -o json
    """
    full_ref = template_ref(ref)
    values = load_values(values_file, sets or [])
    secret_values = _parse_set(secrets or [], option="--secret")
    with context.api_client() as client:
        if dry_run:
            body = {"templateRef": full_ref, "values": values, "secrets": secret_values}
            result = client.post(f"{SCAFFOLDER}/dry-run", body)
            _print_dry_run(result, fmt)
            if result.get("status") == "failed":
                raise typer.Exit(1)
            return
        created = client.post(
            f"{SCAFFOLDER}/tasks",
            {"templateRef": full_ref, "values": values, "secrets": secret_values},
        )
        task_id = created["id"]
        output.stderr().print(f"task {task_id} created", markup=False)
        if no_wait:
            output.emit(created, fmt, lambda c: f"task {c['id']}: platform task logs {c['id']} -f")
            return
        task = _tasks.follow(client, task_id)
    output.emit(task, fmt, _tasks.task_detail)
    _tasks.outcome_exit(task)


def _print_dry_run(result: dict[str, Any], fmt: OutputFormat) -> None:
    if fmt is not OutputFormat.table:
        output.emit(result, fmt)
        return
    for entry in result.get("log") or []:
        _tasks.print_event({"type": "log", "body": entry.get("body") or {}})
    files = result.get("directoryContents") or []
    output.stdout().print(_tasks.file_tree(files, title=f"{len(files)} files"))
    if result.get("error"):
        output.stderr().print(f"[bold red]dry run failed:[/] {escape(str(result['error']))}")


app.command("upgrade")(template_upgrade.upgrade)
