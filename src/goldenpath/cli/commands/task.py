"""``platform task``: scaffolder tasks — list, show, logs (optionally followed live), cancel.

Thin edges over ``/api/scaffolder/v2/tasks`` (Backstage's task API).
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from goldenpath.cli import context, output
from goldenpath.cli.commands import _tasks
from goldenpath.cli.output import OutputFormat, OutputOption

__all__ = ["app"]

app = typer.Typer(
    help=(
        "Template runs (scaffolder tasks) and their logs.\n\n"
        "Examples:\n\n"
        "  platform task ls --status failed\n\n"
        "  platform task show 3f2c…\n\n"
        "  platform task logs 3f2c… --follow"
    ),
    no_args_is_help=True,
    rich_markup_mode="markdown",
)


@app.command("ls")
def ls(
    status: Annotated[
        str | None,
        typer.Option("--status", help="open, processing, completed, failed or cancelled."),
    ] = None,
    created_by: Annotated[
        str | None, typer.Option("--created-by", help="User ref, e.g. user:default/jane.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=500, help="Page size.")] = 50,
    cursor: Annotated[
        str | None, typer.Option("--cursor", help="Continue from a previous page.")
    ] = None,
    fmt: OutputOption = OutputFormat.table,
) -> None:
    """List tasks, newest first. -o json prints {tasks, totalTasks, pageInfo}.

    Examples:

      platform task ls

      platform task ls --status failed -o json
    """
    params: dict[str, Any] = {"limit": limit}
    for key, value in (("status", status), ("createdBy", created_by), ("cursor", cursor)):
        if value:
            params[key] = value
    with context.api_client() as client:
        page = client.get(_tasks.TASKS, params=params)
    output.emit(page, fmt, _tasks.task_page)
    next_cursor = (page.get("pageInfo") or {}).get("nextCursor")
    if fmt is OutputFormat.table and next_cursor:
        output.stderr().print(f"more: platform task ls --cursor {next_cursor}", markup=False)


@app.command("show")
def show(
    task_id: Annotated[str, typer.Argument(help="The task id (from `platform task ls`).")],
    fmt: OutputOption = OutputFormat.table,
) -> None:
    """Show a task: template, status, who ran it, output links and text, error.

    Exit code 3 when the task does not exist.

    Example:

      platform task show 3f2c… -o yaml
    """
    with context.api_client() as client:
        task = client.get(f"{_tasks.TASKS}/{task_id}")
    output.emit(task, fmt, _tasks.task_detail)


@app.command("logs")
def logs(
    task_id: Annotated[str, typer.Argument(help="The task id.")],
    follow: Annotated[
        bool, typer.Option("--follow", "-F", help="Stream new lines until the task ends.")
    ] = False,
    fmt: OutputOption = OutputFormat.table,
) -> None:
    """Print a task's log. With --follow, stream it live (server-sent events) with a status
    line naming the running step, until the task ends; the exit code is then 1 when the task
    failed or was cancelled. -o json prints one event per line
    ({id, taskId, type, body: {message, stepId, status}, createdAt}).

    Examples:

      platform task logs 3f2c…

      platform task logs 3f2c… --follow
    """

    def emit(event: dict[str, Any]) -> None:
        if fmt is OutputFormat.table:
            output.stdout().print(_tasks.event_line(event), highlight=False)
        else:
            output.emit_json_line(event)

    with context.api_client() as client:
        if follow:
            task = _tasks.follow(client, task_id, on_event=emit)
            _tasks.outcome_exit(task)
            return
        events = client.get(f"{_tasks.TASKS}/{task_id}/events")
    for event in events:
        emit(event)


@app.command("cancel")
def cancel(
    task_id: Annotated[str, typer.Argument(help="The task id.")],
    fmt: OutputOption = OutputFormat.table,
) -> None:
    """Cancel a task you created (admins: any task). A running task stops at its next step.

    Exit code 4 when the task already ended.

    Example:

      platform task cancel 3f2c…
    """
    with context.api_client() as client:
        result = client.post(f"{_tasks.TASKS}/{task_id}/cancel")
    output.emit(result, fmt, lambda r: f"task {task_id}: {r.get('status')}")
