"""The ``platform`` command: entry point, root options and the one place errors become exit codes.

``main()`` is the console script (``platform = goldenpath.cli.main:main``). Every command
raises :mod:`goldenpath.errors` exceptions; :class:`_PlatformGroup` prints them on stderr and
exits with the code :func:`goldenpath.cli.exits.exit_code_for` picks (table in ``docs/cli.md``).
"""

from __future__ import annotations

import os
import sys
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from goldenpath import __version__, errors
from goldenpath.cli import exits, output
from goldenpath.cli.commands import (
    auth,
    catalog,
    create,
    deploy,
    env,
    server,
    status,
    task,
    template,
)
from goldenpath.cli.commands import ci as ci_commands
from goldenpath.cli.commands import db as db_commands
from goldenpath.cli.commands import incident as incident_commands
from goldenpath.cli.commands import metrics as metrics_commands
from goldenpath.cli.commands import policy as policy_commands
from goldenpath.cli.commands import render as render_commands
from goldenpath.cli.commands import scorecard as scorecard_commands
from goldenpath.cli.commands import secrets as secrets_commands
from goldenpath.cli.commands import user as user_commands

__all__ = ["app", "main"]


class _PlatformGroup(TyperGroup):
    """Root group: maps PlatformError (and unexpected errors) to exit codes, once."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException, KeyboardInterrupt):
            raise
        except BrokenPipeError:
            # The reader went away (`platform … | head`): stop quietly, as other CLIs do.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            raise typer.Exit(exits.OK) from None
        except errors.PlatformError as e:
            _report(e)
            raise typer.Exit(exits.exit_code_for(e)) from e
        except Exception as e:
            if isinstance(e, UnicodeError) or (isinstance(e, OSError) and e.filename):
                # the user's text or files, not a bug: undecodable bytes in an argument
                # (Python keeps them as lone surrogates), a path too long, missing, unreadable
                problem = errors.InvalidInput(_input_problem(e))
                _report(problem)
                raise typer.Exit(exits.exit_code_for(problem)) from e
            if os.environ.get("GOLDENPATH_DEBUG"):
                raise
            output.stderr().print(
                f"[bold red]internal error:[/] {type(e).__name__}: {e}\n"
                "Run again with GOLDENPATH_DEBUG=1 for the traceback.",
                markup=True,
                highlight=False,
            )
            raise typer.Exit(exits.INTERNAL) from e


def _input_problem(error: UnicodeError | OSError) -> str:
    """One line for a problem with the user's text or files (a long path shortened)."""
    if isinstance(error, UnicodeError):
        return (
            "an argument, a file or stdin holds bytes that are not valid UTF-8 text; fix its "
            "encoding"
        )
    name = str(error.filename or "")
    shown = name if len(name) <= 120 else f"{name[:60]}…{name[-40:]} ({len(name)} characters)"
    reason = error.strerror or type(error).__name__
    return f"{shown}: {reason}" if shown else reason


def _report(error: errors.PlatformError) -> None:
    console = output.stderr()
    console.print(f"[bold red]error:[/] {error.message}", highlight=False, markup=True)
    for item in error.details.get("errors") or []:
        if isinstance(item, dict):
            where = item.get("path") or item.get("field") or item.get("loc") or ""
            message = item.get("message") or item.get("msg") or item
            console.print(f"  - {where}: {message}" if where else f"  - {message}", markup=False)


app = typer.Typer(
    name="platform",
    cls=_PlatformGroup,
    help=(
        "goldenpath — the Internal Developer Platform CLI.\n\n"
        "Talks to the goldenpath API. Without GOLDENPATH_SERVER__URL it starts (or reuses) a "
        "local server for the data directory GOLDENPATH_HOME.\n\n"
        "Examples:\n\n"
        "  platform catalog import ./examples/catalog\n\n"
        "  platform catalog ls --kind component -o json\n\n"
        "  platform catalog validate catalog-info.yaml\n\n"
        "  platform create service my-api --lang python --owner team-a\n\n"
        "  platform template run python-service --set name=my-api --dry-run\n\n"
        "  platform task logs TASK_ID --follow\n\n"
        "  platform deploy --env production --canary 10%\n\n"
        "  platform deploy promote --env production\n\n"
        "  platform status my-api\n\n"
        "  platform logs my-api --env production --since 1h\n\n"
        "  platform env create pr-123 --ttl 24h\n\n"
        "  platform server status"
    ),
    epilog=exits.EPILOG,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(server.app, name="server")
app.add_typer(catalog.app, name="catalog")
app.add_typer(auth.app, name="auth")
app.add_typer(user_commands.app, name="user")
app.add_typer(template.app, name="template")
app.add_typer(task.app, name="task")
app.add_typer(create.app, name="create")
app.add_typer(deploy.app, name="deploy")
app.add_typer(env.app, name="env")
app.add_typer(secrets_commands.app, name="secrets")
app.add_typer(db_commands.app, name="db")
app.add_typer(policy_commands.app, name="policy")
app.command("status")(status.status)
app.command("logs")(status.logs)
app.command("render")(render_commands.render)
app.command("diff")(render_commands.diff)
app.add_typer(ci_commands.app, name="ci")
app.add_typer(metrics_commands.app, name="metrics")
app.add_typer(incident_commands.app, name="incident")
app.command("scorecard")(scorecard_commands.scorecard)
app.command("maturity")(scorecard_commands.maturity)
app.command("survey")(scorecard_commands.survey)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"platform (goldenpath) {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Root options."""


def main() -> None:
    """Console-script entry point: run the ``platform`` app and exit with its code."""
    app()


if __name__ == "__main__":
    main()
