"""``platform server``: run the API in the foreground, or start/stop/inspect a background one."""

from __future__ import annotations

import contextlib
import json
import os
from typing import Annotated

import typer

from goldenpath import processes as pids
from goldenpath.cli import context, localserver, output
from goldenpath.cli.output import OutputFormat, OutputOption
from goldenpath.errors import Conflict, Unavailable
from goldenpath.settings import Settings

__all__ = ["app"]

app = typer.Typer(
    help=(
        "Run and manage the goldenpath server of this data directory (GOLDENPATH_HOME).\n\n"
        "Without a subcommand the server runs in the foreground (Ctrl-C stops it).\n\n"
        "Examples:\n\n"
        "  platform server                 # foreground, logs on the terminal\n\n"
        "  platform server start           # background; prints the URL\n\n"
        "  platform server status -o json\n\n"
        "  platform server stop --all      # also stops every process the platform started"
    ),
    no_args_is_help=False,
    rich_markup_mode="markdown",
)

HostOption = Annotated[
    str | None, typer.Option("--host", help="Interface to bind (default: settings, 127.0.0.1).")
]
PortOption = Annotated[
    int | None, typer.Option("--port", min=0, max=65535, help="Port to bind; 0 picks a free one.")
]


@app.callback(invoke_without_command=True)
def _server(ctx: typer.Context, host: HostOption = None, port: PortOption = None) -> None:
    if ctx.invoked_subcommand is None:
        _run_foreground(host, port)


@app.command("run")
def run(host: HostOption = None, port: PortOption = None) -> None:
    """Run the server in the foreground (same as `platform server` alone).

    The address it listens on is written to <home>/run/server.json, so other `platform`
    commands find and reuse it. Example: platform server run --port 8080
    """
    _run_foreground(host, port)


@app.command("start")
def start(fmt: OutputOption = OutputFormat.table) -> None:
    """Start the server in the background (or reuse a running one) and print its URL.

    Waits until /healthz answers (bound: GOLDENPATH_SERVER__START_TIMEOUT seconds); logs go to
    <home>/run/server.log. Example: platform server start -o json
    """
    settings = context.settings()
    result = localserver.start(settings)
    _print_status(result, fmt, verb="reused" if result.reused else "started")


@app.command("stop")
def stop(
    all_processes: Annotated[
        bool,
        typer.Option(
            "--all",
            help="Also stop every process the platform started for this data directory.",
        ),
    ] = False,
    fmt: OutputOption = OutputFormat.table,
) -> None:
    """Stop the background server: SIGTERM, then SIGKILL if it has not exited after 10 s.

    Only processes recorded in <home>/run/pids with a matching start time are signalled, so a
    PID reused by another program is never touched. Example: platform server stop --all
    """
    stopped = localserver.stop(context.settings(), all_processes=all_processes)
    data = {"stopped": [{"pid": r.pid, "role": r.role} for r in stopped]}
    if fmt is not OutputFormat.table:
        output.emit(data, fmt)
    elif not stopped:
        output.stderr().print("no server running")
    else:
        for record in stopped:
            typer.echo(f"stopped {record.role} (PID {record.pid})")


@app.command("status")
def status(fmt: OutputOption = OutputFormat.table) -> None:
    """Show whether the server of this data directory runs, its URL and PID, and the other
    processes the platform started. Exit code 6 when it is not running.

    Example: platform server status -o json
    """
    settings = context.settings()
    current = localserver.status(settings)
    records = [r for r in pids.read_all(settings.run_dir) if r.pid != current.pid]
    if fmt is not OutputFormat.table:
        data = current.as_dict()
        data["home"] = str(settings.home)
        data["processes"] = [
            {"pid": r.pid, "role": r.role, "alive": pids.is_alive(r)} for r in records
        ]
        output.emit(data, fmt)
    else:
        _print_status(current, fmt, verb="running" if current.running else "stopped")
        for record in records:
            state = "alive" if pids.is_alive(record) else "gone"
            typer.echo(f"process {record.role} PID {record.pid} ({state})")
    if not current.running:
        raise typer.Exit(6)


def _print_status(current: localserver.ServerStatus, fmt: OutputFormat, *, verb: str) -> None:
    if fmt is not OutputFormat.table:
        output.emit(current.as_dict(), fmt)
        return
    if not current.running:
        typer.echo(f"server stopped (log: {current.log})")
        return
    health = "healthy" if current.healthy else "not answering /healthz"
    typer.echo(f"server {verb} at {current.url} (PID {current.pid}, {health})")


def _run_foreground(host: str | None, port: int | None) -> None:
    settings = context.settings()
    updates = {k: v for k, v in (("host", host), ("port", port)) if v is not None}
    if updates:
        settings.server = settings.server.model_copy(update=updates)
    current = localserver.status(settings)
    if current.running:
        raise Conflict(
            f"a server for {settings.home} already runs at {current.url} (PID {current.pid}); "
            "stop it with `platform server stop` or use another GOLDENPATH_HOME"
        )
    from goldenpath.api import serve  # the web stack loads only for this command
    from goldenpath.portal.app import create_app

    pids.register(settings.run_dir, os.getpid(), role="server")
    try:
        serve.run(settings, factory=create_app)
    except OSError as e:
        raise Unavailable(
            f"cannot serve on {settings.server.host}:{settings.server.port}: {e}; "
            "pick another --port (0 = any free port)"
        ) from e
    finally:
        pids.unregister(settings.run_dir, os.getpid())
        _forget_server_file(settings)


def _forget_server_file(settings: Settings) -> None:
    path = settings.run_dir / "server.json"
    with contextlib.suppress(OSError, ValueError):
        if json.loads(path.read_text(encoding="utf-8")).get("pid") == os.getpid():
            path.unlink()
