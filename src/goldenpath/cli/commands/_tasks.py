"""Shared by ``platform template``, ``task`` and ``create``: following a task's log, printing
its events and its outcome.

The log is followed over the server-sent event stream
(``GET /api/scaffolder/v2/tasks/{id}/eventstream``) with a Rich status line on stderr naming
the running step; a broken stream is resumed from the last event id (``?after=``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import typer
from rich.console import Group
from rich.markup import escape
from rich.table import Table
from rich.tree import Tree

from goldenpath.cli import output
from goldenpath.cli.client import PlatformClient
from goldenpath.errors import Unavailable

__all__ = [
    "TASKS",
    "event_line",
    "file_tree",
    "follow",
    "print_event",
    "task_detail",
    "task_page",
    "values_option_help",
]

TASKS = "/api/scaffolder/v2/tasks"
_RECONNECTS = 3

values_option_help = "YAML or JSON file of parameter values."

_STYLE = {"completed": "green", "failed": "red", "cancelled": "yellow", "skipped": "dim"}


def event_line(event: dict[str, Any]) -> str:
    """One event as a Rich-markup line: ``HH:MM:SS [step] message (status)``."""
    body = event.get("body") or {}
    at = str(event.get("createdAt") or "")[11:19]
    step = body.get("stepId")
    status = body.get("status")
    message = escape(str(body.get("message") or ""))
    prefix = f"[dim]{at}[/] " + (f"[cyan]\\[{escape(str(step))}][/] " if step else "")
    if event.get("type") == "completion":
        error = (body.get("error") or {}).get("message")
        style = _STYLE.get(str(status), "bold")
        line = f"{prefix}[bold {style}]{message}[/]"
        return line + (f"\n  [red]{escape(str(error))}[/]" if error else "")
    if status and status != "processing":
        return f"{prefix}{message} [{_STYLE.get(str(status), 'bold')}]({status})[/]"
    return prefix + message


def print_event(event: dict[str, Any]) -> None:
    """Print one event on stderr (the log is diagnostics; results go to stdout)."""
    output.stderr().print(event_line(event), highlight=False)


def follow(
    client: PlatformClient,
    task_id: str,
    *,
    on_event: Callable[[dict[str, Any]], None] = print_event,
    after: int | None = None,
) -> dict[str, Any]:
    """Stream the task's events to ``on_event`` until its completion; returns the final task.

    Raises:
        NotFound: no such task.
        Unavailable: the stream broke off three times in a row.
    """
    task: dict[str, Any] = client.get(f"{TASKS}/{task_id}")
    steps = [(s.get("id"), s.get("name") or s.get("action")) for s in task["spec"].get("steps", [])]
    index = {step_id: i for i, (step_id, _) in enumerate(steps, start=1)}
    names = dict(steps)
    console = output.stderr()
    failures = 0
    with console.status(f"task {task_id}: waiting for a worker…") as status:
        while True:
            params = {"after": after} if after is not None else None
            try:
                for message in client.stream_events(f"{TASKS}/{task_id}/eventstream", params):
                    event = message.data if isinstance(message.data, dict) else {}
                    after = int(event.get("id", after or 0))
                    on_event(event)
                    body = event.get("body") or {}
                    step = body.get("stepId")
                    if body.get("status") == "processing" and step in index:
                        status.update(f"step {index[step]}/{len(steps)}: {names[step]}")
                    if message.event == "completion":
                        return dict(client.get(f"{TASKS}/{task_id}"))
                failures = 0
            except Unavailable:
                failures += 1
                if failures >= _RECONNECTS:
                    raise
                time.sleep(0.5 * failures)
            done: dict[str, Any] = client.get(f"{TASKS}/{task_id}")
            if done.get("status") in ("completed", "failed", "cancelled"):
                return done


def task_page(page: dict[str, Any]) -> Table:
    """ID / TEMPLATE / STATUS / CREATED BY / CREATED rows."""
    rows = [
        (
            t.get("id"),
            ((t.get("spec") or {}).get("templateInfo") or {}).get("entityRef"),
            t.get("status"),
            t.get("createdBy"),
            str(t.get("createdAt") or "")[:19].replace("T", " "),
        )
        for t in page.get("tasks") or []
    ]
    total = page.get("totalTasks")
    title = f"{len(rows)} of {total} tasks" if total is not None else None
    return output.make_table(
        ["ID", "TEMPLATE", "STATUS", "CREATED BY", "CREATED"], rows, title=title
    )


def _links(out: dict[str, Any]) -> list[tuple[str, str]]:
    found = []
    for link in out.get("links") or []:
        if isinstance(link, dict):
            target = link.get("url") or link.get("entityRef")
            if target:
                found.append((str(link.get("title") or "link"), str(target)))
    return found


def task_detail(task: dict[str, Any]) -> Group:
    """Key fields of a task, its output links and text, and its error."""
    spec = task.get("spec") or {}
    fields = [
        ("id", task.get("id")),
        ("template", (spec.get("templateInfo") or {}).get("entityRef")),
        ("status", task.get("status")),
        ("created by", task.get("createdBy")),
        ("created", task.get("createdAt")),
        ("completed", task.get("completedAt")),
        ("error", task.get("error")),
    ]
    parts: list[Any] = [
        output.make_table(["FIELD", "VALUE"], [(k, v) for k, v in fields if v not in (None, "")])
    ]
    out = task.get("output") or {}
    links = _links(out)
    if links:
        parts.append(output.make_table(["LINK", "TARGET"], links))
    for text in out.get("text") or []:
        if isinstance(text, dict) and text.get("content"):
            parts.append(f"[bold]{escape(str(text.get('title') or ''))}[/]")
            parts.append(output.markdown(str(text["content"])))
    return Group(*parts)


def file_tree(files: list[dict[str, Any]], *, title: str = "files") -> Tree:
    """A Rich tree of a dry run's ``directoryContents`` paths (executables marked ``*``)."""
    root = Tree(f"[bold]{escape(title)}[/]")
    nodes: dict[tuple[str, ...], Tree] = {(): root}
    for item in sorted(files, key=lambda f: str(f.get("path"))):
        parts = tuple(str(item.get("path", "")).strip("/").split("/"))
        for depth in range(1, len(parts)):
            key = parts[:depth]
            if key not in nodes:
                nodes[key] = nodes[parts[: depth - 1]].add(f"[blue]{escape(parts[depth - 1])}/[/]")
        mark = " *" if item.get("executable") else ""
        nodes[parts[:-1]].add(escape(parts[-1]) + mark)
    return root


def outcome_exit(task: dict[str, Any]) -> None:
    """Exit with 1 unless the task completed (a failed or cancelled run is a failure)."""
    if task.get("status") != "completed":
        raise typer.Exit(1)
