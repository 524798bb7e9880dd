"""The ``platform`` command: entry point, root options and the one place errors become exit codes.

``main()`` is the console script (``platform = goldenpath.cli.main:main``). Every command
raises :mod:`goldenpath.errors` exceptions; :class:`_PlatformGroup` prints them on stderr and
exits with the code :func:`goldenpath.cli.exits.exit_code_for` picks (table in ``docs/cli.md``).
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterator, MutableMapping
from typing import Annotated, Any

import typer
from typer.core import MarkupMode, TyperGroup
from typer.models import CommandInfo, TyperInfo

from goldenpath import __version__, errors
from goldenpath.cli import exits, output

__all__ = ["COMMANDS", "app", "main"]


#: every subcommand of ``platform``: name → (module under ``goldenpath.cli.commands``,
#: attribute) — a Typer app for a group, a function for a single command. In help order.
COMMANDS: dict[str, tuple[str, str]] = {
    "server": ("server", "app"),
    "catalog": ("catalog", "app"),
    "auth": ("auth", "app"),
    "user": ("user", "app"),
    "template": ("template", "app"),
    "task": ("task", "app"),
    "create": ("create", "app"),
    "deploy": ("deploy", "app"),
    "env": ("env", "app"),
    "secrets": ("secrets", "app"),
    "db": ("db", "app"),
    "policy": ("policy", "app"),
    "status": ("status", "status"),
    "logs": ("status", "logs"),
    "render": ("render", "render"),
    "diff": ("render", "diff"),
    "ci": ("ci", "app"),
    "metrics": ("metrics", "app"),
    "incident": ("incident", "app"),
    "scorecard": ("scorecard", "scorecard"),
    "maturity": ("scorecard", "maturity"),
    "survey": ("scorecard", "survey"),
}


#: a click command as typer builds it (typer vendors click; its class is private)
_Command = Any


class _LazyCommands(MutableMapping[str, _Command]):
    """The root group's subcommands, each module imported when its command is first looked
    up: ``platform db ls`` imports the ``db`` commands only, not every command module
    (measured here: ``platform --version`` 427 → 122 ms, ``platform db ls`` 513 → 372 ms
    with :func:`goldenpath.cli.localserver.tls_verify`); ``platform --help`` and typo
    suggestions still see every name."""

    def __init__(self, rich_markup_mode: MarkupMode) -> None:
        self._markup: MarkupMode = rich_markup_mode
        self._loaded: dict[str, _Command] = {}

    def _load(self, name: str) -> _Command:
        module, attribute = COMMANDS[name]
        target = getattr(importlib.import_module(f"goldenpath.cli.commands.{module}"), attribute)
        if isinstance(target, typer.Typer):
            return typer.main.get_group_from_info(
                TyperInfo(target, name=name),
                pretty_exceptions_short=True,
                suggest_commands=True,
                rich_markup_mode=self._markup,
            )
        return typer.main.get_command_from_info(
            CommandInfo(name=name, callback=target),
            pretty_exceptions_short=True,
            rich_markup_mode=self._markup,
        )

    def __getitem__(self, name: str) -> _Command:
        if name not in self._loaded:
            if name not in COMMANDS:
                raise KeyError(name)
            self._loaded[name] = self._load(name)
        return self._loaded[name]

    def __setitem__(self, name: str, command: _Command) -> None:
        self._loaded[name] = command

    def __delitem__(self, name: str) -> None:
        del self._loaded[name]

    def __iter__(self) -> Iterator[str]:
        return iter({**dict.fromkeys(COMMANDS), **self._loaded})

    def __len__(self) -> int:
        return len(COMMANDS.keys() | self._loaded.keys())


class _PlatformGroup(TyperGroup):
    """Root group: its subcommands load lazily (:class:`_LazyCommands`); maps PlatformError
    (and unexpected errors) to exit codes, once."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self.commands = _LazyCommands(self.rich_markup_mode)

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
